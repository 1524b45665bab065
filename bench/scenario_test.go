package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"kvstore/client"
)

func TestScenarioValue(t *testing.T) {
	tests := []struct {
		name             string
		key, worker      int
		seq              uint64
		size             int
		want             string
		wantLen          int
		wantKey, wantSeq int
	}{
		{name: "header only", key: 42, worker: 3, seq: 7, size: 0,
			want: "k00000042 w0003 s0000000007|", wantLen: 28},
		{name: "padded", key: 0, worker: 0, seq: 1, size: 40,
			want: "k00000000 w0000 s0000000001|............", wantLen: 40},
		{name: "largest fields", key: scenarioMaxKeys - 1, worker: scenarioMaxWorkers - 1, seq: scenarioMaxSeq, size: 28,
			want: "k99999999 w9999 s9999999999|", wantLen: 28},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := encodeScenarioValue([]byte("prefix"), tt.key, tt.worker, tt.seq, tt.size)
			got = got[len("prefix"):]
			if string(got) != tt.want || len(got) != tt.wantLen {
				t.Fatalf("encode = %q (%d bytes), want %q (%d)", got, len(got), tt.want, tt.wantLen)
			}
			v, ok := parseScenarioValue(got)
			if !ok || v != (scenarioValue{key: tt.key, worker: tt.worker, seq: tt.seq}) {
				t.Fatalf("parse = %+v, %v", v, ok)
			}
		})
	}
	for _, bad := range []string{"", "k00000042 w0003 s000000000", "x00000042 w0003 s0000000007|",
		"k0000004a w0003 s0000000007|", "k00000042 w0003 s000000000-|", "k00000042-w0003 s0000000007|"} {
		if v, ok := parseScenarioValue([]byte(bad)); ok {
			t.Errorf("parse(%q) = %+v, want not ok", bad, v)
		}
	}
	if got := string(scenarioKey(nil, 123)); got != "k00000123" {
		t.Errorf("key = %q", got)
	}
}

// FuzzScenarioValue: parsing any bytes never panics, and what parses
// re-encodes to the same header.
func FuzzScenarioValue(f *testing.F) {
	f.Add([]byte("k00000042 w0003 s0000000007|...."))
	f.Add([]byte("k00000042 w0003 s0000000007"))
	f.Add([]byte("k9999999a w0003 s0000000007|"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		v, ok := parseScenarioValue(b)
		if !ok {
			return
		}
		enc := encodeScenarioValue(nil, v.key, v.worker, v.seq, 0)
		if !bytes.Equal(enc, b[:scenarioValueHeader]) {
			t.Fatalf("re-encoded %q, read %q", enc, b[:scenarioValueHeader])
		}
	})
}

func TestJudgeRead(t *testing.T) {
	val := func(key, worker int, seq uint64) []byte { return encodeScenarioValue(nil, key, worker, seq, 50) }
	tests := []struct {
		name           string
		acked, attempt uint64
		found          bool
		value          []byte
		want           readVerdict
		wantSeq        uint64
	}{
		{name: "absent, never acknowledged", acked: 0, attempt: 2, want: readOK},
		{name: "absent after an acknowledged write", acked: 1, attempt: 2, want: readMissing},
		{name: "the acknowledged value", acked: 3, attempt: 3, found: true, value: val(7, 3, 3), want: readOK, wantSeq: 3},
		{name: "a later write in flight", acked: 3, attempt: 4, found: true, value: val(7, 3, 4), want: readOK, wantSeq: 4},
		{name: "an unacknowledged write before any ack", acked: 0, attempt: 1, found: true, value: val(7, 3, 1), want: readOK, wantSeq: 1},
		{name: "older than acknowledged", acked: 3, attempt: 4, found: true, value: val(7, 3, 2), want: readOlder, wantSeq: 2},
		{name: "never sent", acked: 3, attempt: 4, found: true, value: val(7, 3, 5), want: readCorrupt, wantSeq: 5},
		{name: "another key's value", acked: 3, attempt: 4, found: true, value: val(8, 3, 3), want: readCorrupt, wantSeq: 3},
		{name: "another writer", acked: 3, attempt: 4, found: true, value: val(7, 2, 3), want: readCorrupt, wantSeq: 3},
		{name: "sequence zero", acked: 0, attempt: 4, found: true, value: val(7, 3, 0), want: readCorrupt},
		{name: "garbage", acked: 3, attempt: 4, found: true, value: []byte("hello"), want: readCorrupt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, seq := judgeRead(7, 3, tt.acked, tt.attempt, tt.found, tt.value)
			if got != tt.want || seq != tt.wantSeq {
				t.Fatalf("judgeRead = %v, %d; want %v, %d", got, seq, tt.want, tt.wantSeq)
			}
		})
	}
}

