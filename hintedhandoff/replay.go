package hintedhandoff

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"kvstore/storage"
)

// Sender delivers hints to their target.
type Sender interface {
	// SendHints sends recs to target and returns nil only once the target
	// has durably applied all of them; any error means the hints are kept
	// and sent again by a later Replay. It must return promptly when ctx
	// ends (Drop and Close cancel it). recs holds at least one record; the
	// Store does not touch recs or their bytes after the call, so the
	// Sender may keep them.
	SendHints(ctx context.Context, target string, recs []Record) error
}

// SenderFunc adapts a function to Sender.
type SenderFunc func(ctx context.Context, target string, recs []Record) error

// SendHints calls f.
func (f SenderFunc) SendHints(ctx context.Context, target string, recs []Record) error {
	return f(ctx, target, recs)
}

var _ Sender = SenderFunc(nil)

// pacer spaces batches so that records go out at no more than rate per
// second on average. Time not used (a slow sender) is not saved up for a
// later burst.
type pacer struct {
	rate float64   // records per second
	next time.Time // when the next batch may go
}

// delay returns how long to wait, at now, before sending n records, and
// books them.
func (p *pacer) delay(now time.Time, n int) time.Duration {
	if p.next.Before(now) {
		p.next = now
	}
	d := p.next.Sub(now)
	p.next = p.next.Add(time.Duration(float64(n) / p.rate * float64(time.Second)))
	return d
}

// Replay sends target's hints to it through send, oldest first, in batches
// of at most Config.ReplayBatch records and Config.ReplayBatchBytes bytes,
// paced at Config.ReplayRate records per second. After each batch that send
// acknowledged, Replay deletes the batch; hints older than Config.MaxAge are
// deleted without being sent (counted as expired), and undecodable ones too
// (counted as corrupt). It returns the number of records acknowledged and
// stops:
//
//   - when no hint of target is left (nil error); hints added meanwhile are
//     sent as long as Replay runs;
//   - at the first failed send, returning the error (wrapped) and keeping
//     every hint not acknowledged;
//   - when ctx ends (context.Cause of ctx), when Drop of target interrupts
//     it (ErrTargetDropped) or when Close does (ErrClosed).
//
// A Replay of a target that another Replay is working on waits for it (or
// for ctx); Replays of different targets run in parallel. An invalid target
// name returns ErrInvalidTarget.
func (s *Store) Replay(ctx context.Context, target string, send Sender) (sent int, err error) {
	if err := checkTarget(target); err != nil {
		return 0, err
	}
	if err := s.enter(); err != nil {
		return 0, err
	}
	defer s.ops.Done()
	s.mu.Lock()
	t := s.mu.targets[target]
	s.mu.Unlock()
	if t == nil {
		return 0, nil
	}
	select {
	case t.sem <- struct{}{}:
	case <-ctx.Done():
		return 0, context.Cause(ctx)
	case <-s.done:
		return 0, ErrClosed
	}
	defer func() { <-t.sem }()

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	s.mu.Lock()
	switch {
	case s.mu.closed:
		s.mu.Unlock()
		return 0, ErrClosed
	case t.dropping > 0:
		s.mu.Unlock()
		return 0, ErrTargetDropped
	}
	t.cancel = cancel
	t.replaying = true
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		t.cancel = nil
		t.replaying = false
		s.mu.Unlock()
	}()

	// Everything of t below end has been deleted by tombstones when Replay
	// returns; the prefix is then range-dropped to remove them.
	end := t.prefix
	defer func() {
		if errors.Is(err, ErrClosed) || errors.Is(err, ErrTargetDropped) {
			return // Close should not wait for it; Drop removes it all
		}
		if cerr := s.dropDead(t, end); err == nil {
			err = cerr
		}
	}()

	p := pacer{rate: float64(s.cfg.ReplayRate)}
	cursor := t.prefix
	for {
		if ctx.Err() != nil {
			return sent, context.Cause(ctx)
		}
		b, err := s.readBatch(t, cursor, s.cutoffMs())
		if err != nil {
			return sent, err
		}
		if len(b.entries) == 0 {
			// Nothing is left below the horizon: what the counters hold
			// beyond the Adds in progress is drift; forget it.
			s.mu.Lock()
			t.count -= b.extraCount
			t.bytes -= b.extraBytes
			s.mu.pending -= b.extraCount
			s.mu.pendingBytes -= b.extraBytes
			if len(t.inflight) > 0 {
				t.oldest = t.inflight[0].ms
			}
			s.mu.Unlock()
			end = b.horizon
			return sent, nil
		}
		// Whatever lies before the first hint found is deleted already.
		end = b.entries[0].key
		if len(b.recs) > 0 {
			if d := p.delay(s.cfg.Now(), len(b.recs)); d > 0 {
				if err := s.cfg.Sleep(ctx, d); err != nil {
					if ctx.Err() != nil {
						return sent, context.Cause(ctx)
					}
					return sent, err
				}
			}
			if err := send.SendHints(ctx, target, b.recs); err != nil {
				if ctx.Err() != nil {
					return sent, context.Cause(ctx)
				}
				s.sendErrors.Add(1)
				return sent, fmt.Errorf("hintedhandoff: send %d hints to %s: %w", len(b.recs), target, err)
			}
		}
		if err := s.deleteEntries(t, &b); err != nil {
			return sent, err
		}
		sent += len(b.recs)
		last := b.entries[len(b.entries)-1].key
		cursor = append(last[:len(last):len(last)], 0)
		end = cursor
	}
}

