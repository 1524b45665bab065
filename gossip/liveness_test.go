package gossip

import (
	"net"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
)

// TestLivenessStateMachine drives the memberlist callbacks directly with a
// fake peer and checks the derived states.
func TestLivenessStateMachine(t *testing.T) {
	tn := newTestNet(t)
	c := testConfig("n0", tn.transport("n0"))
	c.SuspectAfter = 50 * time.Millisecond
	g := start(t, c)
	d := &delegate{g: g}
	peer := func(epoch uint64, meta string) *memberlist.Node {
		return &memberlist.Node{Name: "p", Addr: net.IPv4(10, 0, 0, 1), Port: 7946, Meta: encodeMeta(epoch, []byte(meta))}
	}
	send := func(m []byte) { d.NotifyMsg(m) }
	expect := func(what string, want State) {
		t.Helper()
		waitFor(t, 5*time.Second, what, func() bool { return stateOf(g, "p") == want })
	}

	d.NotifyJoin(peer(1, "a"))
	if m, _ := g.Member("p"); m.State != StateAlive || m.Addr != "10.0.0.1:7946" || string(m.Meta) != "a" {
		t.Fatalf("after join: %+v", m)
	}
	if g.NumAlive() != 2 {
		t.Errorf("NumAlive = %d, want 2", g.NumAlive())
	}
	expect("suspect without contact", StateSuspect)
	d.NotifyPingComplete(peer(1, "a"), time.Millisecond, nil)
	if st := stateOf(g, "p"); st != StateAlive {
		t.Fatalf("after ack: %v", st)
	}
	expect("suspect again", StateSuspect)
	d.MergeRemoteState(encodeState(pushState{Sender: "p"}), false)
	if st := stateOf(g, "p"); st != StateAlive {
		t.Fatalf("after push/pull from p: %v", st)
	}

	// Failure, then a restart (new epoch) brings it back.
	d.NotifyLeave(peer(1, "a"))
	expect("dead", StateDead)
	if g.NumAlive() != 1 {
		t.Errorf("NumAlive = %d, want 1", g.NumAlive())
	}
	send(encodeIntentMsg(intent{Name: "p", Epoch: 1}))
	expect("left once its intent arrives late", StateLeft)

	d.NotifyJoin(peer(2, "b"))
	expect("alive after restart", StateAlive)
	send(encodeIntentMsg(intent{Name: "p", Epoch: 1})) // stale: earlier run
	d.NotifyLeave(peer(2, "b"))
	expect("dead: the stale intent does not apply", StateDead)

	d.NotifyJoin(peer(3, "c"))
	send(encodeIntentMsg(intent{Name: "p", Epoch: 3}))
	if st := stateOf(g, "p"); st != StateAlive {
		t.Fatalf("leaving but not gone yet: %v", st)
	}
	d.NotifyLeave(peer(3, "c"))
	expect("left", StateLeft)

	// Intents also arrive by push/pull; garbage is dropped.
	d.NotifyJoin(peer(4, "d"))
	d.MergeRemoteState(encodeState(pushState{Sender: "q", Intents: []intent{{Name: "p", Epoch: 4}}}), false)
	d.NotifyLeave(peer(4, "d"))
	expect("left via push/pull intent", StateLeft)
	d.NotifyMsg([]byte{0xff})
	d.MergeRemoteState([]byte{0xff}, true)
	d.NotifyJoin(&memberlist.Node{Name: "bad-meta", Meta: []byte{7}})
	if m, ok := g.Member("bad-meta"); !ok || m.State != StateAlive || m.Meta != nil {
		t.Errorf("member with malformed meta: %+v, %v", m, ok)
	}
}

func TestSuspectAfter(t *testing.T) {
	g := &Gossip{cfg: Config{ProbeInterval: 100 * time.Millisecond, ProbeTimeout: 50 * time.Millisecond}}
	tests := []struct {
		live, health int
		want         time.Duration
	}{
		{1, 0, 350 * time.Millisecond},  // (2*1+1)*100ms + 50ms
		{2, 0, 350 * time.Millisecond},  // one peer
		{3, 0, 550 * time.Millisecond},  // (2*2+1)*100ms + 50ms
		{3, 1, 1050 * time.Millisecond}, // degraded: probes stretch
	}
	for _, tt := range tests {
		if got := g.suspectAfter(tt.live, tt.health); got != tt.want {
			t.Errorf("suspectAfter(%d, %d) = %v, want %v", tt.live, tt.health, got, tt.want)
		}
	}
	g.cfg.SuspectAfter = time.Second
	if got := g.suspectAfter(3, 5); got != time.Second {
		t.Errorf("configured SuspectAfter: got %v", got)
	}
}
