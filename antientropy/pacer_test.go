package antientropy

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"kvstore/storage"
)

func TestPacerHoldsTheRate(t *testing.T) {
	tests := []struct {
		name  string
		rate  int64
		waits []int64
		want  time.Duration // time the fake clock slept in all
	}{
		{"no limit", 0, []int64{1 << 30}, 0},
		{"negative is no limit", -1, []int64{1 << 30}, 0},
		{"within the burst", 1000, []int64{100}, 0},                          // 100 ms worth
		{"one second of bytes", 1000, []int64{1000}, 900 * time.Millisecond}, // less the 100 ms burst
		{"rate over calls", 1000, []int64{500, 500, 500, 500}, 1900 * time.Millisecond},
		{"nothing reported", 1000, []int64{0, -5}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newFakeClock()
			start := clock.Now()
			p := NewPacer(tt.rate, clock)
			for _, n := range tt.waits {
				if err := p.Wait(context.Background(), n); err != nil {
					t.Fatal(err)
				}
			}
			if got := clock.Now().Sub(start); got != tt.want {
				t.Fatalf("slept %v, want %v", got, tt.want)
			}
		})
	}
}

func TestPacerStopsWithItsContext(t *testing.T) {
	p := NewPacer(1, nil) // one byte per second, the real clock
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := p.Wait(ctx, 1000); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait = %v, want the context's error", err)
	}
}

// A tree built through PacedIter is the tree built without it, and the
// build waits for the records' bytes at the pacer's rate.
func TestPacedIterBuildsTheSameTreeAtTheRate(t *testing.T) {
	var recs []Record
	for i := range 1000 {
		recs = append(recs, Record{Key: []byte{byte(i >> 8), byte(i)}, Value: bytes.Repeat([]byte{'v'}, 1022), Version: storage.Version(i + 1)})
	}
	// 1000 records of 1 KiB: 1000 KiB, read at 100 KiB/s.
	clock := newFakeClock()
	start := clock.Now()
	p := NewPacer(100<<10, clock)
	paced, err := BuildTree(DefaultTreeConfig(), PacedIter(context.Background(), &sliceIter{recs: recs}, p))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := BuildTree(DefaultTreeConfig(), &sliceIter{recs: recs})
	if err != nil {
		t.Fatal(err)
	}
	if paced.Root() != plain.Root() || paced.Count() != plain.Count() {
		t.Fatalf("paced tree root %x count %d, plain %x %d", paced.Root(), paced.Count(), plain.Root(), plain.Count())
	}
	// The last chunk (below scanChunk) is read without a wait: at least
	// 1000-64 KiB must have been paid for, less the burst.
	slept := clock.Now().Sub(start)
	if min := (1000-64)*time.Second/100 - byteBurst; slept < min || slept > 10*time.Second {
		t.Fatalf("building slept %v, want between %v and 10s", slept, min)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = BuildTree(DefaultTreeConfig(), PacedIter(ctx, &sliceIter{recs: recs}, NewPacer(100<<10, clock)))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("a build whose context ended returned %v", err)
	}
}
