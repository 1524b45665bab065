package bench

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"maps"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeNode serves the native and original HTTP APIs of a node from an
// in-memory map, and counts the requests of each route.
type fakeNode struct {
	mu struct {
		sync.Mutex
		data   map[string][]byte
		routes map[string]int // "GET /kv/", "PUT /kv/", "GET /kv", "GET /", "PUT /", "GET /range"
	}
}

func newFakeNode(t *testing.T) (*fakeNode, *httptest.Server) {
	n := new(fakeNode)
	n.mu.data = make(map[string][]byte)
	n.mu.routes = make(map[string]int)
	srv := httptest.NewServer(n)
	t.Cleanup(srv.Close)
	return n, srv
}

func (n *fakeNode) routes() map[string]int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return maps.Clone(n.mu.routes)
}

func (n *fakeNode) len() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.mu.data)
}

func (n *fakeNode) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	q := r.URL.Query()
	path := r.URL.Path
	route := r.Method + " " + path
	if strings.HasPrefix(path, "/kv/") {
		route = r.Method + " /kv/"
	}
	for _, level := range []string{"r", "w"} {
		if v := q.Get(level); v != "" && !validLevel(v) {
			http.Error(w, "bad level", http.StatusBadRequest)
			return
		}
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.mu.routes[route]++
	switch {
	case r.Method == http.MethodPut && strings.HasPrefix(path, "/kv/"):
		n.mu.data[strings.TrimPrefix(path, "/kv/")] = body
	case r.Method == http.MethodGet && strings.HasPrefix(path, "/kv/"):
		v, ok := n.mu.data[strings.TrimPrefix(path, "/kv/")]
		if !ok {
			http.Error(w, `{"error":"not found"}`, http.StatusNotFound)
			return
		}
		w.Write(v)
	case r.Method == http.MethodPut && path == "/":
		if q.Get("key") == "" {
			http.Error(w, "missing key", http.StatusBadRequest)
			return
		}
		n.mu.data[q.Get("key")] = []byte(q.Get("value"))
	case r.Method == http.MethodGet && path == "/":
		v, ok := n.mu.data[q.Get("key")]
		if !ok {
			http.Error(w, "not found", http.StatusNotFound)
			return
		}
		w.Write(v)
	case r.Method == http.MethodGet && (path == "/kv" || path == "/range"):
		limit := math.MaxInt
		if s := q.Get("limit"); s != "" {
			limit, _ = strconv.Atoi(s)
		}
		var keys []string
		for k := range n.mu.data {
			if k >= q.Get("start") && (q.Get("end") == "" || k <= q.Get("end")) {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		keys = keys[:min(len(keys), limit)]
		if path == "/kv" {
			w.Header().Set("Content-Type", "application/x-ndjson")
			var line []byte
			for _, k := range keys {
				line = append(line[:0], `{"key":"`...)
				line = base64.StdEncoding.AppendEncode(line, []byte(k))
				line = append(line, `","value":"`...)
				line = base64.StdEncoding.AppendEncode(line, n.mu.data[k])
				line = append(line, "\",\"version\":1}\n"...)
				w.Write(line)
			}
			io.WriteString(w, `{"next":"","repair":false}`+"\n")
			return
		}
		type kv struct{ Key, Value string }
		out := []kv{}
		for _, k := range keys {
			out = append(out, kv{k, string(n.mu.data[k])})
		}
		json.NewEncoder(w).Encode(out)
	default:
		http.Error(w, "no such route "+route, http.StatusNotFound)
	}
}

func TestLoadWorkloadMix(t *testing.T) {
	const (
		ops     = 1000
		records = 200
	)
	tests := []struct {
		workload string
		api      string
		// want is the expected share of each operation.
		want map[string]float64
		// requests returns the expected request counts of each route
		// from the operation counts.
		requests func(c map[string]int64) map[string]int64
	}{
		{"a", APINative, map[string]float64{"read": 0.5, "update": 0.5},
			func(c map[string]int64) map[string]int64 {
				return map[string]int64{"GET /kv/": c["read"], "PUT /kv/": c["update"]}
			}},
		{"b", APINative, map[string]float64{"read": 0.95, "update": 0.05},
			func(c map[string]int64) map[string]int64 {
				return map[string]int64{"GET /kv/": c["read"], "PUT /kv/": c["update"]}
			}},
		{"c", APIOriginal, map[string]float64{"read": 1},
			func(c map[string]int64) map[string]int64 { return map[string]int64{"GET /": c["read"]} }},
		{"d", APINative, map[string]float64{"read": 0.95, "insert": 0.05},
			func(c map[string]int64) map[string]int64 {
				return map[string]int64{"GET /kv/": c["read"], "PUT /kv/": c["insert"]}
			}},
		{"e", APINative, map[string]float64{"scan": 0.95, "insert": 0.05},
			func(c map[string]int64) map[string]int64 {
				return map[string]int64{"GET /kv": c["scan"], "PUT /kv/": c["insert"]}
			}},
		{"e", APIOriginal, map[string]float64{"scan": 0.95, "insert": 0.05},
			func(c map[string]int64) map[string]int64 {
				return map[string]int64{"GET /range": c["scan"], "PUT /": c["insert"]}
			}},
		{"f", APINative, map[string]float64{"read": 0.5, "rmw": 0.5},
			func(c map[string]int64) map[string]int64 {
				return map[string]int64{"GET /kv/": c["read"] + c["rmw"], "PUT /kv/": c["rmw"]}
			}},
		{"write", APIOriginal, map[string]float64{"insert": 1},
			func(c map[string]int64) map[string]int64 { return map[string]int64{"PUT /": c["insert"]} }},
	}
	for _, tc := range tests {
		t.Run(tc.workload+"/"+tc.api, func(t *testing.T) {
			node, srv := newFakeNode(t)
			cfg := LoadConfig{
				Targets:     []string{srv.URL},
				Workload:    tc.workload,
				API:         tc.api,
				Records:     records,
				Ops:         ops,
				Concurrency: 4,
				ValueSize:   20,
				Seed:        3,
			}
			if tc.api == APINative {
				cfg.ReadLevel, cfg.WriteLevel = "quorum", "2"
			}
			rep, err := RunLoad(context.Background(), cfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			loaded := lookupWorkload(tc.workload).load
			if (rep.Load != nil) != loaded {
				t.Fatalf("load phase ran: %v, want %v", rep.Load != nil, loaded)
			}
			before := map[string]int{}
			if loaded {
				if rep.Load.Ops != records || rep.Load.Errors != 0 {
					t.Fatalf("load phase: %d ops, %d errors, want %d and 0", rep.Load.Ops, rep.Load.Errors, records)
				}
				before[map[string]string{APINative: "PUT /kv/", APIOriginal: "PUT /"}[tc.api]] = records
			}
			run := rep.Run
			if run.Ops != ops || run.Errors != 0 || run.Retries != 0 {
				t.Fatalf("run: %d ops, %d errors, %d retries; want %d, 0, 0 (%v)", run.Ops, run.Errors, run.Retries, ops, run.FirstErrors)
			}
			counts := map[string]int64{}
			for _, o := range run.Operations {
				counts[o.Op] = o.Count
				if o.NotFound != 0 {
					t.Errorf("%s: %d not found, want 0: reads must target existing records", o.Op, o.NotFound)
				}
				if o.Count > 0 && (o.P50 <= 0 || o.Max < o.P99) {
					t.Errorf("%s: bad latencies p50 %v p99 %v max %v", o.Op, o.P50, o.P99, o.Max)
				}
			}
			for op, share := range tc.want {
				checkFreq(t, op, int(counts[op]), ops, share)
			}
			if len(counts) != len(tc.want) {
				t.Errorf("operations %v, want only %v", counts, tc.want)
			}
			got := node.routes()
			for route, n := range before {
				got[route] -= n
			}
			for route, n := range tc.requests(counts) {
				if int64(got[route]) != n {
					t.Errorf("%d requests %q, want %d (all: %v)", got[route], route, n, got)
				}
			}
			if s, ok := counts["scan"]; ok {
				var records int64
				for _, o := range run.Operations {
					if o.Op == "scan" {
						records = o.Records
					}
				}
				// Scans of 1..100 records over 200 or more.
				if avg := float64(records) / float64(s); avg < 20 || avg > 80 {
					t.Errorf("%.1f records per scan, want about 50", avg)
				}
			}
			if counts["insert"] > 0 {
				wantLen := records + int(counts["insert"])
				if !loaded {
					wantLen = int(counts["insert"])
				}
				if got := node.len(); got != wantLen {
					t.Errorf("node holds %d records, want %d: inserts must write new keys", got, wantLen)
				}
			}
		})
	}
}

func TestLoadSpreadsTargets(t *testing.T) {
	var nodes []*fakeNode
	var targets []string
	for range 3 {
		n, srv := newFakeNode(t)
		nodes = append(nodes, n)
		targets = append(targets, srv.URL)
	}
	cfg := LoadConfig{Targets: targets, Workload: "write", Ops: 300, Concurrency: 2, ValueSize: 10}
	if _, err := RunLoad(context.Background(), cfg, nil); err != nil {
		t.Fatal(err)
	}
	for i, n := range nodes {
		if got := n.len(); got < 90 || got > 110 {
			t.Errorf("target %d got %d writes, want about 100", i, got)
		}
	}
}

func TestLoadDuration(t *testing.T) {
	_, srv := newFakeNode(t)
	var out bytes.Buffer
	cfg := LoadConfig{
		Targets:     []string{srv.URL},
		Workload:    "b",
		Records:     100,
		Duration:    200 * time.Millisecond,
		Concurrency: 2,
		Progress:    50 * time.Millisecond,
	}
	start := time.Now()
	rep, err := RunLoad(context.Background(), cfg, &out)
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("RunLoad took %v for a 200ms run", d)
	}
	r := rep.Run
	if r.Ops == 0 || r.Elapsed < 200*time.Millisecond {
		t.Fatalf("run: %d ops in %v", r.Ops, r.Elapsed)
	}
	if len(r.Intervals) < 2 {
		t.Errorf("%d progress intervals, want about 4", len(r.Intervals))
	}
	text := out.String()
	for _, want := range []string{"run   :", "ops/s", "p99", "op ", "read ", "update ", "all ", "generator: cpu"} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	if r.NumCPU < 1 || r.CPUUser+r.CPUSys <= 0 {
		t.Errorf("cpu %v + %v on %d CPUs, want some", r.CPUUser, r.CPUSys, r.NumCPU)
	}
}

func TestLoadCancel(t *testing.T) {
	_, srv := newFakeNode(t)
	ctx, cancel := context.WithCancel(context.Background())
	cfg := LoadConfig{Targets: []string{srv.URL}, Workload: "write", Duration: time.Hour, Concurrency: 2}
	done := make(chan error, 1)
	go func() {
		_, err := RunLoad(ctx, cfg, nil)
		done <- err
	}()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("RunLoad = %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("RunLoad did not stop after cancel")
	}
}

func TestLoadOpenLoopHoldsRate(t *testing.T) {
	var mu sync.Mutex
	var arrivals []time.Time
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		mu.Lock()
		arrivals = append(arrivals, time.Now())
		mu.Unlock()
	}))
	defer srv.Close()
	const rate = 500.0
	cfg := LoadConfig{
		Targets:     []string{srv.URL},
		Workload:    "write",
		Duration:    400 * time.Millisecond,
		Rate:        rate,
		Concurrency: 4,
	}
	start := time.Now()
	rep, err := RunLoad(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := rep.Run
	const due = 200 // in 400ms at 500 ops/s
	if r.Ops < due/2 || r.Ops > due {
		t.Errorf("%d ops in 400ms at %v ops/s, want about %d and never more", r.Ops, rate, due)
	}
	if r.Ops+r.Errors+r.Missed != due {
		t.Errorf("%d ops + %d errors + %d missed, want %d due", r.Ops, r.Errors, r.Missed, due)
	}
	// Never ahead of schedule: the k-th request arrives after k/rate.
	mu.Lock()
	defer mu.Unlock()
	slices.SortFunc(arrivals, func(a, b time.Time) int { return a.Compare(b) })
	for k, at := range arrivals {
		due := start.Add(time.Duration(float64(k) / rate * 1e9))
		if at.Before(due) {
			t.Fatalf("request %d arrived %v before it was due", k, due.Sub(at))
		}
	}
}

