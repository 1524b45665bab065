package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	mrand "math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// The fault scenarios of RunScenario.
const (
	// ScenarioRolling restarts every node one at a time (SIGTERM), joins
	// two new nodes, makes two nodes leave, kills one with SIGKILL and
	// restarts it, all under a read and write load.
	ScenarioRolling = "rolling"
	// ScenarioCrash SIGKILLs a random node at random moments under a
	// write-only load and restarts it, measuring how long it takes to
	// recover.
	ScenarioCrash = "crash"
)

// Scenarios returns the names of the scenarios RunScenario knows.
func Scenarios() []string { return []string{ScenarioRolling, ScenarioCrash} }

// ErrUnknownScenario is returned, wrapped, by ScenarioConfig.Validate for
// a scenario name that Scenarios does not list.
var ErrUnknownScenario = errors.New("bench: unknown scenario")

// ErrScenarioAction is returned, wrapped, by RunScenario when an action on
// the cluster failed: a node did not start, stop, leave or become ready in
// time. The report still holds the phases run and the verification of the
// writes acknowledged until then.
var ErrScenarioAction = errors.New("bench: scenario action failed")

// scenarioMaxNodes bounds ScenarioConfig.Nodes.
const scenarioMaxNodes = 50

// ScenarioConfig configures RunScenario. Zero fields take their defaults
// (see EnsureDefaults); DefaultScenarioConfig returns them filled in.
type ScenarioConfig struct {
	// Scenario is ScenarioRolling or ScenarioCrash. Required.
	Scenario string

	// Binary is the kvstore executable; every node is a child process
	// "Binary serve -node nI -data DATA/nI -http 127.0.0.1:H -rpc
	// 127.0.0.1:R -gossip 127.0.0.1:G -advertise 127.0.0.1 -join ...
	// -secret-file DATA/cluster.secret -sync always". Required.
	Binary string

	// Nodes is the size of the cluster the scenario starts, at least 3
	// (N = 3 replicas). Default 3.
	Nodes int

	// PhaseDuration is the shortest length of a phase: a phase lasts its
	// action (a restart, a join...) and then runs on until it is this
	// long. Default 10 s.
	PhaseDuration time.Duration

	// Concurrency is the number of workers, each with one request in
	// flight. Default 16.
	Concurrency int

	// Keys is the size of the key space; each key is written by one
	// worker only. Default 10,000.
	Keys int

	// ValueSize is the length of the values in bytes, at least the 28
	// bytes of their header. Default 100.
	ValueSize int

	// Reads is the fraction of operations that are reads, in [0, 1]. Zero
	// takes the scenario's default, 0.5 for rolling and none for crash; a
	// negative value means no reads.
	Reads float64

	// DataDir holds the nodes' data directories, their logs (nI.log) and
	// the cluster secret. It must be empty or absent. Default: a new
	// temporary directory.
	DataDir string

	// Keep keeps DataDir at the end. Without it, DataDir's contents are
	// removed, unless the scenario failed.
	Keep bool

	// BasePort, if positive, gives node i (from 0) the loopback ports
	// BasePort+3i (HTTP), +1 (RPC) and +2 (gossip). Zero: free ports
	// picked at random.
	BasePort int

	// Seed chooses keys, operations, the nodes acted on and the moments
	// of the crashes.
	Seed int64

	// Kills is the number of SIGKILLs of the crash scenario. Default 5.
	Kills int

	// Down is how long a killed node stays down before its restart:
	// exactly Down in the rolling scenario, uniform in [0, Down] in the
	// crash scenario. Default 1 s.
	Down time.Duration

	// Timeout bounds each HTTP request. Default 10 s.
	Timeout time.Duration

	// ReadyTimeout bounds each wait on the cluster: a node starting,
	// stopping or leaving, the cluster agreeing on its members, the hints
	// draining. Default 60 s.
	ReadyTimeout time.Duration
}

// DefaultScenarioConfig returns the configuration with every default
// filled in, except Scenario, Binary and Reads (which follows Scenario).
func DefaultScenarioConfig() ScenarioConfig {
	var c ScenarioConfig
	c.EnsureDefaults()
	return c
}

