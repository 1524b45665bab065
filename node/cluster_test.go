package node_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"kvstore/node"
	"kvstore/node/nodetest"
	"kvstore/node/transport/memnet"
	"kvstore/storage"
	"kvstore/storage/vfs"
)

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func mustPut(t *testing.T, n *node.Node, key, value string, w node.Level) node.WriteResult {
	t.Helper()
	res := n.Put(ctxT(t), []byte(key), []byte(value), w)
	if res.Err != nil {
		t.Fatalf("Put(%s) on %s: %v", key, n.Name(), res.Err)
	}
	return res
}

func mustGet(t *testing.T, n *node.Node, key string, r node.Level) node.ReadResult {
	t.Helper()
	res, err := n.Get(ctxT(t), []byte(key), r)
	if err != nil {
		t.Fatalf("Get(%s) on %s: %v", key, n.Name(), err)
	}
	return res
}

// Any node coordinates: a write through one node is read through every
// other, at the default quorums and at all.
func TestWriteAnywhereReadAnywhere(t *testing.T) {
	c := nodetest.Start(t, nodetest.Options{Nodes: 3})
	for i := range 30 {
		key := fmt.Sprintf("key-%d", i)
		w := mustPut(t, c.Node(i%3), key, "v"+key, node.LevelDefault)
		if w.Acks < 2 || w.Required != 2 {
			t.Errorf("%s: %d acks of %d required", key, w.Acks, w.Required)
		}
		for j := range 3 {
			r := mustGet(t, c.Node(j), key, node.LevelAll)
			if !r.Found || string(r.Value) != "v"+key || r.Version != w.Version {
				t.Errorf("%s via %s: %+v, want version %v", key, c.Name(j), r, w.Version)
			}
		}
	}
}

// With N=3, W=2 and R=2, one replica down changes nothing for clients;
// "all" fails with ErrUnavailable, promptly.
func TestOneReplicaDown(t *testing.T) {
	c := nodetest.Start(t, nodetest.Options{Nodes: 3})
	c.Kill(2)
	for i := range 20 {
		key := fmt.Sprintf("k%d", i)
		mustPut(t, c.Node(i%2), key, "v", node.LevelDefault)
		if r := mustGet(t, c.Node((i+1)%2), key, node.LevelQuorum); !r.Found {
			t.Errorf("%s not found at quorum with one node down", key)
		}
	}
	// A write that cannot meet its level is refused before anything is
	// written.
	start := time.Now()
	res := c.Node(0).Put(ctxT(t), []byte("x"), []byte("v"), node.LevelAll)
	if !errors.Is(res.Err, node.ErrUnavailable) || res.Acks != 0 {
		t.Errorf("w=all with a replica down: %+v", res)
	}
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Errorf("w=all took %v to fail", d)
	}
	if r := mustGet(t, c.Node(1), "x", node.LevelQuorum); r.Found {
		t.Errorf("a refused write is readable: %+v", r)
	}
}

// Two replicas of three down: quorum writes and reads fail with
// ErrUnavailable instead of hanging, and w=one still succeeds.
func TestQuorumLost(t *testing.T) {
	c := nodetest.Start(t, nodetest.Options{Nodes: 3})
	mustPut(t, c.Node(0), "before", "v", node.LevelDefault)
	c.Kill(1)
	c.Kill(2)
	if res := c.Node(0).Put(ctxT(t), []byte("k"), []byte("v"), node.LevelDefault); !errors.Is(res.Err, node.ErrUnavailable) {
		t.Errorf("quorum write with two replicas down: %+v", res)
	}
	if _, err := c.Node(0).Get(ctxT(t), []byte("before"), node.LevelDefault); !errors.Is(err, node.ErrUnavailable) {
		t.Errorf("quorum read with two replicas down: %v", err)
	}
	mustPut(t, c.Node(0), "k1", "v", node.LevelOne)
	if r := mustGet(t, c.Node(0), "before", node.LevelOne); !r.Found {
		t.Errorf("r=one on the surviving replica: not found")
	}
}

