package main

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"kvstore/bench"
)

// TestBenchScenario builds the binary and runs short crash and rolling
// scenarios on three real nodes: every acknowledged write must read back,
// and the scenario must clean up its processes and data.
func TestBenchScenario(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs clusters of processes")
	}
	bin := buildBinary(t)
	tests := []struct {
		name     string
		args     []string
		restarts int
		phases   int
	}{
		{name: "crash", restarts: 2, phases: 4, args: []string{"-scenario", "crash", "-kills", "2",
			"-duration-per-phase", "2s", "-down", "500ms", "-concurrency", "4", "-keys", "400"}},
		{name: "rolling", restarts: 4, phases: 10, args: []string{"-scenario", "rolling",
			"-duration-per-phase", "1s", "-concurrency", "4", "-keys", "400"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			data := filepath.Join(dir, "data")
			jsonPath := filepath.Join(dir, "report.json")
			args := append([]string{"bench", "-binary", bin, "-data", data, "-json", jsonPath, "-seed", "1"}, tt.args...)
			var stdout, stderr bytes.Buffer
			code := run(args, &stdout, &stderr)
			t.Logf("kvstore %v: exit %d\n%s%s", args, code, stdout.String(), stderr.String())
			f, err := os.Open(jsonPath)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			rep, err := bench.ReadScenarioJSON(f)
			if err != nil {
				t.Fatal(err)
			}
			if code != 0 || !rep.Passed || rep.LostWrites != 0 {
				t.Fatalf("exit %d, passed %v, %d lost writes: %v", code, rep.Passed, rep.LostWrites, rep.Problems)
			}
			if len(rep.Verify) != 2 || rep.Verify[0].Level != "quorum" || rep.Verify[0].Lost != 0 || rep.Verify[0].Keys == 0 {
				t.Fatalf("verify %+v", rep.Verify)
			}
			if len(rep.Restarts) != tt.restarts || len(rep.Phases) != tt.phases || rep.Acknowledged == 0 {
				t.Fatalf("%d restarts, %d phases, %d acknowledged writes; want %d, %d, > 0",
					len(rep.Restarts), len(rep.Phases), rep.Acknowledged, tt.restarts, tt.phases)
			}
			for _, r := range rep.Restarts {
				if r.Ready <= 0 || r.HTTPUp <= 0 || r.Ready < r.HTTPUp {
					t.Errorf("restart %+v: no recovery times", r)
				}
			}
			if rep.Failed > 0 {
				t.Logf("%d failed requests (reported, not judged)", rep.Failed)
			}
			if _, err := os.Stat(data); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("data directory left behind: %v", err)
			}
		})
	}
}
