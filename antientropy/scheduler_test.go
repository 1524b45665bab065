package antientropy

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"kvstore/storage"
)

// fakeClock is a Clock whose Sleep advances time at once.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Unix(1_700_000_000, 0)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if d > 0 {
		c.now = c.now.Add(d)
	}
	return nil
}

// cluster is one local replica and named peers.
type cluster struct {
	local *memReplica
	peers map[string]*memReplica
}

func newCluster(names ...string) *cluster {
	c := &cluster{local: newMemReplica(DefaultTreeConfig()), peers: make(map[string]*memReplica)}
	for _, n := range names {
		c.peers[n] = newMemReplica(DefaultTreeConfig())
	}
	return c
}

func (c *cluster) peer(name string) (Peer, error) {
	r, ok := c.peers[name]
	if !ok {
		return nil, fmt.Errorf("no peer %q", name)
	}
	return serverPeer(r), nil
}

// observations records the outcome of exchanges with the clock's time.
type observations struct {
	mu    sync.Mutex
	clock Clock
	max   int
	items []WorkItem
	times []time.Time
	errs  []error
}

func (o *observations) observe(item WorkItem, res Result, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.max > 0 && len(o.items) >= o.max {
		return
	}
	o.items = append(o.items, item)
	o.times = append(o.times, o.clock.Now())
	o.errs = append(o.errs, err)
}

func items(partitions int, peers ...string) []WorkItem {
	var out []WorkItem
	for p := range partitions {
		for _, n := range peers {
			out = append(out, WorkItem{Partition: p, Peer: n})
		}
	}
	return out
}

func TestSchedulerPacesTrees(t *testing.T) {
	clock := newFakeClock()
	c := newCluster("b")
	obs := &observations{clock: clock}
	work := items(20, "b")
	s, err := NewScheduler(Config{TreesPerSecond: 10, BytesPerSecond: -1, FullPassTarget: -1}, Env{
		Local: c.local, Work: func() []WorkItem { return work }, Peer: c.peer, Clock: clock, Observe: obs.observe,
	})
	if err != nil {
		t.Fatal(err)
	}
	start := clock.Now()
	if err := s.RunPass(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(obs.items) != 20 {
		t.Fatalf("%d exchanges, want 20", len(obs.items))
	}
	for i, at := range obs.times {
		if want := start.Add(time.Duration(i) * 100 * time.Millisecond); !at.Equal(want) {
			t.Fatalf("exchange %d at %v, want %v", i, at.Sub(start), want.Sub(start))
		}
		if obs.items[i] != work[i] {
			t.Fatalf("exchange %d is %+v, want %+v", i, obs.items[i], work[i])
		}
	}
	// The next pass continues at the same pace (over other partitions: the
	// first pass's now match by root and need no exchange).
	for i := range work {
		work[i].Partition += 20
	}
	if err := s.RunPass(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got, want := obs.times[20].Sub(start), 2*time.Second; got != want {
		t.Fatalf("second pass starts at %v, want %v", got, want)
	}
}

func TestSchedulerSpreadsPassOverTarget(t *testing.T) {
	clock := newFakeClock()
	c := newCluster("b")
	obs := &observations{clock: clock, max: 10}
	// Every pass finds each partition written since the last, so each
	// needs an exchange.
	var writes atomic.Int64
	work := func() []WorkItem {
		for p := range 5 {
			w := writes.Add(1)
			c.local.set(p, Record{Key: testKey(int(w)), Value: []byte("v"), Version: storage.Version(w)})
		}
		return items(5, "b")
	}
	s, err := NewScheduler(Config{TreesPerSecond: 100, FullPassTarget: 10 * time.Second}, Env{
		Local: c.local, Work: work, Peer: c.peer, Clock: clock, Observe: obs.observe,
	})
	if err != nil {
		t.Fatal(err)
	}
	start := clock.Now()
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return s.Progress().Passes >= 3 })
	s.Stop()
	for i, at := range obs.times {
		if want := time.Duration(i) * 2 * time.Second; at.Sub(start) != want {
			t.Fatalf("exchange %d at %v, want %v", i, at.Sub(start), want)
		}
	}
	if p := s.Progress(); p.LastPassDuration != 8*time.Second {
		t.Fatalf("last pass took %v, want 8s", p.LastPassDuration)
	}
}