// EnsureDefaults replaces zero fields with their defaults.
func (c *ScenarioConfig) EnsureDefaults() {
	if c.Nodes == 0 {
		c.Nodes = 3
	}
	if c.PhaseDuration == 0 {
		c.PhaseDuration = 10 * time.Second
	}
	if c.Concurrency == 0 {
		c.Concurrency = 16
	}
	if c.Keys == 0 {
		c.Keys = 10_000
	}
	if c.ValueSize == 0 {
		c.ValueSize = 100
	}
	if c.Reads == 0 && c.Scenario == ScenarioRolling {
		c.Reads = 0.5
	}
	if c.Kills == 0 {
		c.Kills = 5
	}
	if c.Down == 0 {
		c.Down = time.Second
	}
	if c.Timeout == 0 {
		c.Timeout = 10 * time.Second
	}
	if c.ReadyTimeout == 0 {
		c.ReadyTimeout = time.Minute
	}
}

// readFraction returns the fraction of reads, in [0, 1].
func (c *ScenarioConfig) readFraction() float64 { return max(c.Reads, 0) }

// Validate reports every problem of c, after defaults, as errors wrapping
// ErrInvalidConfig or ErrUnknownScenario, joined; nil if c is usable.
func (c ScenarioConfig) Validate() error {
	c.EnsureDefaults()
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalidConfig}, args...)...))
	}
	if !slices.Contains(Scenarios(), c.Scenario) {
		errs = append(errs, fmt.Errorf("%w %q (known: %s)", ErrUnknownScenario, c.Scenario, strings.Join(Scenarios(), ",")))
	}
	if c.Binary == "" {
		bad("no kvstore binary")
	}
	if c.Nodes < 3 || c.Nodes > scenarioMaxNodes {
		bad("nodes %d not in [3, %d]", c.Nodes, scenarioMaxNodes)
	}
	if c.PhaseDuration < 0 {
		bad("phase duration %v < 0", c.PhaseDuration)
	}
	if c.Concurrency < 1 || c.Concurrency >= scenarioMaxWorkers {
		bad("concurrency %d not in [1, %d)", c.Concurrency, scenarioMaxWorkers)
	}
	if c.Keys < c.Concurrency || c.Keys > scenarioMaxKeys {
		bad("keys %d not in [concurrency %d, %d]", c.Keys, c.Concurrency, scenarioMaxKeys)
	}
	if c.ValueSize < scenarioValueHeader || c.ValueSize > maxValueSize {
		bad("value size %d not in [%d, %d]", c.ValueSize, scenarioValueHeader, maxValueSize)
	}
	if c.Reads > 1 || math.IsNaN(c.Reads) {
		bad("reads %v is more than 1", c.Reads)
	}
	if c.Kills < 0 {
		bad("kills %d < 0", c.Kills)
	}
	if c.Down < 0 {
		bad("down time %v < 0", c.Down)
	}
	if c.BasePort < 0 || c.BasePort+3*(c.Nodes+2) > 65536 {
		bad("base port %d leaves no room for %d nodes' ports", c.BasePort, c.Nodes+2)
	}
	if c.Timeout < 0 {
		bad("timeout %v < 0", c.Timeout)
	}
	if c.ReadyTimeout < 0 {
		bad("ready timeout %v < 0", c.ReadyTimeout)
	}
	return errors.Join(errs...)
}

// ScenarioReport is everything one RunScenario measured. Durations are
// integer nanoseconds in JSON.
type ScenarioReport struct {
	Scenario      string        `json:"scenario"`
	Nodes         int           `json:"nodes"`
	Concurrency   int           `json:"concurrency"`
	Keys          int           `json:"keys"`
	ValueSize     int           `json:"value_size"`
	Reads         float64       `json:"reads"` // fraction of operations
	PhaseDuration time.Duration `json:"phase_duration_ns"`
	Seed          int64         `json:"seed"`
	Binary        string        `json:"binary"`
	DataDir       string        `json:"data_dir"`
	// DataKept says DataDir was left in place (Keep, or a failed run).
	DataKept bool `json:"data_kept"`

	// Events are the actions on the cluster and their outcomes, in order.
	Events []ScenarioEvent `json:"events"`
	// Phases are the phases of the load, in order.
	Phases []ScenarioPhase `json:"phases"`
	// Restarts has one entry per node restarted (after SIGTERM or
	// SIGKILL), in order.
	Restarts []ScenarioRestart `json:"restarts"`
	// Hints is the wait, after the load, for every node's hints to be
	// delivered.
	Hints ScenarioHints `json:"hints"`
	// Verify holds the reading back of every key written: at quorum (the
	// check), then at all.
	Verify []ScenarioVerify `json:"verify"`

	// Totals over the phases.
	Acknowledged int64 `json:"acknowledged_writes"`
	Failed       int64 `json:"failed_requests"`
	Retries      int64 `json:"retries"`
	StaleReads   int64 `json:"stale_reads"`
	CorruptReads int64 `json:"corrupt_reads"`

	// LostWrites is the acknowledged writes the quorum read back did not
	// find (missing or older): the scenario's main figure, 0 if the
	// cluster kept every write.
	LostWrites int64 `json:"lost_writes"`
	// Passed is set when every acknowledged write was read back at quorum
	// (no write lost, no value corrupt, no key left unread) and every
	// action succeeded. Failed requests and stale reads are reported,
	// not judged.
	Passed bool `json:"passed"`
	// Problems says why Passed is false.
	Problems []string `json:"problems,omitempty"`
}

