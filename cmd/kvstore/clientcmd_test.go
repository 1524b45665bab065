package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"kvstore/node"
	"kvstore/storage"
)

// cliAPI is a minimal in-memory node.API for the client subcommands.
type cliAPI struct {
	mu    sync.Mutex // guards data and clock
	data  map[string]string
	clock uint64
}

func (a *cliAPI) write(key, value []byte, del bool) node.WriteResult {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.clock++
	if del {
		delete(a.data, string(key))
	} else {
		a.data[string(key)] = string(value)
	}
	return node.WriteResult{Key: key, Version: storage.Version(a.clock), Acks: 2, Required: 2}
}

func (a *cliAPI) Put(_ context.Context, key, value []byte, w node.Level) node.WriteResult {
	if w == node.LevelAll {
		return node.WriteResult{Key: key, Acks: 2, Required: 3, Err: fmt.Errorf("%w: 2 of 3", node.ErrUnavailable)}
	}
	return a.write(key, value, false)
}

func (a *cliAPI) ObserveVersion(v storage.Version) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.clock = max(a.clock, uint64(v))
	return nil
}

func (a *cliAPI) Delete(_ context.Context, key []byte, _ node.Level) node.WriteResult {
	return a.write(key, nil, true)
}

func (a *cliAPI) Get(_ context.Context, key []byte, _ node.Level) (node.ReadResult, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	v, ok := a.data[string(key)]
	return node.ReadResult{Found: ok, Value: []byte(v), Version: 1, Replies: 2, Required: 2}, nil
}

func (a *cliAPI) Batch(_ context.Context, muts []node.Mutation, _ node.Level) []node.WriteResult {
	out := make([]node.WriteResult, len(muts))
	for i, m := range muts {
		out[i] = a.write(m.Key, m.Value, m.Delete)
	}
	return out
}

