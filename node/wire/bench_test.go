package wire

import (
	"fmt"
	"testing"
)

func benchRecords(n, valueSize int) []Record {
	rs := make([]Record, n)
	for i := range rs {
		rs[i] = Record{Key: fmt.Appendf(nil, "key-%08d", i), Value: make([]byte, valueSize), Version: uint64(i) << 20}
	}
	return rs
}

func BenchmarkAppendFrame(b *testing.B) {
	for _, n := range []int{1, 16, 256} {
		m := &WriteRequest{Records: benchRecords(n, 100)}
		b.Run(fmt.Sprintf("WriteRequest/records=%d", n), func(b *testing.B) {
			buf, _ := AppendFrame(nil, 1, 0, m)
			b.SetBytes(int64(len(buf)))
			b.ReportAllocs()
			for b.Loop() {
				var err error
				buf, err = AppendFrame(buf[:0], 1, 0, m)
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkDecodeFrame(b *testing.B) {
	for _, n := range []int{1, 16, 256} {
		m := &WriteRequest{Records: benchRecords(n, 100)}
		frame, err := AppendFrame(nil, 1, 0, m)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("WriteRequest/records=%d", n), func(b *testing.B) {
			b.SetBytes(int64(len(frame)))
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := DecodeFrame(frame, 0); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	frame, _ := AppendFrame(nil, 1, 0, &Ping{})
	b.Run("Ping", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := DecodeFrame(frame, 0); err != nil {
				b.Fatal(err)
			}
		}
	})
}
