package transport

import (
	"context"
	"fmt"
	"testing"

	"kvstore/node/wire"
)

func benchCall(b *testing.B, req wire.Message, parallel bool) {
	server := newTCP(b, "server")
	addr := listen(b, server, echo)
	client := newTCP(b, "client")
	ctx := context.Background()
	if _, err := client.Call(ctx, addr, req); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	if !parallel {
		for b.Loop() {
			if _, err := client.Call(ctx, addr, req); err != nil {
				b.Fatal(err)
			}
		}
		return
	}
	b.SetParallelism(16) // 16 callers per CPU
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := client.Call(ctx, addr, req); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkCall measures one caller's round-trip latency over loopback.
// Allocations include both ends (client and server run in this process).
func BenchmarkCall(b *testing.B) {
	b.Run("Ping", func(b *testing.B) { benchCall(b, &wire.Ping{}, false) })
	b.Run("Write1x100B", func(b *testing.B) { benchCall(b, writeReq(1, 100), false) })
}

// BenchmarkCallParallel measures throughput with many concurrent callers
// sharing the pooled connections.
func BenchmarkCallParallel(b *testing.B) {
	b.Run("Ping", func(b *testing.B) { benchCall(b, &wire.Ping{}, true) })
	b.Run("Write1x100B", func(b *testing.B) { benchCall(b, writeReq(1, 100), true) })
	b.Run("Write16x1KiB", func(b *testing.B) { benchCall(b, writeReq(16, 1024), true) })
}

func writeReq(n, size int) *wire.WriteRequest {
	req := &wire.WriteRequest{Records: make([]wire.Record, n)}
	for i := range req.Records {
		req.Records[i] = wire.Record{Key: fmt.Appendf(nil, "key-%d", i), Value: make([]byte, size), Version: 1 << 30}
	}
	return req
}
