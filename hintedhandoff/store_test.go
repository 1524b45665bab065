package hintedhandoff

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"kvstore/storage"
)

func TestAddReplayOrder(t *testing.T) {
	clk := newManualClock()
	cfg := testConfig(clk)
	cfg.ReplayBatch = 7
	s := openT(t, t.TempDir(), cfg, fastOpts)
	var want []Record
	for i := 0; i < 10; i++ {
		rs := recs("k", i*5, 5)
		if i%3 == 0 {
			rs[0].Tombstone, rs[0].Value = true, nil
		}
		addT(t, s, "n1", rs)
		want = append(want, rs...)
		if i%2 == 0 {
			clk.Advance(time.Millisecond)
		}
	}
	st := targetStats(t, s, "n1")
	if st.Count != 50 || !st.Oldest.Equal(clk.Now().Add(-5*time.Millisecond)) {
		t.Fatalf("Targets: %+v", st)
	}
	var r recorder
	sent, err := s.Replay(context.Background(), "n1", &r)
	if err != nil || sent != 50 {
		t.Fatalf("Replay = %d, %v", sent, err)
	}
	var got []Record
	for _, b := range r.batches {
		if len(b) > 7 {
			t.Fatalf("batch of %d records, ReplayBatch 7", len(b))
		}
		got = append(got, b...)
	}
	if len(got) != len(want) {
		t.Fatalf("got %d records, want %d", len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if string(g.Key) != string(w.Key) || string(g.Value) != string(w.Value) || g.Version != w.Version || g.Tombstone != w.Tombstone {
			t.Fatalf("record %d: got %+v, want %+v", i, g, w)
		}
	}
	if ts := s.Targets(); len(ts) != 0 {
		t.Fatalf("Targets after replay: %+v", ts)
	}
	if st := s.Stats(); st.Pending != 0 || st.PendingBytes != 0 || st.Added != 50 || st.Replayed != 50 || st.Targets != 0 {
		t.Fatalf("Stats: %+v", st)
	}
	// The acknowledged prefix was range-dropped: nothing, not even
	// tombstones, is left.
	if n := storedEntries(t, s, "n1"); n != 0 {
		t.Fatalf("%d records left in the DB", n)
	}
}

func TestDurability(t *testing.T) {
	dir := t.TempDir()
	clk := newManualClock()
	cfg := testConfig(clk)
	cfg.ReplayBatch = 10
	s, err := Open(dir, cfg, storage.Options{}) // default sync: durable Add
	if err != nil {
		t.Fatal(err)
	}
	addT(t, s, "a", recs("a", 0, 30))
	clk.Advance(time.Second)
	addT(t, s, "b", recs("b", 0, 5))
	// Replay part of a: the first two batches are acknowledged.
	r := recorder{failOn: 3}
	if sent, err := s.Replay(context.Background(), "a", &r); sent != 20 || !errors.Is(err, errSend) {
		t.Fatalf("Replay = %d, %v", sent, err)
	}
	// Counters of what happened since Open start again; the pending
	// hints are rebuilt.
	pending := func(ts []TargetStats) []TargetStats {
		for i := range ts {
			ts[i] = TargetStats{Name: ts[i].Name, Count: ts[i].Count, Bytes: ts[i].Bytes, Oldest: ts[i].Oldest.UTC()}
		}
		return ts
	}
	before, beforeStats := pending(s.Targets()), s.Stats()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}

	clk.Advance(-time.Hour) // the clock going back must not reorder hints
	s = openT(t, dir, cfg, storage.Options{})
	after := pending(s.Targets())
	if !slices.Equal(before, after) {
		t.Fatalf("Targets after reopen:\n got %+v\nwant %+v", after, before)
	}
	if st := s.Stats(); st.Pending != beforeStats.Pending || st.PendingBytes != beforeStats.PendingBytes {
		t.Fatalf("Stats after reopen %+v, before %+v", st, beforeStats)
	}
	addT(t, s, "a", recs("a", 30, 5))
	var r2 recorder
	if sent, err := s.Replay(context.Background(), "a", &r2); sent != 15 || err != nil {
		t.Fatalf("Replay after reopen = %d, %v", sent, err)
	}
	if got, want := r2.keys(), keysOf(recs("a", 20, 15)); !slices.Equal(got, want) {
		t.Fatalf("replayed after reopen %v, want %v", got, want)
	}
}

