package node_test

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"

	"kvstore/antientropy"
	"kvstore/node"
	"kvstore/node/nodetest"
	"kvstore/node/transport/memnet"
	"kvstore/storage"
)

// The acceptance test: B's data directory is wiped while B is
// stopped; B restarts; anti-entropy alone (no hints) brings every key back,
// and B alone then serves them all at r=one. B finds its directory empty
// while the ring has it active, so it rejoins: Merkle exchanges with the
// other replicas stream its partitions back before it serves reads again.
func TestAntiEntropyRebuildsWipedReplica(t *testing.T) {
	c := nodetest.Start(t, nodetest.Options{Nodes: 3, DisableHints: true})
	const keys = 3000
	value := func(i int) []byte { return []byte(fmt.Sprintf("value-%d", i)) }
	var muts []node.Mutation
	for i := range keys {
		muts = append(muts, node.Mutation{Key: []byte(fmt.Sprintf("key-%05d", i)), Value: value(i)})
	}
	batchAll(t, c.Node(0), muts, node.LevelAll)
	c.Stop(1)
	c.Wipe(1)
	c.Restart(1)
	start := time.Now()
	waitForLong(t, "anti-entropy restores the wiped replica", 60*time.Second, func() bool {
		for i := range keys {
			if _, err := c.Node(1).LocalRecord(muts[i].Key); err != nil {
				return false
			}
		}
		return true
	})
	c.WaitRing(3, 10*time.Second)
	t.Logf("wiped replica of %d keys repaired in %v", keys, time.Since(start))
	c.Stop(0)
	c.Stop(2)
	for i := range keys {
		r, err := c.Node(1).Get(ctxT(t), muts[i].Key, node.LevelOne)
		if err != nil || !r.Found || !bytes.Equal(r.Value, value(i)) {
			t.Fatalf("%s from B alone: %+v %v", muts[i].Key, r, err)
		}
	}
}