func TestLedger(t *testing.T) {
	l := newLedger(10, 4)
	if w := l.writer(9); w != 1 {
		t.Fatalf("writer(9) = %d, want 1", w)
	}
	steps := []struct {
		op            string // "next" or "ack"
		seq, version  uint64
		wantAttempted uint64
		wantAcked     uint64
		wantVersion   uint64
	}{
		{op: "next", seq: 1, wantAttempted: 1},
		{op: "next", seq: 2, wantAttempted: 2},
		{op: "ack", seq: 2, version: 200, wantAttempted: 2, wantAcked: 2, wantVersion: 200},
		{op: "ack", seq: 1, version: 100, wantAttempted: 2, wantAcked: 2, wantVersion: 200}, // late, lower: ignored
		{op: "next", seq: 3, wantAttempted: 3, wantAcked: 2, wantVersion: 200},
		{op: "ack", seq: 3, version: 300, wantAttempted: 3, wantAcked: 3, wantVersion: 300},
	}
	for i, s := range steps {
		switch s.op {
		case "next":
			if got := l.next(5); got != s.seq {
				t.Fatalf("step %d: next = %d, want %d", i, got, s.seq)
			}
		case "ack":
			l.ack(5, s.seq, s.version)
		}
		acked, version := l.acked(5)
		if a := l.attempted(5); a != s.wantAttempted || acked != s.wantAcked || version != s.wantVersion {
			t.Fatalf("step %d: attempted %d acked %d version %d; want %d %d %d", i, a, acked, version,
				s.wantAttempted, s.wantAcked, s.wantVersion)
		}
	}
	if a, _ := l.acked(4); a != 0 || l.attempted(4) != 0 {
		t.Fatal("an untouched key has a sequence number")
	}
}

// TestLedgerConcurrent: readers never see an acknowledged sequence number
// go backwards, nor above the attempted one (run with -race).
func TestLedgerConcurrent(t *testing.T) {
	const keys, workers, writes = 8, 4, 2000
	l := newLedger(keys, workers)
	var wg sync.WaitGroup
	var stop atomic.Bool
	for w := range workers {
		wg.Go(func() {
			for i := range writes {
				k := w + workers*(i%(keys/workers))
				seq := l.next(k)
				l.ack(k, seq, seq*10)
			}
		})
	}
	errs := make(chan error, 1)
	var readers sync.WaitGroup
	readers.Go(func() {
		last := make([]uint64, keys)
		for !stop.Load() {
			for k := range keys {
				acked, _ := l.acked(k)
				if acked < last[k] || acked > l.attempted(k) {
					select {
					case errs <- fmt.Errorf("key %d: acked %d after %d, attempted %d", k, acked, last[k], l.attempted(k)):
					default:
					}
				}
				last[k] = acked
			}
		}
	})
	wg.Wait()
	stop.Store(true)
	readers.Wait()
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
	for k := range keys {
		if a, v := l.acked(k); a != writes/(keys/workers) || v != a*10 {
			t.Errorf("key %d: acked %d version %d", k, a, v)
		}
	}
}