func TestSequenceUniqueAcrossRestarts(t *testing.T) {
	dir := t.TempDir()
	clk := newManualClock()
	cfg := testConfig(clk)
	var all []string
	for round := 0; round < 3; round++ {
		s, err := Open(dir, cfg, fastOpts)
		if err != nil {
			t.Fatal(err)
		}
		rs := recs(fmt.Sprint("r", round), 0, 3)
		addT(t, s, "n", rs)
		all = append(all, keysOf(rs)...)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	s := openT(t, dir, cfg, fastOpts)
	if st := targetStats(t, s, "n"); st.Count != 9 {
		t.Fatalf("count %d, want 9", st.Count)
	}
	var r recorder
	if _, err := s.Replay(context.Background(), "n", &r); err != nil {
		t.Fatal(err)
	}
	if got := r.keys(); !slices.Equal(got, all) {
		t.Fatalf("replayed %v, want %v", got, all)
	}
}

func TestMaxBytes(t *testing.T) {
	clk := newManualClock()
	cfg := testConfig(clk)
	one := int64(1 + len("n1") + 16 + len("k-000000") + valueHeaderLen + len("vk-000000"))
	cfg.MaxBytes = 10 * one
	s := openT(t, t.TempDir(), cfg, fastOpts)
	addT(t, s, "n1", recs("k", 0, 8))
	// A batch that only partly fits is refused whole.
	err := s.Add("n1", recs("k", 8, 3))
	if !errors.Is(err, ErrFull) {
		t.Fatalf("Add over MaxBytes = %v, want ErrFull", err)
	}
	st := s.Stats()
	if st.Dropped != 3 || st.Pending != 8 || st.PendingBytes != 8*one || st.Added != 8 {
		t.Fatalf("Stats: %+v", st)
	}
	addT(t, s, "n1", recs("k", 8, 2)) // exactly full
	if err := s.Add("n2", recs("x", 0, 1)); !errors.Is(err, ErrFull) {
		t.Fatalf("Add to another target = %v, want ErrFull (the bound is global)", err)
	}
	var r recorder
	if _, err := s.Replay(context.Background(), "n1", &r); err != nil {
		t.Fatal(err)
	}
	if got, want := r.keys(), keysOf(recs("k", 0, 10)); !slices.Equal(got, want) {
		t.Fatalf("replayed %v, want %v", got, want)
	}
	addT(t, s, "n1", recs("k", 20, 10)) // room again
	if st := s.Stats(); st.Dropped != 4 || st.PendingBytes != 10*one {
		t.Fatalf("Stats: %+v", st)
	}
}

func TestExpire(t *testing.T) {
	clk := newManualClock()
	cfg := testConfig(clk)
	cfg.MaxAge = 3 * time.Hour
	s := openT(t, t.TempDir(), cfg, fastOpts)
	t0 := clk.Now()
	addT(t, s, "a", recs("old", 0, 4))
	addT(t, s, "b", recs("old", 0, 2))
	clk.Advance(2 * time.Hour)
	addT(t, s, "a", recs("new", 0, 3))

	clk.Advance(time.Hour) // the first hints are exactly MaxAge old: kept
	if n, err := s.Expire(); n != 0 || err != nil {
		t.Fatalf("Expire at MaxAge = %d, %v", n, err)
	}
	clk.Advance(time.Millisecond)
	if n, err := s.Expire(); n != 6 || err != nil {
		t.Fatalf("Expire = %d, %v; want 6", n, err)
	}
	if got := targetStats(t, s, "a"); got.Count != 3 || !got.Oldest.Equal(t0.Add(2*time.Hour)) || got.Expired != 4 {
		t.Fatalf("a after Expire: %+v", got)
	}
	if got := targetStats(t, s, "b"); got.Count != 0 {
		t.Fatalf("b after Expire: %+v", got)
	}
	if st := s.Stats(); st.Expired != 6 || st.Pending != 3 || st.Targets != 1 {
		t.Fatalf("Stats: %+v", st)
	}
	// Replay drops what expires before it gets there instead of sending it.
	clk.Advance(2 * time.Hour)
	addT(t, s, "a", recs("newer", 0, 2))
	var r recorder
	sent, err := s.Replay(context.Background(), "a", &r)
	if err != nil || sent != 2 {
		t.Fatalf("Replay = %d, %v", sent, err)
	}
	if got, want := r.keys(), keysOf(recs("newer", 0, 2)); !slices.Equal(got, want) {
		t.Fatalf("replayed %v, want %v", got, want)
	}
	if st := s.Stats(); st.Expired != 9 || st.Pending != 0 || st.Replayed != 2 {
		t.Fatalf("Stats: %+v", st)
	}
}

func TestReplayStopsAtFailedBatch(t *testing.T) {
	clk := newManualClock()
	cfg := testConfig(clk)
	cfg.ReplayBatch = 4
	s := openT(t, t.TempDir(), cfg, fastOpts)
	all := recs("k", 0, 40)
	for i := 0; i < len(all); i += 5 {
		addT(t, s, "n", all[i:i+5])
	}
	r := recorder{failOn: 3}
	sent, err := s.Replay(context.Background(), "n", &r)
	if sent != 8 || !errors.Is(err, errSend) {
		t.Fatalf("Replay = %d, %v; want 8 and the send error", sent, err)
	}
	if !strings.Contains(err.Error(), "hintedhandoff:") {
		t.Fatalf("error %q lacks context", err)
	}
	st := targetStats(t, s, "n")
	if st.Count != 32 || st.Replayed != 8 {
		t.Fatalf("after failure: %+v", st)
	}
	if s.Stats().SendErrors != 1 {
		t.Fatalf("SendErrors = %d", s.Stats().SendErrors)
	}
	var r2 recorder
	sent, err = s.Replay(context.Background(), "n", &r2)
	if sent != 32 || err != nil {
		t.Fatalf("retry = %d, %v", sent, err)
	}
	got := append(r.keys(), r2.keys()...)
	if want := keysOf(all); !slices.Equal(got, want) {
		t.Fatalf("sent %v\nwant each once, in order: %v", got, want)
	}
	if st := s.Stats(); st.Pending != 0 || st.Replayed != 40 {
		t.Fatalf("Stats: %+v", st)
	}
}

func TestReplayBatchBytes(t *testing.T) {
	clk := newManualClock()
	cfg := testConfig(clk)
	cfg.ReplayBatchBytes = 1000
	s := openT(t, t.TempDir(), cfg, fastOpts)
	big := Record{Key: []byte("big"), Value: make([]byte, 5000), Version: 1}
	addT(t, s, "n", append(recs("k", 0, 20), big, Record{Key: []byte("z"), Value: []byte("z")}))
	var r recorder
	if _, err := s.Replay(context.Background(), "n", &r); err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, b := range r.batches {
		size := 0
		for _, rec := range b {
			size += 1 + len("n") + 16 + len(rec.Key) + valueLen(&rec)
		}
		if len(b) > 1 && size > cfg.ReplayBatchBytes {
			t.Fatalf("batch of %d records and %d bytes over ReplayBatchBytes", len(b), size)
		}
		total += len(b)
	}
	if total != 22 {
		t.Fatalf("sent %d records, want 22", total)
	}
}

func TestPacerDelay(t *testing.T) {
	t0 := time.Unix(1000, 0)
	p := pacer{rate: 100}
	steps := []struct {
		at   time.Duration // since t0
		n    int
		want time.Duration
	}{
		{0, 10, 0},                      // first batch goes at once
		{0, 10, 100 * time.Millisecond}, // 10 records at 100/s book 100ms
		{100 * time.Millisecond, 50, 100 * time.Millisecond},
		{time.Second, 10, 0},                      // late: nothing saved up...
		{time.Second, 10, 100 * time.Millisecond}, // ...so the next waits again
		{1150 * time.Millisecond, 1, 50 * time.Millisecond},
	}
	for i, st := range steps {
		if got := p.delay(t0.Add(st.at), st.n); got != st.want {
			t.Fatalf("step %d: delay %v, want %v", i, got, st.want)
		}
	}
}

func TestReplayPacingManualClock(t *testing.T) {
	clk := newManualClock()
	cfg := testConfig(clk)
	cfg.ReplayRate = 1000
	cfg.ReplayBatch = 100
	s := openT(t, t.TempDir(), cfg, fastOpts)
	addT(t, s, "n", recs("k", 0, 1000))
	start := clk.Now()
	sentAt := 0
	send := SenderFunc(func(ctx context.Context, target string, rs []Record) error {
		elapsed := clk.Now().Sub(start)
		// Never ahead of the rate by more than the batch being sent.
		if limit := int(elapsed.Seconds()*1000) + len(rs); sentAt+len(rs) > limit {
			t.Errorf("at %v: %d records sent, limit %d", elapsed, sentAt+len(rs), limit)
		}
		sentAt += len(rs)
		return nil
	})
	if sent, err := s.Replay(context.Background(), "n", send); sent != 1000 || err != nil {
		t.Fatalf("Replay = %d, %v", sent, err)
	}
	// Ten batches: the first goes at once, each other waits 100ms.
	if clk.slept != 900*time.Millisecond {
		t.Fatalf("slept %v, want 900ms", clk.slept)
	}
}

func TestReplayPacingRealTime(t *testing.T) {
	cfg := DefaultConfig()
	cfg.ReplayRate = 2000
	cfg.ReplayBatch = 50
	s := openT(t, t.TempDir(), cfg, fastOpts)
	addT(t, s, "n", recs("k", 0, 300))
	start := time.Now()
	if sent, err := s.Replay(context.Background(), "n", &recorder{}); sent != 300 || err != nil {
		t.Fatalf("Replay = %d, %v", sent, err)
	}
	// 300 records at 2000/s: the last batch may go after (300-50)/2000 s.
	elapsed := time.Since(start)
	if min := 125 * time.Millisecond; elapsed < min {
		t.Fatalf("replay took %v, pacing wants at least %v", elapsed, min)
	}
	if elapsed > 5*time.Second {
		t.Fatalf("replay took %v, far over the pace", elapsed)
	}
}

func TestConcurrentAddDuringReplay(t *testing.T) {
	clk := newManualClock()
	cfg := testConfig(clk)
	cfg.ReplayBatch = 16
	s := openT(t, t.TempDir(), cfg, fastOpts)

	var (
		mu   sync.Mutex // guards seen
		seen = map[string]int{}
	)
	send := SenderFunc(func(ctx context.Context, target string, rs []Record) error {
		mu.Lock()
		for _, r := range rs {
			seen[string(r.Key)]++
		}
		mu.Unlock()
		return nil
	})
	const writers, perWriter = 4, 300
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < perWriter; i += 3 {
				if err := s.Add("n", recs(fmt.Sprint("w", w), i, 3)); err != nil {
					t.Error(err)
					return
				}
				if i%30 == 0 {
					clk.Advance(time.Millisecond)
				}
			}
		}()
	}
	stop := make(chan struct{})
	replays := make(chan error, 1)
	go func() {
		for {
			select {
			case <-stop:
				replays <- nil
				return
			default:
			}
			if _, err := s.Replay(context.Background(), "n", send); err != nil {
				replays <- err
				return
			}
		}
	}()
	wg.Wait()
	close(stop)
	if err := <-replays; err != nil {
		t.Fatal(err)
	}
	if _, err := s.Replay(context.Background(), "n", send); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != writers*perWriter {
		t.Fatalf("%d distinct hints delivered, want %d", len(seen), writers*perWriter)
	}
	for k, n := range seen {
		if n != 1 {
			t.Fatalf("hint %s delivered %d times", k, n)
		}
	}
	if st := s.Stats(); st.Pending != 0 || st.PendingBytes != 0 || st.Replayed != writers*perWriter {
		t.Fatalf("Stats: %+v", st)
	}
}

