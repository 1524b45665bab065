package gossip

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// TestRealNetwork runs three encrypted nodes over real UDP and TCP sockets
// on 127.0.0.1 with ports picked by the kernel.
func TestRealNetwork(t *testing.T) {
	var cfgs []Config
	for _, name := range []string{"r0", "r1", "r2"} {
		c := testConfig(name, nil)
		c.BindAddr = "127.0.0.1"
		c.BindPort = 0
		c.Meta = []byte("http=" + name)
		cfgs = append(cfgs, c)
	}
	gs := cluster(t, cfgs...)
	for _, g := range gs {
		if !strings.HasPrefix(g.LocalAddr(), "127.0.0.1:") || strings.HasSuffix(g.LocalAddr(), ":0") {
			t.Fatalf("%s: LocalAddr %q", g.LocalName(), g.LocalAddr())
		}
	}
	waitFor(t, 5*time.Second, "all alive", func() bool { return allAlive(gs, "r0", "r1", "r2") })

	want := []Entry{{Name: "r0", Status: Active, Version: 1}, {Name: "r1", Status: Joining, Version: 2}}
	_ = gs[0].SetEntry(want[0])
	_ = gs[2].SetEntry(want[1])
	waitFor(t, 5*time.Second, "ledger everywhere", func() bool { return converged(gs, want) })

	if err := gs[1].UpdateMeta([]byte("http=moved"), 2*time.Second); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "meta everywhere", func() bool {
		m0, _ := gs[0].Member("r1")
		m2, _ := gs[2].Member("r1")
		return string(m0.Meta) == "http=moved" && string(m2.Meta) == "http=moved"
	})

	if err := gs[2].Leave(3 * time.Second); err != nil {
		t.Fatal(err)
	}
	if err := gs[2].Shutdown(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "r2 left", func() bool {
		return stateOf(gs[0], "r2") == StateLeft && stateOf(gs[1], "r2") == StateLeft
	})
}

// TestRealNetworkWrongKey checks that encryption keeps an outsider out over
// real sockets too.
func TestRealNetworkWrongKey(t *testing.T) {
	c0 := testConfig("r0", nil)
	c0.BindAddr, c0.BindPort = "127.0.0.1", 0
	cx := c0
	cx.Name, cx.SecretKey = "x", otherKey
	cx.TCPTimeout = time.Second
	g0 := start(t, c0)
	x := start(t, cx)
	if _, err := x.Join([]string{g0.LocalAddr()}); !errors.Is(err, ErrJoin) {
		t.Fatalf("Join with the wrong key: %v, want ErrJoin", err)
	}
	if g0.NumAlive() != 1 || x.NumAlive() != 1 {
		t.Errorf("NumAlive: %d, %d; want 1, 1", g0.NumAlive(), x.NumAlive())
	}
}