func TestPhaseStats(t *testing.T) {
	ps := newPhaseStats("restart n1", 3)
	start := time.Now()
	ps.start = start.Add(2 * time.Second)
	ps.setEnd(ps.start.Add(4 * time.Second))
	ps.setAction("SIGTERM", time.Second)
	type op struct {
		worker, op int
		r          scenarioResponse
		lat        time.Duration
	}
	ops := []op{
		{0, scOpWrite, scenarioResponse{node: "n1"}, 2 * time.Millisecond},
		{1, scOpWrite, scenarioResponse{node: "n2", retries: 1}, 4 * time.Millisecond},
		{2, scOpWrite, scenarioResponse{node: "n2", kind: err5xx, status: 503}, time.Second},
		{3, scOpWrite, scenarioResponse{node: "*", kind: errRefused, retries: 2}, time.Second},
		{4, scOpRead, scenarioResponse{node: "n3", status: 200, verdict: readOK}, time.Millisecond},
		{5, scOpRead, scenarioResponse{node: "n3", status: 404, verdict: readMissing}, time.Millisecond},
		{0, scOpRead, scenarioResponse{node: "n1", status: 200, verdict: readOlder}, time.Millisecond},
		{1, scOpRead, scenarioResponse{node: "n1", status: 200, verdict: readCorrupt}, time.Millisecond},
		{2, scOpRead, scenarioResponse{node: "n2", kind: errTimeout}, 10 * time.Second},
	}
	for i, o := range ops {
		var sample any
		if o.r.kind != errNone {
			sample = ScenarioError{At: time.Duration(len(ops)-i) * time.Millisecond, Node: o.r.node, Kind: errKindNames[o.r.kind]}
		} else if o.r.verdict != readOK {
			sample = ScenarioStaleRead{At: time.Duration(i) * time.Millisecond, Verdict: o.r.verdict.String()}
		}
		ps.record(o.worker, o.op, &o.r, o.lat, sample)
	}
	got := ps.result(start)
	check := func(name string, got, want any) {
		t.Helper()
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	check("Start", got.Start, 2*time.Second)
	check("Elapsed", got.Elapsed, 4*time.Second)
	check("Action", got.Action+" "+got.ActionElapsed.String(), "SIGTERM 1s")
	check("Ops", got.Ops, 6)
	check("OpsPerSec", got.OpsPerSec, 1.5)
	check("Writes.Count", got.Writes.Count, 2)
	check("Writes.Errors", got.Writes.Errors, 2)
	check("Reads.Count", got.Reads.Count, 4)
	check("Reads.Errors", got.Reads.Errors, 1)
	check("Reads.NotFound", got.Reads.NotFound, 1)
	check("Errors", got.Errors, 3)
	check("ErrorsByKind", got.ErrorsByKind, map[string]int64{"timeout": 1, "refused": 1, "5xx": 1, "4xx": 0, "other": 0})
	check("ErrorsByNode", got.ErrorsByNode, map[string]int64{"*": 1, "n2": 2})
	check("Retries", got.Retries, 3)
	check("StaleReads", got.StaleReads, 2)
	check("CorruptReads", got.CorruptReads, 1)
	check("Writes.Max", got.Writes.Max, 4*time.Millisecond)
	check("All.Count", got.All.Count, 6)
	if len(got.ErrorSamples) != 3 || got.ErrorSamples[0].At > got.ErrorSamples[1].At || got.ErrorSamples[1].At > got.ErrorSamples[2].At {
		t.Errorf("error samples not in time order: %+v", got.ErrorSamples)
	}
	if len(got.StaleSamples) != 3 {
		t.Errorf("stale samples: %+v", got.StaleSamples)
	}

	// Samples are capped per phase.
	many := newPhaseStats("x", 2)
	for i := range 3 * scenarioPhaseSamples {
		r := scenarioResponse{kind: err5xx, node: "n1"}
		many.record(i, scOpWrite, &r, 0, ScenarioError{At: time.Duration(i)})
	}
	if res := many.result(time.Now()); len(res.ErrorSamples) != scenarioPhaseSamples || res.Errors != 3*scenarioPhaseSamples {
		t.Errorf("%d samples of %d errors, want %d of %d", len(res.ErrorSamples), res.Errors, scenarioPhaseSamples, 3*scenarioPhaseSamples)
	}
}

func TestClusterReady(t *testing.T) {
	st := func(members ...string) *client.Status {
		s := new(client.Status)
		for _, m := range members {
			f := strings.Split(m, "/")
			s.Members = append(s.Members, client.Member{Name: f[0], State: f[1], Ring: f[2]})
			if f[2] == "active" || f[2] == "leaving" {
				s.RingSize++
			}
		}
		return s
	}
	behind := st("n1/alive/active", "n2/alive/active", "n3/alive/active")
	behind.RingSize = 2
	ready := st("n1/alive/active", "n2/alive/active", "n3/alive/active")
	tests := []struct {
		name     string
		expected []string
		views    map[string]*client.Status
		want     bool
		why      string
	}{
		{name: "ready", expected: []string{"n1", "n2", "n3"},
			views: map[string]*client.Status{"n1": ready, "n2": ready, "n3": ready}, want: true},
		{name: "a node without status", expected: []string{"n1", "n2", "n3"},
			views: map[string]*client.Status{"n1": ready, "n2": ready}, why: "n3: no status"},
		{name: "joining", expected: []string{"n1", "n2", "n3"},
			views: map[string]*client.Status{"n1": ready, "n2": st("n1/alive/active", "n2/alive/active", "n3/alive/joining"), "n3": ready},
			why:   "n2 sees n3 joining in the ring, alive"},
		{name: "suspect", expected: []string{"n1", "n2", "n3"},
			views: map[string]*client.Status{"n1": st("n1/alive/active", "n2/suspect/active", "n3/alive/active"), "n2": ready, "n3": ready},
			why:   "n1 sees n2 active in the ring, suspect"},
		{name: "table behind the ledger", expected: []string{"n1", "n2", "n3"},
			views: map[string]*client.Status{"n1": ready, "n2": behind, "n3": ready},
			why:   "n2 places keys with a ring of 2 members"},
		{name: "unseen", expected: []string{"n1", "n2", "n3"},
			views: map[string]*client.Status{"n1": ready, "n2": ready, "n3": st("n1/alive/active", "n3/alive/active")},
			why:   "n3 does not see n2"},
		{name: "a left node still in the ring", expected: []string{"n1", "n2"},
			views: map[string]*client.Status{"n1": ready, "n2": ready}, why: "n1 still has n3 in the ring (active, alive)"},
		{name: "a left node out of the ring", expected: []string{"n1", "n2"},
			views: map[string]*client.Status{
				"n1": st("n1/alive/active", "n2/alive/active", "n3/left/left"),
				"n2": st("n1/alive/active", "n2/alive/active", "n3/dead/left")}, want: true},
		{name: "a left node leaving", expected: []string{"n1", "n2"},
			views: map[string]*client.Status{
				"n1": st("n1/alive/active", "n2/alive/active", "n3/alive/leaving"),
				"n2": st("n1/alive/active", "n2/alive/active")}, why: "n1 still has n3 in the ring (leaving, alive)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, why := clusterReady(tt.expected, tt.views)
			if got != tt.want || why != tt.why {
				t.Fatalf("clusterReady = %v, %q; want %v, %q", got, why, tt.want, tt.why)
			}
		})
	}
}

