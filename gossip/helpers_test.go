package gossip

import (
	"fmt"
	"io"
	"log"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"

	"kvstore/gossip/gossiptest"
)

var (
	testKey  = []byte("0123456789abcdef")
	otherKey = []byte("fedcba9876543210")
)

// testNet is an in-process network (see package gossiptest) closed when
// the test ends. Create every transport before starting any node.
type testNet struct{ *gossiptest.Network }

func newTestNet(t *testing.T) *testNet {
	n := gossiptest.NewNetwork()
	t.Cleanup(n.Close) // registered first, so it runs after the nodes' Shutdown
	return &testNet{n}
}

func (n *testNet) transport(name string) memberlist.Transport { return n.Transport(name) }

func testLogger() *log.Logger {
	if os.Getenv("GOSSIP_TEST_LOG") != "" {
		return log.New(os.Stderr, "gossip: ", log.Lmicroseconds)
	}
	return log.New(io.Discard, "", 0)
}

// testConfig returns a fast, encrypted configuration for the named node.
func testConfig(name string, tr memberlist.Transport) Config {
	c := FastConfig()
	c.Name = name
	c.Transport = tr
	c.SecretKey = testKey
	c.Logger = testLogger()
	return c
}

// start starts a node and shuts it down when the test ends.
func start(t *testing.T, cfg Config) *Gossip {
	t.Helper()
	g, err := Start(cfg)
	if err != nil {
		t.Fatalf("Start(%s): %v", cfg.Name, err)
	}
	t.Cleanup(func() { _ = g.Shutdown() })
	return g
}

// cluster starts one node per config (transports already created) and
// joins every node after the first to the first.
func cluster(t *testing.T, cfgs ...Config) []*Gossip {
	t.Helper()
	var gs []*Gossip
	for _, c := range cfgs {
		gs = append(gs, start(t, c))
	}
	for _, g := range gs[1:] {
		if _, err := g.Join([]string{gs[0].LocalAddr()}); err != nil {
			t.Fatalf("%s: Join: %v", g.LocalName(), err)
		}
	}
	return gs
}

// mockCluster starts n nodes named n0..n(n-1) on a fresh MockNetwork,
// applying edit to each config, and joins them.
func mockCluster(t *testing.T, n int, edit func(*Config)) []*Gossip {
	t.Helper()
	tn := newTestNet(t)
	var cfgs []Config
	for i := range n {
		name := "n" + string(rune('0'+i))
		c := testConfig(name, tn.transport(name))
		if edit != nil {
			edit(&c)
		}
		cfgs = append(cfgs, c)
	}
	return cluster(t, cfgs...)
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// waitForCluster is waitFor that prints every node's view on failure.
func waitForCluster(t *testing.T, gs []*Gossip, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			var b strings.Builder
			for _, g := range gs {
				fmt.Fprintf(&b, "\n%s members:", g.LocalName())
				for _, m := range g.Members() {
					fmt.Fprintf(&b, " %s=%v", m.Name, m.State)
				}
				fmt.Fprintf(&b, "\n%s ledger: %v (queued %d)", g.LocalName(), g.Ledger(), g.queue.NumQueued())
			}
			t.Fatalf("timed out after %v waiting for %s%s", timeout, what, b.String())
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func stateOf(g *Gossip, name string) State {
	m, ok := g.Member(name)
	if !ok {
		return 0
	}
	return m.State
}

// allAlive reports whether every node sees exactly the named members, all
// alive.
func allAlive(gs []*Gossip, names ...string) bool {
	for _, g := range gs {
		ms := g.Members()
		if len(ms) != len(names) {
			return false
		}
		for i, m := range ms {
			if m.Name != names[i] || m.State != StateAlive {
				return false
			}
		}
	}
	return true
}

func ledgersEqual(a, b []Entry) bool {
	return slices.EqualFunc(a, b, func(x, y Entry) bool { return x.equal(y) })
}

// converged reports whether every node holds the ledger want.
func converged(gs []*Gossip, want []Entry) bool {
	for _, g := range gs {
		if !ledgersEqual(g.Ledger(), want) {
			return false
		}
	}
	return true
}

func names(gs []*Gossip) []string {
	var out []string
	for _, g := range gs {
		out = append(out, g.LocalName())
	}
	slices.Sort(out)
	return out
}