// ScenarioEvent is one action on the cluster or its outcome.
type ScenarioEvent struct {
	At    time.Duration `json:"at_ns"` // since the scenario started
	Phase string        `json:"phase,omitempty"`
	Text  string        `json:"text"`
}

// ScenarioPhase is the load during one phase. An operation counts in the
// phase in which it started. Only completed operations count towards
// Ops, the rates and latencies; failed ones are counted in Errors.
type ScenarioPhase struct {
	Name string `json:"name"`
	// Action is what was done to the cluster in this phase and how long
	// it took; "" for warm-up and quiet.
	Action        string        `json:"action,omitempty"`
	ActionElapsed time.Duration `json:"action_elapsed_ns"`
	Start         time.Duration `json:"start_ns"` // since the load started
	Elapsed       time.Duration `json:"elapsed_ns"`
	Ops           int64         `json:"ops"`
	OpsPerSec     float64       `json:"ops_per_sec"`
	Writes        ScenarioOps   `json:"writes"`
	Reads         ScenarioOps   `json:"reads"`
	All           ScenarioOps   `json:"all"`
	Errors        int64         `json:"errors"`
	// ErrorsByKind counts the failed operations by kind (ErrorKinds;
	// "refused": every node refused the connection); ErrorsByNode by the
	// node that answered the error, or was sent the request that timed
	// out ("*" when every node refused).
	ErrorsByKind map[string]int64 `json:"errors_by_kind"`
	ErrorsByNode map[string]int64 `json:"errors_by_node,omitempty"`
	// Retries counts requests sent again to another node after a
	// connection error (refused, reset, closed before the response).
	Retries int64 `json:"retries"`
	// StaleReads counts reads that returned a value older than one
	// acknowledged before the read started, or nothing at all;
	// CorruptReads reads of a value no write of the key sent.
	StaleReads   int64 `json:"stale_reads"`
	CorruptReads int64 `json:"corrupt_reads"`
	// The first errors and stale reads of the phase, in time order.
	ErrorSamples []ScenarioError     `json:"error_samples,omitempty"`
	StaleSamples []ScenarioStaleRead `json:"stale_samples,omitempty"`
}

// ScenarioOps are the figures of one operation type in one phase.
type ScenarioOps struct {
	Count    int64         `json:"count"` // completed
	Errors   int64         `json:"errors"`
	NotFound int64         `json:"not_found"` // reads answered 404
	Mean     time.Duration `json:"mean_ns"`
	P50      time.Duration `json:"p50_ns"`
	P99      time.Duration `json:"p99_ns"`
	Max      time.Duration `json:"max_ns"`
}

// ScenarioError is one failed request.
type ScenarioError struct {
	At     time.Duration `json:"at_ns"` // since the scenario started
	Op     string        `json:"op"`    // "write" or "read"
	Key    string        `json:"key"`
	Node   string        `json:"node"`   // the node that answered, or "*"
	Kind   string        `json:"kind"`   // one of ErrorKinds
	Status int           `json:"status"` // HTTP status, 0 for a transport error
	Text   string        `json:"text"`   // the error body or transport error
}

// ScenarioStaleRead is one read that returned less than was acknowledged.
type ScenarioStaleRead struct {
	At      time.Duration `json:"at_ns"`
	Key     string        `json:"key"`
	Node    string        `json:"node"`
	Verdict string        `json:"verdict"` // "missing", "older" or "corrupt"
	Acked   uint64        `json:"acked_seq"`
	Got     uint64        `json:"got_seq"` // 0 when missing
}