func TestPlanScenario(t *testing.T) {
	for seed := range int64(20) {
		c := DefaultScenarioConfig()
		c.Scenario, c.Nodes, c.Seed = ScenarioRolling, 3+int(seed%3), seed
		c.EnsureDefaults()
		plan := planScenario(&c, rand.New(rand.NewPCG(uint64(seed), 1)))
		var kinds []stepKind
		left := map[int]bool{}
		for _, st := range plan {
			kinds = append(kinds, st.kind)
			switch st.kind {
			case stepLeave:
				if st.node >= c.Nodes || left[st.node] {
					t.Fatalf("seed %d: leave of node %d (%d original, left %v)", seed, st.node, c.Nodes, left)
				}
				left[st.node] = true
			case stepKill:
				if left[st.node] || st.node >= c.Nodes+2 || st.down != c.Down {
					t.Fatalf("seed %d: kill of node %d down %v (left %v)", seed, st.node, st.down, left)
				}
			}
		}
		want := fmt.Sprint(append(append([]stepKind{stepNone}, repeat(stepRestart, c.Nodes)...),
			stepJoin, stepJoin, stepLeave, stepLeave, stepKill, stepNone))
		if fmt.Sprint(kinds) != want {
			t.Fatalf("seed %d: kinds %v, want %v", seed, kinds, want)
		}
		if plan[1].name != "restart n1" || plan[c.Nodes+1].name != fmt.Sprintf("join n%d", c.Nodes+1) {
			t.Fatalf("seed %d: names %q, %q", seed, plan[1].name, plan[c.Nodes+1].name)
		}

		c.Scenario, c.Kills = ScenarioCrash, 7
		plan = planScenario(&c, rand.New(rand.NewPCG(uint64(seed), 1)))
		if len(plan) != c.Kills+2 || plan[0].name != "warm-up" || plan[len(plan)-1].name != "quiet" {
			t.Fatalf("seed %d: crash plan %+v", seed, plan)
		}
		for _, st := range plan[1 : len(plan)-1] {
			d := c.PhaseDuration
			if st.kind != stepKill || st.node >= c.Nodes || st.delay < d/10 || st.delay > d/10+d/2 || st.down < 0 || st.down > c.Down {
				t.Fatalf("seed %d: crash step %+v", seed, st)
			}
		}
	}
}