// entry is one stored hint read for a replay.
type entry struct {
	key     []byte
	version storage.Version
	size    int64
}

// replayBatch is what readBatch found.
type replayBatch struct {
	entries []entry  // every hint read, to delete once handled
	recs    []Record // the hints to send
	expired int
	corrupt int
	bytes   int64 // bytes of entries
	// next is the enqueue time of the first hint after the batch, if any.
	next    uint64
	hasNext bool
	// horizon, extraCount and extraBytes: see readBatch.
	horizon    []byte
	extraCount int64
	extraBytes int64
}

func (s *Store) cutoffMs() uint64 {
	c := s.cfg.Now().Add(-s.cfg.MaxAge).UnixMilli()
	if c < 0 {
		return 0
	}
	return uint64(c)
}

// readBatch reads the next batch of t's hints from start up to the
// horizon. Hints enqueued before cutoff (ms) and undecodable ones are read
// as entries but not as records to send. extraCount and extraBytes are what
// t's counters held beyond its Adds in progress when the horizon was taken.
// The caller holds t.sem.
func (s *Store) readBatch(t *target, start []byte, cutoff uint64) (replayBatch, error) {
	s.mu.Lock()
	horizon, n, nbytes := s.horizonLocked(t)
	b := replayBatch{horizon: horizon, extraCount: t.count - n, extraBytes: t.bytes - nbytes}
	s.mu.Unlock()
	if bytes.Compare(start, horizon) >= 0 {
		return b, nil
	}
	it, err := s.db.NewIter(storage.IterOptions{Start: start, End: horizon})
	if err != nil {
		return b, fmt.Errorf("hintedhandoff: read hints of %s: %w", t.name, err)
	}
	recBytes := 0
	for ok := it.First(); ok; ok = it.Next() {
		k, v := it.Key(), it.Value()
		hk, kerr := decodeKey(k)
		if len(b.entries) >= s.cfg.ReplayBatch ||
			(recBytes > 0 && recBytes+len(k)+len(v) > s.cfg.ReplayBatchBytes) {
			// An undecodable key reads as time 0: an early Oldest only
			// makes Expire look sooner.
			b.next, b.hasNext = hk.ms, true
			break
		}
		e := entry{key: slices.Clone(k), version: it.Version(), size: int64(len(k) + len(v))}
		b.entries = append(b.entries, e)
		b.bytes += e.size
		if kerr != nil {
			b.corrupt++
			continue
		}
		var r Record
		if err := decodeValue(v, &r); err != nil {
			b.corrupt++
			continue
		}
		if hk.ms < cutoff {
			b.expired++
			continue
		}
		r.Key = e.key[len(e.key)-len(hk.key):]
		if !r.Tombstone {
			r.Value = slices.Clone(r.Value)
			if r.Value == nil {
				r.Value = []byte{}
			}
		}
		b.recs = append(b.recs, r)
		recBytes += len(k) + len(v)
	}
	if err := it.Close(); err != nil {
		return b, fmt.Errorf("hintedhandoff: read hints of %s: %w", t.name, err)
	}
	return b, nil
}

