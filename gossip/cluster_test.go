package gossip

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// Cluster tests run real memberlist instances over memberlist's in-process
// MockNetwork with fast timers.

func TestJoinAllAlive(t *testing.T) {
	gs := mockCluster(t, 3, func(c *Config) { c.Meta = []byte("meta-" + c.Name) })
	waitFor(t, 5*time.Second, "all alive everywhere", func() bool { return allAlive(gs, "n0", "n1", "n2") })
	for _, g := range gs {
		if got := g.NumAlive(); got != 3 {
			t.Errorf("%s: NumAlive = %d, want 3", g.LocalName(), got)
		}
		for _, m := range g.Members() {
			if want := "meta-" + m.Name; string(m.Meta) != want {
				t.Errorf("%s sees %s meta %q, want %q", g.LocalName(), m.Name, m.Meta, want)
			}
			if m.Addr == "" || m.Since.IsZero() {
				t.Errorf("%s sees %+v: empty Addr or Since", g.LocalName(), m)
			}
		}
	}
	if m, ok := gs[1].Member("n0"); !ok || m.Addr != gs[0].LocalAddr() {
		t.Errorf("n1 sees n0 at %q (ok %v), want %q", m.Addr, ok, gs[0].LocalAddr())
	}
}

func TestFailureSuspectThenDead(t *testing.T) {
	gs := mockCluster(t, 3, func(c *Config) {
		c.ProbeInterval = 50 * time.Millisecond
		c.ProbeTimeout = 25 * time.Millisecond
		// A fixed suspicion threshold (the default grows with memberlist's
		// health score, which a loaded machine raises) and a long
		// suspicion timeout (SuspicionMult*ProbeInterval = 1s) leave a wide
		// window to observe StateSuspect.
		c.SuspectAfter = 200 * time.Millisecond
		c.SuspicionMult = 20
	})
	waitFor(t, 5*time.Second, "all alive", func() bool { return allAlive(gs, "n0", "n1", "n2") })
	if err := gs[2].Shutdown(); err != nil {
		t.Fatal(err)
	}
	observers := gs[:2]
	sawSuspect := make([]bool, len(observers))
	waitFor(t, 10*time.Second, "n2 dead everywhere", func() bool {
		dead := 0
		for i, g := range observers {
			switch st := stateOf(g, "n2"); st {
			case StateSuspect:
				sawSuspect[i] = true
			case StateDead:
				dead++
			case StateAlive:
			default:
				t.Fatalf("%s sees n2 %v", g.LocalName(), st)
			}
		}
		return dead == len(observers)
	})
	for i, g := range observers {
		if !sawSuspect[i] {
			t.Errorf("%s never saw n2 suspect before dead", g.LocalName())
		}
		if got := g.NumAlive(); got != 2 {
			t.Errorf("%s: NumAlive = %d, want 2", g.LocalName(), got)
		}
	}
}

func TestLeaveSeenAsLeft(t *testing.T) {
	gs := mockCluster(t, 3, nil)
	waitFor(t, 5*time.Second, "all alive", func() bool { return allAlive(gs, "n0", "n1", "n2") })
	if err := gs[2].Leave(3 * time.Second); err != nil {
		t.Fatalf("Leave: %v", err)
	}
	if err := gs[2].Leave(time.Second); err != nil {
		t.Errorf("second Leave: %v", err)
	}
	if st := stateOf(gs[2], "n2"); st != StateLeft {
		t.Errorf("n2 sees itself %v, want left", st)
	}
	if _, err := gs[2].Join([]string{gs[0].LocalAddr()}); !errors.Is(err, ErrLeft) {
		t.Errorf("Join after Leave: %v, want ErrLeft", err)
	}
	if err := gs[2].UpdateMeta(nil, time.Second); !errors.Is(err, ErrLeft) {
		t.Errorf("UpdateMeta after Leave: %v, want ErrLeft", err)
	}
	if err := gs[2].Shutdown(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "n2 left everywhere", func() bool {
		for _, g := range gs[:2] {
			st := stateOf(g, "n2")
			if st == StateDead {
				t.Fatalf("%s sees n2 dead after a graceful leave", g.LocalName())
			}
			if st != StateLeft {
				return false
			}
		}
		return true
	})
}

func TestDeadMemberForgotten(t *testing.T) {
	gs := mockCluster(t, 2, func(c *Config) { c.DeadRetention = 200 * time.Millisecond })
	waitFor(t, 5*time.Second, "all alive", func() bool { return allAlive(gs, "n0", "n1") })
	if err := gs[1].Shutdown(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "n1 dead", func() bool { return stateOf(gs[0], "n1") == StateDead })
	waitFor(t, 5*time.Second, "n1 forgotten", func() bool { _, ok := gs[0].Member("n1"); return !ok })
}

