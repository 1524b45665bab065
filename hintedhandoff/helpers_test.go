package hintedhandoff

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"kvstore/storage"
)

// manualClock is a clock that moves only when told; Sleep advances it.
type manualClock struct {
	mu    sync.Mutex // guards now, slept
	now   time.Time
	slept time.Duration
}

func newManualClock() *manualClock {
	return &manualClock{now: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *manualClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func (c *manualClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.slept += d
	c.mu.Unlock()
	return nil
}

// testConfig is a config with a manual clock and no real pacing.
func testConfig(c *manualClock) Config {
	cfg := DefaultConfig()
	cfg.Now = c.Now
	cfg.Sleep = c.Sleep
	cfg.ReplayRate = 1 << 30
	return cfg
}

// fastOpts keeps tests fast: acknowledged writes survive a process crash
// and every Close, which is what the tests check.
var fastOpts = storage.Options{Sync: storage.SyncNone, MemtableSize: 1 << 20}

func openT(t testing.TB, dir string, cfg Config, opts storage.Options) *Store {
	t.Helper()
	s, err := Open(dir, cfg, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// recs returns n records with keys prefix-000000... and values "v"+key.
func recs(prefix string, from, n int) []Record {
	out := make([]Record, n)
	for i := range out {
		k := fmt.Sprintf("%s-%06d", prefix, from+i)
		out[i] = Record{Key: []byte(k), Value: []byte("v" + k), Version: uint64(from + i + 1)}
	}
	return out
}

func addT(t testing.TB, s *Store, target string, rs []Record) {
	t.Helper()
	if err := s.Add(target, rs); err != nil {
		t.Fatalf("Add(%s, %d records): %v", target, len(rs), err)
	}
}

// recorder is a Sender that keeps what it received. failOn, when non-zero,
// makes the failOn-th call (1-based) fail.
type recorder struct {
	mu      sync.Mutex // guards the fields below
	batches [][]Record
	calls   int
	failOn  int
	block   chan struct{} // when set, each call waits for it or ctx
	entered chan struct{} // when set, receives a value as each call starts
}

var errSend = fmt.Errorf("test: send failed")

func (r *recorder) SendHints(ctx context.Context, target string, rs []Record) error {
	r.mu.Lock()
	r.calls++
	call := r.calls
	block, entered := r.block, r.entered
	r.mu.Unlock()
	if entered != nil {
		select {
		case entered <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if call == r.failOn {
		return errSend
	}
	r.mu.Lock()
	r.batches = append(r.batches, rs)
	r.mu.Unlock()
	return nil
}

func (r *recorder) keys() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, b := range r.batches {
		for _, rec := range b {
			out = append(out, string(rec.Key))
		}
	}
	return out
}

func keysOf(rs []Record) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = string(r.Key)
	}
	return out
}

func targetStats(t testing.TB, s *Store, name string) TargetStats {
	t.Helper()
	for _, ts := range s.Targets() {
		if ts.Name == name {
			return ts
		}
	}
	return TargetStats{Name: name}
}

// storedEntries counts the records, tombstones included, that the
// underlying DB holds for target.
func storedEntries(t testing.TB, s *Store, target string) int {
	t.Helper()
	p := targetPrefix(target)
	it, err := s.db.NewIter(storage.IterOptions{Start: p, End: prefixEnd(p), Tombstones: true})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for ok := it.First(); ok; ok = it.Next() {
		n++
	}
	if err := it.Close(); err != nil {
		t.Fatal(err)
	}
	return n
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
