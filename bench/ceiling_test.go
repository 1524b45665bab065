package bench

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// ceilingChildEnv makes the test binary run the ceiling server instead of
// the tests: the child process of TestRunCeiling and TestStartCeiling.
const ceilingChildEnv = "KVSTORE_BENCH_CEILING_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(ceilingChildEnv) == "1" {
		os.Exit(CeilingServerMain(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// ceilingCmd returns a command running the ceiling server in a child of
// the test binary.
func ceilingCmd(t *testing.T, args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], args...)
	// GORACE: a race-enabled child would otherwise sleep a second before
	// it exits.
	cmd.Env = append(os.Environ(), ceilingChildEnv+"=1", "GORACE=atexit_sleep_ms=0")
	cmd.Stderr = os.Stderr
	return cmd
}

func TestCeilingHandler(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ServeCeiling(ctx, ln, 7) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("ServeCeiling = %v", err)
		}
	}()
	base := "http://" + ln.Addr().String()
	tests := []struct {
		method, path, body, want string
	}{
		{"PUT", "/kv/0001", "value", ""},
		{"PUT", "/?key=1&value=2", "", ""},
		{"GET", "/kv/0001", "", "vvvvvvv"},
		{"GET", "/?key=1", "", "vvvvvvv"},
		{"GET", "/kv?start=1&end=2&limit=3", "", `{"next":"","repair":false}` + "\n"},
		{"GET", "/range?start=1&end=2", "", "[]"},
	}
	for _, tc := range tests {
		req, err := http.NewRequest(tc.method, base+tc.path, strings.NewReader(tc.body))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(got) != tc.want {
			t.Errorf("%s %s: %d %q, want 200 %q", tc.method, tc.path, resp.StatusCode, got, tc.want)
		}
	}

	// Every workload runs against it without errors.
	for _, wl := range Workloads() {
		for _, api := range []string{APINative, APIOriginal} {
			cfg := LoadConfig{Targets: []string{base}, Workload: wl, API: api, Records: 50, Load: LoadPhaseOn, Ops: 100, Concurrency: 2}
			rep, err := RunLoad(context.Background(), cfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Run.Errors != 0 || rep.Run.Ops != 100 {
				t.Errorf("workload %s, %s API: %d ops, %d errors %v", wl, api, rep.Run.Ops, rep.Run.Errors, rep.Run.FirstErrors)
			}
		}
	}
}

func TestStartCeiling(t *testing.T) {
	p, err := StartCeiling(context.Background(), ceilingCmd(t, "-value-size", "3"))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get("http://" + p.Addr + "/kv/1")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "vvv" {
		t.Errorf("GET: %q, want vvv", body)
	}
	if p.CPU() != 0 {
		t.Errorf("CPU before Close = %v, want 0", p.CPU())
	}
	if err := p.Close(); err != nil {
		t.Errorf("Close = %v", err)
	}
	if err := p.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
	if p.CPU() <= 0 {
		t.Errorf("CPU after Close = %v, want > 0", p.CPU())
	}
	if _, err := http.Get("http://" + p.Addr + "/kv/1"); err == nil {
		t.Error("the server still answers after Close")
	}
}

func TestStartCeilingFailures(t *testing.T) {
	tests := []struct {
		name string
		cmd  *exec.Cmd
	}{
		{"bad flag", ceilingCmd(t, "-no-such-flag")},
		{"no such program", exec.Command("/nonexistent/kvstore")},
		{"no address", exec.Command("true")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.cmd.Stderr = io.Discard
			if _, err := exec.LookPath(tc.cmd.Path); err != nil && tc.name == "no address" {
				t.Skip("no true(1) here")
			}
			p, err := StartCeiling(context.Background(), tc.cmd)
			if !errors.Is(err, ErrCeilingStart) {
				t.Errorf("StartCeiling = %v, %v; want ErrCeilingStart", p, err)
			}
		})
	}
}

func TestRunCeiling(t *testing.T) {
	var out bytes.Buffer
	cfg := LoadConfig{Workload: "write", Duration: 200 * time.Millisecond, Concurrency: 4, ValueSize: 50}
	res, err := RunCeiling(context.Background(), cfg, ceilingCmd(t), &out)
	if err != nil {
		t.Fatal(err)
	}
	if res.Name != "ceiling" || res.Ops == 0 || res.Errors != 0 {
		t.Fatalf("ceiling: %q, %d ops, %d errors %v", res.Name, res.Ops, res.Errors, res.FirstErrors)
	}
	if res.ServerCPUPercent <= 0 {
		t.Errorf("server CPU %v%%, want > 0", res.ServerCPUPercent)
	}
	if !strings.Contains(out.String(), "ceiling: workload write") || !strings.Contains(out.String(), "ceiling server: cpu") {
		t.Errorf("output:\n%s", out.String())
	}

	// Side by side with a run against a node.
	_, srv := newFakeNode(t)
	cfg.Targets = []string{srv.URL}
	rep, err := RunLoad(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	rep.SetCeiling(res)
	if rep.CeilingRatio <= 0 {
		t.Errorf("ratio %v", rep.CeilingRatio)
	}
	if s := FormatCeiling(rep); !strings.Contains(s, "ratio") {
		t.Errorf("FormatCeiling = %q", s)
	}

	if _, err := RunCeiling(context.Background(), LoadConfig{Workload: "zz"}, ceilingCmd(t), nil); !errors.Is(err, ErrUnknownWorkload) {
		t.Errorf("RunCeiling with a bad workload = %v", err)
	}
}
