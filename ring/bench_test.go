package ring

import (
	"fmt"
	"testing"
)

func benchMembers(n int) []string {
	s := make([]string, n)
	for i := range s {
		s[i] = fmt.Sprintf("node-%d", i+1)
	}
	return s
}

func BenchmarkBuild(b *testing.B) {
	for _, m := range []int{3, 5, 20, 100, MaxMembers} {
		b.Run(fmt.Sprintf("members=%d", m), func(b *testing.B) {
			members := benchMembers(m)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Build(DefaultConfig(), members); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkPartition(b *testing.B) {
	t, err := Build(DefaultConfig(), benchMembers(5))
	if err != nil {
		b.Fatal(err)
	}
	for _, size := range []int{16, 64, 256} {
		b.Run(fmt.Sprintf("key=%dB", size), func(b *testing.B) {
			key := make([]byte, size)
			for i := range key {
				key[i] = byte(i)
			}
			b.SetBytes(int64(size))
			b.ReportAllocs()
			var sink int
			for b.Loop() {
				sink += t.Partition(key)
			}
			_ = sink
		})
	}
}

func BenchmarkReplicas(b *testing.B) {
	t, err := Build(DefaultConfig(), benchMembers(5))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	var sink int
	p := 0
	for b.Loop() {
		sink += len(t.Replicas(p))
		p = (p + 1) & (DefaultPartitions - 1)
	}
	_ = sink
}

func BenchmarkOwns(b *testing.B) {
	t, err := Build(DefaultConfig(), benchMembers(5))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	var sink int
	p := 0
	for b.Loop() {
		if t.Owns("node-3", p) {
			sink++
		}
		p = (p + 1) & (DefaultPartitions - 1)
	}
	_ = sink
}