// ScenarioRestart is one restart of a node.
type ScenarioRestart struct {
	Phase  string `json:"phase"`
	Node   string `json:"node"`
	Signal string `json:"signal"` // "SIGTERM" or "SIGKILL"
	// Stop is from the signal to the process's exit; Exit its status.
	Stop time.Duration `json:"stop_ns"`
	Exit string        `json:"exit"`
	// Down is from the exit to the new process's start.
	Down time.Duration `json:"down_ns"`
	// HTTPUp is from the start to GET /healthz answering 200, Ready to
	// every node's /status showing every member alive and active.
	HTTPUp time.Duration `json:"http_up_ns"`
	Ready  time.Duration `json:"ready_ns"`
}

// ScenarioHints is the wait for the hints to drain after the load.
type ScenarioHints struct {
	Drained bool          `json:"drained"`
	Elapsed time.Duration `json:"elapsed_ns"`
	// Pending is the sum over the nodes of /status hints.pending at the
	// end of the wait; ByNode the nodes that still had some.
	Pending int64            `json:"pending"`
	ByNode  map[string]int64 `json:"by_node,omitempty"`
}

// ScenarioVerify is the reading back of every key written, at one level.
type ScenarioVerify struct {
	Level string `json:"level"` // "quorum" or "all"
	// Keys is the number of keys read: every key written at least once;
	// Acknowledged those with an acknowledged write.
	Keys         int `json:"keys"`
	Acknowledged int `json:"acknowledged"`
	OK           int `json:"ok"`
	// Lost = Missing + Older: acknowledged writes not read back.
	Lost    int `json:"lost"`
	Missing int `json:"missing"`
	Older   int `json:"older"`
	// Corrupt: values no write of their key sent.
	Corrupt int `json:"corrupt"`
	// Unverified: keys whose every read attempt failed.
	Unverified int           `json:"unverified"`
	Retries    int64         `json:"retries"`
	Elapsed    time.Duration `json:"elapsed_ns"`
	// The first lost, corrupt and unverified keys.
	Samples []ScenarioLostWrite `json:"samples,omitempty"`
}

// ScenarioLostWrite is one key that did not read back as acknowledged.
type ScenarioLostWrite struct {
	Key          string `json:"key"`
	Verdict      string `json:"verdict"` // "missing", "older", "corrupt" or "unverified"
	Acked        uint64 `json:"acked_seq"`
	AckedVersion uint64 `json:"acked_version"`
	Got          uint64 `json:"got_seq"`
	GotVersion   uint64 `json:"got_version"`
	Node         string `json:"node"`
	Error        string `json:"error,omitempty"`
}

// stepKind is what a phase does to the cluster.
type stepKind uint8

const (
	stepNone    stepKind = iota // warm-up, quiet
	stepRestart                 // SIGTERM, wait for the exit, start again
	stepJoin                    // start a new node
	stepLeave                   // POST /admin/leave, wait for the exit
	stepKill                    // SIGKILL, wait Down, start again
)

// scenarioStep is one phase of a plan.
type scenarioStep struct {
	name  string
	kind  stepKind
	node  int           // the node acted on (index into the cluster's nodes)
	delay time.Duration // from the phase's start to the action
	down  time.Duration // stepKill: from the exit to the restart
}

// planScenario returns the phases of the scenario of c for a cluster of
// c.Nodes nodes, numbered 0 to c.Nodes-1, whose joins get the next
// numbers. Node i is named "n" followed by i+1.
func planScenario(c *ScenarioConfig, rng *mrand.Rand) []scenarioStep {
	name := func(i int) string { return fmt.Sprintf("n%d", i+1) }
	steps := []scenarioStep{{name: "warm-up"}}
	switch c.Scenario {
	case ScenarioRolling:
		for i := range c.Nodes {
			steps = append(steps, scenarioStep{name: "restart " + name(i), kind: stepRestart, node: i})
		}
		live := make([]int, 0, c.Nodes+2)
		for i := range c.Nodes {
			live = append(live, i)
		}
		for j := range 2 {
			i := c.Nodes + j
			steps = append(steps, scenarioStep{name: "join " + name(i), kind: stepJoin, node: i})
			live = append(live, i)
		}
		// Two of the original nodes leave, so the joined ones must have
		// received their data.
		perm := rng.Perm(c.Nodes)
		for _, i := range perm[:2] {
			steps = append(steps, scenarioStep{name: "leave " + name(i), kind: stepLeave, node: i})
			live = slices.DeleteFunc(live, func(x int) bool { return x == i })
		}
		k := live[rng.IntN(len(live))]
		steps = append(steps, scenarioStep{name: "kill -9 " + name(k), kind: stepKill, node: k, down: c.Down})
	case ScenarioCrash:
		d := c.PhaseDuration
		for j := range c.Kills {
			k := rng.IntN(c.Nodes)
			delay := d/10 + time.Duration(rng.Int64N(int64(d/2)+1))
			down := time.Duration(rng.Int64N(int64(c.Down) + 1))
			steps = append(steps, scenarioStep{name: fmt.Sprintf("kill %d %s", j+1, name(k)),
				kind: stepKill, node: k, delay: delay, down: down})
		}
	}
	return append(steps, scenarioStep{name: "quiet"})
}