func TestConcurrentReplaysOfOneTarget(t *testing.T) {
	clk := newManualClock()
	cfg := testConfig(clk)
	cfg.ReplayBatch = 5
	s := openT(t, t.TempDir(), cfg, fastOpts)
	addT(t, s, "n", recs("k", 0, 200))
	var r recorder
	var wg sync.WaitGroup
	total := make([]int, 4)
	for i := range total {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n, err := s.Replay(context.Background(), "n", &r)
			if err != nil {
				t.Error(err)
			}
			total[i] = n
		}()
	}
	wg.Wait()
	sum := 0
	for _, n := range total {
		sum += n
	}
	if got, want := r.keys(), keysOf(recs("k", 0, 200)); sum != 200 || !slices.Equal(got, want) {
		t.Fatalf("sent %d (%d keys); want each of 200 once, in order", sum, len(got))
	}
}

func TestTargetIsolation(t *testing.T) {
	clk := newManualClock()
	cfg := testConfig(clk)
	cfg.ReplayBatch = 3
	s := openT(t, t.TempDir(), cfg, fastOpts)
	// Names chosen so that one target's key range borders another's.
	targets := []string{"a", "ab", "b", "\xff", strings.Repeat("\xff", MaxTargetLen)}
	for i, tg := range targets {
		addT(t, s, tg, recs(fmt.Sprint("t", i), 0, 10+i))
	}
	// A failing replay of one target leaves the others alone.
	if _, err := s.Replay(context.Background(), "ab", &recorder{failOn: 1}); !errors.Is(err, errSend) {
		t.Fatalf("Replay(ab) = %v", err)
	}
	var wg sync.WaitGroup
	got := make([][]string, len(targets))
	for i, tg := range targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var r recorder
			if _, err := s.Replay(context.Background(), tg, &r); err != nil {
				t.Error(err)
			}
			got[i] = r.keys()
		}()
	}
	wg.Wait()
	for i := range targets {
		if want := keysOf(recs(fmt.Sprint("t", i), 0, 10+i)); !slices.Equal(got[i], want) {
			t.Errorf("target %d got %v, want %v", i, got[i], want)
		}
	}
	if st := s.Stats(); st.Pending != 0 {
		t.Fatalf("Stats: %+v", st)
	}
}

