package node_test

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"

	"kvstore/node"
	"kvstore/node/nodetest"
)

// The acceptance test: B is down while 10,000 keys are written at
// W=2; B restarts; once the hints drain, A and C stop and every key is read
// from B alone at r=one, with the right value.
func TestHintsRepairARestartedNode(t *testing.T) {
	c := nodetest.Start(t, nodetest.Options{Nodes: 3, N: 3, R: 2, W: 2})
	const keys = 10000
	value := func(i int) []byte { return []byte(fmt.Sprintf("value-%d", i)) }
	c.Kill(1)
	for start := 0; start < keys; start += 500 {
		var muts []node.Mutation
		for i := start; i < start+500; i++ {
			muts = append(muts, node.Mutation{Key: []byte(fmt.Sprintf("key-%05d", i)), Value: value(i)})
		}
		for _, r := range c.Node((start/500)%2*2).Batch(ctxT(t), muts, node.LevelDefault) {
			if r.Err != nil {
				t.Fatalf("write with B down: %v", r.Err)
			}
		}
	}
	pending := c.Node(0).Status().Hints.Pending + c.Node(2).Status().Hints.Pending
	if pending < keys {
		t.Fatalf("%d hints pending for %d keys written while B was down", pending, keys)
	}
	c.Restart(1)
	waitForLong(t, "hints drain to B", 60*time.Second, func() bool {
		return c.Node(0).Status().Hints.Pending == 0 && c.Node(2).Status().Hints.Pending == 0
	})
	c.Stop(0)
	c.Stop(2)
	for i := range keys {
		k := fmt.Sprintf("key-%05d", i)
		r, err := c.Node(1).Get(ctxT(t), []byte(k), node.LevelOne)
		if err != nil || !r.Found || !bytes.Equal(r.Value, value(i)) {
			t.Fatalf("%s from B alone: %+v %v", k, r, err)
		}
	}
}

// With two replicas of three down, a write has a single distinct node to
// live on: a hint kept on the same node does not make a quorum. A ring with
// a spare node takes the write on it (sloppy quorum) and hands it back.
func TestSloppyQuorumCountsDistinctNodes(t *testing.T) {
	c := nodetest.Start(t, nodetest.Options{Nodes: 3})
	c.Kill(1)
	c.Kill(2)
	if r := c.Node(0).Put(ctxT(t), []byte("k"), []byte("v"), node.LevelDefault); !errors.Is(r.Err, node.ErrUnavailable) {
		t.Errorf("W=2 with one node up: %+v", r)
	}

	c5 := nodetest.Start(t, nodetest.Options{Nodes: 5})
	c5.Kill(3)
	c5.Kill(4)
	for i := range 50 {
		k := fmt.Sprintf("k%d", i)
		if r := c5.Node(i%3).Put(ctxT(t), []byte(k), []byte("v"), node.LevelAll); r.Err != nil {
			t.Fatalf("w=all with two of five down, hinted: %+v", r)
		}
	}
	c5.Restart(3)
	c5.Restart(4)
	waitForLong(t, "hints drain", 30*time.Second, func() bool {
		for i := range 5 {
			if c5.Node(i).Status().Hints.Pending != 0 {
				return false
			}
		}
		return true
	})
}

// Strict quorum: with hinted handoff off, a write needs its own replicas.
func TestStrictQuorum(t *testing.T) {
	c := nodetest.Start(t, nodetest.Options{Nodes: 5, DisableHints: true})
	c.Kill(3)
	c.Kill(4)
	failed := 0
	for i := range 50 {
		if r := c.Node(i%3).Put(ctxT(t), []byte(fmt.Sprintf("k%d", i)), []byte("v"), node.LevelAll); r.Err != nil {
			failed++
		}
	}
	if failed == 0 {
		t.Errorf("w=all never failed with two of five nodes down and no hints")
	}
	if h := c.Node(0).Status().Hints; h.Enabled || h.Pending != 0 {
		t.Errorf("hints with hinted handoff disabled: %+v", h)
	}
}

func waitForLong(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting: %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A replica that stalls (up by gossip, its RPCs unanswered) while writes
// meet their quorum without it gets every one of them as a hint: the
// clients have their answers before its RPCs time out, and the writes that
// queued behind them are failed too. Once the link heals, the hints bring
// it up to date without anti-entropy.
func TestStalledReplicaGetsHintsForWritesPastQuorum(t *testing.T) {
	c := nodetest.Start(t, nodetest.Options{Nodes: 3, DisableAntiEntropy: true, ReplicaTimeout: 200 * time.Millisecond})
	c.Net.Block(c.Name(0), c.Name(1))
	const writes = 40
	putAtOnce(t, c.Node(0), writes)
	waitForLong(t, "a hint for every write", 10*time.Second, func() bool {
		return c.Node(0).Status().Hints.Pending >= writes
	})
	c.Net.Unblock(c.Name(0), c.Name(1))
	waitForLong(t, "the hints to drain", 30*time.Second, func() bool {
		return c.Node(0).Status().Hints.Pending == 0
	})
	for i := range writes {
		key := fmt.Sprintf("k%02d", i)
		rec, err := c.Node(1).LocalRecord([]byte(key))
		if err != nil || string(rec.Value) != "v"+key {
			t.Fatalf("%s on the replica that stalled: %+v, %v", key, rec, err)
		}
	}
}
