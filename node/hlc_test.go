package node

import (
	"errors"
	"math"
	"sync"
	"testing"
	"time"

	"kvstore/storage"
)

func TestClockIsMonotonic(t *testing.T) {
	now := time.UnixMilli(1_700_000_000_000)
	c := NewClock("a", func() time.Time { return now })
	var prev storage.Version
	for i := range 3000 { // more than the logical counter holds
		v := c.Now()
		if v <= prev {
			t.Fatalf("version %d: %v not above %v", i, v, prev)
		}
		prev = v
	}
	if prev.Millis() <= now.UnixMilli() {
		t.Errorf("exhausted counter did not borrow a millisecond: %v", prev)
	}
	if prev.Node() != NodeID("a") {
		t.Errorf("node id %d, want %d", prev.Node(), NodeID("a"))
	}
}

func TestClockObserveAndWallClockGoingBack(t *testing.T) {
	ms := int64(1_700_000_000_000)
	c := NewClock("a", func() time.Time { return time.UnixMilli(ms) })
	first := c.Now()
	remote := storage.NewVersion(ms+5000, 7, 3) // a node whose clock is ahead
	c.Observe(remote)
	if v := c.Now(); v <= remote {
		t.Errorf("after Observe(%v), Now() = %v", remote, v)
	}
	ms -= 10_000 // the wall clock steps back
	if v := c.Now(); v <= first || v <= remote {
		t.Errorf("clock went back: %v", v)
	}
}

func TestClockConcurrent(t *testing.T) {
	c := NewClock("a", nil)
	var mu sync.Mutex
	seen := map[storage.Version]bool{}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 1000 {
				v := c.Now()
				mu.Lock()
				if seen[v] {
					t.Errorf("version %v issued twice", v)
				}
				seen[v] = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
}

func TestClockObserveToken(t *testing.T) {
	const ms = int64(1_700_000_000_000)
	lead := time.Minute
	tests := []struct {
		name  string
		token storage.Version
		ok    bool
	}{
		{"behind the clock", storage.NewVersion(ms-5000, 0, 1), true},
		{"ahead within the lead", storage.NewVersion(ms+59_000, 3, 1), true},
		{"exactly the lead", storage.NewVersion(ms+60_000, 0, 1), true},
		{"past the lead", storage.NewVersion(ms+60_001, 0, 1), false},
		{"garbage", storage.Version(1<<63 + 12345), false},
		{"the largest version", storage.Version(math.MaxUint64), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewClock("a", func() time.Time { return time.UnixMilli(ms) })
			err := c.ObserveToken(tt.token, lead)
			if (err == nil) != tt.ok {
				t.Fatalf("ObserveToken(%v) = %v, want ok %v", tt.token, err, tt.ok)
			}
			v := c.Now()
			switch {
			case tt.ok && v <= tt.token:
				t.Fatalf("accepted token %v, next version %v not above it", tt.token, v)
			case !tt.ok && !errors.Is(err, ErrBadRequest):
				t.Fatalf("refusal %v does not wrap ErrBadRequest", err)
			case !tt.ok && v.Millis() != ms:
				t.Fatalf("a refused token moved the clock to %v", v)
			}
		})
	}
}