func TestMetaUpdatePropagates(t *testing.T) {
	gs := mockCluster(t, 3, func(c *Config) { c.Meta = []byte("v1") })
	waitFor(t, 5*time.Second, "all alive", func() bool { return allAlive(gs, "n0", "n1", "n2") })
	if err := gs[1].UpdateMeta([]byte("v2"), 2*time.Second); err != nil {
		t.Fatalf("UpdateMeta: %v", err)
	}
	waitFor(t, 5*time.Second, "new meta everywhere", func() bool {
		for _, g := range gs {
			if m, _ := g.Member("n1"); string(m.Meta) != "v2" {
				return false
			}
		}
		return true
	})
	if err := gs[1].UpdateMeta(make([]byte, MaxMetaSize+1), time.Second); !errors.Is(err, ErrMetaTooLarge) {
		t.Errorf("oversized UpdateMeta: %v, want ErrMetaTooLarge", err)
	}
	if err := gs[1].UpdateMeta(make([]byte, MaxMetaSize), 2*time.Second); err != nil {
		t.Errorf("UpdateMeta of MaxMetaSize bytes: %v", err)
	}
}

func TestLedgerByBroadcast(t *testing.T) {
	// No periodic push/pull: after the joins, only broadcasts carry the
	// ledger.
	gs := mockCluster(t, 3, func(c *Config) { c.PushPullInterval = -1 })
	waitFor(t, 5*time.Second, "all alive", func() bool { return allAlive(gs, "n0", "n1", "n2") })
	want := []Entry{
		{Name: "n0", Status: Active, Version: 10},
		{Name: "n1", Status: Joining, Version: 11, Meta: []byte("tokens")},
		{Name: "old", Status: Removed, Version: 12},
	}
	for i, e := range want {
		if err := gs[i].SetEntry(e); err != nil {
			t.Fatalf("SetEntry(%v): %v", e, err)
		}
	}
	waitFor(t, 5*time.Second, "ledger everywhere", func() bool { return converged(gs, want) })

	// A newer entry replaces the old one everywhere.
	want[1] = Entry{Name: "n1", Status: Active, Version: 20}
	if err := gs[2].SetEntry(want[1]); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "update everywhere", func() bool { return converged(gs, want) })
}

func TestLedgerLateJoinerByPushPull(t *testing.T) {
	tn := newTestNet(t)
	edit := func(c Config) Config { c.PushPullInterval = -1; return c }
	c0 := edit(testConfig("n0", tn.transport("n0")))
	c1 := edit(testConfig("n1", tn.transport("n1")))
	late := edit(testConfig("late", tn.transport("late")))
	gs := cluster(t, c0, c1)
	waitFor(t, 5*time.Second, "all alive", func() bool { return allAlive(gs, "n0", "n1") })
	want := []Entry{
		{Name: "n0", Status: Active, Version: 1},
		{Name: "n1", Status: Active, Version: 2},
	}
	_ = gs[0].SetEntry(want[0])
	_ = gs[1].SetEntry(want[1])
	waitFor(t, 5*time.Second, "ledger on n0, n1", func() bool { return converged(gs, want) })
	// Let every broadcast run out so only the join's push/pull can carry
	// the ledger to the late node.
	waitFor(t, 5*time.Second, "broadcast queues empty", func() bool {
		return gs[0].queue.NumQueued() == 0 && gs[1].queue.NumQueued() == 0
	})

	g := start(t, late)
	own := Entry{Name: "late", Status: Joining, Version: 3}
	if err := g.SetEntry(own); err != nil {
		t.Fatal(err)
	}
	if _, err := g.Join([]string{gs[1].LocalAddr()}); err != nil {
		t.Fatal(err)
	}
	want = append(want, own)
	all := append(gs, g)
	waitForCluster(t, all, 5*time.Second, "ledger everywhere", func() bool { return converged(all, sortedEntries(want)) })
	waitFor(t, 5*time.Second, "all alive", func() bool { return allAlive(all, "late", "n0", "n1") })
}

func sortedEntries(es []Entry) []Entry {
	out := slices.Clone(es)
	slices.SortFunc(out, func(a, b Entry) int { return strings.Compare(a.Name, b.Name) })
	return out
}

