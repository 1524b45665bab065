package node

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"kvstore/gossip"
)

func TestForEachParallel(t *testing.T) {
	items := make([]int, 100)
	for i := range items {
		items[i] = i
	}
	boom := errors.New("boom")
	tests := []struct {
		name    string
		par     int
		failAt  int // -1: never
		wantErr error
		visited int // items visited; 0: not checked (timing decides)
	}{
		{"all items, one at a time", 1, -1, nil, 100},
		{"all items, four at a time", 4, -1, nil, 100},
		// One worker: nothing is handed out after the failing item.
		{"stops at the first error", 1, 0, boom, 1},
		{"returns the error with four workers", 4, 10, boom, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			seen := map[int]bool{}
			var running, peak atomic.Int64
			err := forEachParallel(context.Background(), items, tc.par, func(i int) error {
				r := running.Add(1)
				defer running.Add(-1)
				for p := peak.Load(); r > p && !peak.CompareAndSwap(p, r); p = peak.Load() {
				}
				mu.Lock()
				seen[i] = true
				mu.Unlock()
				if i == tc.failAt {
					return boom
				}
				return nil
			})
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if peak.Load() > int64(tc.par) {
				t.Fatalf("%d calls at once, limit %d", peak.Load(), tc.par)
			}
			if tc.visited != 0 && len(seen) != tc.visited {
				t.Fatalf("%d items visited, want %d", len(seen), tc.visited)
			}
		})
	}
}

func TestRingMembers(t *testing.T) {
	e := func(name string, st gossip.Status) gossip.Entry {
		return gossip.Entry{Name: name, Status: st, Version: 1}
	}
	tests := []struct {
		name               string
		ledger             []gossip.Entry
		wantRead, wantTarg string
	}{
		{"empty ledger: self", nil, "[me]", "[me]"},
		{"settled", []gossip.Entry{e("a", gossip.Active), e("b", gossip.Active)}, "[a b]", "[a b]"},
		{"joining is a target only", []gossip.Entry{e("a", gossip.Active), e("j", gossip.Joining)}, "[a]", "[a j]"},
		{"leaving is read only", []gossip.Entry{e("a", gossip.Active), e("l", gossip.Leaving)}, "[a l]", "[a]"},
		{"left and removed are out", []gossip.Entry{e("a", gossip.Active), e("x", gossip.Left), e("y", gossip.Removed)}, "[a]", "[a]"},
		{"a new cluster of joiners", []gossip.Entry{e("j1", gossip.Joining), e("j2", gossip.Joining)}, "[j1 j2]", "[j1 j2]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			read, target := ringMembers(tc.ledger, "me")
			if got := fmtList(read); got != tc.wantRead {
				t.Errorf("read = %s, want %s", got, tc.wantRead)
			}
			if got := fmtList(target); got != tc.wantTarg {
				t.Errorf("target = %s, want %s", got, tc.wantTarg)
			}
		})
	}
}

func fmtList(s []string) string {
	out := "["
	for i, x := range s {
		if i > 0 {
			out += " "
		}
		out += x
	}
	return out + "]"
}