func TestLoadOpenLoopMeasuresFromDueTime(t *testing.T) {
	// One worker, a handler that takes 10ms, 500 ops/s due: a backlog
	// builds up, and each operation's latency includes its wait for the
	// worker, not only the 10ms of service.
	const service = 10 * time.Millisecond
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		time.Sleep(service) // the service time of the simulated node
	}))
	defer srv.Close()
	cfg := LoadConfig{
		Targets:     []string{srv.URL},
		Workload:    "write",
		Duration:    300 * time.Millisecond,
		Rate:        500,
		Concurrency: 1,
	}
	rep, err := RunLoad(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	open := rep.Run
	if open.Ops < 5 {
		t.Fatalf("only %d ops", open.Ops)
	}
	// Operation k is due at 2k ms and starts at about 10k ms.
	if open.All.P50 < 5*service || open.All.Max < 10*service {
		t.Errorf("open loop: p50 %v, max %v: latency must include the queueing behind the %v service time",
			open.All.P50, open.All.Max, service)
	}
	if open.Missed == 0 {
		t.Errorf("open loop: no missed operations, want the backlog counted")
	}

	cfg.Rate = 0
	rep, err = RunLoad(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	closed := rep.Run
	if closed.All.P50 < service || closed.All.P50 > open.All.P50/2 {
		t.Errorf("closed loop: p50 %v, want about %v, far below the open loop's %v", closed.All.P50, service, open.All.P50)
	}
	if closed.Missed != 0 {
		t.Errorf("closed loop: %d missed", closed.Missed)
	}
}

// freeAddr returns a loopback address where nothing listens.
func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestLoadErrorKinds(t *testing.T) {
	status := func(code int) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			w.WriteHeader(code)
			io.WriteString(w, `{"error":"quorum not reached","acks":1,"required":2}`)
		})
	}
	block := make(chan struct{})
	defer close(block)
	tests := []struct {
		name     string
		handler  http.Handler // nil: a target that refuses connections
		workload string
		timeout  time.Duration
		kind     string
		api      string
	}{
		{name: "503", handler: status(http.StatusServiceUnavailable), workload: "write", kind: "5xx"},
		{name: "500", handler: status(http.StatusInternalServerError), workload: "c", kind: "5xx"},
		{name: "400", handler: status(http.StatusBadRequest), workload: "write", kind: "4xx"},
		{name: "413", handler: status(http.StatusRequestEntityTooLarge), workload: "write", kind: "4xx"},
		{name: "404 on write", handler: status(http.StatusNotFound), workload: "write", kind: "4xx"},
		{name: "404 on scan", handler: status(http.StatusNotFound), workload: "e", kind: "4xx"},
		{name: "refused", workload: "write", kind: "refused"},
		{name: "timeout", workload: "c", timeout: 30 * time.Millisecond, kind: "timeout",
			handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				select {
				case <-block:
				case <-r.Context().Done():
				}
			})},
		{name: "reset", workload: "write", kind: "other",
			handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				panic(http.ErrAbortHandler) // closes the connection without an answer
			})},
		{name: "truncated scan", workload: "e", kind: "other",
			handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, `{"key":"MDE=","value":"","version":1}`+"\n") // no last line
			})},
		{name: "failed scan", workload: "e", kind: "other",
			handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, `{"key":"MDE=","value":"","version":1}`+"\n"+`{"error":"node: timeout","next":"MDE"}`+"\n")
			})},
		{name: "truncated original scan", workload: "e", kind: "other", api: APIOriginal,
			handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, `[{"Key":"01","Value":""}`)
			})},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var target string
			if tc.handler == nil {
				target = freeAddr(t)
			} else {
				srv := httptest.NewServer(tc.handler)
				defer srv.Close()
				target = srv.URL
			}
			cfg := LoadConfig{
				Targets:     []string{target},
				Workload:    tc.workload,
				API:         tc.api,
				Records:     10,
				Load:        LoadPhaseOff,
				Ops:         20,
				Concurrency: 2,
				Timeout:     tc.timeout,
			}
			rep, err := RunLoad(context.Background(), cfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			r := rep.Run
			if r.Errors != 20 || r.ErrorsByKind[tc.kind] != 20 || r.Ops != 0 {
				t.Fatalf("errors %d %v, ops %d; want 20 of kind %s, no ops (%v)", r.Errors, r.ErrorsByKind, r.Ops, tc.kind, r.FirstErrors)
			}
			if r.FirstErrors[tc.kind] == "" {
				t.Errorf("no example of %s errors: %v", tc.kind, r.FirstErrors)
			}
			if len(r.ErrorsByKind) != len(ErrorKinds()) {
				t.Errorf("ErrorsByKind %v lacks kinds of %v", r.ErrorsByKind, ErrorKinds())
			}
			if !strings.Contains(FormatLoadResult(r), tc.kind+" 20") {
				t.Errorf("table does not show %s errors:\n%s", tc.kind, FormatLoadResult(r))
			}
		})
	}
}

