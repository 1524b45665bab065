package main

import (
	"bytes"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"kvstore/bench"
	"kvstore/node"
)

func TestHasFlag(t *testing.T) {
	tests := []struct {
		args []string
		want bool
	}{
		{nil, false},
		{[]string{"-engine", "-num", "10"}, false},
		{[]string{"-targets", "http://a:1"}, true},
		{[]string{"--targets=http://a:1", "-workload", "a"}, true},
		{[]string{"-workload", "write", "-ceiling"}, true},
		{[]string{"-ceiling=true"}, true},
		{[]string{"--", "-targets"}, false},
		{[]string{"-targetsx"}, false},
	}
	for _, tt := range tests {
		if got := hasFlag(tt.args, "targets", "ceiling"); got != tt.want {
			t.Errorf("hasFlag(%q, targets, ceiling) = %v, want %v", tt.args, got, tt.want)
		}
	}
}

// TestBenchLoadAgainstNodeHandler drives the node's real HTTP handler
// (over an in-memory API) with every workload and both APIs.
func TestBenchLoadAgainstNodeHandler(t *testing.T) {
	api := &cliAPI{data: map[string]string{}}
	srv := httptest.NewServer(node.NewHTTPHandler(api, node.HTTPConfig{}))
	defer srv.Close()
	for _, wl := range bench.Workloads() {
		for _, apiName := range []string{bench.APINative, bench.APIOriginal} {
			t.Run(wl+"/"+apiName, func(t *testing.T) {
				jsonPath := filepath.Join(t.TempDir(), "out.json")
				args := []string{"-targets", srv.URL, "-workload", wl, "-api", apiName, "-records", "50",
					"-ops", "100", "-concurrency", "2", "-max-scan", "5", "-progress", "0", "-json", jsonPath}
				if apiName == bench.APINative {
					args = append(args, "-r", "quorum", "-w", "quorum")
				}
				var stdout, stderr bytes.Buffer
				if code := runBenchLoad(args, &stdout, &stderr); code != 0 {
					t.Fatalf("exit %d; stderr %s", code, stderr.String())
				}
				f, err := os.Open(jsonPath)
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				rep, err := bench.ReadLoadJSON(f)
				if err != nil {
					t.Fatal(err)
				}
				if rep.Run == nil || rep.Run.Ops != 100 || rep.Run.Errors != 0 || rep.Run.All.NotFound != 0 {
					t.Fatalf("run %+v\nstdout:\n%s", rep.Run, stdout.String())
				}
				for _, o := range rep.Run.Operations {
					if o.Op == "scan" && o.Records < o.Count {
						t.Errorf("%d scans returned %d records, want at least one each", o.Count, o.Records)
					}
				}
				if !strings.Contains(stdout.String(), "run: workload "+wl) {
					t.Errorf("stdout lacks the table:\n%s", stdout.String())
				}
			})
		}
	}
}

func TestBenchLoadErrorsAndUsage(t *testing.T) {
	api := &cliAPI{data: map[string]string{}}
	srv := httptest.NewServer(node.NewHTTPHandler(api, node.HTTPConfig{}))
	defer srv.Close()

	// The in-memory API refuses w=all with 503.
	var stdout, stderr bytes.Buffer
	code := runBenchLoad([]string{"-targets", srv.URL, "-workload", "write", "-ops", "20", "-w", "all",
		"-concurrency", "2", "-progress", "0"}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d; stderr %s", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), "5xx 20") {
		t.Errorf("stdout does not count the 503s:\n%s", stdout.String())
	}

	for _, args := range [][]string{
		{"-workload", "a"}, // neither -targets nor -ceiling
		{"-targets", srv.URL, "-workload", "z"},
		{"-targets", "ftp://x"},
		{"-targets", srv.URL, "extra"},
	} {
		var stdout, stderr bytes.Buffer
		if code := runBenchLoad(args, &stdout, &stderr); code != 2 {
			t.Errorf("%q: exit %d, want 2; stderr %s", args, code, stderr.String())
		}
	}
}
