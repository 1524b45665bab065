package record

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// FuzzReader reads arbitrary bytes as a log: no panics, every payload returned
// re-encodes to exactly the bytes it was read from, and the log ends as the
// package documentation says.
func FuzzReader(f *testing.F) {
	_, log, _ := smallLog()
	f.Add(log)
	f.Add(log[:len(log)-1])
	f.Add(append(Append(nil, []byte("x")), make([]byte, 8)...))
	f.Add([]byte{})
	f.Add([]byte{0xde, 0xad, 0xbe, 0xef, 0xff, 0xff, 0xff, 0x03})
	f.Fuzz(func(t *testing.T, data []byte) {
		rd := NewReader(bytes.NewReader(data))
		for {
			off := rd.Offset()
			p, err := rd.Next()
			if err != nil {
				end := rd.Offset()
				if end != off || end > int64(len(data)) {
					t.Fatalf("Offset %d after error at %d (len %d)", end, off, len(data))
				}
				switch {
				case err == io.EOF:
					if end != int64(len(data)) && !bytes.Equal(data[end:end+HeaderSize], make([]byte, HeaderSize)) {
						t.Fatalf("EOF at %d before the end, not at a zero header", end)
					}
				case errors.Is(err, ErrTornTail):
				default:
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			rec := Append(nil, p)
			if got := data[off:rd.Offset()]; !bytes.Equal(got, rec) {
				t.Fatalf("record at %d does not re-encode to its bytes", off)
			}
		}
	})
}