// deleteEntries deletes b's entries with tombstones and updates the
// counters. The caller holds t.sem.
func (s *Store) deleteEntries(t *target, b *replayBatch) error {
	var d storage.Batch
	for _, e := range b.entries {
		d.Delete(e.key, e.version+1)
	}
	if err := s.db.Apply(&d); err != nil {
		return fmt.Errorf("hintedhandoff: delete %d hints of %s: %w", len(b.entries), t.name, err)
	}
	n := int64(len(b.entries))
	s.mu.Lock()
	t.count -= n
	t.bytes -= b.bytes
	s.mu.pending -= n
	s.mu.pendingBytes -= b.bytes
	t.dead += n
	t.replayed += int64(len(b.recs))
	t.expired += int64(b.expired)
	switch {
	case b.hasNext:
		t.oldest = b.next
	case len(t.inflight) > 0:
		t.oldest = t.inflight[0].ms
	}
	s.mu.Unlock()
	s.replayed.Add(int64(len(b.recs)))
	s.expired.Add(int64(b.expired))
	s.corrupt.Add(int64(b.corrupt))
	return nil
}

// dropDead removes the deleted prefix [t.prefix, end) of t's range with
// DropRange, if tombstones were written there. The caller holds t.sem and
// guarantees every hint of t below end is deleted.
func (s *Store) dropDead(t *target, end []byte) error {
	s.mu.Lock()
	dead := t.dead
	s.mu.Unlock()
	if dead == 0 || bytes.Compare(end, t.prefix) <= 0 {
		return nil
	}
	if err := s.db.DropRange(t.prefix, end); err != nil {
		return fmt.Errorf("hintedhandoff: drop deleted hints of %s: %w", t.name, err)
	}
	s.mu.Lock()
	t.dead = 0
	s.mu.Unlock()
	return nil
}

// Expire deletes every hint enqueued longer than Config.MaxAge ago and
// returns how many it deleted; they are counted in Stats.Expired. It skips a
// target whose Replay, Expire or Drop is running: a Replay drops expired
// hints itself. Errors of several targets are joined.
func (s *Store) Expire() (expired int, err error) {
	if err := s.enter(); err != nil {
		return 0, err
	}
	defer s.ops.Done()
	cutoff := s.cutoffMs()
	s.mu.Lock()
	var ts []*target
	for _, t := range s.mu.targets {
		if t.count > 0 && t.oldest < cutoff {
			ts = append(ts, t)
		}
	}
	s.mu.Unlock()
	var errs []error
	for _, t := range ts {
		select {
		case t.sem <- struct{}{}:
		default:
			continue
		}
		n, err := s.expireTarget(t, cutoff)
		<-t.sem
		expired += n
		if err != nil {
			errs = append(errs, err)
		}
	}
	return expired, errors.Join(errs...)
}

