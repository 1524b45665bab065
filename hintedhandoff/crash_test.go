package hintedhandoff

import (
	"context"
	"os"
	"os/exec"
	"slices"
	"testing"

	"kvstore/storage"
)

const crashDirEnv = "HINTEDHANDOFF_CRASH_DIR"

// TestCrashChild is the child of TestCrashDurability: it adds hints,
// replays some, and exits without closing the store.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("run by TestCrashDurability")
	}
	cfg := DefaultConfig()
	cfg.ReplayBatch = 10
	cfg.ReplayRate = 1 << 30
	s, err := Open(dir, cfg, storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 100; i += 10 {
		if err := s.Add("n", recs("k", i, 10)); err != nil {
			t.Fatal(err)
		}
	}
	// Acknowledge three batches, then fail.
	if _, err := s.Replay(context.Background(), "n", &recorder{failOn: 4}); err == nil {
		t.Fatal("replay did not fail")
	}
	os.Exit(0) // crash: no Close, nothing flushed but the WAL
}

// TestCrashDurability checks that hints acknowledged by Add survive a
// process crash, and hints whose replay was acknowledged stay deleted.
func TestCrashDurability(t *testing.T) {
	if testing.Short() {
		t.Skip("re-executes the test binary")
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashDirEnv+"="+dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	cfg := DefaultConfig() // the real clock: the child's hints are fresh
	cfg.ReplayRate = 1 << 30
	s := openT(t, dir, cfg, storage.Options{})
	if st := targetStats(t, s, "n"); st.Count != 70 {
		t.Fatalf("after crash: %+v, want 70 pending", st)
	}
	var r recorder
	if sent, err := s.Replay(context.Background(), "n", &r); sent != 70 || err != nil {
		t.Fatalf("Replay = %d, %v", sent, err)
	}
	if got, want := r.keys(), keysOf(recs("k", 30, 70)); !slices.Equal(got, want) {
		t.Fatalf("replayed %v, want %v", got, want)
	}
}

func TestCloseWithTombstonesLeft(t *testing.T) {
	dir := t.TempDir()
	clk := newManualClock()
	cfg := testConfig(clk)
	cfg.ReplayBatch = 5
	s, err := Open(dir, cfg, fastOpts)
	if err != nil {
		t.Fatal(err)
	}
	addT(t, s, "n", recs("k", 0, 20))
	// Close interrupts the replay inside its second send, after the first
	// batch was acknowledged and deleted; Close skips the range drop.
	calls := 0
	closed := make(chan error, 1)
	send := SenderFunc(func(ctx context.Context, target string, rs []Record) error {
		calls++
		if calls == 2 {
			go func() { closed <- s.Close() }()
			<-ctx.Done()
			return ctx.Err()
		}
		return nil
	})
	if sent, err := s.Replay(context.Background(), "n", send); sent != 5 || err == nil {
		t.Fatalf("Replay = %d, %v", sent, err)
	}
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	s = openT(t, dir, cfg, fastOpts)
	if n := storedEntries(t, s, "n"); n != 20 {
		t.Fatalf("%d records stored, want 15 hints and 5 tombstones", n)
	}
	var r recorder
	if sent, err := s.Replay(context.Background(), "n", &r); sent != 15 || err != nil {
		t.Fatalf("Replay = %d, %v", sent, err)
	}
	if n := storedEntries(t, s, "n"); n != 0 {
		t.Fatalf("%d records left after a full replay", n)
	}
}