// Deletes made while a replica was away reach it through anti-entropy, and
// the values it still held do not come back.
func TestDeletesDoNotComeBack(t *testing.T) {
	c := nodetest.Start(t, nodetest.Options{Nodes: 3, DisableHints: true})
	for i := range 200 {
		mustPut(t, c.Node(0), fmt.Sprintf("k%03d", i), "v", node.LevelAll)
	}
	c.Kill(1)
	for i := 0; i < 200; i += 2 {
		if r := c.Node(0).Delete(ctxT(t), []byte(fmt.Sprintf("k%03d", i)), node.LevelDefault); r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	c.Restart(1)
	waitForLong(t, "tombstones reach the returning replica", 30*time.Second, func() bool {
		for i := 0; i < 200; i += 2 {
			rec, err := c.Node(1).LocalRecord([]byte(fmt.Sprintf("k%03d", i)))
			if err != nil || !rec.Tombstone {
				return false
			}
		}
		return true
	})
	// Several more passes: nothing deleted reappears anywhere.
	time.Sleep(1500 * time.Millisecond)
	for i := range 200 {
		k := fmt.Sprintf("k%03d", i)
		for j := range 3 {
			r := mustGet(t, c.Node(j), k, node.LevelAll)
			if r.Found != (i%2 == 1) {
				t.Errorf("%s via %s: found=%v", k, c.Name(j), r.Found)
			}
		}
	}
}

// Both sides of a partition write, the partition heals, and every replica
// of every partition converges to the same Merkle root.
func TestPartitionedWritersConverge(t *testing.T) {
	c := nodetest.Start(t, nodetest.Options{Nodes: 3, DisableHints: true})
	c.Net.SetMode(memnet.FailFast)
	c.Net.Partition([]string{c.Name(0)}, []string{c.Name(1), c.Name(2)})
	for i := range 300 {
		k := fmt.Sprintf("k%03d", i%200) // keys 0..99 are written on both sides
		if r := c.Node(0).Put(ctxT(t), []byte(k), []byte("left"), node.LevelOne); r.Err != nil {
			t.Fatal(r.Err)
		}
		if r := c.Node(1+i%2).Put(ctxT(t), []byte(k), []byte("right"), node.LevelOne); r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	c.Net.Heal()
	waitForLong(t, "every replica converges", 60*time.Second, func() bool {
		for p := range 64 {
			var roots []uint64
			for j := range 3 {
				root, err := c.Node(j).MerkleRoot(p)
				if errors.Is(err, node.ErrBadRequest) {
					continue // not a replica of p
				}
				if err != nil {
					t.Fatal(err)
				}
				roots = append(roots, root)
			}
			for _, r := range roots[1:] {
				if r != roots[0] {
					return false
				}
			}
		}
		return true
	})
	// Converged to the newest version of each key.
	for i := range 200 {
		k := []byte(fmt.Sprintf("k%03d", i))
		var recs []storage.Record
		for j := range 3 {
			rec, err := c.Node(j).LocalRecord(k)
			if err != nil {
				t.Fatalf("%s missing on %s: %v", k, c.Name(j), err)
			}
			recs = append(recs, rec)
		}
		if recs[0].Version != recs[1].Version || recs[1].Version != recs[2].Version {
			t.Errorf("%s: versions differ: %v %v %v", k, recs[0].Version, recs[1].Version, recs[2].Version)
		}
	}
}

// Once the replicas agree, a pass compares roots only: the scheduler's
// node runs no exchange, however many passes go by. A write that this
// node misses changes the other replicas' roots, and is repaired.
func TestIdleAntiEntropyComparesRootsOnly(t *testing.T) {
	c := nodetest.Start(t, nodetest.Options{Nodes: 3, DisableHints: true, Partitions: 64})
	for i := range 300 {
		mustPut(t, c.Node(0), fmt.Sprintf("k%03d", i), "v", node.LevelAll)
	}
	// Node 0 (its name sorts first) runs the exchanges with both others.
	progress := func() antientropy.Progress {
		p, ok := c.Node(0).AntiEntropyProgress()
		if !ok {
			t.Fatal("anti-entropy is off")
		}
		return p
	}
	passes := func(n uint64) antientropy.Progress {
		t.Helper()
		want := progress().Passes + n
		waitForLong(t, "anti-entropy passes", 30*time.Second, func() bool { return progress().Passes >= want })
		return progress()
	}
	exchanges := func(p antientropy.Progress) uint64 { return p.PartitionsCompared - p.RootMatches }
	// The first passes build every tree; then all roots match.
	passes(2)
	before := passes(1)
	after := passes(3)
	if n := exchanges(after) - exchanges(before); n != 0 {
		t.Errorf("%d exchanges in 3 passes of an idle cluster, want 0", n)
	}
	if n, want := after.RootMatches-before.RootMatches, uint64(3*after.PassItems); n < want {
		t.Errorf("%d root matches in 3 passes of %d items, want at least %d", n, after.PassItems, want)
	}

	// Node 0 misses a write: its cached root of that partition stays
	// current while the others' change.
	c.Net.SetMode(memnet.FailFast)
	c.Net.Partition([]string{c.Name(0)}, []string{c.Name(1), c.Name(2)})
	mustPut(t, c.Node(1), "missed", "by node 0", node.LevelDefault)
	c.Net.Heal()
	waitForLong(t, "anti-entropy repairs the missed write", 30*time.Second, func() bool {
		rec, err := c.Node(0).LocalRecord([]byte("missed"))
		return err == nil && string(rec.Value) == "by node 0"
	})
	// Exchanges stop again once the repaired trees are rebuilt.
	passes(2)
	before = progress()
	after = passes(2)
	if n := exchanges(after) - exchanges(before); n != 0 {
		t.Errorf("%d exchanges in 2 passes after the repair, want 0", n)
	}
}

// Anti-entropy reads partitions past the block cache: passes that rebuild
// every tree from the tables leave the cached blocks client reads use, and
// look up none.
func TestAntiEntropyLeavesBlockCache(t *testing.T) {
	c := nodetest.Start(t, nodetest.Options{Nodes: 3, DisableHints: true, Partitions: 16})
	value := bytes.Repeat([]byte("v"), 300)
	key := func(prefix string, i int) []byte { return []byte(fmt.Sprintf("%s-%05d", prefix, i)) }
	var muts []node.Mutation
	for i := range 6000 { // about 2 MB on each node, twice its block cache
		muts = append(muts, node.Mutation{Key: key("key", i), Value: value})
	}
	batchAll(t, c.Node(0), muts, node.LevelAll)
	for i := range 3 {
		if err := c.Node(i).DB().Flush(); err != nil {
			t.Fatal(err)
		}
	}
	// A write in every partition makes every cached tree stale.
	muts = muts[:0]
	for i := range 200 {
		muts = append(muts, node.Mutation{Key: key("touch", i), Value: []byte("t")})
	}
	batchAll(t, c.Node(0), muts, node.LevelAll)

	n0 := c.Node(0) // its name sorts first: it starts the exchanges and builds its trees
	readHot := func() (misses int64) {
		t.Helper()
		before := n0.DB().Stats().CacheMisses
		for i := 0; i < 6000; i += 100 {
			if rec, err := n0.LocalRecord(key("key", i)); err != nil || !bytes.Equal(rec.Value, value) {
				t.Fatalf("LocalRecord(%s) = %q, %v", key("key", i), rec.Value, err)
			}
		}
		return n0.DB().Stats().CacheMisses - before
	}
	readHot()
	if m := readHot(); m != 0 {
		t.Fatalf("%d cache misses reading the hot keys again", m)
	}
	progress := func() antientropy.Progress {
		p, ok := n0.AntiEntropyProgress()
		if !ok {
			t.Fatal("anti-entropy is off")
		}
		return p
	}
	before, cache := progress(), n0.DB().Stats()
	waitForLong(t, "two anti-entropy passes", 30*time.Second, func() bool { return progress().Passes >= before.Passes+2 })
	after, cacheAfter := progress(), n0.DB().Stats()
	if ex := (after.PartitionsCompared - after.RootMatches) - (before.PartitionsCompared - before.RootMatches); ex < 16 {
		t.Fatalf("%d exchanges in two passes after a write to every partition; the test needs the trees rebuilt", ex)
	}
	if cacheAfter.CacheHits != cache.CacheHits || cacheAfter.CacheMisses != cache.CacheMisses {
		t.Errorf("anti-entropy passes looked blocks up in the cache: hits %d -> %d, misses %d -> %d",
			cache.CacheHits, cacheAfter.CacheHits, cache.CacheMisses, cacheAfter.CacheMisses)
	}
	if m := readHot(); m != 0 {
		t.Errorf("%d cache misses reading the hot keys after the passes", m)
	}
}
