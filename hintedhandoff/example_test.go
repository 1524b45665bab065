package hintedhandoff_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"kvstore/hintedhandoff"
	"kvstore/storage"
)

func Example() {
	dir, err := os.MkdirTemp("", "hints")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	hs, err := hintedhandoff.Open(dir, hintedhandoff.DefaultConfig(), storage.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer hs.Close()

	// node-3 did not answer: keep its copy of the write as a hint.
	err = hs.Add("node-3", []hintedhandoff.Record{
		{Key: []byte("user/42"), Value: []byte("alice"), Version: 1},
		{Key: []byte("user/43"), Version: 2, Tombstone: true},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("pending:", hs.Stats().Pending)

	// Gossip says node-3 is back: hand the hints over.
	send := hintedhandoff.SenderFunc(func(ctx context.Context, target string, recs []hintedhandoff.Record) error {
		for _, r := range recs {
			fmt.Printf("to %s: %s tombstone=%v\n", target, r.Key, r.Tombstone)
		}
		return nil // the target applied them durably
	})
	sent, err := hs.Replay(context.Background(), "node-3", send)
	fmt.Println("sent:", sent, err, "pending:", hs.Stats().Pending)
	// Output:
	// pending: 2
	// to node-3: user/42 tombstone=false
	// to node-3: user/43 tombstone=true
	// sent: 2 <nil> pending: 0
}