func TestLedgerConflictsConverge(t *testing.T) {
	gs := mockCluster(t, 3, nil)
	waitFor(t, 5*time.Second, "all alive", func() bool { return allAlive(gs, "n0", "n1", "n2") })
	// Each name gets conflicting writes from different nodes at once.
	writes := [][]Entry{
		{{Name: "a", Status: Active, Version: 5}, {Name: "b", Status: Joining, Version: 7}, {Name: "c", Status: Active, Version: 9, Meta: []byte("x")}},
		{{Name: "a", Status: Leaving, Version: 5}, {Name: "b", Status: Removed, Version: 6}, {Name: "c", Status: Active, Version: 9, Meta: []byte("y")}},
		{{Name: "a", Status: Joining, Version: 4}, {Name: "b", Status: Left, Version: 6}, {Name: "c", Status: Active, Version: 9}},
	}
	want := []Entry{
		{Name: "a", Status: Leaving, Version: 5},                   // equal versions: higher status
		{Name: "b", Status: Joining, Version: 7},                   // higher version
		{Name: "c", Status: Active, Version: 9, Meta: []byte("y")}, // equal version and status: greater meta
	}
	var wg sync.WaitGroup
	startGate := make(chan struct{})
	for i, g := range gs {
		wg.Go(func() {
			<-startGate
			for _, e := range writes[i] {
				if err := g.SetEntry(e); err != nil && !errors.Is(err, ErrStale) {
					t.Errorf("%s: SetEntry(%v): %v", g.LocalName(), e, err)
				}
			}
		})
	}
	close(startGate)
	wg.Wait()
	waitFor(t, 5*time.Second, "same winners everywhere", func() bool { return converged(gs, want) })
}

func TestWrongKeyCannotJoin(t *testing.T) {
	tn := newTestNet(t)
	c0 := testConfig("n0", tn.transport("n0"))
	c1 := testConfig("n1", tn.transport("n1"))
	cx := testConfig("intruder", tn.transport("intruder"))
	cx.SecretKey = otherKey
	gs := cluster(t, c0, c1)
	x := start(t, cx)
	if _, err := x.Join([]string{gs[0].LocalAddr()}); !errors.Is(err, ErrJoin) {
		t.Fatalf("Join with the wrong key: %v, want ErrJoin", err)
	}
	// Let gossip run for a while: a ledger change must reach n1 ...
	e := Entry{Name: "n0", Status: Active, Version: 1}
	if err := gs[0].SetEntry(e); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "entry on n1", func() bool { _, ok := gs[1].Entry("n0"); return ok })
	waitFor(t, 5*time.Second, "n0, n1 alive", func() bool { return allAlive(gs, "n0", "n1") })
	// ... while the intruder stays alone and unseen.
	for _, g := range gs {
		if _, ok := g.Member("intruder"); ok {
			t.Errorf("%s knows the intruder", g.LocalName())
		}
	}
	if ms := x.Members(); len(ms) != 1 || x.NumAlive() != 1 {
		t.Errorf("intruder sees %v", ms)
	}
	if len(x.Ledger()) != 0 {
		t.Errorf("intruder got the ledger: %v", x.Ledger())
	}
}

func TestEventsCoalesce(t *testing.T) {
	tn := newTestNet(t)
	c := testConfig("n0", tn.transport("n0"))
	c.EventBuffer = 1
	g := start(t, c)
	// Nobody reads Events yet: at most one event sits in the channel and
	// one in the deliverer's hands; the rest coalesce per subject.
	for v := uint64(1); v <= 100; v++ {
		if err := g.SetEntry(Entry{Name: "x", Status: Active, Version: v}); err != nil {
			t.Fatal(err)
		}
	}
	if err := g.SetEntry(Entry{Name: "y", Status: Joining, Version: 1}); err != nil {
		t.Fatal(err)
	}
	var got []Event
	var lastX Entry
	sawY, sawSelf := false, false
	timeout := time.After(5 * time.Second)
	for !(lastX.Version == 100 && sawY && sawSelf) {
		select {
		case ev := <-g.Events():
			got = append(got, ev)
			switch {
			case ev.Kind == LedgerChanged && ev.Entry.Name == "x":
				lastX = ev.Entry
			case ev.Kind == LedgerChanged && ev.Entry.Name == "y":
				sawY = true
			case ev.Kind == MemberChanged && ev.Member.Name == "n0" && ev.Member.State == StateAlive:
				sawSelf = true
			default:
				t.Fatalf("unexpected event %+v", ev)
			}
		case <-timeout:
			t.Fatalf("events so far: %+v", got)
		}
	}
	if len(got) > 8 {
		t.Errorf("got %d events; want them coalesced: %+v", len(got), got)
	}
	select {
	case <-g.Changes():
	default:
		t.Error("Changes not signalled")
	}
	if err := g.Shutdown(); err != nil {
		t.Fatal(err)
	}
	for range g.Events() { // closed by Shutdown
	}
}