func TestLoadNotFoundIsNoError(t *testing.T) {
	// Reads of records never loaded answer 404: completed, counted as
	// not found.
	_, srv := newFakeNode(t)
	cfg := LoadConfig{Targets: []string{srv.URL}, Workload: "c", Records: 50, Load: LoadPhaseOff, Ops: 40, Concurrency: 2}
	rep, err := RunLoad(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := rep.Run
	if r.Errors != 0 || r.Ops != 40 || r.All.NotFound != 40 {
		t.Fatalf("ops %d, errors %d, not found %d; want 40, 0, 40", r.Ops, r.Errors, r.All.NotFound)
	}
	if !strings.Contains(FormatLoadResult(r), "read: 40 of 40 found no key") {
		t.Errorf("table does not show the misses:\n%s", FormatLoadResult(r))
	}
}

func TestLoadRetriesRefusedOnAnotherTarget(t *testing.T) {
	node, srv := newFakeNode(t)
	cfg := LoadConfig{
		Targets:     []string{freeAddr(t), srv.URL},
		Workload:    "write",
		Ops:         50,
		Concurrency: 2,
	}
	rep, err := RunLoad(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := rep.Run
	if r.Errors != 0 || r.Ops != 50 {
		t.Fatalf("ops %d, errors %d %v; want 50 and none", r.Ops, r.Errors, r.FirstErrors)
	}
	// Each worker retries once, then avoids the dead target.
	if r.Retries < 1 || r.Retries > 4 {
		t.Errorf("%d retries, want 1 or 2 per worker", r.Retries)
	}
	if node.len() != 50 {
		t.Errorf("the live target got %d writes, want 50", node.len())
	}
}

func TestLoadJSONRoundTrip(t *testing.T) {
	_, srv := newFakeNode(t)
	cfg := LoadConfig{Targets: []string{srv.URL}, Workload: "a", Records: 50, Ops: 100, Concurrency: 2, Progress: time.Millisecond}
	rep, err := RunLoad(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	rep.SetCeiling(&LoadResult{Name: "ceiling", OpsPerSec: 2 * rep.Run.OpsPerSec, ErrorsByKind: map[string]int64{}})
	if math.Abs(rep.CeilingRatio-0.5) > 1e-9 {
		t.Errorf("CeilingRatio = %v, want 0.5", rep.CeilingRatio)
	}
	var buf bytes.Buffer
	if err := WriteLoadJSON(&buf, rep); err != nil {
		t.Fatal(err)
	}
	got, err := ReadLoadJSON(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	a, _ := json.Marshal(rep)
	b, _ := json.Marshal(got)
	if !bytes.Equal(a, b) {
		t.Errorf("round trip changed the report:\n%s\n%s", a, b)
	}
	// The documented field names.
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(buf.Bytes(), &raw); err != nil {
		t.Fatal(err)
	}
	var run map[string]any
	if err := json.Unmarshal(raw["run"], &run); err != nil {
		t.Fatal(err)
	}
	for _, field := range []string{"ops_per_sec", "errors_by_kind", "operations", "cpu_percent", "peak_rss_bytes", "all"} {
		if _, ok := run[field]; !ok {
			t.Errorf("run lacks %q", field)
		}
	}
	if _, err := ReadLoadJSON(strings.NewReader("{")); err == nil {
		t.Error("ReadLoadJSON accepted a truncated document")
	}
}

func TestLoadConfigValidate(t *testing.T) {
	ok := LoadConfig{Targets: []string{"127.0.0.1:1"}}
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	tests := []struct {
		name string
		edit func(c *LoadConfig)
		want error
	}{
		{"no targets", func(c *LoadConfig) { c.Targets = nil }, ErrInvalidConfig},
		{"bad target", func(c *LoadConfig) { c.Targets = []string{"ftp://x"} }, ErrInvalidConfig},
		{"target path", func(c *LoadConfig) { c.Targets = []string{"http://x:1/kv"} }, ErrInvalidConfig},
		{"workload", func(c *LoadConfig) { c.Workload = "g" }, ErrUnknownWorkload},
		{"api", func(c *LoadConfig) { c.API = "grpc" }, ErrInvalidConfig},
		{"records", func(c *LoadConfig) { c.Records = -1 }, ErrInvalidConfig},
		{"key size", func(c *LoadConfig) { c.KeySize, c.Records = 3, 1000 }, ErrInvalidConfig},
		{"value size", func(c *LoadConfig) { c.ValueSize = -1 }, ErrInvalidConfig},
		{"distribution", func(c *LoadConfig) { c.Distribution = "pareto" }, ErrInvalidConfig},
		{"duration", func(c *LoadConfig) { c.Duration = -1 }, ErrInvalidConfig},
		{"ops", func(c *LoadConfig) { c.Ops = -1 }, ErrInvalidConfig},
		{"rate", func(c *LoadConfig) { c.Rate = math.Inf(1) }, ErrInvalidConfig},
		{"concurrency", func(c *LoadConfig) { c.Concurrency = -1 }, ErrInvalidConfig},
		{"level", func(c *LoadConfig) { c.ReadLevel = "most" }, ErrInvalidConfig},
		{"level zero", func(c *LoadConfig) { c.WriteLevel = "0" }, ErrInvalidConfig},
		{"level original", func(c *LoadConfig) { c.API, c.WriteLevel = APIOriginal, "one" }, ErrInvalidConfig},
		{"progress", func(c *LoadConfig) { c.Progress = -1 }, ErrInvalidConfig},
		{"timeout", func(c *LoadConfig) { c.Timeout = -1 }, ErrInvalidConfig},
		{"scan", func(c *LoadConfig) { c.MaxScanLength = -1 }, ErrInvalidConfig},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			c.Targets = slices.Clone(ok.Targets)
			tc.edit(&c)
			if err := c.Validate(); !errors.Is(err, tc.want) {
				t.Errorf("Validate = %v, want %v", err, tc.want)
			}
			if _, err := RunLoad(context.Background(), c, nil); !errors.Is(err, tc.want) {
				t.Errorf("RunLoad = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestLoadFlags(t *testing.T) {
	tests := []struct {
		args []string
		want func(c LoadConfig) bool
	}{
		{nil, func(c LoadConfig) bool {
			c.EnsureDefaults()
			return c.Workload == "a" && c.API == APINative && c.Records == 100_000 && c.Load == LoadPhaseAuto &&
				c.loadPhaseOn() && c.Distribution == DistZipfian && c.ValueSize == 100 && c.Progress == 5*time.Second
		}},
		{[]string{"-workload", "d"}, func(c LoadConfig) bool { c.EnsureDefaults(); return c.Distribution == DistLatest }},
		{[]string{"-workload", "write"}, func(c LoadConfig) bool { return !c.loadPhaseOn() }},
		{[]string{"-workload", "write", "-load"}, func(c LoadConfig) bool { return c.loadPhaseOn() }},
		{[]string{"-load=false"}, func(c LoadConfig) bool { return !c.loadPhaseOn() }},
		{[]string{"-targets", "http://a:1, b:2,"}, func(c LoadConfig) bool {
			return slices.Equal(c.Targets, []string{"http://a:1", "b:2"})
		}},
		{[]string{"-workload", "e", "-distribution", "uniform", "-rate", "100", "-ops", "5", "-r", "one", "-w", "all",
			"-concurrency", "64", "-seed", "9", "-max-scan", "10", "-progress", "0", "-api", "original"},
			func(c LoadConfig) bool {
				return c.Distribution == DistUniform && c.Rate == 100 && c.Ops == 5 && c.ReadLevel == "one" &&
					c.WriteLevel == "all" && c.Concurrency == 64 && c.Seed == 9 && c.MaxScanLength == 10 &&
					c.Progress == 0 && c.API == APIOriginal
			}},
	}
	for _, tc := range tests {
		fs := flag.NewFlagSet("bench", flag.ContinueOnError)
		cfg := LoadFlags(fs)
		if err := fs.Parse(tc.args); err != nil {
			t.Fatalf("%q: %v", tc.args, err)
		}
		if !tc.want(*cfg) {
			t.Errorf("%q: got %+v", tc.args, *cfg)
		}
	}
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	LoadFlags(fs)
	if err := fs.Parse([]string{"-targets", "ftp://x"}); err == nil {
		t.Error("-targets accepted ftp://x")
	}
}

func TestAppendQueryEscape(t *testing.T) {
	for _, s := range []string{"", "abc-_.~09", "a b+c&d=e%f/g?h", "\x00\xff\"'<>"} {
		got := string(appendQueryEscape(nil, []byte(s)))
		if want := url.QueryEscape(s); got != want {
			t.Errorf("appendQueryEscape(%q) = %q, want %q", s, got, want)
		}
	}
}

func TestReadBodyCountsRecords(t *testing.T) {
	// Records split across reads of any size.
	w := &loadWorker{buf: make([]byte, 3)}
	var nd bytes.Buffer
	for i := range 7 {
		line, _ := json.Marshal(map[string]any{"key": []byte("k" + strconv.Itoa(i)), "value": []byte("v"), "version": i})
		nd.Write(append(line, '\n'))
	}
	nd.WriteString(`{"next":"","repair":true}` + "\n")
	if n, err := w.readBody(bytes.NewReader(nd.Bytes()), scanNDJSON); n != 7 || err != nil {
		t.Errorf("NDJSON: %d records, %v; want 7, nil", n, err)
	}
	arr := `[{"Key":"a{\"Key\":","Value":"{\"Key\":"},{"Key":"b","Value":""}]` + "\n"
	if n, err := w.readBody(strings.NewReader(arr), scanJSON); n != 2 || err != nil {
		t.Errorf("JSON: %d records, %v; want 2, nil", n, err)
	}
	if n, err := w.readBody(strings.NewReader("[]"), scanJSON); n != 0 || err != nil {
		t.Errorf("empty JSON: %d records, %v; want 0, nil", n, err)
	}
	if _, err := w.readBody(strings.NewReader(""), scanNDJSON); !errors.Is(err, errScanIncomplete) {
		t.Errorf("empty NDJSON: %v, want errScanIncomplete", err)
	}
	b64 := base64.StdEncoding.EncodeToString([]byte("x"))
	if _, err := w.readBody(strings.NewReader(`{"key":"`+b64+`"}`+"\n"+`{"error":"x","next":""}`+"\n"), scanNDJSON); !errors.Is(err, errScanIncomplete) {
		t.Errorf("failed NDJSON: %v, want errScanIncomplete", err)
	}
}