func TestDrop(t *testing.T) {
	dir := t.TempDir()
	clk := newManualClock()
	cfg := testConfig(clk)
	s, err := Open(dir, cfg, fastOpts)
	if err != nil {
		t.Fatal(err)
	}
	addT(t, s, "a", recs("a", 0, 10))
	addT(t, s, "b", recs("b", 0, 4))
	if err := s.Drop("a"); err != nil {
		t.Fatal(err)
	}
	if err := s.Drop("unknown"); err != nil {
		t.Fatalf("Drop(unknown) = %v", err)
	}
	if ts := s.Targets(); len(ts) != 1 || ts[0].Name != "b" || ts[0].Count != 4 {
		t.Fatalf("Targets after Drop: %+v", ts)
	}
	if st := s.Stats(); st.Forgotten != 10 || st.Pending != 4 {
		t.Fatalf("Stats: %+v", st)
	}
	if n := storedEntries(t, s, "a"); n != 0 {
		t.Fatalf("%d records of a left", n)
	}
	addT(t, s, "a", recs("a2", 0, 2)) // the target may come back
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openT(t, dir, cfg, fastOpts)
	var r recorder
	if _, err := s.Replay(context.Background(), "a", &r); err != nil {
		t.Fatal(err)
	}
	if got, want := r.keys(), keysOf(recs("a2", 0, 2)); !slices.Equal(got, want) {
		t.Fatalf("a after reopen sent %v, want %v", got, want)
	}
	if st := targetStats(t, s, "b"); st.Count != 4 {
		t.Fatalf("b after reopen: %+v", st)
	}
}