// expireTarget range-drops t's hints enqueued before cutoff. The caller
// holds t.sem.
func (s *Store) expireTarget(t *target, cutoff uint64) (int, error) {
	s.mu.Lock()
	horizon, _, _ := s.horizonLocked(t)
	s.mu.Unlock()
	end := appendKey(nil, t.prefix, cutoff, 0, nil)
	if bytes.Compare(end, horizon) > 0 {
		end = horizon
	}
	n, nbytes, next, hasNext, err := s.countLive(t, end, horizon)
	if err != nil {
		return 0, err
	}
	if n > 0 {
		if err := s.db.DropRange(t.prefix, end); err != nil {
			return 0, fmt.Errorf("hintedhandoff: expire hints of %s: %w", t.name, err)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if n > 0 {
		t.count -= n
		t.bytes -= nbytes
		s.mu.pending -= n
		s.mu.pendingBytes -= nbytes
		t.expired += n
		if bytes.Equal(end, horizon) {
			t.dead = 0
		}
		s.expired.Add(n)
	}
	switch {
	case hasNext:
		t.oldest = next
	case len(t.inflight) > 0:
		t.oldest = t.inflight[0].ms
	}
	return int(n), nil
}

// countLive counts t's hints below end and their bytes, and returns the
// enqueue time of the first hint in [end, limit), if any.
func (s *Store) countLive(t *target, end, limit []byte) (n, nbytes int64, next uint64, hasNext bool, err error) {
	it, err := s.db.NewIter(storage.IterOptions{Start: t.prefix, End: limit})
	if err != nil {
		return 0, 0, 0, false, fmt.Errorf("hintedhandoff: read hints of %s: %w", t.name, err)
	}
	for ok := it.First(); ok; ok = it.Next() {
		k := it.Key()
		if bytes.Compare(k, end) >= 0 {
			hk, _ := decodeKey(k)
			next, hasNext = hk.ms, true
			break
		}
		n++
		nbytes += int64(len(k) + len(it.Value()))
	}
	if err := it.Close(); err != nil {
		return 0, 0, 0, false, fmt.Errorf("hintedhandoff: read hints of %s: %w", t.name, err)
	}
	return n, nbytes, next, hasNext, nil
}

// Drop deletes every hint of target, for a target removed from the
// cluster, and counts them in Stats.Forgotten. A Replay of target running
// or waiting returns ErrTargetDropped; Drop waits for it to return (and so
// relies on the Sender honouring its context). Adds for target still in
// progress when that Replay has returned, and later ones, are kept: the
// target may come back. An invalid target name returns ErrInvalidTarget; an unknown target
// is not an error.
func (s *Store) Drop(target string) error {
	if err := checkTarget(target); err != nil {
		return err
	}
	if err := s.enter(); err != nil {
		return err
	}
	defer s.ops.Done()
	s.mu.Lock()
	t := s.mu.targets[target]
	if t == nil {
		s.mu.Unlock()
		return nil
	}
	t.dropping++
	if t.cancel != nil {
		t.cancel(ErrTargetDropped)
	}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		t.dropping--
		s.mu.Unlock()
	}()
	select {
	case t.sem <- struct{}{}:
	case <-s.done:
		return ErrClosed
	}
	defer func() { <-t.sem }()

	s.mu.Lock()
	horizon, inN, inBytes := s.horizonLocked(t)
	extraCount, extraBytes, dead := t.count-inN, t.bytes-inBytes, t.dead
	s.mu.Unlock()
	n, _, _, _, err := s.countLive(t, horizon, horizon)
	if err != nil {
		return err
	}
	if n > 0 || dead > 0 {
		if err := s.db.DropRange(t.prefix, horizon); err != nil {
			return fmt.Errorf("hintedhandoff: drop hints of %s: %w", t.name, err)
		}
	}
	s.mu.Lock()
	t.count -= extraCount
	t.bytes -= extraBytes
	s.mu.pending -= extraCount
	s.mu.pendingBytes -= extraBytes
	t.dead = 0
	if len(t.inflight) > 0 {
		t.oldest = t.inflight[0].ms
	}
	s.mu.Unlock()
	s.forgotten.Add(n)
	return nil
}