// scenarioRun is one RunScenario. Its fields are owned by the goroutine
// running RunScenario, except load, which documents its own contract.
type scenarioRun struct {
	cfg     ScenarioConfig
	out     io.Writer
	rep     *ScenarioReport
	start   time.Time
	tr      *http.Transport
	cluster *scenarioCluster
	load    *scenarioLoad
	phase   string // the current phase's name, for events
	// createdDir: DataDir did not exist and was created; removing it is
	// ours. Otherwise it was empty and its contents are ours.
	createdDir bool
}

// RunScenario starts a local cluster of cfg.Nodes kvstore processes on
// loopback, runs the fault scenario cfg.Scenario under load, then reads
// back every key written, and returns what it measured; it prints the
// actions and each phase as they happen, and the report
// (FormatScenarioReport) at the end, to out, which may be nil.
//
// The load: cfg.Concurrency workers, each with one request in flight,
// closed loop. Worker w owns the keys i of [0, cfg.Keys) with i mod
// Concurrency = w and is the only one to write them, so each key's values
// are ordered by their sequence numbers (see scenarioledger.go for the
// values). A write is PUT /kv/{key}?w=quorum of a key the worker owns,
// a read (a fraction cfg.Reads of operations) GET /kv/{key}?r=quorum of
// any key. A write answered 200 is acknowledged: the ledger records its
// sequence number. A read that returns a value older than one
// acknowledged before the read started, or 404 after an acknowledged
// write, is a stale read. A request that fails with a connection error
// (refused, reset, closed before the response) is sent again to the next
// node (a retry); one that fails on every node, times out (cfg.Timeout)
// or is answered with an error status is a failed request.
//
// The phases: warm-up; for rolling, "restart nI" for every node (SIGTERM,
// wait for the exit, start it again, wait until the cluster is ready),
// "join nX" twice (a new node; it becomes a target of the load as soon as
// it serves HTTP, as behind a load balancer checking /healthz, and the
// phase's action ends once it is active in the ring everywhere), "leave nI" for two of the original nodes (POST
// /admin/leave; the process exits once it has handed its partitions off),
// "kill -9 nI" (SIGKILL, cfg.Down later start it again); for crash,
// cfg.Kills phases "kill K nI" that SIGKILL a random node at a random
// moment of the phase and restart it after a random time up to cfg.Down;
// then quiet. The cluster is ready when every node's /status lists the
// same ring members, all of them "active" in the ring and "alive".
//
// After the last phase the load stops; RunScenario waits for every node
// to deliver its hints (/status hints.pending 0), then reads back every
// key written, at quorum and then at all, retrying a failed read up to
// five times.
//
// RunScenario owns the processes it starts: it kills them (SIGKILL, by
// process id) before it returns, also when ctx is done. It returns an
// error for an invalid cfg, when ctx is done (ctx.Err(), with the report
// so far), or wrapping ErrScenarioAction when an action failed (with the
// report, the writes verified). A lost write is not an error: see
// ScenarioReport.Passed.
func RunScenario(ctx context.Context, cfg ScenarioConfig, out io.Writer) (*ScenarioReport, error) {
	cfg.EnsureDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if out == nil {
		out = io.Discard
	}
	s := &scenarioRun{cfg: cfg, out: out, start: time.Now()}
	s.rep = &ScenarioReport{
		Scenario:      cfg.Scenario,
		Nodes:         cfg.Nodes,
		Concurrency:   cfg.Concurrency,
		Keys:          cfg.Keys,
		ValueSize:     cfg.ValueSize,
		Reads:         cfg.readFraction(),
		PhaseDuration: cfg.PhaseDuration,
		Seed:          cfg.Seed,
		Binary:        cfg.Binary,
		Events:        []ScenarioEvent{},
		Phases:        []ScenarioPhase{},
		Restarts:      []ScenarioRestart{},
		Verify:        []ScenarioVerify{},
	}
	if err := s.prepareDir(); err != nil {
		return nil, err
	}
	s.rep.DataDir = s.cfg.DataDir
	s.tr = NewLoadTransport(cfg.Concurrency + 2*scenarioMaxNodes)
	defer s.tr.CloseIdleConnections()
	s.cluster = newScenarioCluster(&s.cfg, s.tr, s.event)
	defer s.cleanup()

	rng := mrand.New(mrand.NewPCG(uint64(cfg.Seed), 0x7363656e)) // "scen"
	plan := planScenario(&s.cfg, rng)
	fmt.Fprintf(out, "%s\n", scenarioHeader(s.rep))

	s.phase = "start"
	if err := s.cluster.startAll(ctx, cfg.Nodes); err != nil {
		if ctx.Err() != nil {
			s.finish(ctx.Err(), true)
			return s.rep, ctx.Err()
		}
		s.rep.Problems = append(s.rep.Problems, err.Error())
		s.finish(nil, false)
		return s.rep, fmt.Errorf("%w: %v", ErrScenarioAction, err)
	}

	s.load = newScenarioLoad(ctx, &s.cfg, s.tr, s.start, len(plan))
	s.load.setTargets(s.cluster.targets())
	runErr := s.runPhases(ctx, plan)
	s.load.stop()
	for _, ps := range s.load.phases {
		if ps != nil {
			s.rep.Phases = append(s.rep.Phases, ps.result(s.load.start))
		}
	}
	if err := ctx.Err(); err != nil {
		s.finish(err, true)
		return s.rep, err
	}
	if runErr != nil {
		s.rep.Problems = append(s.rep.Problems, runErr.Error())
		runErr = fmt.Errorf("%w: %v", ErrScenarioAction, runErr)
	}
	s.phase = "verify"
	s.drainHints(ctx)
	for _, level := range []string{"quorum", "all"} {
		if ctx.Err() != nil {
			break
		}
		v := s.load.verify(ctx, level)
		s.rep.Verify = append(s.rep.Verify, v)
		s.event("verify r=%s: %d keys, %d lost (%d missing, %d older), %d corrupt, %d unverified, in %s",
			level, v.Keys, v.Lost, v.Missing, v.Older, v.Corrupt, v.Unverified, FormatDuration(v.Elapsed))
	}
	if err := ctx.Err(); err != nil {
		s.finish(err, true)
		return s.rep, err
	}
	s.finish(runErr, false)
	fmt.Fprint(out, "\n"+FormatScenarioReport(s.rep))
	return s.rep, runErr
}

