package gossip_test

import (
	"fmt"
	"io"
	"log"

	"kvstore/gossip"
)

func Example() {
	newNode := func(name string) *gossip.Gossip {
		cfg := gossip.FastConfig()
		cfg.Name = name
		cfg.SecretKey = []byte("0123456789abcdef")  // shared by the cluster
		cfg.BindAddr, cfg.BindPort = "127.0.0.1", 0 // any free port
		cfg.Meta = []byte("http=" + name)
		cfg.Logger = log.New(io.Discard, "", 0)
		g, err := gossip.Start(cfg)
		if err != nil {
			log.Fatal(err)
		}
		return g
	}
	n1, n2 := newNode("n1"), newNode("n2")
	defer n1.Shutdown()
	defer n2.Shutdown()

	if _, err := n2.Join([]string{n1.LocalAddr()}); err != nil {
		log.Fatal(err)
	}
	if err := n1.SetEntry(gossip.Entry{Name: "n1", Status: gossip.Active, Version: 1}); err != nil {
		log.Fatal(err)
	}
	for range n2.Changes() { // wait until n2 has heard of the entry
		if _, ok := n2.Entry("n1"); ok {
			break
		}
	}
	for _, m := range n2.Members() {
		fmt.Printf("%s %s %s\n", m.Name, m.State, m.Meta)
	}
	for _, e := range n2.Ledger() {
		fmt.Printf("%s %s v%d\n", e.Name, e.Status, e.Version)
	}
	// Output:
	// n1 alive http=n1
	// n2 alive http=n2
	// n1 active v1
}
