package node_test

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"kvstore/gossip"
	"kvstore/node"
	"kvstore/node/nodetest"
)

// A node leaving the ring hands its partitions to their new owners before
// it goes: with anti-entropy off, every remaining replica holds every key
// as soon as the leave returns, and reads at quorum find all of them once
// the leaver is stopped.
func TestLeaveHandsPartitionsOff(t *testing.T) {
	c := nodetest.Start(t, nodetest.Options{Nodes: 4, DisableAntiEntropy: true})
	const keys = 2000
	var muts []node.Mutation
	for i := range keys {
		muts = append(muts, node.Mutation{Key: []byte(fmt.Sprintf("key-%05d", i)), Value: []byte(fmt.Sprintf("v%d", i))})
	}
	batchAll(t, c.Node(0), muts, node.LevelAll)
	rep, err := c.Node(3).Leave(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Partitions == 0 || rep.Records == 0 {
		t.Fatalf("leave handed nothing off: %+v", rep)
	}
	waitFor(t, "the ring drops the leaver", func() bool {
		for i := range 3 {
			if len(c.Node(i).Status().Members) == 0 || c.Node(i).Status().EffectiveN != 3 {
				return false
			}
			for _, m := range c.Node(i).Status().Members {
				if m.Name == c.Name(3) && m.Ring != "left" {
					return false
				}
			}
		}
		return true
	})
	for i := range 3 {
		for _, m := range muts {
			rec, err := c.Node(i).LocalRecord(m.Key)
			if err != nil || !bytes.Equal(rec.Value, m.Value) {
				t.Fatalf("%s on %s after the leave: %v", m.Key, c.Name(i), err)
			}
		}
	}
	c.Stop(3)
	for _, m := range muts {
		r := mustGet(t, c.Node(1), string(m.Key), node.LevelQuorum)
		if !r.Found || !bytes.Equal(r.Value, m.Value) {
			t.Fatalf("%s after the leaver stopped: %+v", m.Key, r)
		}
	}
}

// A node that stops while leaving resumes the leave when it restarts: it
// hands its partitions off and leaves, and its Left channel closes.
func TestLeaveResumesAfterRestart(t *testing.T) {
	c := nodetest.Start(t, nodetest.Options{Nodes: 4, DisableAntiEntropy: true, DisableHints: true})
	var muts []node.Mutation
	for i := range 1000 {
		muts = append(muts, node.Mutation{Key: []byte(fmt.Sprintf("key-%05d", i)), Value: []byte(fmt.Sprintf("v%d", i))})
	}
	batchAll(t, c.Node(0), muts, node.LevelAll)
	// The node had marked itself leaving when it stopped.
	for _, e := range c.Hub.View(c.Name(0)).Ledger() {
		if e.Name == c.Name(3) {
			e.Status, e.Version = gossip.Leaving, e.Version+1
			c.Hub.SetEntry(e)
		}
	}
	c.Stop(3)
	c.Restart(3)
	select {
	case <-c.Node(3).Left():
	case <-time.After(10 * time.Second):
		t.Fatal("the restarted node did not finish its leave")
	}
	c.Stop(3)
	c.WaitRing(3, 10*time.Second)
	for i := range 3 {
		for _, m := range muts {
			rec, err := c.Node(i).LocalRecord(m.Key)
			if err != nil || !bytes.Equal(rec.Value, m.Value) {
				t.Fatalf("%s on %s after the resumed leave: %v", m.Key, c.Name(i), err)
			}
		}
	}
}