// scenarioHeader is the first line of a scenario's output.
func scenarioHeader(r *ScenarioReport) string {
	return fmt.Sprintf("scenario %s: %d nodes (sync always, N=3, quorum reads and writes), %d workers, %d keys, %.0f%% reads, phases of at least %s, seed %d\ndata in %s",
		r.Scenario, r.Nodes, r.Concurrency, r.Keys, 100*r.Reads, FormatDuration(r.PhaseDuration), r.Seed, r.DataDir)
}

// prepareDir makes sure the data directory exists and is empty, creating a
// temporary one if none was given, and writes the cluster secret.
func (s *scenarioRun) prepareDir() error {
	c := &s.cfg
	if c.DataDir == "" {
		dir, err := os.MkdirTemp("", "kvstore-scenario-")
		if err != nil {
			return fmt.Errorf("bench: scenario data: %w", err)
		}
		c.DataDir, s.createdDir = dir, true
	} else {
		ents, err := os.ReadDir(c.DataDir)
		switch {
		case errors.Is(err, os.ErrNotExist):
			if err := os.MkdirAll(c.DataDir, 0o755); err != nil {
				return fmt.Errorf("bench: scenario data: %w", err)
			}
			s.createdDir = true
		case err != nil:
			return fmt.Errorf("bench: scenario data: %w", err)
		case len(ents) > 0:
			return fmt.Errorf("%w: data directory %s is not empty", ErrInvalidConfig, c.DataDir)
		}
	}
	if abs, err := filepath.Abs(c.DataDir); err == nil {
		c.DataDir = abs
	}
	raw := make([]byte, 32)
	rand.Read(raw)
	secret := hex.EncodeToString(raw) + "\n"
	if err := os.WriteFile(filepath.Join(c.DataDir, scenarioSecretFile), []byte(secret), 0o600); err != nil {
		return fmt.Errorf("bench: scenario secret: %w", err)
	}
	return nil
}

