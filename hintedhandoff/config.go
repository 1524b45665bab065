package hintedhandoff

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Config configures a Store. The zero value of a field means its default.
type Config struct {
	// MaxBytes bounds the bytes of pending hints (see the package
	// documentation for how a hint is measured). Add fails with ErrFull
	// rather than go over it. Default 1 GiB.
	MaxBytes int64
	// MaxAge is how long a hint is kept: Expire drops hints enqueued longer
	// ago, and Replay drops them instead of sending them. It must be well
	// under the main store's tombstone grace period. Default 3h.
	MaxAge time.Duration
	// ReplayRate is the most records per second Replay sends to one target,
	// averaged over batches. Default 5000.
	ReplayRate int
	// ReplayBatch is the most records per SendHints call. Default 256.
	ReplayBatch int
	// ReplayBatchBytes is the most bytes of hints per SendHints call,
	// measured as for MaxBytes; a batch always holds at least one record,
	// even a larger one. Default 4 MiB.
	ReplayBatchBytes int
	// Now returns the current time: enqueue times, expiry and pacing use it.
	// Default time.Now.
	Now func() time.Time
	// Sleep waits for d or until ctx ends, returning a non-nil error in the
	// second case; Replay paces itself with it. Tests replace it together
	// with Now. Default a timer.
	Sleep func(ctx context.Context, d time.Duration) error
}

// Defaults of Config; see the field comments.
const (
	DefaultMaxBytes         = 1 << 30
	DefaultMaxAge           = 3 * time.Hour
	DefaultReplayRate       = 5000
	DefaultReplayBatch      = 256
	DefaultReplayBatchBytes = 4 << 20

	maxReplayBatch = 1 << 16
)

// DefaultConfig returns the default configuration.
func DefaultConfig() Config {
	return Config{}.withDefaults()
}

func (c Config) withDefaults() Config {
	if c.MaxBytes == 0 {
		c.MaxBytes = DefaultMaxBytes
	}
	if c.MaxAge == 0 {
		c.MaxAge = DefaultMaxAge
	}
	if c.ReplayRate == 0 {
		c.ReplayRate = DefaultReplayRate
	}
	if c.ReplayBatch == 0 {
		c.ReplayBatch = DefaultReplayBatch
	}
	if c.ReplayBatchBytes == 0 {
		c.ReplayBatchBytes = DefaultReplayBatchBytes
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Sleep == nil {
		c.Sleep = sleep
	}
	return c
}

// Validate reports every problem with c, after defaults are filled in.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	check := func(bad bool, format string, args ...any) {
		if bad {
			errs = append(errs, fmt.Errorf("hintedhandoff: "+format, args...))
		}
	}
	check(c.MaxBytes < 0, "MaxBytes %d is negative", c.MaxBytes)
	check(c.MaxAge < 0, "MaxAge %v is negative", c.MaxAge)
	check(c.MaxAge > 0 && c.MaxAge < time.Millisecond, "MaxAge %v is under the 1ms resolution of enqueue times", c.MaxAge)
	check(c.ReplayRate < 0, "ReplayRate %d is negative", c.ReplayRate)
	check(c.ReplayBatch < 0 || c.ReplayBatch > maxReplayBatch, "ReplayBatch %d out of range [1, %d]", c.ReplayBatch, maxReplayBatch)
	check(c.ReplayBatchBytes < 0, "ReplayBatchBytes %d is negative", c.ReplayBatchBytes)
	return errors.Join(errs...)
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}
