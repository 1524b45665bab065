package hintedhandoff

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"kvstore/storage"
)

// Store holds hints for any number of targets in its own storage.DB.
//
// All methods are safe for concurrent use. Add never waits for Replay,
// Expire or Drop. Replay, Expire and Drop of one target are serialized: a
// second Replay of a target waits for the first, Expire skips a target being
// replayed (the Replay drops expired hints itself), and Drop interrupts a
// Replay of its target. Operations on different targets run in parallel.
type Store struct {
	cfg  Config
	db   *storage.DB
	done chan struct{}  // closed when Close begins
	ops  sync.WaitGroup // methods in progress; Close waits for them

	closeOnce sync.Once

	mu struct {
		sync.Mutex
		closed       bool
		targets      map[string]*target
		lastMs       uint64 // largest enqueue time handed out or stored
		nextSeq      uint64 // next sequence number
		pending      int64  // hints stored or being added
		pendingBytes int64
	}

	added      atomic.Int64
	replayed   atomic.Int64
	dropped    atomic.Int64
	expired    atomic.Int64
	forgotten  atomic.Int64
	corrupt    atomic.Int64
	sendErrors atomic.Int64
}

// target is the state of one target's hints.
type target struct {
	name   string
	prefix []byte        // targetPrefix(name)
	sem    chan struct{} // held by the Replay, Expire or Drop at work on it

	// Guarded by Store.mu.
	count, bytes int64      // hints stored or being added, and their bytes
	oldest       uint64     // enqueue time (ms) of the oldest, when count > 0
	dead         int64      // deleted with tombstones, not yet range-dropped
	inflight     []addition // Adds being written, in sequence order
	cancel       context.CancelCauseFunc
	replaying    bool
	dropping     int // Drops waiting or running
	replayed     int64
	expired      int64
}

// addition is an Add in progress: its enqueue time and first sequence
// number (the smallest key it writes), and what it reserved.
type addition struct {
	ms, seq  uint64
	n, bytes int64
}

// TargetStats describes the pending hints of one target.
type TargetStats struct {
	Name string
	// Count and Bytes are the hints pending (including Adds in progress)
	// and their bytes.
	Count int64
	Bytes int64
	// Oldest is the enqueue time of the oldest pending hint.
	Oldest time.Time
	// Replaying is set while a Replay of the target runs.
	Replaying bool
	// Replayed and Expired count the target's hints acknowledged by it and
	// dropped for age since Open.
	Replayed int64
	Expired  int64
}

// Stats are the store's totals. Counters count records since Open.
type Stats struct {
	// Targets is the number of targets with pending hints.
	Targets int
	// Pending and PendingBytes are the hints stored (including Adds in
	// progress) and their bytes.
	Pending      int64
	PendingBytes int64
	// Added counts hints stored by Add.
	Added int64
	// Replayed counts hints acknowledged by their target and deleted.
	Replayed int64
	// Dropped counts hints Add refused with ErrFull.
	Dropped int64
	// Expired counts hints dropped for being older than MaxAge.
	Expired int64
	// Forgotten counts hints deleted by Drop.
	Forgotten int64
	// Corrupt counts stored hints that could not be decoded and were
	// deleted.
	Corrupt int64
	// SendErrors counts failed Sender calls.
	SendErrors int64
}

// Open opens the hint store in dir, creating it if needed, in its own
// storage.DB opened with opts. A zero opts.Shards means one shard (hints are
// a queue, and one WAL gives each Add a single fsync); a store created with
// another shard count must be reopened with it. Open scans the stored hints
// to rebuild the per-target counters and to recover the largest sequence
// number and enqueue time, so it reads every pending hint once. Stored keys
// that cannot be decoded are deleted and counted in Stats.Corrupt.
func Open(dir string, cfg Config, opts storage.Options) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if opts.Shards == 0 {
		opts.Shards = 1
	}
	db, err := storage.Open(dir, opts)
	if err != nil {
		return nil, fmt.Errorf("hintedhandoff: open %s: %w", dir, err)
	}
	s := &Store{cfg: cfg.withDefaults(), db: db, done: make(chan struct{})}
	s.mu.targets = make(map[string]*target)
	s.mu.nextSeq = 1
	if err := s.recover(); err != nil {
		db.Close()
		return nil, fmt.Errorf("hintedhandoff: open %s: %w", dir, err)
	}
	return s, nil
}