// cleanup kills every node still running and removes the data directory
// unless it is kept.
func (s *scenarioRun) cleanup() {
	s.cluster.close()
	if s.rep.DataKept {
		fmt.Fprintf(s.out, "data and node logs kept in %s\n", s.cfg.DataDir)
		return
	}
	if s.createdDir {
		os.RemoveAll(s.cfg.DataDir)
		return
	}
	ents, _ := os.ReadDir(s.cfg.DataDir)
	for _, e := range ents {
		os.RemoveAll(filepath.Join(s.cfg.DataDir, e.Name()))
	}
}

// event records and prints an action or its outcome.
func (s *scenarioRun) event(format string, args ...any) {
	e := ScenarioEvent{At: time.Since(s.start), Phase: s.phase, Text: fmt.Sprintf(format, args...)}
	s.rep.Events = append(s.rep.Events, e)
	fmt.Fprintf(s.out, "%7.1fs  %-14s %s\n", e.At.Seconds(), e.Phase, e.Text)
}

// runPhases runs the plan's phases under the load. It stops at the first
// action that fails, or when ctx is done.
func (s *scenarioRun) runPhases(ctx context.Context, plan []scenarioStep) error {
	for i, st := range plan {
		ps := s.load.beginPhase(i, st.name)
		s.phase = st.name
		err := s.act(ctx, st, ps)
		if err == nil {
			err = sleepCtx(ctx, time.Until(ps.start.Add(s.cfg.PhaseDuration)))
		}
		if err == nil {
			err = s.cluster.checkExits()
		}
		s.load.endPhase(i)
		r := ps.result(s.load.start)
		s.event("done: %s, %d ops (%.0f/s), %d failed, %d retried, %d stale; p99 write %s read %s",
			FormatDuration(r.Elapsed.Round(time.Millisecond)), r.Ops, r.OpsPerSec, r.Errors, r.Retries, r.StaleReads,
			opLatency(r.Writes, r.Writes.P99), opLatency(r.Reads, r.Reads.P99))
		if err != nil {
			if ctx.Err() == nil {
				s.event("failed: %v", err)
			}
			return fmt.Errorf("phase %s: %w", st.name, err)
		}
	}
	return nil
}