func repeat[T any](v T, n int) []T {
	s := make([]T, n)
	for i := range s {
		s[i] = v
	}
	return s
}

func TestScenarioConfigValidate(t *testing.T) {
	ok := func() ScenarioConfig {
		c := DefaultScenarioConfig()
		c.Scenario, c.Binary = ScenarioCrash, "/bin/kvstore"
		return c
	}
	tests := []struct {
		name   string
		modify func(*ScenarioConfig)
		want   []error
	}{
		{name: "defaults", modify: func(*ScenarioConfig) {}},
		{name: "unknown scenario", modify: func(c *ScenarioConfig) { c.Scenario = "chaos" }, want: []error{ErrUnknownScenario}},
		{name: "no binary", modify: func(c *ScenarioConfig) { c.Binary = "" }, want: []error{ErrInvalidConfig}},
		{name: "two nodes", modify: func(c *ScenarioConfig) { c.Nodes = 2 }, want: []error{ErrInvalidConfig}},
		{name: "fewer keys than workers", modify: func(c *ScenarioConfig) { c.Keys, c.Concurrency = 4, 8 }, want: []error{ErrInvalidConfig}},
		{name: "short values", modify: func(c *ScenarioConfig) { c.ValueSize = 10 }, want: []error{ErrInvalidConfig}},
		{name: "reads over 1", modify: func(c *ScenarioConfig) { c.Reads = 1.5 }, want: []error{ErrInvalidConfig}},
		{name: "negative reads: none", modify: func(c *ScenarioConfig) { c.Reads = -1 }},
		{name: "ports out of range", modify: func(c *ScenarioConfig) { c.BasePort = 65530 }, want: []error{ErrInvalidConfig}},
		{name: "several problems", modify: func(c *ScenarioConfig) { c.Scenario, c.Kills = "", -1 },
			want: []error{ErrUnknownScenario, ErrInvalidConfig}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ok()
			tt.modify(&c)
			err := c.Validate()
			if (err == nil) != (len(tt.want) == 0) {
				t.Fatalf("Validate = %v, want %v", err, tt.want)
			}
			for _, w := range tt.want {
				if !errors.Is(err, w) {
					t.Errorf("Validate = %v, want it to wrap %v", err, w)
				}
			}
		})
	}
	c := ScenarioConfig{Scenario: ScenarioRolling}
	c.EnsureDefaults()
	if c.Reads != 0.5 || c.readFraction() != 0.5 {
		t.Errorf("rolling reads default %v", c.Reads)
	}
	c = ScenarioConfig{Scenario: ScenarioCrash}
	c.EnsureDefaults()
	if c.readFraction() != 0 {
		t.Errorf("crash reads default %v", c.Reads)
	}
	c = ScenarioConfig{Scenario: ScenarioRolling, Reads: -1}
	c.EnsureDefaults()
	if c.readFraction() != 0 {
		t.Errorf("negative reads: %v", c.readFraction())
	}
}

// kvServer is an in-memory node for the worker tests: it stores PUT
// /kv/{key} and answers GET, or answers every request with fail when set.
type kvServer struct {
	mu   sync.Mutex // guards data and fail
	data map[string][]byte
	fail int // status to answer with, 0: none
	hits int
}

func (s *kvServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hits++
	if s.fail != 0 {
		w.WriteHeader(s.fail)
		fmt.Fprintf(w, `{"error":"node: unavailable: 1 of 2 replicas acknowledged","acks":1,"required":2}`)
		return
	}
	key := strings.TrimPrefix(r.URL.Path, "/kv/")
	switch r.Method {
	case http.MethodPut:
		b, _ := io.ReadAll(r.Body)
		s.data[key] = b
		w.Header().Set(headerVersion, "12345")
	case http.MethodGet:
		v, ok := s.data[key]
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		w.Write(v)
	}
}