// recover rebuilds the in-memory state from the stored hints.
func (s *Store) recover() error {
	it, err := s.db.NewIter(storage.IterOptions{Tombstones: true})
	if err != nil {
		return err
	}
	type badKey struct {
		key []byte
		v   storage.Version
	}
	var bad []badKey
	for ok := it.First(); ok; ok = it.Next() {
		k := it.Key()
		hk, err := decodeKey(k)
		if err != nil {
			if !it.Tombstone() && it.Version() < ^storage.Version(0) {
				bad = append(bad, badKey{key: slices.Clone(k), v: it.Version()})
			}
			continue
		}
		s.mu.lastMs = max(s.mu.lastMs, hk.ms)
		s.mu.nextSeq = max(s.mu.nextSeq, hk.seq+1)
		t := s.targetLocked(string(hk.target))
		if it.Tombstone() {
			t.dead++
			continue
		}
		if t.count == 0 {
			t.oldest = hk.ms
		}
		t.count++
		t.bytes += int64(len(k) + len(it.Value()))
		s.mu.pending++
		s.mu.pendingBytes += int64(len(k) + len(it.Value()))
	}
	if err := it.Close(); err != nil {
		return err
	}
	if len(bad) > 0 {
		var b storage.Batch
		for _, k := range bad {
			b.Delete(k.key, k.v+1)
		}
		if err := s.db.Apply(&b); err != nil {
			return err
		}
		s.corrupt.Add(int64(len(bad)))
	}
	return nil
}

// targetLocked returns the state of target, creating it. s.mu is held.
func (s *Store) targetLocked(name string) *target {
	t := s.mu.targets[name]
	if t == nil {
		name = strings.Clone(name)
		t = &target{name: name, prefix: targetPrefix(name), sem: make(chan struct{}, 1)}
		s.mu.targets[name] = t
	}
	return t
}

// horizonLocked returns the smallest key that t's Adds in progress or any
// future Add may write. Every hint of t below it is visible to readers, and
// nothing will be written below it, so Replay, Expire and Drop work only
// below it. It also returns the count and bytes of t's Adds in progress.
// s.mu is held.
func (s *Store) horizonLocked(t *target) (horizon []byte, n, bytes int64) {
	for _, a := range t.inflight {
		n += a.n
		bytes += a.bytes
	}
	if len(t.inflight) > 0 {
		return appendKey(nil, t.prefix, t.inflight[0].ms, t.inflight[0].seq, nil), n, bytes
	}
	return appendKey(nil, t.prefix, s.mu.lastMs, s.mu.nextSeq, nil), 0, 0
}

// enter registers a method call; it fails once Close has begun.
func (s *Store) enter() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.closed {
		return ErrClosed
	}
	s.ops.Add(1)
	return nil
}

func (s *Store) nowMs() uint64 {
	ms := s.cfg.Now().UnixMilli()
	if ms < 0 {
		return 0
	}
	return uint64(ms)
}