// rootsPeer records the requests that matter to root comparison; with
// noRoots it answers RootsRequest as a peer of an older build does.
type rootsPeer struct {
	Peer
	noRoots bool

	mu        sync.Mutex
	roots     int   // RootsRequests
	exchanged []int // partitions of the exchanges started, in order
}

var errUnknownRequest = errors.New("unknown message type")

func (p *rootsPeer) Roots(ctx context.Context, req *RootsRequest) (*RootsResponse, error) {
	p.mu.Lock()
	p.roots++
	p.mu.Unlock()
	if p.noRoots {
		return nil, errUnknownRequest
	}
	return p.Peer.Roots(ctx, req)
}

func (p *rootsPeer) Summary(ctx context.Context, req *SummaryRequest) (*SummaryResponse, error) {
	p.mu.Lock()
	p.exchanged = append(p.exchanged, req.Partition)
	p.mu.Unlock()
	return p.Peer.Summary(ctx, req)
}

// take returns and resets what p recorded.
func (p *rootsPeer) take() (roots int, exchanged []int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	roots, exchanged = p.roots, p.exchanged
	p.roots, p.exchanged = 0, nil
	return roots, exchanged
}

// rootsFixture is a scheduler over parts partitions, equal on this replica
// and on peer b.
func rootsFixture(t *testing.T, parts int, noRoots bool) (*Scheduler, *cluster, *rootsPeer) {
	t.Helper()
	c := newCluster("b")
	rng := rand.New(rand.NewPCG(5, 6))
	for p := range parts {
		fill(p, 20, rng, c.local, c.peers["b"])
	}
	peer := &rootsPeer{Peer: serverPeer(c.peers["b"]), noRoots: noRoots}
	s, err := NewScheduler(Config{TreesPerSecond: -1, BytesPerSecond: -1, FullPassTarget: -1, Sync: SyncConfig{MaxHashes: 4}}, Env{
		Local: c.local,
		Work:  func() []WorkItem { return items(parts, "b") },
		Peer:  func(string) (Peer, error) { return peer, nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	return s, c, peer
}

func TestSchedulerComparesRootsFirst(t *testing.T) {
	const parts = 10
	s, c, peer := rootsFixture(t, parts, false)
	pass := func(what string, wantRoots int, wantExchanged ...int) {
		t.Helper()
		if err := s.RunPass(context.Background()); err != nil {
			t.Fatal(err)
		}
		roots, exchanged := peer.take()
		if roots != wantRoots || !slices.Equal(exchanged, wantExchanged) {
			t.Fatalf("%s: %d RootsRequests, exchanges of partitions %v; want %d, %v", what, roots, exchanged, wantRoots, wantExchanged)
		}
	}
	all := make([]int, parts)
	for p := range all {
		all[p] = p
	}

	// No tree is cached yet: no root to compare, every partition is
	// exchanged.
	pass("first pass", 0, all...)
	// Unchanged partitions match by root, asked in ceil(10/4) requests.
	pass("second pass", 3)
	if p := s.Progress(); p.RootMatches != parts || p.PartitionsCompared != 2*parts || p.Errors != 0 {
		t.Fatalf("progress %+v, want %d root matches of %d compared, no errors", p, parts, 2*parts)
	}
	// A write on b to partition 7 makes that partition, and only it, need
	// an exchange, which brings the record here. b has built its new tree
	// (say for an exchange with a third replica): its root is known, and
	// differs.
	rec := Record{Key: []byte("new"), Value: []byte("value"), Version: storage.NewVersion(1_800_000_000_000, 0, 2)}
	c.peers["b"].set(7, rec)
	if _, err := c.peers["b"].Tree(context.Background(), 7); err != nil {
		t.Fatal(err)
	}
	pass("after a write on b", 3, 7)
	if got, ok := c.local.contents(7)["new"]; !ok || got.Version != rec.Version {
		t.Fatalf("the record written on b did not arrive: %+v, %v", got, ok)
	}
	// A write here changes the local root of partition 3; the repair of 7
	// changed this replica's partition 7 too. Neither has a local root to
	// compare (8 partitions asked, in 2 requests): both are exchanged once
	// more.
	c.local.set(3, Record{Key: []byte("here"), Value: []byte("v"), Version: storage.NewVersion(1_800_000_000_001, 0, 1)})
	pass("after a local write", 2, 3, 7)
	if _, ok := c.peers["b"].contents(3)["here"]; !ok {
		t.Fatal("the local write did not reach b")
	}
	// The repair of 3 changed b's partition 3: b has no root of it until
	// one more exchange builds its tree. Then all match.
	pass("after the repair on b", 3, 3)
	pass("at rest", 3)
}

// A peer of an older build refuses RootsRequest: every pass exchanges
// every partition with it, as before, and counts no error.
func TestSchedulerRootsRefused(t *testing.T) {
	const parts = 6
	s, _, peer := rootsFixture(t, parts, true)
	for pass := range 3 {
		if err := s.RunPass(context.Background()); err != nil {
			t.Fatal(err)
		}
		roots, exchanged := peer.take()
		if want := min(pass, 1); roots != want || len(exchanged) != parts {
			t.Fatalf("pass %d: %d RootsRequests and %d exchanges, want %d and %d", pass, roots, len(exchanged), want, parts)
		}
	}
	if p := s.Progress(); p.RootMatches != 0 || p.PartitionsCompared != 3*parts || p.Errors != 0 {
		t.Fatalf("progress %+v, want %d compared by exchange, no errors", p, 3*parts)
	}
}

func TestSchedulerPacesBytes(t *testing.T) {
	clock := newFakeClock()
	c := newCluster("b")
	fill(0, 2000, rand.New(rand.NewPCG(1, 2)), c.local)
	fill(1, 2000, rand.New(rand.NewPCG(3, 4)), c.local)
	const rate = 100 << 10
	s, err := NewScheduler(Config{TreesPerSecond: -1, BytesPerSecond: rate, FullPassTarget: -1, Sync: SyncConfig{MaxRecords: 100}}, Env{
		Local: c.local, Work: func() []WorkItem { return items(2, "b") }, Peer: c.peer, Clock: clock,
	})
	if err != nil {
		t.Fatal(err)
	}
	start := clock.Now()
	if err := s.RunPass(context.Background()); err != nil {
		t.Fatal(err)
	}
	p := s.Progress()
	bytes := p.BytesSent + p.BytesReceived
	elapsed := clock.Now().Sub(start)
	want := time.Duration(float64(bytes)/rate*float64(time.Second)) - byteBurst
	if p.KeysSent != 4000 || elapsed < want-time.Millisecond || elapsed > want+time.Millisecond {
		t.Fatalf("moved %d keys, %d bytes in %v; want %v", p.KeysSent, bytes, elapsed, want)
	}
}

func TestSchedulerCyclesAndSkipsDownPeers(t *testing.T) {
	clock := newFakeClock()
	c := newCluster("b", "c")
	rng := rand.New(rand.NewPCG(5, 6))
	const parts = 8
	want := make(map[int]map[string]Record)
	for p := range parts {
		fill(p, 200, rng, c.local, c.peers["b"], c.peers["c"])
		for i := range 20 {
			c.peers["b"].del(p, string(testKey(rng.IntN(200))))
			c.local.del(p, string(testKey(rng.IntN(200))))
			c.peers["c"].del(p, string(testKey(i)))
		}
		want[p] = merged(c.local.contents(p), c.peers["b"].contents(p))
	}
	cBefore := c.peers["c"].contents(3)
	obs := &observations{clock: clock}
	var cDown atomic.Bool
	cDown.Store(true)
	s, err := NewScheduler(Config{FullPassTarget: -1}, Env{
		Local: c.local, Work: func() []WorkItem { return items(parts, "b", "c") }, Peer: c.peer,
		Alive: func(name string) bool { return name != "c" || !cDown.Load() }, Clock: clock, Observe: obs.observe,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.RunPass(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(obs.items) != parts {
		t.Fatalf("%d exchanges, want %d", len(obs.items), parts)
	}
	for i, it := range obs.items {
		if it.Peer != "b" || it.Partition != i || obs.errs[i] != nil {
			t.Fatalf("exchange %d: %+v, %v", i, it, obs.errs[i])
		}
	}
	for p := range parts {
		if err := sameContents(c.local.contents(p), want[p]); err != nil {
			t.Fatalf("partition %d, local: %v", p, err)
		}
		if err := sameContents(c.peers["b"].contents(p), want[p]); err != nil {
			t.Fatalf("partition %d, b: %v", p, err)
		}
	}
	if err := sameContents(c.peers["c"].contents(3), cBefore); err != nil {
		t.Fatalf("down peer touched: %v", err)
	}
	p := s.Progress()
	if p.Passes != 1 || p.PartitionsCompared != parts || p.Skipped != parts || p.Errors != 0 ||
		p.PassItems != 2*parts || p.PassPosition != 2*parts || p.LastPassCompleted.IsZero() {
		t.Fatalf("progress %+v", p)
	}
	if p.KeysRepaired == 0 || p.KeysRepaired != p.KeysSent+p.KeysReceived || s.KeysRepaired() != p.KeysRepaired {
		t.Fatalf("keys repaired %d (sent %d, received %d)", p.KeysRepaired, p.KeysSent, p.KeysReceived)
	}
	// Once c is back, the next pass includes it.
	cDown.Store(false)
	if err := s.RunPass(context.Background()); err != nil {
		t.Fatal(err)
	}
	if p := s.Progress(); p.PartitionsCompared != 3*parts || p.Passes != 2 {
		t.Fatalf("progress after c came back %+v", p)
	}
}

func TestSchedulerCountsErrors(t *testing.T) {
	clock := newFakeClock()
	c := newCluster("b")
	obs := &observations{clock: clock}
	s, err := NewScheduler(Config{FullPassTarget: -1}, Env{
		Local: c.local, Work: func() []WorkItem { return items(2, "b", "gone") }, Peer: c.peer, Clock: clock, Observe: obs.observe,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.RunPass(context.Background()); err != nil {
		t.Fatal(err)
	}
	if p := s.Progress(); p.Errors != 2 || p.PartitionsCompared != 2 || p.Passes != 1 {
		t.Fatalf("progress %+v", p)
	}
	if obs.errs[1] == nil || obs.errs[0] != nil {
		t.Fatalf("errors %v", obs.errs)
	}
}

func TestSchedulerStartStop(t *testing.T) {
	c := newCluster("b")
	fill(0, 100, rand.New(rand.NewPCG(7, 8)), c.local)
	s, err := NewScheduler(Config{TreesPerSecond: 1000, FullPassTarget: 5 * time.Millisecond}, Env{
		Local: c.local, Work: func() []WorkItem { return items(3, "b") }, Peer: c.peer,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); !errors.Is(err, ErrStarted) {
		t.Fatalf("second Start = %v", err)
	}
	waitFor(t, func() bool { return s.Progress().Passes >= 3 })
	s.Stop()
	s.Stop()
	if err := s.Start(); !errors.Is(err, ErrStopped) {
		t.Fatalf("Start after Stop = %v", err)
	}
	if err := sameContents(c.peers["b"].contents(0), c.local.contents(0)); err != nil {
		t.Fatal(err)
	}
	if p := s.Progress(); p.KeysSent != 100 {
		t.Fatalf("progress %+v", p)
	}
}

func TestSchedulerStopInterruptsWaits(t *testing.T) {
	for _, tt := range []struct {
		name string
		cfg  Config
		work []WorkItem
	}{
		{"idle", Config{IdleInterval: time.Hour}, nil},
		{"slow pass", Config{FullPassTarget: time.Hour}, items(2, "b")},
		{"slow rate", Config{TreesPerSecond: 0.0001}, items(2, "b")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := newCluster("b")
			s, err := NewScheduler(tt.cfg, Env{Local: c.local, Work: func() []WorkItem { return tt.work }, Peer: c.peer})
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Start(); err != nil {
				t.Fatal(err)
			}
			if len(tt.work) > 0 {
				waitFor(t, func() bool { return s.Progress().PassPosition >= 1 })
			}
			done := make(chan struct{})
			go func() { s.Stop(); close(done) }()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("Stop did not interrupt the wait")
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"zero", Config{}, true},
		{"default", DefaultConfig(), true},
		{"unlimited", Config{TreesPerSecond: -1, BytesPerSecond: -1, FullPassTarget: -1}, true},
		{"NaN rate", Config{TreesPerSecond: nan()}, false},
		{"negative idle", Config{IdleInterval: -1}, false},
		{"bad sync", Config{Sync: SyncConfig{MaxRecords: -1, MaxBytes: -1}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if (err == nil) != tt.ok || (err != nil && !errors.Is(err, ErrInvalidConfig)) {
				t.Fatalf("Validate = %v, want ok %v", err, tt.ok)
			}
		})
	}
	if _, err := NewScheduler(Config{}, Env{}); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("NewScheduler without Env = %v", err)
	}
}

func nan() float64 { var z float64; return z / z }

// waitFor waits until cond holds, failing the test after a deadline.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met before the deadline")
		}
		time.Sleep(time.Millisecond)
	}
}