// A replica that missed a write (partitioned away) gets it back from read
// repair on the next read that sees it stale.
func TestReadRepair(t *testing.T) {
	c := nodetest.Start(t, nodetest.Options{Nodes: 3})
	c.Net.SetMode(memnet.FailFast)
	c.Net.Partition([]string{c.Name(0), c.Name(1)}, []string{c.Name(2)})
	w := mustPut(t, c.Node(0), "k", "new", node.LevelDefault)
	if _, err := c.Node(2).LocalRecord([]byte("k")); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("the partitioned replica got the write: %v", err)
	}
	c.Net.Heal()
	r := mustGet(t, c.Node(0), "k", node.LevelAll)
	if !r.RepairSent || string(r.Value) != "new" {
		t.Errorf("read at all after heal: %+v, want a repair", r)
	}
	waitFor(t, "repair reaches the stale replica", func() bool {
		rec, err := c.Node(2).LocalRecord([]byte("k"))
		return err == nil && rec.Version == w.Version && string(rec.Value) == "new"
	})
	if r := mustGet(t, c.Node(1), "k", node.LevelAll); r.RepairSent {
		t.Errorf("a second read still repairs: %+v", r)
	}
}

// A slow replica never holds a request beyond the quorum: with one replica
// delayed by seconds, writes and reads answer at the speed of the other two.
func TestSlowReplicaDoesNotHoldRequests(t *testing.T) {
	c := nodetest.Start(t, nodetest.Options{Nodes: 3, ReplicaTimeout: 3 * time.Second})
	for _, from := range []int{0, 1} {
		c.Net.SetLinkFaults(c.Name(from), c.Name(2), memnet.Faults{Delay: 2 * time.Second})
	}
	start := time.Now()
	for i := range 10 {
		key := fmt.Sprintf("k%d", i)
		mustPut(t, c.Node(i%2), key, "v", node.LevelDefault)
		mustGet(t, c.Node((i+1)%2), key, node.LevelDefault)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("20 requests took %v with one slow replica", d)
	}
}

// A coordinator answers its own share of a read from memory when it can;
// when that needs its disk, a slow disk does not hold the read: the other
// replicas answer it.
func TestSlowLocalDiskDoesNotHoldReads(t *testing.T) {
	const stall = 2 * time.Second
	var slow atomic.Bool
	c := nodetest.Start(t, nodetest.Options{Nodes: 3, DiskFaults: []vfs.InjectFunc{
		func(kind vfs.OpKind, path string) error {
			if slow.Load() && kind == vfs.OpRead && strings.HasSuffix(path, ".sst") {
				time.Sleep(stall)
			}
			return nil
		},
	}})
	const keys = 10
	for i := range keys {
		mustPut(t, c.Node(1), fmt.Sprintf("k%d", i), fmt.Sprintf("v%d", i), node.LevelAll)
	}
	// Node 0's records move to its tables, and its restart leaves them
	// out of every cache.
	if err := c.Node(0).DB().Flush(); err != nil {
		t.Fatal(err)
	}
	c.Stop(0)
	c.Restart(0)
	c.WaitRing(3, 10*time.Second)

	slow.Store(true)
	defer slow.Store(false)
	start := time.Now()
	for i := range keys {
		r := mustGet(t, c.Node(0), fmt.Sprintf("k%d", i), node.LevelDefault)
		if !r.Found || string(r.Value) != fmt.Sprintf("v%d", i) {
			t.Errorf("k%d: %+v", i, r)
		}
	}
	if d := time.Since(start); d > stall {
		t.Errorf("%d reads took %v while the coordinator's disk stalls for %v per read", keys, d, stall)
	}
}

// A coordinator's own slow disk does not hold writes the other replicas
// acknowledge: its WAL fsyncs stall, yet writes at W=2 through it finish
// at the pace of the other two.
func TestSlowLocalDiskDoesNotHoldWrites(t *testing.T) {
	const stall = 2 * time.Second
	var slow atomic.Bool
	c := nodetest.Start(t, nodetest.Options{Nodes: 3, Sync: storage.SyncAlways, DiskFaults: []vfs.InjectFunc{
		func(kind vfs.OpKind, path string) error {
			if slow.Load() && kind == vfs.OpSync && strings.HasSuffix(path, ".wal") {
				time.Sleep(stall)
			}
			return nil
		},
	}})
	slow.Store(true)
	defer slow.Store(false)
	const keys = 10
	start := time.Now()
	for i := range keys {
		mustPut(t, c.Node(0), fmt.Sprintf("k%d", i), fmt.Sprintf("v%d", i), node.LevelDefault)
	}
	if d := time.Since(start); d > stall {
		t.Errorf("%d writes took %v while the coordinator's fsyncs stall for %v each", keys, d, stall)
	}
	for i := range keys {
		if r := mustGet(t, c.Node(1), fmt.Sprintf("k%d", i), node.LevelDefault); string(r.Value) != fmt.Sprintf("v%d", i) {
			t.Errorf("k%d: %+v", i, r)
		}
	}
}