func TestScenarioWorker(t *testing.T) {
	kv := &kvServer{data: map[string][]byte{}}
	srv := httptest.NewServer(kv)
	defer srv.Close()
	dead := httptest.NewServer(http.NotFoundHandler())
	deadHost := strings.TrimPrefix(dead.URL, "http://")
	dead.Close() // its port now refuses connections
	live := strings.TrimPrefix(srv.URL, "http://")

	cfg := DefaultScenarioConfig()
	cfg.Scenario, cfg.Keys, cfg.Concurrency, cfg.Timeout = ScenarioRolling, 10, 2, 5*time.Second
	tr := NewLoadTransport(2)
	defer tr.CloseIdleConnections()
	l := newScenarioLoad(context.Background(), &cfg, tr, time.Now(), 1)
	l.phases[0] = newPhaseStats("p", 1)
	l.setTargets([]scenarioTarget{{name: "n1", host: deadHost, slot: 0}, {name: "n2", host: live, slot: 1}})
	w := l.newWorker(context.Background(), 0)
	w.next = 0 // the dead node first

	// A refused connection is retried on the next node.
	w.write(l.phases[0], 4, time.Now())
	if acked, v := l.ledger.acked(4); acked != 1 || v != 12345 {
		t.Fatalf("after a write: acked %d version %d", acked, v)
	}
	// The dead node is avoided for a while: no retry this time.
	w.read(l.phases[0], 4, time.Now())
	// A 503 is a failure, not retried.
	kv.mu.Lock()
	kv.fail = http.StatusServiceUnavailable
	kv.mu.Unlock()
	w.write(l.phases[0], 6, time.Now())
	if a, _ := l.ledger.acked(6); a != 0 || l.ledger.attempted(6) != 1 {
		t.Fatalf("a failed write was acknowledged")
	}
	res := l.phases[0].result(l.epoch)
	if res.Writes.Count != 1 || res.Reads.Count != 1 || res.Retries != 1 || res.StaleReads != 0 ||
		res.ErrorsByKind["5xx"] != 1 || res.ErrorsByNode["n2"] != 1 || len(res.ErrorSamples) != 1 {
		t.Fatalf("result %+v", res)
	}
	if e := res.ErrorSamples[0]; e.Status != 503 || e.Node != "n2" || !strings.Contains(e.Text, "1 of 2 replicas") || e.Key != "k00000006" {
		t.Fatalf("sample %+v", e)
	}

	// Every node refusing is a failure of kind refused.
	l.setTargets([]scenarioTarget{{name: "n1", host: deadHost, slot: 0}})
	w.down[0] = time.Time{}
	r := w.do(http.MethodGet, 4, nil, "r=quorum")
	if r.kind != errRefused || r.node != "*" || r.retries != 0 {
		t.Fatalf("all refused: %+v", r)
	}

	// Verification reads back what was acknowledged; a value older than
	// acknowledged is a lost write.
	kv.mu.Lock()
	kv.fail = 0
	kv.data["k00000008"] = encodeScenarioValue(nil, 8, 0, 1, 30)
	kv.mu.Unlock()
	l.ledger.next(8)
	l.ledger.next(8)
	l.ledger.ack(8, 2, 99)
	l.setTargets([]scenarioTarget{{name: "n2", host: live, slot: 1}})
	v := l.verify(context.Background(), "quorum")
	if v.Keys != 3 || v.Acknowledged != 2 || v.OK != 2 || v.Older != 1 || v.Lost != 1 || len(v.Samples) != 1 ||
		v.Samples[0].Key != "k00000008" || v.Samples[0].Got != 1 || v.Samples[0].Acked != 2 {
		t.Fatalf("verify %+v", v)
	}
}

