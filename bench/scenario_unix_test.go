//go:build unix

package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// fakeBinary writes a shell script standing in for the kvstore binary: it
// records its process id in DIR/pids and runs body.
func fakeBinary(t *testing.T, body string) (bin, pids string) {
	t.Helper()
	if _, err := os.Stat("/bin/sh"); err != nil {
		t.Skip("needs /bin/sh")
	}
	dir := t.TempDir()
	pids = filepath.Join(dir, "pids")
	bin = filepath.Join(dir, "kvstore")
	script := "#!/bin/sh\necho $$ >> " + pids + "\n" + body + "\n"
	if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return bin, pids
}

// TestRunScenarioNodeFails: a node that exits at once fails the scenario
// with ErrScenarioAction, naming the node and its status, and the data
// directory is kept for inspection.
func TestRunScenarioNodeFails(t *testing.T) {
	bin, _ := fakeBinary(t, "echo cannot start >&2; exit 3")
	cfg := DefaultScenarioConfig()
	cfg.Scenario, cfg.Binary, cfg.DataDir, cfg.ReadyTimeout = ScenarioCrash, bin, t.TempDir(), 10*time.Second
	var out bytes.Buffer
	rep, err := RunScenario(context.Background(), cfg, &out)
	if !errors.Is(err, ErrScenarioAction) || !strings.Contains(err.Error(), "n1 exited (exit status 3)") ||
		!strings.Contains(err.Error(), "cannot start") {
		t.Fatalf("err = %v", err)
	}
	if rep == nil || rep.Passed || !rep.DataKept {
		t.Fatalf("report %+v", rep)
	}
	if _, err := os.Stat(filepath.Join(cfg.DataDir, "n1.log")); err != nil {
		t.Errorf("log not kept: %v", err)
	}
}

// TestRunScenarioInterrupted: when ctx is done while a node runs (here
// while RunScenario waits for it to serve HTTP), every process started is
// killed before RunScenario returns, and the data directory is removed.
func TestRunScenarioInterrupted(t *testing.T) {
	bin, pids := fakeBinary(t, "exec sleep 60")
	cfg := DefaultScenarioConfig()
	cfg.Scenario, cfg.Binary = ScenarioRolling, bin
	cfg.DataDir = filepath.Join(t.TempDir(), "data")
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		// Cancel once the first node runs.
		for ctx.Err() == nil {
			if b, _ := os.ReadFile(pids); bytes.Count(b, []byte("\n")) == 1 {
				cancel()
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	deadline := time.AfterFunc(20*time.Second, cancel)
	defer deadline.Stop()
	_, err := RunScenario(ctx, cfg, io.Discard)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	b, _ := os.ReadFile(pids)
	fields := strings.Fields(string(b))
	if len(fields) != 1 {
		t.Fatalf("pids %q", b)
	}
	for _, f := range fields {
		var pid int
		fmt.Sscan(f, &pid)
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("process %d still exists after RunScenario returned: %v", pid, err)
		}
	}
	if _, err := os.Stat(cfg.DataDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("data directory left: %v", err)
	}
}