// act performs the action of step st, recording its description and
// timings in ps.
func (s *scenarioRun) act(ctx context.Context, st scenarioStep, ps *phaseStats) error {
	if st.kind == stepNone {
		return nil
	}
	if err := sleepCtx(ctx, st.delay); err != nil {
		return err
	}
	t0 := time.Now()
	c := s.cluster
	if st.kind == stepJoin {
		if err := c.add(st.node); err != nil {
			return err
		}
	}
	n := c.node(st.node)
	var desc []string
	defer func() {
		ps.setAction(strings.Join(desc, "; "), time.Since(t0))
	}()
	switch st.kind {
	case stepRestart, stepKill:
		sig, sigName := scenarioSIGTERM, "SIGTERM"
		if st.kind == stepKill {
			sig, sigName = scenarioSIGKILL, "SIGKILL"
		}
		rs := ScenarioRestart{Phase: st.name, Node: n.name, Signal: sigName}
		s.event("%s %s (pid %d)", sigName, n.name, n.pid())
		stop, status, err := c.stop(n, sig)
		rs.Stop, rs.Exit = stop, status
		desc = append(desc, fmt.Sprintf("%s: exited in %s (%s)", sigName, FormatDuration(stop), status))
		if err != nil {
			return err
		}
		s.event("%s exited in %s (%s)", n.name, FormatDuration(stop), status)
		if err := sleepCtx(ctx, st.down); err != nil {
			return err
		}
		rs.Down = time.Since(t0) - stop
		httpUp, ready, err := c.restart(ctx, n, nil)
		rs.HTTPUp, rs.Ready = httpUp, ready
		s.rep.Restarts = append(s.rep.Restarts, rs)
		desc = append(desc, fmt.Sprintf("down %s; http up %s, ready %s after start",
			FormatDuration(rs.Down), FormatDuration(httpUp), FormatDuration(ready)))
		if err != nil {
			return err
		}
		s.event("%s restarted: http up in %s, cluster ready in %s", n.name, FormatDuration(httpUp), FormatDuration(ready))
	case stepJoin:
		s.event("start %s (http %s, rpc %s, gossip %s), joining %s", n.name, n.http, n.rpc, n.gossip, strings.Join(c.liveNames(), " "))
		httpUp, ready, err := c.restart(ctx, n, func() {
			// As behind a load balancer that checks /healthz.
			s.load.setTargets(c.targets())
			s.event("%s serves HTTP: now a target of the load", n.name)
		})
		desc = append(desc, fmt.Sprintf("http up %s, ready %s after start", FormatDuration(httpUp), FormatDuration(ready)))
		if err != nil {
			return err
		}
		s.event("%s joined: http up in %s, active in the ring everywhere %s after start", n.name, FormatDuration(httpUp), FormatDuration(ready))
	case stepLeave:
		s.event("POST /admin/leave to %s", n.name)
		body, left, exited, status, err := c.leave(ctx, n)
		desc = append(desc, fmt.Sprintf("left in %s (%s), exited %s later (%s)",
			FormatDuration(left), body, FormatDuration(exited), status))
		if err != nil {
			return err
		}
		s.load.setTargets(c.targets())
		s.event("%s left in %s (%s); process exited %s later (%s); no longer a target", n.name, FormatDuration(left), body, FormatDuration(exited), status)
		t1 := time.Now()
		if err := c.waitReady(ctx); err != nil {
			return err
		}
		s.event("cluster ready in %s: %s", FormatDuration(time.Since(t1)), strings.Join(c.liveNames(), " "))
	}
	return nil
}

// drainHints waits, bounded by ReadyTimeout, until no node has hints
// pending.
func (s *scenarioRun) drainHints(ctx context.Context) {
	t0 := time.Now()
	h := s.cluster.drainHints(ctx)
	h.Elapsed = time.Since(t0)
	s.rep.Hints = h
	if h.Drained {
		s.event("hints drained in %s", FormatDuration(h.Elapsed))
	} else {
		s.event("hints not drained after %s: %d pending %v", FormatDuration(h.Elapsed), h.Pending, h.ByNode)
	}
}

// finish computes the totals and the verdict. The data directory is kept
// after a failure, unless the run was interrupted.
func (s *scenarioRun) finish(runErr error, interrupted bool) {
	r := s.rep
	r.Acknowledged, r.Failed, r.Retries, r.StaleReads, r.CorruptReads = 0, 0, 0, 0, 0
	for _, p := range r.Phases {
		r.Acknowledged += p.Writes.Count
		r.Failed += p.Errors
		r.Retries += p.Retries
		r.StaleReads += p.StaleReads
		r.CorruptReads += p.CorruptReads
	}
	if runErr != nil && !slices.Contains(r.Problems, runErr.Error()) && !errors.Is(runErr, ErrScenarioAction) {
		r.Problems = append(r.Problems, runErr.Error())
	}
	var q *ScenarioVerify
	for i := range r.Verify {
		if r.Verify[i].Level == "quorum" {
			q = &r.Verify[i]
		}
	}
	if q == nil {
		r.Problems = append(r.Problems, "the writes were not read back")
	} else {
		r.LostWrites = int64(q.Lost)
		if q.Lost > 0 {
			r.Problems = append(r.Problems, fmt.Sprintf("%d acknowledged writes lost (%d missing, %d older)", q.Lost, q.Missing, q.Older))
		}
		if q.Corrupt > 0 {
			r.Problems = append(r.Problems, fmt.Sprintf("%d keys read back a value never written", q.Corrupt))
		}
		if q.Unverified > 0 {
			r.Problems = append(r.Problems, fmt.Sprintf("%d keys could not be read back at quorum", q.Unverified))
		}
	}
	if r.CorruptReads > 0 {
		r.Problems = append(r.Problems, fmt.Sprintf("%d reads returned a value never written", r.CorruptReads))
	}
	r.Passed = len(r.Problems) == 0
	r.DataKept = s.cfg.Keep || (!r.Passed && !interrupted)
}

// sleepCtx waits d, or until ctx is done (returning ctx.Err()).
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
