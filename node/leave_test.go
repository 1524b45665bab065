package node_test

import (
	"bytes"
	"fmt"
	"testing"

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
	for _, r := range c.Node(0).Batch(ctxT(t), muts, node.LevelAll) {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
	}
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