// Add stores recs as hints for target, in order, and returns once they are
// durable (as durable as the storage.Options.Sync the store was opened
// with; the default makes them survive a machine crash). recs and their
// bytes are not retained.
//
// A batch is stored whole or not at all: when it does not fit under
// Config.MaxBytes, Add stores none of it, counts all its records in
// Stats.Dropped and returns an error wrapping ErrFull. An invalid target
// (ErrInvalidTarget) or record (ErrInvalidRecord) fails the batch before
// anything is written. After a closed store, ErrClosed. If the storage write
// fails, Add deletes what it may have written and returns the error; if the
// deletion fails too, the counters may count the batch until the next Open.
func (s *Store) Add(target string, recs []Record) error {
	if err := checkTarget(target); err != nil {
		return err
	}
	var total int64
	for i := range recs {
		r := &recs[i]
		if err := checkRecord(r, len(target)); err != nil {
			return fmt.Errorf("%w (record %d of %d)", err, i, len(recs))
		}
		total += int64(1 + len(target) + keyFixedLen + len(r.Key) + valueLen(r))
	}
	if len(recs) == 0 {
		return nil
	}
	if err := s.enter(); err != nil {
		return err
	}
	defer s.ops.Done()
	n := int64(len(recs))

	s.mu.Lock()
	if s.mu.pendingBytes+total > s.cfg.MaxBytes {
		pending := s.mu.pendingBytes
		s.mu.Unlock()
		s.dropped.Add(n)
		return fmt.Errorf("%w: %d records of %d bytes over the %d bytes left of MaxBytes %d",
			ErrFull, n, total, max(0, s.cfg.MaxBytes-pending), s.cfg.MaxBytes)
	}
	ms := max(s.nowMs(), s.mu.lastMs)
	s.mu.lastMs = ms
	seq := s.mu.nextSeq
	s.mu.nextSeq += uint64(n)
	t := s.targetLocked(target)
	if t.count == 0 {
		t.oldest = ms
	}
	t.count += n
	t.bytes += total
	s.mu.pending += n
	s.mu.pendingBytes += total
	t.inflight = append(t.inflight, addition{ms: ms, seq: seq, n: n, bytes: total})
	s.mu.Unlock()

	var b storage.Batch
	var key, val []byte
	for i := range recs {
		key = appendKey(key[:0], t.prefix, ms, seq+uint64(i), recs[i].Key)
		val = appendValue(val[:0], &recs[i])
		b.Put(key, val, storage.Version(seq+uint64(i)))
	}
	err := s.db.Apply(&b)
	undone := false
	if err != nil {
		// The batch may be partly written; delete it so that stored hints
		// and counters agree.
		b.Reset()
		for i := range recs {
			key = appendKey(key[:0], t.prefix, ms, seq+uint64(i), recs[i].Key)
			b.Delete(key, storage.Version(seq+uint64(i)+1))
		}
		undone = s.db.Apply(&b) == nil
	}

	s.mu.Lock()
	for i, a := range t.inflight {
		if a.seq == seq {
			t.inflight = slices.Delete(t.inflight, i, i+1)
			break
		}
	}
	if undone {
		t.count -= n
		t.bytes -= total
		s.mu.pending -= n
		s.mu.pendingBytes -= total
	}
	s.mu.Unlock()
	if err != nil {
		return fmt.Errorf("hintedhandoff: add %d hints for %s: %w", n, target, err)
	}
	s.added.Add(n)
	return nil
}

// Targets returns the targets with pending hints or a Replay running,
// sorted by name.
func (s *Store) Targets() []TargetStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []TargetStats
	for _, t := range s.mu.targets {
		if t.count <= 0 && !t.replaying {
			continue
		}
		ts := TargetStats{
			Name:      t.name,
			Count:     t.count,
			Bytes:     t.bytes,
			Replaying: t.replaying,
			Replayed:  t.replayed,
			Expired:   t.expired,
		}
		if t.count > 0 {
			ts.Oldest = time.UnixMilli(int64(t.oldest))
		}
		out = append(out, ts)
	}
	slices.SortFunc(out, func(a, b TargetStats) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Stats returns the store's totals.
func (s *Store) Stats() Stats {
	s.mu.Lock()
	st := Stats{Pending: s.mu.pending, PendingBytes: s.mu.pendingBytes}
	for _, t := range s.mu.targets {
		if t.count > 0 {
			st.Targets++
		}
	}
	s.mu.Unlock()
	st.Added = s.added.Load()
	st.Replayed = s.replayed.Load()
	st.Dropped = s.dropped.Load()
	st.Expired = s.expired.Load()
	st.Forgotten = s.forgotten.Load()
	st.Corrupt = s.corrupt.Load()
	st.SendErrors = s.sendErrors.Load()
	return st
}

// Close interrupts running Replays (they return ErrClosed), waits for every
// method in progress to return, and closes the storage. Later calls of any
// method return ErrClosed; Close itself is idempotent: a concurrent call
// waits for the first to finish, and later calls return nil.
func (s *Store) Close() error {
	var err error
	s.closeOnce.Do(func() { err = s.close() })
	return err
}

func (s *Store) close() error {
	s.mu.Lock()
	s.mu.closed = true
	close(s.done)
	for _, t := range s.mu.targets {
		if t.cancel != nil {
			t.cancel(ErrClosed)
		}
	}
	s.mu.Unlock()
	s.ops.Wait()
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("hintedhandoff: close: %w", err)
	}
	return nil
}
