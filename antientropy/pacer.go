package antientropy

import (
	"context"
	"sync"
	"time"
)

// Pacer holds its users to a byte rate: Wait blocks until the bytes
// reported so far are paid for, allowing a burst of up to 100 ms worth.
// A Pacer is safe for concurrent use; its users share the rate.
type Pacer struct {
	rate  float64 // bytes per second; 0 means no limit
	clock Clock

	mu   sync.Mutex
	next time.Time // when the bytes reported so far are paid for
}

// NewPacer returns a Pacer of bytesPerSecond; zero or negative means no
// limit. A nil clock is the real one.
func NewPacer(bytesPerSecond int64, clock Clock) *Pacer {
	if clock == nil {
		clock = realClock{}
	}
	return &Pacer{rate: float64(max(bytesPerSecond, 0)), clock: clock}
}

// Wait reports n bytes and blocks until the rate allows them, or until ctx
// ends (it then returns ctx.Err()).
func (p *Pacer) Wait(ctx context.Context, n int64) error {
	if p == nil || p.rate == 0 || n <= 0 {
		return nil
	}
	p.mu.Lock()
	now := p.clock.Now()
	if p.next.Before(now) {
		p.next = now
	}
	p.next = p.next.Add(time.Duration(float64(n) / p.rate * float64(time.Second)))
	d := p.next.Add(-byteBurst).Sub(now)
	p.mu.Unlock()
	if d <= 0 {
		return ctx.Err()
	}
	return p.clock.Sleep(ctx, d)
}

// scanChunk is how many bytes a PacedIter reads between waits.
const scanChunk = 64 << 10

// PacedIter returns it with its reads held to p's rate: every record's key
// and value count, and Next waits for p after each scanChunk bytes. When
// ctx ends, Next returns false and Err ctx's error.
func PacedIter(ctx context.Context, it RecordIterator, p *Pacer) RecordIterator {
	if p == nil || p.rate == 0 {
		return it
	}
	return &pacedIter{RecordIterator: it, ctx: ctx, p: p}
}

type pacedIter struct {
	RecordIterator
	ctx     context.Context
	p       *Pacer
	pending int64 // bytes read since the last wait
	err     error
}

func (it *pacedIter) Next() bool {
	if it.err != nil {
		return false
	}
	if it.pending >= scanChunk {
		if err := it.p.Wait(it.ctx, it.pending); err != nil {
			it.err = err
			return false
		}
		it.pending = 0
	}
	if !it.RecordIterator.Next() {
		return false
	}
	it.pending += int64(len(it.Key()) + len(it.Value()))
	return true
}

func (it *pacedIter) Err() error {
	if it.err != nil {
		return it.err
	}
	return it.RecordIterator.Err()
}