// Range returns at most two records per call, so every range takes pages.
func (a *cliAPI) Range(_ context.Context, req node.RangeRequest) (node.RangePage, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	var keys []string
	for k := range a.data {
		if k >= string(req.Start) && (req.End == nil || k <= string(req.End)) && (req.Cursor == nil || k > string(req.Cursor)) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	var page node.RangePage
	for i, k := range keys {
		if i == min(2, req.Limit) {
			page.Next = []byte(keys[i-1])
			break
		}
		page.Records = append(page.Records, node.KV{Key: []byte(k), Value: []byte(a.data[k]), Version: 1})
	}
	return page, nil
}

func (a *cliAPI) Status() node.Status { return node.Status{Node: "n1", N: 3, R: 2, W: 2} }

func (a *cliAPI) WriteMetrics(node.MetricsWriter) {}

func TestClientCommands(t *testing.T) {
	api := &cliAPI{data: map[string]string{}}
	srv := httptest.NewServer(node.NewHTTPHandler(api, node.HTTPConfig{}))
	defer srv.Close()
	addr := []string{"-addr", srv.URL}

	tests := []struct {
		name   string
		cmd    func(args []string, stdout, stderr *bytes.Buffer) int
		args   []string
		code   int
		stdout string
		stderr string // a substring
	}{
		{"put", cmdOf(runPut), []string{"a", "1"}, 0, "", ""},
		{"put flags after args", cmdOf(runPut), []string{"b", "2", "-w", "quorum"}, 0, "", ""},
		{"put verbose", cmdOf(runPut), []string{"-v", "c", "3"}, 0, "", "of 2 replicas"},
		{"put dash value", cmdOf(runPut), []string{"--", "-d", "-4"}, 0, "", ""},
		{"put binary", cmdOf(runPut), []string{"e\x00/..", "x\ty\xff"}, 0, "", ""},
		{"put quorum missed", cmdOf(runPut), []string{"-w", "all", "f", "5"}, 1, "", "503"},
		{"put bad level", cmdOf(runPut), []string{"-w", "most", "f", "5"}, 1, "", "400"},
		{"put one arg", cmdOf(runPut), []string{"f"}, 2, "", "usage: kvstore put"},
		{"put bad flag", cmdOf(runPut), []string{"-x", "f", "5"}, 2, "", "flag provided but not defined"},
		{"get", cmdOf(runGet), []string{"a", "-r", "one"}, 0, "1\n", ""},
		{"get -n", cmdOf(runGet), []string{"-n", "a"}, 0, "1", ""},
		{"get binary", cmdOf(runGet), []string{"e\x00/.."}, 0, "x\ty\xff\n", ""},
		{"get dash key", cmdOf(runGet), []string{"--", "-d"}, 0, "-4\n", ""},
		{"get missing", cmdOf(runGet), []string{"zz"}, 1, "", `"zz" not found`},
		{"get no args", cmdOf(runGet), nil, 2, "", "usage: kvstore get"},
		{"range all", cmdOf(runRange), []string{"", ""}, 0, "-d\t-4\na\t1\nb\t2\nc\t3\ne\x00/..\tx\ty\xff\n", ""},
		{"range inclusive", cmdOf(runRange), []string{"a", "c"}, 0, "a\t1\nb\t2\nc\t3\n", ""},
		{"range limit", cmdOf(runRange), []string{"-limit", "1", "b", "z"}, 0, "b\t2\nc\t3\ne\x00/..\tx\ty\xff\n", ""},
		{"range empty", cmdOf(runRange), []string{"x", "y"}, 0, "", ""},
		{"range one arg", cmdOf(runRange), []string{"a"}, 2, "", "usage: kvstore range"},
		{"delete", cmdOf(runDelete), []string{"a"}, 0, "", ""},
		{"get deleted", cmdOf(runGet), []string{"a"}, 1, "", "not found"},
		{"delete no args", cmdOf(runDelete), nil, 2, "", "usage"},
		{"status extra arg", cmdOf(runStatus), []string{"x"}, 2, "", "usage"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := tt.cmd(append(slices.Clone(addr), tt.args...), &stdout, &stderr)
			if code != tt.code {
				t.Fatalf("exit %d, want %d; stderr %q", code, tt.code, stderr.String())
			}
			if stdout.String() != tt.stdout {
				t.Errorf("stdout %q, want %q", stdout.String(), tt.stdout)
			}
			if !strings.Contains(stderr.String(), tt.stderr) || tt.stderr == "" && stderr.Len() != 0 {
				t.Errorf("stderr %q, want %q", stderr.String(), tt.stderr)
			}
		})
	}

	t.Run("status", func(t *testing.T) {
		var stdout, stderr bytes.Buffer
		if code := runStatus(addr, &stdout, &stderr); code != 0 {
			t.Fatalf("exit %d: %s", code, stderr.String())
		}
		var st node.Status
		if err := json.Unmarshal(stdout.Bytes(), &st); err != nil || st.Node != "n1" {
			t.Fatalf("status %q: %v", stdout.String(), err)
		}
		if !strings.Contains(stdout.String(), "\n  \"node\": \"n1\",\n") {
			t.Errorf("status is not indented:\n%s", stdout.String())
		}
	})
	t.Run("unreachable", func(t *testing.T) {
		var stdout, stderr bytes.Buffer
		if code := runGet([]string{"-addr", "127.0.0.1:1", "a"}, &stdout, &stderr); code != 1 || stderr.Len() == 0 {
			t.Fatalf("exit %d, stderr %q", code, stderr.String())
		}
	})
	t.Run("bad addr", func(t *testing.T) {
		var stdout, stderr bytes.Buffer
		if code := runStatus([]string{"-addr", "ftp://x"}, &stdout, &stderr); code != 1 {
			t.Fatalf("exit %d, stderr %q", code, stderr.String())
		}
	})
}

// cmdOf adapts a command to buffers.
func cmdOf(run func(args []string, stdout, stderr io.Writer) int) func(args []string, stdout, stderr *bytes.Buffer) int {
	return func(args []string, stdout, stderr *bytes.Buffer) int { return run(args, stdout, stderr) }
}
