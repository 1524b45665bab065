package gossip

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"testing"
)

func TestEntryNewer(t *testing.T) {
	tests := []struct {
		name string
		a, b Entry
		want bool
	}{
		{"higher version", Entry{Status: Joining, Version: 2}, Entry{Status: Removed, Version: 1}, true},
		{"lower version", Entry{Status: Removed, Version: 1}, Entry{Status: Joining, Version: 2}, false},
		{"same version higher status", Entry{Status: Left, Version: 1}, Entry{Status: Leaving, Version: 1}, true},
		{"same version lower status", Entry{Status: Active, Version: 1}, Entry{Status: Leaving, Version: 1}, false},
		{"greater meta", Entry{Status: Active, Version: 1, Meta: []byte("b")}, Entry{Status: Active, Version: 1, Meta: []byte("a")}, true},
		{"meta over none", Entry{Status: Active, Version: 1, Meta: []byte{0}}, Entry{Status: Active, Version: 1}, true},
		{"identical", Entry{Status: Active, Version: 1}, Entry{Status: Active, Version: 1}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.a.Newer(tt.b); got != tt.want {
				t.Errorf("Newer = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestMergeOrderIndependent applies random entries in random orders and
// checks every order ends with the same ledger: Newer is a total order.
func TestMergeOrderIndependent(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var es []Entry
	for range 200 {
		es = append(es, Entry{
			Name:    string(rune('a' + rng.IntN(5))),
			Status:  Status(1 + rng.IntN(5)),
			Version: uint64(rng.IntN(4)),
			Meta:    []byte{byte(rng.IntN(3))}[:rng.IntN(2)],
		})
	}
	merge := func(order []Entry) map[string]Entry {
		m := map[string]Entry{}
		for _, e := range order {
			if cur, ok := m[e.Name]; !ok || e.Newer(cur) {
				m[e.Name] = e
			}
		}
		return m
	}
	want := merge(es)
	for range 50 {
		rng.Shuffle(len(es), func(i, j int) { es[i], es[j] = es[j], es[i] })
		got := merge(es)
		for name, e := range want {
			if !got[name].equal(e) {
				t.Fatalf("%s: got %+v, want %+v", name, got[name], e)
			}
		}
	}
	for _, a := range es {
		for _, b := range es {
			if a.Name == b.Name && !a.equal(b) && a.Newer(b) == b.Newer(a) {
				t.Fatalf("not a total order: %+v vs %+v", a, b)
			}
		}
	}
}

func TestValidateName(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"n1", true},
		{"node-1.example.com", true},
		{"ノード", true},
		{strings.Repeat("a", MaxNameLen), true},
		{"", false},
		{strings.Repeat("a", MaxNameLen+1), false},
		{"a b", false},
		{"a\tb", false},
		{"a\x00", false},
		{"\xff", false},
	}
	for _, tt := range tests {
		err := ValidateName(tt.name)
		if (err == nil) != tt.ok || (err != nil && !errors.Is(err, ErrInvalidName)) {
			t.Errorf("ValidateName(%q) = %v, want ok=%v", tt.name, err, tt.ok)
		}
	}
}

func TestStrings(t *testing.T) {
	tests := []struct{ got, want string }{
		{Joining.String(), "joining"},
		{Active.String(), "active"},
		{Leaving.String(), "leaving"},
		{Left.String(), "left"},
		{Removed.String(), "removed"},
		{Status(0).String(), "status(0)"},
		{StateAlive.String(), "alive"},
		{StateSuspect.String(), "suspect"},
		{StateDead.String(), "dead"},
		{StateLeft.String(), "left"},
		{State(9).String(), "state(9)"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}

func TestMemberlistLog(t *testing.T) {
	lines := []string{"[DEBUG] memberlist: x\n", "[WARN] memberlist: y\n", "[ERR] memberlist: z\n"}
	tests := []struct {
		name            string
		debug, stopping bool
		want            string
	}{
		{"default", false, false, "[WARN] memberlist: y\n[ERR] memberlist: z\n"},
		{"debug", true, false, "[DEBUG] memberlist: x\n[WARN] memberlist: y\n[ERR] memberlist: z\n"},
		{"shutting down", false, true, ""},
		{"shutting down, debug", true, true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			var stopping atomic.Bool
			stopping.Store(tt.stopping)
			f := memberlistLog{w: &buf, debug: tt.debug, stopping: &stopping}
			for _, line := range lines {
				if n, err := f.Write([]byte(line)); n != len(line) || err != nil {
					t.Fatalf("Write = %d, %v", n, err)
				}
			}
			if got := buf.String(); got != tt.want {
				t.Errorf("output %q, want %q", got, tt.want)
			}
		})
	}
}