func TestDropInterruptsReplay(t *testing.T) {
	clk := newManualClock()
	cfg := testConfig(clk)
	cfg.ReplayBatch = 2
	s := openT(t, t.TempDir(), cfg, fastOpts)
	addT(t, s, "a", recs("a", 0, 10))
	r := recorder{entered: make(chan struct{}), block: make(chan struct{})}
	done := make(chan error, 1)
	go func() {
		_, err := s.Replay(context.Background(), "a", &r)
		done <- err
	}()
	<-r.entered // the replay is inside a send
	if !targetStats(t, s, "a").Replaying {
		t.Fatal("Targets does not show the replay")
	}
	if err := s.Drop("a"); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, ErrTargetDropped) {
		t.Fatalf("Replay = %v, want ErrTargetDropped", err)
	}
	if st := s.Stats(); st.Pending != 0 || st.Forgotten != 10 || st.SendErrors != 0 {
		t.Fatalf("Stats: %+v", st)
	}
}

func TestReplayContext(t *testing.T) {
	clk := newManualClock()
	cfg := testConfig(clk)
	cfg.ReplayBatch = 2
	s := openT(t, t.TempDir(), cfg, fastOpts)
	addT(t, s, "a", recs("a", 0, 10))
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	send := SenderFunc(func(ctx context.Context, target string, rs []Record) error {
		n++
		if n == 2 {
			cancel()
			return ctx.Err()
		}
		return nil
	})
	sent, err := s.Replay(ctx, "a", send)
	if sent != 2 || !errors.Is(err, context.Canceled) {
		t.Fatalf("Replay = %d, %v; want 2, context.Canceled", sent, err)
	}
	if st := targetStats(t, s, "a"); st.Count != 8 {
		t.Fatalf("after cancel: %+v", st)
	}
	if sent, err := s.Replay(context.Background(), "unknown", send); sent != 0 || err != nil {
		t.Fatalf("Replay(unknown) = %d, %v", sent, err)
	}
}

