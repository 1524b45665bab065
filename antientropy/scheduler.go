package antientropy

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Config paces a Scheduler.
type Config struct {
	// TreesPerSecond caps exchanges started per second (each builds one tree
	// on each replica). Default 10; negative means no cap.
	TreesPerSecond float64
	// BytesPerSecond caps the bytes exchanged with peers per second,
	// averaged over rounds of the exchange (a burst of up to 100 ms worth
	// is allowed). Default 8 MiB; negative means no cap.
	BytesPerSecond int64
	// ScanBytesPerSecond caps the bytes of records (keys and values) a
	// replica reads per second to build Merkle trees, its own and those
	// peers ask it for (the replica paces them with PacedIter; the
	// Scheduler does not use it). A tree is rebuilt whenever its partition
	// was written since the last one, so under steady writes a pass reads
	// the whole data set: the cap keeps that to a known share of the disk,
	// and a pass over more data than FullPassTarget allows takes longer.
	// Default 32 MiB; negative means no cap.
	ScanBytesPerSecond int64
	// FullPassTarget is the time a pass over every work item should take:
	// the background loop spreads the items of a pass evenly over it and
	// starts the next pass when it has elapsed. A pass takes longer when the
	// caps do not allow that many exchanges or bytes (Progress shows it).
	// It bounds how long a missed write or delete stays unrepaired, so it
	// must stay well below the tombstone grace period. Default 10 minutes;
	// negative means as fast as the caps allow.
	FullPassTarget time.Duration
	// IdleInterval is how long the loop waits before asking for work again
	// when there was none. Default 1 second.
	IdleInterval time.Duration
	// Sync bounds each exchange.
	Sync SyncConfig
}

// Defaults of Config.
const (
	DefaultTreesPerSecond = 10
	DefaultBytesPerSecond = 8 << 20
	// DefaultScanBytesPerSecond is Config.ScanBytesPerSecond's default.
	DefaultScanBytesPerSecond = 32 << 20
	DefaultFullPassTarget     = 10 * time.Minute
	DefaultIdleInterval       = time.Second
)

// byteBurst is the debt the byte pacer lets build up before it sleeps.
const byteBurst = 100 * time.Millisecond

// DefaultConfig returns the default Config.
func DefaultConfig() Config {
	return Config{
		TreesPerSecond:     DefaultTreesPerSecond,
		BytesPerSecond:     DefaultBytesPerSecond,
		ScanBytesPerSecond: DefaultScanBytesPerSecond,
		FullPassTarget:     DefaultFullPassTarget,
		IdleInterval:       DefaultIdleInterval,
		Sync:               DefaultSyncConfig(),
	}
}

func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.TreesPerSecond == 0 {
		c.TreesPerSecond = d.TreesPerSecond
	}
	if c.BytesPerSecond == 0 {
		c.BytesPerSecond = d.BytesPerSecond
	}
	if c.ScanBytesPerSecond == 0 {
		c.ScanBytesPerSecond = d.ScanBytesPerSecond
	}
	if c.FullPassTarget == 0 {
		c.FullPassTarget = d.FullPassTarget
	}
	if c.IdleInterval == 0 {
		c.IdleInterval = d.IdleInterval
	}
	c.Sync = c.Sync.withDefaults()
	return c
}

// ScanPacer returns the Pacer of c's ScanBytesPerSecond (its default when
// zero), for the replica's tree builds.
func (c Config) ScanPacer() *Pacer {
	return NewPacer(c.withDefaults().ScanBytesPerSecond, nil)
}

// Validate reports every problem of c (zero fields count as their
// defaults). The error wraps ErrInvalidConfig.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	if math.IsNaN(c.TreesPerSecond) || math.IsInf(c.TreesPerSecond, 0) {
		errs = append(errs, fmt.Errorf("TreesPerSecond %v", c.TreesPerSecond))
	}
	if c.IdleInterval < 0 {
		errs = append(errs, fmt.Errorf("IdleInterval %v < 0", c.IdleInterval))
	}
	if err := c.Sync.Validate(); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, errors.Join(errs...))
	}
	return nil
}

// WorkItem is one exchange the node wants run regularly: its replica of
// Partition with the replica on Peer.
type WorkItem struct {
	Partition int
	Peer      string
}