func TestSetEntryRules(t *testing.T) {
	tn := newTestNet(t)
	g := start(t, testConfig("n0", tn.transport("n0")))
	base := Entry{Name: "n1", Status: Active, Version: 10, Meta: []byte("m")}
	if err := g.SetEntry(base); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		e    Entry
		want error
	}{
		{"identical", base, nil},
		{"older", Entry{Name: "n1", Status: Removed, Version: 9}, ErrStale},
		{"same version lower status", Entry{Name: "n1", Status: Joining, Version: 10}, ErrStale},
		{"same version and status smaller meta", Entry{Name: "n1", Status: Active, Version: 10}, ErrStale},
		{"empty name", Entry{Status: Active, Version: 1}, ErrInvalidEntry},
		{"long name", Entry{Name: string(make([]byte, MaxNameLen+1)), Status: Active}, ErrInvalidEntry},
		{"zero status", Entry{Name: "x", Version: 1}, ErrInvalidEntry},
		{"unknown status", Entry{Name: "x", Status: 6, Version: 1}, ErrInvalidEntry},
		{"big meta", Entry{Name: "x", Status: Active, Meta: make([]byte, MaxEntryMetaSize+1)}, ErrInvalidEntry},
		{"newer", Entry{Name: "n1", Status: Leaving, Version: 11}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := g.SetEntry(tt.e)
			if !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
				t.Errorf("SetEntry(%+v) = %v, want %v", tt.e, err, tt.want)
			}
		})
	}
	if e, _ := g.Entry("n1"); e.Status != Leaving || e.Version != 11 {
		t.Errorf("n1 = %+v", e)
	}
	// Entries handed out are copies.
	l := g.Ledger()
	l[0].Name = "changed"
	if e, ok := g.Entry("n1"); !ok || e.Name != "n1" {
		t.Error("Ledger result aliases internal state")
	}
	meta := []byte("abc")
	_ = g.SetEntry(Entry{Name: "m", Status: Active, Version: 1, Meta: meta})
	meta[0] = 'X'
	if e, _ := g.Entry("m"); !bytes.Equal(e.Meta, []byte("abc")) {
		t.Error("SetEntry retained the caller's Meta")
	}
}

func TestLedgerFull(t *testing.T) {
	tn := newTestNet(t)
	g := start(t, testConfig("n0", tn.transport("n0")))
	for i := range MaxLedgerEntries {
		if err := g.SetEntry(Entry{Name: fmt.Sprintf("node-%d", i), Status: Active, Version: 1}); err != nil {
			t.Fatal(err)
		}
	}
	if err := g.SetEntry(Entry{Name: "one-more", Status: Active, Version: 1}); !errors.Is(err, ErrLedgerFull) {
		t.Fatalf("SetEntry past the limit: %v, want ErrLedgerFull", err)
	}
	// Existing names can still change, and a full ledger's state decodes.
	if err := g.SetEntry(Entry{Name: "node-0", Status: Left, Version: 2}); err != nil {
		t.Fatal(err)
	}
	s, err := decodeState((&delegate{g: g}).LocalState(false))
	if err != nil || len(s.Entries) != MaxLedgerEntries {
		t.Fatalf("full state: %d entries, %v", len(s.Entries), err)
	}
}

func TestClosed(t *testing.T) {
	tn := newTestNet(t)
	g := start(t, testConfig("n0", tn.transport("n0")))
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			if err := g.Shutdown(); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	for range g.Events() { // buffered events, then closed
	}
	if err := g.SetEntry(Entry{Name: "x", Status: Active}); !errors.Is(err, ErrClosed) {
		t.Errorf("SetEntry: %v", err)
	}
	if _, err := g.Join([]string{"127.0.0.1:1"}); !errors.Is(err, ErrClosed) {
		t.Errorf("Join: %v", err)
	}
	if err := g.Leave(time.Second); !errors.Is(err, ErrClosed) {
		t.Errorf("Leave: %v", err)
	}
	if err := g.UpdateMeta(nil, time.Second); !errors.Is(err, ErrClosed) {
		t.Errorf("UpdateMeta: %v", err)
	}
	if _, err := g.Join(nil); !errors.Is(err, ErrJoin) {
		t.Errorf("Join(nil): %v", err)
	}
}
