package node_test

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"kvstore/node"
	"kvstore/node/nodetest"
)

// ackLog records the writes a cluster acknowledged: for each key the value
// of its last acknowledged write (each key has one writer, so the order of
// its writes is the order of their acknowledgements).
type ackLog struct {
	mu   sync.Mutex
	acks map[string]string
}

func newAckLog() *ackLog { return &ackLog{acks: map[string]string{}} }

func (a *ackLog) set(key, value string) {
	a.mu.Lock()
	a.acks[key] = value
	a.mu.Unlock()
}

func (a *ackLog) snapshot() map[string]string {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make(map[string]string, len(a.acks))
	for k, v := range a.acks {
		out[k] = v
	}
	return out
}

// load runs writers and readers against the running nodes of c until stop
// is closed: writers overwrite their own keys at quorum and record what was
// acknowledged; readers read acknowledged keys at quorum and fail the test
// on a missing or stale value; one reader takes quorum range reads of the
// whole key space and checks no acknowledged key is missing. It returns
// the ack log and counters of failed and total requests.
type loadStats struct {
	writes, writeErrs, reads, readErrs, ranges, rangeErrs atomic.Int64
	stale                                                 atomic.Int64
}

func runLoad(t *testing.T, c *nodetest.Cluster, nodesMu *sync.RWMutex, retired map[string]bool, stop <-chan struct{}, writers, keysPerWriter int) (*ackLog, *loadStats, *sync.WaitGroup) {
	acks := newAckLog()
	st := &loadStats{}
	var wg sync.WaitGroup
	// pick returns a running node other than the retired ones, read-locking
	// nodesMu: the caller calls done when its request is over, so a node is
	// stopped (under the write lock) only between requests, as a client
	// would drain it.
	pick := func(i int) (n *node.Node, done func()) {
		nodesMu.RLock()
		for j := range c.Size() {
			if n := c.Node((i + j) % c.Size()); n != nil && !retired[n.Name()] {
				return n, nodesMu.RUnlock
			}
		}
		nodesMu.RUnlock()
		return nil, nil
	}
	stopped := func() bool {
		select {
		case <-stop:
			return true
		default:
			return false
		}
	}
	ctx := context.Background()
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for seq := 0; !stopped(); seq++ {
				key := fmt.Sprintf("w%02d-%04d", w, seq%keysPerWriter)
				value := fmt.Sprintf("%s@%d", key, seq)
				n, done := pick(seq + w)
				if n == nil {
					continue
				}
				st.writes.Add(1)
				res := n.Put(ctx, []byte(key), []byte(value), node.LevelQuorum)
				done()
				if res.Err != nil {
					st.writeErrs.Add(1)
					t.Logf("write %s on %s: %v", key, n.Name(), res.Err)
					continue
				}
				acks.set(key, value)
			}
		}()
	}
	wg.Add(2)
	go func() { // point reads of acknowledged keys
		defer wg.Done()
		for i := 0; !stopped(); i++ {
			snap := acks.snapshot()
			for key, want := range snap {
				if stopped() {
					return
				}
				n, done := pick(i)
				if n == nil {
					continue
				}
				st.reads.Add(1)
				r, err := n.Get(ctx, []byte(key), node.LevelQuorum)
				done()
				if err != nil {
					st.readErrs.Add(1)
					t.Logf("read %s on %s: %v", key, n.Name(), err)
					continue
				}
				// The writer may have overwritten the key since the
				// snapshot: older than the snapshot is stale.
				if !r.Found || seqOf(string(r.Value)) < seqOf(want) {
					st.stale.Add(1)
					t.Errorf("read %s on %s at quorum: found %v %q, acknowledged %q", key, n.Name(), r.Found, r.Value, want)
				}
				i++
			}
		}
	}()
	go func() { // range reads of everything
		defer wg.Done()
		for i := 0; !stopped(); i++ {
			snap := acks.snapshot()
			n, done := pick(i)
			if n == nil {
				continue
			}
			st.ranges.Add(1)
			got, err := rangeAll(ctx, n)
			done()
			if err != nil {
				st.rangeErrs.Add(1)
				t.Logf("range on %s: %v", n.Name(), err)
				continue
			}
			for key, want := range snap {
				if v, ok := got[key]; !ok || seqOf(v) < seqOf(want) {
					st.stale.Add(1)
					t.Errorf("range read on %s at quorum: %s found %v %q, acknowledged %q", n.Name(), key, ok, v, want)
				}
			}
		}
	}()
	return acks, st, &wg
}

func seqOf(v string) int {
	var key string
	var seq int
	for i := len(v) - 1; i >= 0; i-- {
		if v[i] == '@' {
			key = v[:i]
			fmt.Sscanf(v[i+1:], "%d", &seq)
			break
		}
	}
	if key == "" {
		return -1
	}
	return seq
}

func rangeAll(ctx context.Context, n *node.Node) (map[string]string, error) {
	out := map[string]string{}
	req := node.RangeRequest{Level: node.LevelQuorum}
	for {
		page, err := n.Range(ctx, req)
		if err != nil {
			return nil, err
		}
		for _, kv := range page.Records {
			out[string(kv.Key)] = string(kv.Value)
		}
		if page.Next == nil {
			return out, nil
		}
		req.Cursor = page.Next
	}
}