// Clock is the scheduler's time source; tests use a fake one.
type Clock interface {
	Now() time.Time
	// Sleep waits for d, or until ctx ends and then returns ctx.Err().
	Sleep(ctx context.Context, d time.Duration) error
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Env is what a Scheduler needs from the node. The functions are called
// from the scheduler's goroutine and must not block for long.
type Env struct {
	// Local is this node's replica. Required.
	Local Replica
	// Work returns the exchanges of one pass, in the order to run them; it
	// is called at the start of every pass, so it follows membership
	// changes. Both replicas of a pair run the exchange in both directions,
	// so one side of each pair is enough (for example the node whose name
	// sorts first). Required.
	Work func() []WorkItem
	// Peer returns the Peer of a node. Required.
	Peer func(name string) (Peer, error)
	// Alive reports whether a node is up; items of down nodes are skipped
	// for this pass. Nil means every node is up.
	Alive func(name string) bool
	// Clock is the time source. Nil means the system clock.
	Clock Clock
	// Observe, if set, is told the outcome of every exchange.
	Observe func(item WorkItem, res Result, err error)
}

// Progress is a snapshot of a Scheduler's work.
type Progress struct {
	// Passes counts completed passes over every work item.
	Passes uint64
	// PassItems and PassPosition are the size of the current (or last)
	// pass and the items of it handled so far.
	PassItems    int
	PassPosition int
	// PassStarted is when the current (or last) pass started.
	PassStarted time.Time
	// LastPassCompleted and LastPassDuration describe the last complete
	// pass; zero before the first.
	LastPassCompleted time.Time
	LastPassDuration  time.Duration
	// PartitionsCompared counts partitions compared with a peer: exchanges
	// that completed, and RootMatches.
	PartitionsCompared uint64
	// RootMatches counts partitions whose roots, compared at the start of
	// a pass (see RootsRequest), were equal on both replicas: no exchange
	// was needed.
	RootMatches uint64
	// KeysRepaired is KeysSent + KeysReceived: records that one replica
	// lacked or held older.
	KeysRepaired uint64
	KeysSent     uint64
	KeysReceived uint64
	// BytesSent and BytesReceived approximate the payload exchanged.
	BytesSent     uint64
	BytesReceived uint64
	// Errors counts exchanges that failed (peer unreachable, transport or
	// storage error, protocol violation).
	Errors uint64
	// Skipped counts work items skipped because their peer was down.
	Skipped uint64
}

// Scheduler runs exchanges in the background, cycling through the node's
// work items at the pace of its Config. Start launches its goroutine; Stop
// ends it and waits. Progress reports what it did. All methods are safe for
// concurrent use.
type Scheduler struct {
	cfg    Config
	env    Env
	clock  Clock
	syncer Syncer

	passMu   sync.Mutex // serializes passes; guards nextTree
	nextTree time.Time  // when the next exchange may start
	bytes    *Pacer     // BytesPerSecond

	mu struct {
		sync.Mutex
		state             int // 0 new, 1 started, 2 stopped; guarded by mu
		cancel            context.CancelFunc
		passItems         int
		passPosition      int
		passStarted       time.Time
		lastPassCompleted time.Time
		lastPassDuration  time.Duration
	}
	wg sync.WaitGroup

	passes        atomic.Uint64
	compared      atomic.Uint64
	rootMatches   atomic.Uint64
	keysSent      atomic.Uint64
	keysReceived  atomic.Uint64
	bytesSent     atomic.Uint64
	bytesReceived atomic.Uint64
	failures      atomic.Uint64
	skipped       atomic.Uint64
}

// NewScheduler returns a stopped Scheduler. It returns an error wrapping
// ErrInvalidConfig if cfg is invalid or env lacks a required field.
func NewScheduler(cfg Config, env Env) (*Scheduler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if env.Local == nil || env.Work == nil || env.Peer == nil {
		return nil, fmt.Errorf("%w: Env needs Local, Work and Peer", ErrInvalidConfig)
	}
	s := &Scheduler{cfg: cfg.withDefaults(), env: env, clock: env.Clock}
	if s.clock == nil {
		s.clock = realClock{}
	}
	s.bytes = NewPacer(s.cfg.BytesPerSecond, s.clock)
	s.syncer = Syncer{Config: s.cfg.Sync, Pace: s.bytes.Wait}
	return s, nil
}

// Start launches the background loop. It returns ErrStarted if the loop
// runs already and ErrStopped after Stop.
func (s *Scheduler) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch s.mu.state {
	case 1:
		return ErrStarted
	case 2:
		return ErrStopped
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.mu.state, s.mu.cancel = 1, cancel
	s.wg.Go(func() { s.loop(ctx) })
	return nil
}

// Stop ends the background loop, cancelling the exchange in progress, and
// waits for it to exit. It is idempotent.
func (s *Scheduler) Stop() {
	s.mu.Lock()
	if s.mu.cancel != nil {
		s.mu.cancel()
	}
	s.mu.state = 2
	s.mu.Unlock()
	s.wg.Wait()
}

func (s *Scheduler) loop(ctx context.Context) {
	for ctx.Err() == nil {
		start := s.clock.Now()
		n, err := s.pass(ctx, true)
		if err != nil {
			return
		}
		switch {
		case n == 0:
			err = s.clock.Sleep(ctx, s.cfg.IdleInterval)
		case s.cfg.FullPassTarget > 0:
			err = s.sleepUntil(ctx, start.Add(s.cfg.FullPassTarget))
		}
		if err != nil {
			return
		}
	}
}

// RunPass runs one pass over the current work items now, without spreading
// them over FullPassTarget but within the rate caps. It returns ctx's error
// if ctx ends first. Passes are serialized: it waits for a background pass
// in progress.
func (s *Scheduler) RunPass(ctx context.Context) error {
	_, err := s.pass(ctx, false)
	return err
}

// pass runs one pass and returns the number of items it covered.
func (s *Scheduler) pass(ctx context.Context, spread bool) (int, error) {
	s.passMu.Lock()
	defer s.passMu.Unlock()
	items := s.env.Work()
	if len(items) == 0 {
		return 0, nil
	}
	start := s.clock.Now()
	s.mu.Lock()
	s.mu.passItems, s.mu.passPosition, s.mu.passStarted = len(items), 0, start
	s.mu.Unlock()
	rest, err := s.compareRoots(ctx, items)
	if err != nil {
		return 0, err
	}
	done := len(items) - len(rest)
	s.mu.Lock()
	s.mu.passPosition = done
	s.mu.Unlock()
	var interval time.Duration
	if spread && s.cfg.FullPassTarget > 0 && len(rest) > 0 {
		interval = s.cfg.FullPassTarget / time.Duration(len(rest))
	}
	for i, item := range rest {
		if interval > 0 {
			if err := s.sleepUntil(ctx, start.Add(time.Duration(i)*interval)); err != nil {
				return done + i, err
			}
		}
		if s.env.Alive == nil || s.env.Alive(item.Peer) {
			if err := s.takeTree(ctx); err != nil {
				return done + i, err
			}
			s.syncOne(ctx, item)
			if err := ctx.Err(); err != nil {
				return done + i, err
			}
		} else {
			s.skipped.Add(1)
		}
		s.mu.Lock()
		s.mu.passPosition = done + i + 1
		s.mu.Unlock()
	}
	end := s.clock.Now()
	s.passes.Add(1)
	s.mu.Lock()
	s.mu.lastPassCompleted, s.mu.lastPassDuration = end, end.Sub(start)
	s.mu.Unlock()
	return len(items), nil
}

// compareRoots returns the items that still need an exchange: all but
// those whose partition has the same root here (Local.Root) and on the
// peer (one RootsRequest per peer, per Sync.MaxHashes partitions). An
// item stays when either root is unknown, its peer is down, or the peer
// fails to answer (a peer of an older build does not know the request):
// its exchange builds the trees or reports the error, as it always did.
// It returns ctx's error if ctx ends.
func (s *Scheduler) compareRoots(ctx context.Context, items []WorkItem) ([]WorkItem, error) {
	byPeer := map[string][]int{} // indexes of items with a local root
	for i, item := range items {
		if s.env.Alive != nil && !s.env.Alive(item.Peer) {
			continue
		}
		if _, ok := s.env.Local.Root(item.Partition); ok {
			byPeer[item.Peer] = append(byPeer[item.Peer], i)
		}
	}
	equal := make([]bool, len(items))
	matched := 0
	for name, idx := range byPeer {
		peer, err := s.env.Peer(name)
		if err != nil {
			continue
		}
		for chunk := range slices.Chunk(idx, s.cfg.Sync.MaxHashes) {
			req := &RootsRequest{Partitions: make([]int, len(chunk))}
			for j, i := range chunk {
				req.Partitions[j] = items[i].Partition
			}
			resp, err := peer.Roots(ctx, req)
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			if err != nil || len(resp.Roots) != len(chunk) {
				break
			}
			sent, received := int64(messageOverhead+indexSize*len(chunk)), int64(messageOverhead+(hashSize+1)*len(chunk))
			s.bytesSent.Add(uint64(sent))
			s.bytesReceived.Add(uint64(received))
			if err := s.bytes.Wait(ctx, sent+received); err != nil {
				return nil, err
			}
			for j, i := range chunk {
				remote, rok := resp.Root(j)
				// Asked again: the partition may have been written since.
				local, lok := s.env.Local.Root(items[i].Partition)
				if rok && lok && remote == local {
					equal[i] = true
					matched++
				}
			}
		}
	}
	if matched == 0 {
		return items, nil
	}
	s.rootMatches.Add(uint64(matched))
	s.compared.Add(uint64(matched))
	rest := make([]WorkItem, 0, len(items)-matched)
	for i, item := range items {
		if !equal[i] {
			rest = append(rest, item)
		}
	}
	return rest, nil
}

func (s *Scheduler) syncOne(ctx context.Context, item WorkItem) {
	res := Result{Partition: item.Partition}
	peer, err := s.env.Peer(item.Peer)
	if err == nil {
		res, err = s.syncer.Sync(ctx, s.env.Local, peer, item.Partition)
	}
	s.keysSent.Add(uint64(res.KeysSent))
	s.keysReceived.Add(uint64(res.KeysReceived))
	s.bytesSent.Add(uint64(res.BytesSent))
	s.bytesReceived.Add(uint64(res.BytesReceived))
	switch {
	case err == nil:
		s.compared.Add(1)
	case ctx.Err() == nil:
		s.failures.Add(1)
	}
	if s.env.Observe != nil {
		s.env.Observe(item, res, err)
	}
}

func (s *Scheduler) sleepUntil(ctx context.Context, t time.Time) error {
	if d := t.Sub(s.clock.Now()); d > 0 {
		return s.clock.Sleep(ctx, d)
	}
	return ctx.Err()
}

// takeTree waits for the exchange rate cap. Called with passMu held.
func (s *Scheduler) takeTree(ctx context.Context) error {
	if s.cfg.TreesPerSecond < 0 {
		return nil
	}
	if err := s.sleepUntil(ctx, s.nextTree); err != nil {
		return err
	}
	now := s.clock.Now()
	if s.nextTree.Before(now) {
		s.nextTree = now
	}
	s.nextTree = s.nextTree.Add(time.Duration(float64(time.Second) / s.cfg.TreesPerSecond))
	return nil
}

// Progress returns a snapshot of the scheduler's work.
func (s *Scheduler) Progress() Progress {
	p := Progress{
		Passes:             s.passes.Load(),
		PartitionsCompared: s.compared.Load(),
		RootMatches:        s.rootMatches.Load(),
		KeysSent:           s.keysSent.Load(),
		KeysReceived:       s.keysReceived.Load(),
		BytesSent:          s.bytesSent.Load(),
		BytesReceived:      s.bytesReceived.Load(),
		Errors:             s.failures.Load(),
		Skipped:            s.skipped.Load(),
	}
	p.KeysRepaired = p.KeysSent + p.KeysReceived
	s.mu.Lock()
	p.PassItems, p.PassPosition, p.PassStarted = s.mu.passItems, s.mu.passPosition, s.mu.passStarted
	p.LastPassCompleted, p.LastPassDuration = s.mu.lastPassCompleted, s.mu.lastPassDuration
	s.mu.Unlock()
	return p
}

// KeysRepaired returns the records moved between replicas so far (the
// kvstore_antientropy_keys_repaired_total counter).
func (s *Scheduler) KeysRepaired() uint64 { return s.keysSent.Load() + s.keysReceived.Load() }
