package hintedhandoff

import (
	"context"
	"fmt"
	"testing"

	"kvstore/storage"
)

// BenchmarkAdd measures Add throughput by batch size and sync mode; each
// parallel worker adds to its own target.
func BenchmarkAdd(b *testing.B) {
	for _, sync := range []storage.SyncMode{storage.SyncAlways, storage.SyncNone} {
		for _, batch := range []int{1, 16, 256} {
			b.Run(fmt.Sprintf("sync=%v/batch=%d", sync, batch), func(b *testing.B) {
				s, err := Open(b.TempDir(), Config{MaxBytes: 1 << 40}, storage.Options{Sync: sync})
				if err != nil {
					b.Fatal(err)
				}
				defer s.Close()
				rs := recs("key", 0, batch)
				for i := range rs {
					rs[i].Value = make([]byte, 100)
				}
				b.SetBytes(int64(batch * (len(rs[0].Key) + len(rs[0].Value))))
				b.ReportAllocs()
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					target := fmt.Sprintf("node-%p", pb)
					for pb.Next() {
						if err := s.Add(target, rs); err != nil {
							b.Error(err)
							return
						}
					}
				})
				b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "records/s")
			})
		}
	}
}

// BenchmarkReplay measures Replay throughput without pacing, to a Sender
// that acknowledges at once.
func BenchmarkReplay(b *testing.B) {
	for _, batch := range []int{64, 256} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			cfg := Config{MaxBytes: 1 << 40, ReplayRate: 1 << 30, ReplayBatch: batch}
			s, err := Open(b.TempDir(), cfg, storage.Options{Sync: storage.SyncNone})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			const n = 20000
			rs := recs("key", 0, 1000)
			for i := range rs {
				rs[i].Value = make([]byte, 100)
			}
			send := SenderFunc(func(context.Context, string, []Record) error { return nil })
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				for j := 0; j < n; j += len(rs) {
					if err := s.Add("node-1", rs); err != nil {
						b.Fatal(err)
					}
				}
				b.StartTimer()
				sent, err := s.Replay(context.Background(), "node-1", send)
				if err != nil || sent != n {
					b.Fatalf("Replay = %d, %v", sent, err)
				}
			}
			b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "records/s")
		})
	}
}