// Deletes replicate like writes: a deleted key reads as absent everywhere,
// and an older write replayed afterwards does not bring it back.
func TestDelete(t *testing.T) {
	c := nodetest.Start(t, nodetest.Options{Nodes: 3})
	mustPut(t, c.Node(0), "k", "v", node.LevelDefault)
	res := c.Node(1).Delete(ctxT(t), []byte("k"), node.LevelAll)
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	for i := range 3 {
		if r := mustGet(t, c.Node(i), "k", node.LevelAll); r.Found {
			t.Errorf("deleted key found via %s: %+v", c.Name(i), r)
		}
	}
}

// A batch reports each key's outcome: with two replicas down, keys are
// refused individually while the request itself succeeds.
func TestBatchPerKeyResults(t *testing.T) {
	c := nodetest.Start(t, nodetest.Options{Nodes: 3})
	var muts []node.Mutation
	for i := range 50 {
		muts = append(muts, node.Mutation{Key: []byte(fmt.Sprintf("b%d", i)), Value: []byte("v")})
	}
	for _, r := range c.Node(0).Batch(ctxT(t), muts, node.LevelDefault) {
		if r.Err != nil || r.Acks < 2 {
			t.Errorf("batch key %s: %+v", r.Key, r)
		}
	}
	for i := range 50 {
		if r := mustGet(t, c.Node(2), fmt.Sprintf("b%d", i), node.LevelAll); !r.Found {
			t.Errorf("batch key b%d not found", i)
		}
	}
	c.Kill(1)
	c.Kill(2)
	for _, r := range c.Node(0).Batch(ctxT(t), muts[:5], node.LevelDefault) {
		if !errors.Is(r.Err, node.ErrUnavailable) || r.Acks > 1 {
			t.Errorf("batch key %s with two replicas down: %+v", r.Key, r)
		}
	}
}