func TestClose(t *testing.T) {
	clk := newManualClock()
	s, err := Open(t.TempDir(), testConfig(clk), fastOpts)
	if err != nil {
		t.Fatal(err)
	}
	addT(t, s, "a", recs("a", 0, 3))
	r := recorder{entered: make(chan struct{}), block: make(chan struct{})}
	done := make(chan error, 1)
	go func() {
		_, err := s.Replay(context.Background(), "a", &r)
		done <- err
	}()
	<-r.entered
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, ErrClosed) {
		t.Fatalf("Replay interrupted by Close = %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close = %v", err)
	}
	if err := s.Add("a", recs("a", 3, 1)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Add after Close = %v", err)
	}
	if _, err := s.Replay(context.Background(), "a", &r); !errors.Is(err, ErrClosed) {
		t.Fatalf("Replay after Close = %v", err)
	}
	if _, err := s.Expire(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Expire after Close = %v", err)
	}
	if err := s.Drop("a"); !errors.Is(err, ErrClosed) {
		t.Fatalf("Drop after Close = %v", err)
	}
}

func TestInvalidInput(t *testing.T) {
	s := openT(t, t.TempDir(), testConfig(newManualClock()), fastOpts)
	long := strings.Repeat("x", MaxTargetLen+1)
	for _, tg := range []string{"", long} {
		if err := s.Add(tg, recs("k", 0, 1)); !errors.Is(err, ErrInvalidTarget) {
			t.Errorf("Add(%d-byte target) = %v", len(tg), err)
		}
		if _, err := s.Replay(context.Background(), tg, &recorder{}); !errors.Is(err, ErrInvalidTarget) {
			t.Errorf("Replay(%d-byte target) = %v", len(tg), err)
		}
		if err := s.Drop(tg); !errors.Is(err, ErrInvalidTarget) {
			t.Errorf("Drop(%d-byte target) = %v", len(tg), err)
		}
	}
	tests := []struct {
		name string
		rec  Record
	}{
		{"empty key", Record{Value: []byte("v")}},
		{"key too large", Record{Key: make([]byte, storage.MaxKeySize)}},
		{"value too large", Record{Key: []byte("k"), Value: make([]byte, storage.MaxValueSize)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			batch := append(recs("ok", 0, 2), tt.rec)
			if err := s.Add("n", batch); !errors.Is(err, ErrInvalidRecord) {
				t.Fatalf("Add = %v, want ErrInvalidRecord", err)
			}
		})
	}
	if st := s.Stats(); st.Pending != 0 || st.Dropped != 0 {
		t.Fatalf("invalid batches changed the store: %+v", st)
	}
	if err := s.Add("n", nil); err != nil {
		t.Fatalf("Add of no records = %v", err)
	}
}

func TestCorruptHintsAreSkipped(t *testing.T) {
	dir := t.TempDir()
	clk := newManualClock()
	cfg := testConfig(clk)
	s, err := Open(dir, cfg, fastOpts)
	if err != nil {
		t.Fatal(err)
	}
	addT(t, s, "n", recs("k", 0, 3))
	// Plant a hint with a bad checksum and a key no hint can have, as a
	// bug or an outside writer might.
	p := targetPrefix("n")
	bad := appendValue(nil, &Record{Value: []byte("x"), Version: 1})
	bad[len(bad)-1] ^= 1
	if err := s.db.Put(appendKey(nil, p, 0, 0, []byte("bad")), bad, 1); err != nil {
		t.Fatal(err)
	}
	if err := s.db.Put([]byte{0}, []byte("junk"), 1); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openT(t, dir, cfg, fastOpts)
	if st := s.Stats(); st.Corrupt != 1 || st.Pending != 4 {
		t.Fatalf("Stats after reopen: %+v", st)
	}
	var r recorder
	if sent, err := s.Replay(context.Background(), "n", &r); sent != 3 || err != nil {
		t.Fatalf("Replay = %d, %v", sent, err)
	}
	if st := s.Stats(); st.Corrupt != 2 || st.Pending != 0 {
		t.Fatalf("Stats after replay: %+v", st)
	}
}
