package antientropy

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"kvstore/storage"
)

var benchSizes = []int{10_000, 100_000}

func BenchmarkBuildTree(b *testing.B) {
	// 0 and 1,000 records: the fixed cost of a tree, which dominates for
	// the small partitions of a small data set.
	for _, n := range append([]int{0, 1_000}, benchSizes...) {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			recs := randomRecords(rand.New(rand.NewPCG(1, 2)), n)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := BuildTree(DefaultTreeConfig(), &sliceIter{recs: recs}); err != nil {
					b.Fatal(err)
				}
			}
			if n > 0 {
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/record")
			}
		})
	}
}

func BenchmarkTreeAdd(b *testing.B) {
	tr := mustTree(b, DefaultTreeConfig())
	e := EntryOf([]byte("key-00000001"), []byte("value"), 1, false)
	b.ReportAllocs()
	for b.Loop() {
		e.Version++
		tr.Add(e)
	}
}

// BenchmarkSyncOneDiff measures an exchange of two replicas of n records
// that differ in one key: two tree builds, a descent and one bucket.
func BenchmarkSyncOneDiff(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			rng := rand.New(rand.NewPCG(3, 4))
			local, remote := newMemReplica(DefaultTreeConfig()), newMemReplica(DefaultTreeConfig())
			fill(testPartition, n, rng, local, remote)
			peer := serverPeer(remote)
			ctx := context.Background()
			var res Result
			v := storage.NewVersion(1_900_000_000_000, 0, 2)
			b.ReportAllocs()
			for b.Loop() {
				v++
				remote.set(testPartition, Record{Key: testKey(rng.IntN(n)), Value: []byte("changed"), Version: v})
				var err error
				if res, err = Sync(ctx, local, peer, testPartition); err != nil {
					b.Fatal(err)
				}
				if res.KeysReceived != 1 {
					b.Fatalf("result %+v", res)
				}
			}
			b.ReportMetric(float64(res.BytesSent+res.BytesReceived), "bytes/sync")
		})
	}
}

// BenchmarkSyncWiped measures the repair of an empty replica from one with
// n records.
func BenchmarkSyncWiped(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			local := newMemReplica(DefaultTreeConfig())
			fill(testPartition, n, rand.New(rand.NewPCG(5, 6)), local)
			ctx := context.Background()
			var res Result
			b.ReportAllocs()
			for b.Loop() {
				b.StopTimer()
				peer := serverPeer(newMemReplica(DefaultTreeConfig()))
				b.StartTimer()
				var err error
				if res, err = Sync(ctx, local, peer, testPartition); err != nil {
					b.Fatal(err)
				}
				if res.KeysSent != n {
					b.Fatalf("result %+v", res)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/record")
		})
	}
}