// Range reads return every live key of the range in order, both ends
// inclusive, across all partitions, page by page.
func TestRange(t *testing.T) {
	c := nodetest.Start(t, nodetest.Options{Nodes: 3})
	var want []string
	for i := range 300 {
		key := fmt.Sprintf("r%04d", i)
		mustPut(t, c.Node(i%3), key, "v"+key, node.LevelDefault)
		if i >= 10 && i <= 250 && i%7 != 0 {
			want = append(want, key)
		}
	}
	for i := 0; i < 300; i += 7 {
		c.Node(0).Delete(ctxT(t), []byte(fmt.Sprintf("r%04d", i)), node.LevelDefault)
	}
	for _, limit := range []int{0, 1, 13, 1000} {
		var got []string
		var cursor []byte
		for pages := 0; ; pages++ {
			page, err := c.Node(1).Range(ctxT(t), node.RangeRequest{
				Start: []byte("r0010"), End: []byte("r0250"), Limit: limit, Cursor: cursor,
			})
			if err != nil {
				t.Fatal(err)
			}
			for _, kv := range page.Records {
				if string(kv.Value) != "v"+string(kv.Key) {
					t.Errorf("%s = %q", kv.Key, kv.Value)
				}
				got = append(got, string(kv.Key))
			}
			if page.Next == nil {
				break
			}
			cursor = page.Next
			if pages > 1000 {
				t.Fatal("range does not end")
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("limit %d: got %d keys, want %d\n got %v\nwant %v", limit, len(got), len(want), got, want)
		}
	}
}

// batchAll writes muts through n at level in batches of 250, as a client
// loading data would, and fails the test on any error. Each batch's RPC to
// a replica stays well inside the replica timeout on a loaded machine (one
// RPC of 3,000 records under -race did not).
func batchAll(t *testing.T, n *node.Node, muts []node.Mutation, level node.Level) {
	t.Helper()
	for len(muts) > 0 {
		k := min(len(muts), 250)
		for _, r := range n.Batch(ctxT(t), muts[:k], level) {
			if r.Err != nil {
				t.Fatal(r.Err)
			}
		}
		muts = muts[k:]
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// An operator removes a failed node: its partitions move to the remaining
// nodes and writes at quorum work again; a live node cannot be removed.
func TestRemoveFailedNode(t *testing.T) {
	// Strict quorums: with hints, the two live nodes would take every write.
	c := nodetest.Start(t, nodetest.Options{Nodes: 4, DisableHints: true})
	if err := c.Node(0).RemoveMember(c.Name(3)); !errors.Is(err, node.ErrMemberAlive) {
		t.Fatalf("removing a live node: %v", err)
	}
	c.Kill(2)
	c.Kill(3)
	// With two of four down, some partitions have only one replica up.
	failed := 0
	for i := range 40 {
		if res := c.Node(0).Put(ctxT(t), []byte(fmt.Sprintf("k%d", i)), []byte("v"), node.LevelDefault); res.Err != nil {
			failed++
		}
	}
	if failed == 0 {
		t.Fatalf("no write failed with two of four nodes down")
	}
	for _, i := range []int{2, 3} {
		if err := c.Node(0).RemoveMember(c.Name(i)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the ring shrinks to two nodes", func() bool {
		st := c.Node(1).Status()
		return st.EffectiveN == 2 && st.Clamped
	})
	for i := range 40 {
		mustPut(t, c.Node(i%2), fmt.Sprintf("k%d", i), "v", node.LevelDefault)
	}
}

// Range pages are bounded in bytes as well as records: large values come
// back over several pages, none missing.
func TestRangeOfLargeValues(t *testing.T) {
	// Pages of 8 MiB take a while under the race detector.
	c := nodetest.Start(t, nodetest.Options{Nodes: 3, ReplicaTimeout: 10 * time.Second})
	for i := range 24 {
		big := make([]byte, 1<<20) // the API keeps reading values after Put returns
		big[0] = byte(i)
		if r := c.Node(0).Put(ctxT(t), []byte(fmt.Sprintf("big%02d", i)), big, node.LevelDefault); r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	var got, pages int
	var cursor []byte
	for {
		page, err := c.Node(1).Range(ctxT(t), node.RangeRequest{Start: []byte("big"), End: []byte("big99"), Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, kv := range page.Records {
			if len(kv.Value) != 1<<20 || int(kv.Value[0]) != got {
				t.Fatalf("record %d: %s with %d bytes", got, kv.Key, len(kv.Value))
			}
			got++
		}
		if page.Next == nil {
			break
		}
		cursor = page.Next
	}
	if got != 24 || pages < 3 {
		t.Errorf("%d records in %d pages, want 24 in several", got, pages)
	}
}

// A range read survives a replica that does not answer while gossip still
// reports it up: the coordinator asks another replica for that replica's
// partitions instead of failing the page.
func TestRangeAsksAnotherReplicaWhenOneFails(t *testing.T) {
	c := nodetest.Start(t, nodetest.Options{Nodes: 3})
	want := map[string]bool{}
	var muts []node.Mutation
	for i := range 500 {
		k := fmt.Sprintf("r%04d", i)
		want[k] = true
		muts = append(muts, node.Mutation{Key: []byte(k), Value: []byte("v")})
	}
	batchAll(t, c.Node(0), muts, node.LevelAll)
	c.Net.Block(c.Name(0), c.Name(2)) // n0's requests to n2 are lost
	got := 0
	var cursor []byte
	for {
		page, err := c.Node(0).Range(ctxT(t), node.RangeRequest{Cursor: cursor, Level: node.LevelQuorum})
		if err != nil {
			t.Fatalf("range with one replica not answering: %v", err)
		}
		for _, kv := range page.Records {
			if !want[string(kv.Key)] {
				t.Fatalf("unexpected key %q", kv.Key)
			}
			got++
		}
		if page.Next == nil {
			break
		}
		cursor = page.Next
	}
	if got != len(want) {
		t.Fatalf("%d of %d keys", got, len(want))
	}
}