// writeKeys writes n keys "prefix-00000"... at all and returns them with
// their values ("KEY@1", a single write in runLoad's terms).
func writeKeys(t *testing.T, c *nodetest.Cluster, prefix string, n int) map[string]string {
	t.Helper()
	acks := map[string]string{}
	var muts []node.Mutation
	for i := range n {
		k := fmt.Sprintf("%s-%05d", prefix, i)
		acks[k] = k + "@1"
		muts = append(muts, node.Mutation{Key: []byte(k), Value: []byte(acks[k])})
	}
	batchAll(t, c.Node(0), muts, node.LevelAll)
	return acks
}

// holders returns the running nodes holding key with value or a newer
// write of it.
func holders(c *nodetest.Cluster, key, value string) []string {
	var out []string
	for i := range c.Size() {
		if n := c.Node(i); n != nil {
			if rec, err := n.LocalRecord([]byte(key)); err == nil && seqOf(string(rec.Value)) >= seqOf(value) {
				out = append(out, n.Name())
			}
		}
	}
	return out
}

// waitReplicated waits until every acknowledged key is on exactly want
// running nodes: new replicas streamed it and old owners dropped it.
func waitReplicated(t *testing.T, c *nodetest.Cluster, acks map[string]string, want int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for key, value := range acks {
		for h := holders(c, key, value); len(h) != want; h = holders(c, key, value) {
			if time.Now().After(deadline) {
				t.Fatalf("%s (%q) held by %v, want %d replicas", key, value, h, want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// A node joining a loaded cluster streams its partitions before it serves
// reads: with hinted handoff and anti-entropy off, reads and range reads at
// quorum never miss an acknowledged write during the join, and afterwards
// every key is on exactly N nodes (the new one included; old owners
// dropped what moved away).
func TestJoinStreamsBeforeServingReads(t *testing.T) {
	c := nodetest.Start(t, nodetest.Options{Nodes: 3, DisableHints: true, DisableAntiEntropy: true})
	base := writeKeys(t, c, "base", 3000)
	var nodesMu sync.RWMutex
	stop := make(chan struct{})
	acks, st, wg := runLoad(t, c, &nodesMu, map[string]bool{}, stop, 4, 200)
	for k, v := range base {
		acks.set(k, v)
	}

	nodesMu.Lock()
	j := c.Add()
	nodesMu.Unlock()
	if s := c.Node(j).Status(); !s.Movement.Joining {
		t.Fatalf("new node is not joining: %+v", s.Movement)
	}
	c.WaitRing(4, 20*time.Second)
	mv := c.Node(j).Status().Movement
	if mv.JoinPartitions == 0 || mv.StreamedRecords == 0 {
		t.Fatalf("join streamed nothing: %+v", mv)
	}
	waitFor(t, "old owners drop the partitions that moved", func() bool {
		for i := range c.Size() {
			if c.Node(i).Status().Movement.DroppedPartitions > 0 {
				return true
			}
		}
		return false
	})
	close(stop)
	wg.Wait()
	t.Logf("join: %+v; load: %d writes (%d failed), %d reads (%d failed), %d ranges (%d failed)", mv,
		st.writes.Load(), st.writeErrs.Load(), st.reads.Load(), st.readErrs.Load(), st.ranges.Load(), st.rangeErrs.Load())
	if e := st.writeErrs.Load() + st.readErrs.Load() + st.rangeErrs.Load(); e > 0 {
		t.Errorf("%d requests failed at quorum during the join", e)
	}
	final := acks.snapshot()
	waitReplicated(t, c, final, 3)
	for key, value := range final {
		r := mustGet(t, c.Node(j), key, node.LevelAll)
		if !r.Found || !bytes.Equal(r.Value, []byte(value)) {
			t.Fatalf("%s at all: %+v, want %q", key, r, value)
		}
	}
}

// Rolling membership under continuous load, one node at a time: 3 -> 4 -> 5
// nodes by joins, then back to 3 by graceful leaves. Requests at quorum
// keep succeeding, reads and range reads never miss an acknowledged write,
// and at the end every acknowledged write is on exactly N of the remaining
// nodes.
func TestRollingJoinAndLeave(t *testing.T) {
	c := nodetest.Start(t, nodetest.Options{Nodes: 3, DisableHints: true, DisableAntiEntropy: true})
	var nodesMu sync.RWMutex
	retired := map[string]bool{}
	stop := make(chan struct{})
	acks, st, wg := runLoad(t, c, &nodesMu, retired, stop, 4, 300)
	phase := func(name string, f func()) {
		w0, we0, r0, re0 := st.writes.Load(), st.writeErrs.Load(), st.reads.Load()+st.ranges.Load(), st.readErrs.Load()+st.rangeErrs.Load()
		start := time.Now()
		f()
		t.Logf("%-8s %6.2fs: %d writes, %d failed; %d reads, %d failed", name, time.Since(start).Seconds(),
			st.writes.Load()-w0, st.writeErrs.Load()-we0, st.reads.Load()+st.ranges.Load()-r0, st.readErrs.Load()+st.rangeErrs.Load()-re0)
	}
	waitLoad := func() { // let some load run between moves
		target := st.writes.Load() + 200
		waitFor(t, "load progresses", func() bool { return st.writes.Load() >= target })
	}
	waitLoad()
	for size := 4; size <= 5; size++ {
		phase(fmt.Sprintf("join %d", size), func() {
			nodesMu.Lock()
			c.Add()
			nodesMu.Unlock()
			c.WaitRing(size, 20*time.Second)
		})
		waitLoad()
	}
	for i, size := range []int{4, 3} {
		phase(fmt.Sprintf("leave %d", size), func() {
			if _, err := c.Node(i).Leave(ctxT(t)); err != nil {
				t.Fatal(err)
			}
			nodesMu.Lock()
			retired[c.Name(i)] = true
			c.Stop(i)
			nodesMu.Unlock()
			c.WaitRing(size, 20*time.Second)
		})
		waitLoad()
	}
	close(stop)
	wg.Wait()
	total, failed := st.writes.Load()+st.reads.Load()+st.ranges.Load(), st.writeErrs.Load()+st.readErrs.Load()+st.rangeErrs.Load()
	t.Logf("error rate during the moves: %d of %d requests (%.4f%%), %d stale", failed, total, 100*float64(failed)/float64(max(total, 1)), st.stale.Load())
	if failed > 0 {
		t.Errorf("%d requests failed at quorum", failed)
	}
	waitReplicated(t, c, acks.snapshot(), 3)
}

// When an operator removes a dead node, the nodes that gain its partitions
// exchange them with the other replicas at once: with anti-entropy's
// background passes off, every key is soon on N live nodes again.
func TestRemoveCatchesUpGainedPartitions(t *testing.T) {
	c := nodetest.Start(t, nodetest.Options{Nodes: 4, DisableHints: true, DisableAntiEntropy: true})
	acks := writeKeys(t, c, "key", 2000)
	c.Kill(3)
	if err := c.Node(0).RemoveMember(c.Name(3)); err != nil {
		t.Fatal(err)
	}
	waitReplicated(t, c, acks, 3)
	var streamed int64
	for i := range 3 {
		streamed += c.Node(i).Status().Movement.StreamedRecords
	}
	if streamed == 0 {
		t.Fatal("no record was streamed by a catch-up")
	}
}

// A node that dropped partitions when a join took them, and regains them
// when the joiner dies and is removed, gets their records back: the
// catch-up exchanges must not reuse its Merkle trees of the partitions it
// dropped (they describe records it no longer has, and an exchange
// comparing them with the other replicas' would find nothing to send).
func TestRegainedPartitionsAreStreamedBack(t *testing.T) {
	c := nodetest.Start(t, nodetest.Options{Nodes: 3, DisableHints: true, DisableAntiEntropy: true})
	const keys = 2000
	var muts []node.Mutation
	for i := range keys {
		muts = append(muts, node.Mutation{Key: []byte(fmt.Sprintf("key-%05d", i)), Value: []byte(fmt.Sprintf("v%d", i))})
	}
	batchAll(t, c.Node(0), muts, node.LevelAll)
	// Node 0 holds a tree of every partition, as after a pass.
	for p := range c.Node(0).Status().Partitions {
		if _, err := c.Node(0).MerkleRoot(p); err != nil {
			t.Fatal(err)
		}
	}
	d := c.Add()
	c.WaitRing(4, 20*time.Second)
	waitForLong(t, "node 0 drops the partitions the join took", 30*time.Second, func() bool {
		return c.Node(0).MoveStatus().DroppedPartitions > 0
	})
	c.Kill(d)
	if err := c.Node(1).RemoveMember(c.Name(d)); err != nil {
		t.Fatal(err)
	}
	waitForLong(t, "node 0 has every key again", 30*time.Second, func() bool {
		for _, m := range muts {
			if rec, err := c.Node(0).LocalRecord(m.Key); err != nil || !bytes.Equal(rec.Value, m.Value) {
				return false
			}
		}
		return true
	})
}

// A node stopped in the middle of its join comes back joining (it must not
// claim partitions it has not streamed) and finishes the join.
func TestJoinResumesAfterRestart(t *testing.T) {
	c := nodetest.Start(t, nodetest.Options{Nodes: 3, DisableHints: true, DisableAntiEntropy: true, JoinSettle: 500 * time.Millisecond})
	acks := writeKeys(t, c, "key", 1000)
	j := c.Add()
	if !c.Node(j).Status().Movement.Joining {
		t.Fatal("the new node is not joining")
	}
	c.Stop(j)
	c.Restart(j)
	if !c.Node(j).Status().Movement.Joining {
		t.Fatal("restarted in the middle of its join, the node is not joining")
	}
	c.WaitRing(4, 20*time.Second)
	waitReplicated(t, c, acks, 3)
}
