package node_test

import (
	"context"
	"encoding/binary"
	"sync/atomic"
	"testing"

	"kvstore/node"
	"kvstore/node/nodetest"
	"kvstore/storage"
)

// BenchmarkCoordinator measures the coordinator's path of one item, Put or
// Get at the default levels (N=3, R=W=2), through all three nodes of an
// in-process cluster (memnet, no fsync), 16 callers per CPU: planning,
// replica RPCs, acknowledgement counting and the replicas' storage work,
// without HTTP, sockets or the disk.
func BenchmarkCoordinator(b *testing.B) {
	c := nodetest.Start(b, nodetest.Options{Sync: storage.SyncNone, DisableAntiEntropy: true})
	value := make([]byte, 100)
	const keys = 1 << 16
	key := func(i uint64) []byte {
		return binary.BigEndian.AppendUint64([]byte("user"), i%keys*0x9e3779b97f4a7c15)
	}
	ctx := context.Background()
	for i := range uint64(keys) {
		if res := c.Node(int(i%3)).Put(ctx, key(i), value, node.LevelDefault); res.Err != nil {
			b.Fatal(res.Err)
		}
	}
	run := func(b *testing.B, op func(n *node.Node, k []byte) error) {
		var next atomic.Uint64
		b.ReportAllocs()
		b.SetParallelism(16)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				i := next.Add(1)
				if err := op(c.Node(int(i%3)), key(i)); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	b.Run("put", func(b *testing.B) {
		run(b, func(n *node.Node, k []byte) error { return n.Put(ctx, k, value, node.LevelDefault).Err })
	})
	b.Run("get", func(b *testing.B) {
		run(b, func(n *node.Node, k []byte) error {
			_, err := n.Get(ctx, k, node.LevelDefault)
			return err
		})
	})
}