func TestFormatScenarioReport(t *testing.T) {
	rep := &ScenarioReport{
		Scenario: ScenarioRolling,
		Phases: []ScenarioPhase{
			{Name: "warm-up", Elapsed: 10 * time.Second, Ops: 1000, OpsPerSec: 100,
				Writes: ScenarioOps{Count: 500, P50: time.Millisecond, P99: 9 * time.Millisecond},
				Reads:  ScenarioOps{Count: 500, P50: time.Millisecond, P99: 8 * time.Millisecond}},
			{Name: "restart n2", Action: "SIGTERM: exited in 1s", Elapsed: 10 * time.Second, Ops: 900, Errors: 2, Retries: 5, StaleReads: 1,
				Writes:       ScenarioOps{Count: 450},
				ErrorsByKind: map[string]int64{"5xx": 2}, ErrorsByNode: map[string]int64{"n1": 2},
				ErrorSamples: []ScenarioError{{At: 12 * time.Second, Op: "write", Key: "k00000001", Node: "n1", Kind: "5xx", Status: 503, Text: `{"error":"x"}`}},
				StaleSamples: []ScenarioStaleRead{{Key: "k00000002", Node: "n3", Verdict: "older", Acked: 4, Got: 3}}},
		},
		Restarts: []ScenarioRestart{{Phase: "restart n2", Node: "n2", Signal: "SIGTERM", Stop: time.Second}},
		Hints:    ScenarioHints{Drained: true, Elapsed: time.Millisecond},
		Verify:   []ScenarioVerify{{Level: "quorum", Keys: 10, Acknowledged: 10, OK: 9, Lost: 1, Older: 1, Samples: []ScenarioLostWrite{{Key: "k00000003", Verdict: "older"}}}},
		Failed:   2, Acknowledged: 950, StaleReads: 1, LostWrites: 1,
		Problems: []string{"1 acknowledged writes lost (0 missing, 1 older)"},
	}
	out := FormatScenarioReport(rep)
	for _, want := range []string{
		"warm-up            10.0s     1000     100.0  1.0ms  9.0ms  1.0ms  8.0ms       0       0      0\n",
		"restart n2         10.0s      900       0.0    0ns    0ns      -      -       2       5      1\n",
		"all                20.0s     1900      95.0                                   2       5      1\n",
		"  restart n2     SIGTERM: exited in 1s",
		"  restart n2     2: 5xx 2; by node: n1 2",
		"write k00000001 n1 5xx 503: {\"error\":\"x\"}",
		"k00000002 via n3: older, acked 4, got 3",
		"hints: drained in 1.0ms",
		"verify r=quorum: 10 keys (10 acknowledged): ok 9, lost 1 (missing 0, older 1)",
		"  k00000003 older",
		"result: FAIL: 1 acknowledged writes lost",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	var buf bytes.Buffer
	if err := WriteScenarioJSON(&buf, rep); err != nil {
		t.Fatal(err)
	}
	back, err := ReadScenarioJSON(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if FormatScenarioReport(back) != out {
		t.Errorf("JSON round trip changed the report")
	}
}

func TestIsConnError(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"refused", &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}, true},
		{"reset", &url.Error{Op: "Put", Err: syscall.ECONNRESET}, true},
		{"closed before the response", &url.Error{Op: "Put", Err: io.EOF}, true},
		{"idle connection closed by a node shutting down", &url.Error{Op: "Put", URL: "http://n3/kv/k", Err: errors.New("http: server closed idle connection")}, true},
		{"timeout", &url.Error{Op: "Put", Err: context.DeadlineExceeded}, false},
		{"other", errors.New("http: ContentLength=5 with Body length 0"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := isConnError(tt.err); got != tt.want {
				t.Fatalf("isConnError(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}

func TestFreeLoopbackPorts(t *testing.T) {
	ports, err := FreeLoopbackPorts(9)
	if err != nil {
		t.Fatal(err)
	}
	low := ephemeralPortsStart()
	seen := map[int]bool{}
	for _, p := range ports {
		if seen[p] {
			t.Fatalf("port %d returned twice: %v", p, ports)
		}
		seen[p] = true
		if low > 0 && (p < minLocalPort || p >= low) {
			t.Errorf("port %d outside [%d, %d): a client connection could take it", p, minLocalPort, low)
		}
		ln, err := net.Listen("tcp", loopback(p))
		if err != nil {
			t.Fatalf("port %d not free for TCP: %v", p, err)
		}
		ln.Close()
		pc, err := net.ListenPacket("udp", loopback(p))
		if err != nil {
			t.Fatalf("port %d not free for UDP: %v", p, err)
		}
		pc.Close()
	}
}
