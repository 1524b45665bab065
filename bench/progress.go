package bench

import (
	"sync"
	"sync/atomic"
	"time"
)

// IntervalRate is the throughput of one reporting interval of a benchmark.
type IntervalRate struct {
	Ops       int64         `json:"ops"`        // completed ops since the benchmark started, at the end of the interval
	Elapsed   time.Duration `json:"elapsed_ns"` // time since the benchmark started, at the end of the interval
	OpsPerSec float64       `json:"ops_per_sec"`
}

// Progress counts the completed operations of a benchmark run by many
// goroutines and records the rate of each interval of Every operations, so
// that a long run shows how throughput changes over time (for example the
// write rate of every million inserts as compactions kick in).
//
// Add is safe for concurrent use. To keep the shared counter cheap, workers
// should Add in small batches (at most Every operations each); an interval
// then ends within one batch of its nominal boundary. Interval boundaries
// that several batches cross concurrently merge into one longer interval
// rather than produce a bogus rate.
type Progress struct {
	every    int64
	start    time.Time
	onReport func(IntervalRate) // called with mu held, in interval order; may be nil
	done     atomic.Int64

	mu struct {
		sync.Mutex
		lastK     int64     // boundaries reported so far
		lastTime  time.Time // end of the last reported interval
		intervals []IntervalRate
	}
}

// NewProgress returns a tracker that closes an interval every `every`
// operations (every > 0) of a benchmark started at start. onReport, if not
// nil, is called once per interval, in order, from the goroutine whose Add
// closed it; it should return quickly (printing a line is fine).
func NewProgress(every int64, start time.Time, onReport func(IntervalRate)) *Progress {
	p := &Progress{every: max(every, 1), start: start, onReport: onReport}
	p.mu.lastTime = start
	return p
}

// Add records n more completed operations, the last of which completed at
// now.
func (p *Progress) Add(n int64, now time.Time) {
	after := p.done.Add(n)
	k := after / p.every
	if k == (after-n)/p.every {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if k <= p.mu.lastK {
		return // a concurrent Add already reported past this boundary
	}
	dt := now.Sub(p.mu.lastTime)
	if dt <= 0 {
		dt = 1 // concurrent callers may carry slightly older timestamps
	}
	iv := IntervalRate{
		Ops:       k * p.every,
		Elapsed:   now.Sub(p.start),
		OpsPerSec: float64((k-p.mu.lastK)*p.every) / dt.Seconds(),
	}
	if now.After(p.mu.lastTime) {
		p.mu.lastTime = now
	}
	p.mu.lastK = k
	p.mu.intervals = append(p.mu.intervals, iv)
	if p.onReport != nil {
		p.onReport(iv)
	}
}

// Done returns the number of operations added so far.
func (p *Progress) Done() int64 { return p.done.Load() }

// Intervals returns a copy of the intervals closed so far, or nil if none.
func (p *Progress) Intervals() []IntervalRate {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.mu.intervals) == 0 {
		return nil
	}
	return append([]IntervalRate(nil), p.mu.intervals...)
}
