package storage

import (
	"runtime"
	"sync"
	"testing"
	"time"

	"kvstore/storage/vfs"
)

// TestGroupCommitWindow runs synced writers beside a stream of records
// arriving all the time for 500 ms (as a busy node's replica writes
// do), and counts the fsyncs: with a window, a leader keeps gathering while
// records arrive, so the whole run takes a handful; without one, the
// writers take one per fsync time (a millisecond here).
func TestGroupCommitWindow(t *testing.T) {
	for _, tc := range []struct {
		name     string
		window   time.Duration
		min, max int64
	}{
		{"window", 250 * time.Millisecond, 1, 8},
		{"no window", -1, 12, 1 << 30},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// A disk whose fsync takes a millisecond.
			slow := vfs.NewErrorFS(vfs.NewMem(), func(kind vfs.OpKind, _ string) error {
				if kind == vfs.OpSync {
					time.Sleep(time.Millisecond)
				}
				return nil
			})
			f, err := slow.Create("wal")
			if err != nil {
				t.Fatal(err)
			}
			w, err := newWALWriter(f, SyncAlways, 0, tc.window)
			if err != nil {
				t.Fatal(err)
			}
			payload := make([]byte, 100)
			stop := time.Now().Add(500 * time.Millisecond)
			var wg sync.WaitGroup
			wg.Go(func() { // the stream: appends without waiting
				var end int64
				for time.Now().Before(stop) {
					var err error
					if end, err = w.append(payload); err != nil {
						t.Error(err)
						return
					}
					runtime.Gosched()
				}
				if err := w.wait(end); err != nil {
					t.Error(err)
				}
			})
			for range 16 {
				wg.Go(func() {
					for time.Now().Before(stop) {
						end, err := w.append(payload)
						if err == nil {
							err = w.wait(end)
						}
						if err != nil {
							t.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			if n := w.syncs.Load(); n < tc.min || n > tc.max {
				t.Errorf("%d fsyncs, want %d to %d", n, tc.min, tc.max)
			}
		})
	}
}

// TestGroupCommitWindowLoneWriter checks that a writer alone never waits
// for the window: a thousand sequential synced writes under a one-second
// window finish well within one.
func TestGroupCommitWindowLoneWriter(t *testing.T) {
	f, err := vfs.NewMem().Create("wal")
	if err != nil {
		t.Fatal(err)
	}
	w, err := newWALWriter(f, SyncAlways, 0, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for range 1000 {
		end, err := w.append(make([]byte, 100))
		if err == nil {
			err = w.wait(end)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Errorf("1000 lone synced writes took %v; a lone writer must not wait for the window", d)
	}
	if n := w.syncs.Load(); n != 1000 {
		t.Errorf("%d fsyncs for 1000 sequential writes, want 1000", n)
	}
}
