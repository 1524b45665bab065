package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// The two HTTP APIs of a node that RunLoad can drive.
const (
	// APINative is the binary-safe API: PUT/GET /kv/{key} with the value
	// as the body, GET /kv?start=&end=&limit= for ranges, and the
	// consistency levels w and r.
	APINative = "native"
	// APIOriginal is the original service's API: PUT /?key=K&value=V,
	// GET /?key=K and GET /range?start=A&end=B.
	APIOriginal = "original"
)

// ErrUnknownWorkload is returned, wrapped, by LoadConfig.Validate for a
// workload name that Workloads does not list.
var ErrUnknownWorkload = errors.New("bench: unknown workload")

// errScanIncomplete marks a range response that ended without its last
// line (native API) or closing bracket (original API), or that reported a
// failure partway: an error of kind "other".
var errScanIncomplete = errors.New("bench: range response incomplete")

// errRequestTimeout marks a request that ran out of LoadConfig.Timeout.
var errRequestTimeout = errors.New("bench: request timed out")

// LoadPhase says whether RunLoad inserts the records before the measured
// run.
type LoadPhase int8

const (
	// LoadPhaseAuto follows the workload: on for a to f, off for write.
	LoadPhaseAuto LoadPhase = iota
	// LoadPhaseOn inserts records 0..Records-1 first.
	LoadPhaseOn
	// LoadPhaseOff runs on whatever the targets hold.
	LoadPhaseOff
)

// LoadConfig configures RunLoad. Zero fields take their defaults (see
// EnsureDefaults); DefaultLoadConfig returns them filled in.
type LoadConfig struct {
	// Targets are the base URLs of the nodes ("http://host:port", or
	// "host:port"). Each worker sends its requests to them in turn,
	// starting at a different one, as many independent clients would.
	// Required.
	Targets []string

	// Workload is one of Workloads(). Default "a".
	Workload string

	// API is APINative (default) or APIOriginal.
	API string

	// Records is the number of records of the load phase (indices
	// [0, Records)) that reads, updates and scans choose from; inserts
	// add records after them. Default 100,000.
	Records int

	// Load says whether the load phase runs first. Default LoadPhaseAuto.
	Load LoadPhase

	// KeySize is the key length in bytes: the record index in zero-padded
	// decimal (KeyFormat). Default 16.
	KeySize int

	// ValueSize is the value length in bytes. Default 100.
	ValueSize int

	// Distribution picks the records that reads, updates and scans
	// target: DistUniform, DistZipfian or DistLatest. Default: the
	// workload's (YCSB's): latest for d, zipfian for the others.
	Distribution string

	// Duration is the length of the measured run, unless Ops is set.
	// Default 10 s.
	Duration time.Duration

	// Ops, if positive, ends the run after this many operations instead
	// of after Duration.
	Ops int64

	// Rate, if positive, is the target throughput in operations per
	// second, open loop: operation k is due at start + k/Rate, whatever
	// the state of earlier ones, and its latency is measured from that
	// time, so queueing behind a slow target counts (no coordinated
	// omission). Operations still waiting for a free worker when Duration
	// ends are counted as missed. Zero: closed loop, each worker sends its
	// next operation as soon as the previous one completes.
	Rate float64

	// Concurrency is the number of workers, each with at most one
	// operation in flight. Default 16.
	Concurrency int

	// ReadLevel and WriteLevel are the consistency levels sent as r and w
	// ("one", "quorum", "all" or a number); "" leaves the node's default.
	// Native API only.
	ReadLevel, WriteLevel string

	// Progress, if positive, prints a progress line every Progress: the
	// rate of the last interval, the operations and errors so far, and
	// the p99 latency so far. Zero: none.
	Progress time.Duration

	// Seed selects keys, values and operations; each worker draws from
	// its own stream derived from it. Default 0.
	Seed int64

	// Timeout bounds each HTTP request, including reading the response.
	// Default 10 s.
	Timeout time.Duration

	// MaxScanLength is the longest scan; scan lengths are uniform in
	// [1, MaxScanLength]. Default 100.
	MaxScanLength int
}

// DefaultLoadConfig returns the configuration with every default filled
// in, except Distribution, which stays "" to follow Workload, and Targets.
func DefaultLoadConfig() LoadConfig {
	var c LoadConfig
	c.EnsureDefaults()
	c.Distribution = ""
	return c
}

// EnsureDefaults replaces zero fields with their defaults.
func (c *LoadConfig) EnsureDefaults() {
	if c.Workload == "" {
		c.Workload = "a"
	}
	if c.API == "" {
		c.API = APINative
	}
	if c.Records == 0 {
		c.Records = 100_000
	}
	if c.KeySize == 0 {
		c.KeySize = 16
	}
	if c.ValueSize == 0 {
		c.ValueSize = 100
	}
	if c.Distribution == "" {
		if w := lookupWorkload(c.Workload); w != nil {
			c.Distribution = w.dist
		}
	}
	if c.Duration == 0 {
		c.Duration = 10 * time.Second
	}
	if c.Concurrency == 0 {
		c.Concurrency = 16
	}
	if c.Timeout == 0 {
		c.Timeout = 10 * time.Second
	}
	if c.MaxScanLength == 0 {
		c.MaxScanLength = 100
	}
}

// loadPhaseOn reports whether the load phase runs.
func (c *LoadConfig) loadPhaseOn() bool {
	switch c.Load {
	case LoadPhaseOn:
		return true
	case LoadPhaseOff:
		return false
	}
	w := lookupWorkload(c.Workload)
	return w != nil && w.load
}

// Validate reports every problem of c, after defaults, as errors wrapping
// ErrInvalidConfig or ErrUnknownWorkload, joined; nil if c is usable.
func (c LoadConfig) Validate() error {
	c.EnsureDefaults()
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalidConfig}, args...)...))
	}
	if len(c.Targets) == 0 {
		bad("no targets")
	}
	for _, t := range c.Targets {
		if _, err := parseTarget(t); err != nil {
			errs = append(errs, err)
		}
	}
	if lookupWorkload(c.Workload) == nil {
		errs = append(errs, fmt.Errorf("%w %q (known: %s)", ErrUnknownWorkload, c.Workload, strings.Join(Workloads(), ",")))
	}
	if c.API != APINative && c.API != APIOriginal {
		bad("API %q is neither %s nor %s", c.API, APINative, APIOriginal)
	}
	if c.Records < 0 {
		bad("records %d < 0", c.Records)
	}
	if c.KeySize < 2 {
		bad("key size %d < 2", c.KeySize)
	} else if c.Records > 0 && (KeyFormat{Size: c.KeySize}).MaxIndex() < uint64(c.Records) {
		bad("key size %d cannot hold %d records: need %d decimal digits plus one byte",
			c.KeySize, c.Records, len(fmt.Sprint(c.Records)))
	}
	if c.ValueSize < 0 || c.ValueSize > maxValueSize {
		bad("value size %d not in [0, %d]", c.ValueSize, maxValueSize)
	}
	if !slices.Contains(Distributions(), c.Distribution) {
		bad("unknown distribution %q (known: %s)", c.Distribution, strings.Join(Distributions(), ","))
	}
	if c.Duration < 0 {
		bad("duration %v < 0", c.Duration)
	}
	if c.Ops < 0 {
		bad("ops %d < 0", c.Ops)
	}
	if c.Rate < 0 || math.IsNaN(c.Rate) || math.IsInf(c.Rate, 0) {
		bad("rate %v is not a finite number >= 0", c.Rate)
	}
	if c.Concurrency < 1 {
		bad("concurrency %d < 1", c.Concurrency)
	}
	for _, l := range [...]struct{ name, v string }{{"read level", c.ReadLevel}, {"write level", c.WriteLevel}} {
		if l.v == "" {
			continue
		}
		if c.API != APINative {
			bad("%s %q needs the native API", l.name, l.v)
		} else if !validLevel(l.v) {
			bad("%s %q is not one, quorum, all or a positive number", l.name, l.v)
		}
	}
	if c.Progress < 0 {
		bad("progress %v < 0", c.Progress)
	}
	if c.Timeout < 0 {
		bad("timeout %v < 0", c.Timeout)
	}
	if c.MaxScanLength < 1 {
		bad("max scan length %d < 1", c.MaxScanLength)
	}
	return errors.Join(errs...)
}

func validLevel(s string) bool {
	switch s {
	case "one", "quorum", "all":
		return true
	}
	n, err := strconv.Atoi(s)
	return err == nil && n > 0
}

// target is one node: where its requests go.
type target struct {
	scheme, host string
}

// parseTarget parses "http://host:port" or "host:port".
func parseTarget(s string) (target, error) {
	raw := s
	if !strings.Contains(s, "://") {
		s = "http://" + s
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
		return target{}, fmt.Errorf("%w: target %q: want http://host:port", ErrInvalidConfig, raw)
	}
	return target{scheme: u.Scheme, host: u.Host}, nil
}

// String returns the target's base URL.
func (t target) String() string { return t.scheme + "://" + t.host }

// Error kinds: how a failed operation failed.
type errKind uint8

const (
	errNone    errKind = iota
	errTimeout         // the request ran out of LoadConfig.Timeout
	errRefused         // every target refused the connection
	err5xx             // a 5xx status, such as 503 for a missed quorum
	err4xx             // a 4xx status other than 404 on a read
	errOther           // anything else: a reset connection, a truncated response...
	numErrKinds
)

// ErrorKinds returns the kinds of errors LoadResult.ErrorsByKind counts,
// in the order reports print them.
func ErrorKinds() []string { return slices.Clone(errKindNames[1:]) }

var errKindNames = [numErrKinds]string{"", "timeout", "refused", "5xx", "4xx", "other"}

// LoadResult is the outcome of one phase of RunLoad (or of RunCeiling).
// Only completed operations count towards Ops, the rates and the
// latencies; failed ones are counted in Errors. A read answered 404
// completed (the key is absent) and is counted in NotFound.
type LoadResult struct {
	// Name is the phase: "load" (inserting the records), "run" (the
	// workload) or "ceiling" (the workload against a bare HTTP server).
	Name         string   `json:"name"`
	Workload     string   `json:"workload"`
	API          string   `json:"api"`
	Targets      []string `json:"targets"`
	Distribution string   `json:"distribution"`
	Records      int      `json:"records"`
	Concurrency  int      `json:"concurrency"`
	TargetRate   float64  `json:"target_rate"` // ops/s; 0 for a closed loop

	Elapsed   time.Duration `json:"elapsed_ns"`
	Ops       int64         `json:"ops"`
	OpsPerSec float64       `json:"ops_per_sec"`

	Errors       int64             `json:"errors"`
	ErrorsByKind map[string]int64  `json:"errors_by_kind"`         // every kind of ErrorKinds, 0 included
	FirstErrors  map[string]string `json:"first_errors,omitempty"` // an example of each kind that occurred
	// Retries counts requests sent again to another target after a
	// refused connection.
	Retries int64 `json:"retries"`
	// Missed counts the operations of an open-loop run that were due
	// before the run ended but never sent, for want of a free worker.
	Missed int64 `json:"missed"`

	// Operations has one entry per operation type of the workload, in
	// the order read, update, insert, scan, rmw; All covers them all.
	Operations []OpResult `json:"operations"`
	All        OpResult   `json:"all"`

	// The load generator's own CPU time during the phase (user and
	// system, from getrusage) and its share of the wall time: 100 is one
	// core busy. NumCPU is the number of logical CPUs of the machine.
	CPUUser    time.Duration `json:"cpu_user_ns"`
	CPUSys     time.Duration `json:"cpu_sys_ns"`
	CPUPercent float64       `json:"cpu_percent"`
	NumCPU     int           `json:"num_cpu"`
	// PeakRSSBytes is the generator's peak resident set size during the
	// phase (see ResetPeakRSS); 0 if unknown.
	PeakRSSBytes int64 `json:"peak_rss_bytes"`

	// ServerCPUPercent is, for a ceiling run, the ceiling server's CPU
	// time over the run's wall time (100 is one core busy); 0 otherwise.
	ServerCPUPercent float64 `json:"server_cpu_percent,omitempty"`

	Intervals []LoadInterval `json:"intervals,omitempty"` // one per progress line
}

// OpResult is the outcome of one operation type.
type OpResult struct {
	Op        string  `json:"op"`
	Count     int64   `json:"count"` // completed operations
	OpsPerSec float64 `json:"ops_per_sec"`
	Errors    int64   `json:"errors"`
	// NotFound counts completed reads (and read-modify-writes) whose key
	// was absent (404).
	NotFound int64 `json:"not_found"`
	// Records counts the records returned by completed scans.
	Records int64 `json:"records"`

	// Latency of completed operations: from the moment the operation
	// was due (open loop) or started (closed loop) to the end of its
	// response.
	Mean time.Duration `json:"mean_ns"`
	P50  time.Duration `json:"p50_ns"`
	P90  time.Duration `json:"p90_ns"`
	P99  time.Duration `json:"p99_ns"`
	P999 time.Duration `json:"p999_ns"`
	Max  time.Duration `json:"max_ns"`
}

// LoadInterval is one progress line.
type LoadInterval struct {
	Elapsed   time.Duration `json:"elapsed_ns"`  // since the phase started
	Ops       int64         `json:"ops"`         // completed so far
	OpsPerSec float64       `json:"ops_per_sec"` // over the interval
	Errors    int64         `json:"errors"`      // so far
	P99       time.Duration `json:"p99_ns"`      // so far, all operations
}

// LoadReport is everything one invocation measured: the load phase and
// the run from RunLoad, and optionally a ceiling run (RunCeiling) of the
// same workload with the ratio of the two throughputs.
type LoadReport struct {
	Load    *LoadResult `json:"load,omitempty"`
	Run     *LoadResult `json:"run,omitempty"`
	Ceiling *LoadResult `json:"ceiling,omitempty"`
	// CeilingRatio is Run.OpsPerSec / Ceiling.OpsPerSec when both ran.
	CeilingRatio float64 `json:"ceiling_ratio,omitempty"`
}

// SetCeiling records c as the report's ceiling and computes the ratio.
func (r *LoadReport) SetCeiling(c *LoadResult) {
	r.Ceiling = c
	r.CeilingRatio = 0
	if c != nil && r.Run != nil && c.OpsPerSec > 0 {
		r.CeilingRatio = r.Run.OpsPerSec / c.OpsPerSec
	}
}

// RunLoad drives the nodes of cfg.Targets over HTTP: the load phase if it
// is on (cfg.Records inserts of keys 0..Records-1, closed loop, never
// rate limited), then the workload for cfg.Duration or cfg.Ops
// operations. It prints progress lines (if cfg.Progress > 0) and a table
// per phase (FormatLoadResult) to out, which may be nil, and returns what
// it measured.
//
// Keys are KeyFormat keys of cfg.KeySize bytes, so record i has the key
// i in zero-padded decimal; inserts of workloads d and e take the next
// indices after the existing records, those of the write workload random
// unused indices. Values are cfg.ValueSize bytes from a ValueGen. The
// requests, per operation and API:
//
//	operation        native API                             original API
//	read             GET /kv/{key}?r=R                      GET /?key=K
//	insert, update   PUT /kv/{key}?w=W, the value as body   PUT /?key=K&value=V
//	scan             GET /kv?start=K1&end=K2&limit=L&r=R    GET /range?start=K1&end=K2
//
// (r and w only when cfg.ReadLevel or cfg.WriteLevel is set.)
// A read-modify-write is a read then an update of the same key. A scan
// of L records asks for the keys of indices [i, i+L-1]. Responses are
// read to the end and dropped; scans count the records they return.
//
// An operation fails with an error of one of the kinds of ErrorKinds;
// failures do not stop the run. A refused connection is retried on the
// next target (counted in Retries) until every target has refused, and
// the worker then avoids the refusing target for a second.
// RunLoad returns an error only for an invalid cfg, or with the results
// so far when ctx is done (ctx.Err()).
func RunLoad(ctx context.Context, cfg LoadConfig, out io.Writer) (*LoadReport, error) {
	cfg.EnsureDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	r, err := newLoadRun(cfg, out)
	if err != nil {
		return nil, err
	}
	defer r.tr.CloseIdleConnections()
	rep := new(LoadReport)
	if cfg.loadPhaseOn() && cfg.Records > 0 {
		res := r.phase(ctx, "load", true)
		fmt.Fprint(r.out, FormatLoadResult(res))
		rep.Load = res
		if err := ctx.Err(); err != nil {
			return rep, err
		}
	}
	res := r.phase(ctx, "run", false)
	fmt.Fprint(r.out, FormatLoadResult(res))
	rep.Run = res
	return rep, ctx.Err()
}

// loadRun is what the phases of one RunLoad share. It is read-only once
// built.
type loadRun struct {
	cfg     LoadConfig
	spec    *workloadSpec
	out     io.Writer
	targets []target
	tr      *http.Transport
	keys    KeyFormat
	values  *ValueGen
	legacy  bool
	rq, wq  string // "r=..." and "w=..." query parameters, or ""
	// scatter maps insert numbers to random unused indices (write
	// workload): record Records+scatter.At(j) for insert j.
	scatter Permutation
}

func newLoadRun(cfg LoadConfig, out io.Writer) (*loadRun, error) {
	if out == nil {
		out = io.Discard
	}
	r := &loadRun{
		cfg:    cfg,
		spec:   lookupWorkload(cfg.Workload),
		out:    out,
		keys:   KeyFormat{Size: cfg.KeySize},
		values: NewValueGen(cfg.Seed, cfg.ValueSize, DefaultCompressionRatio),
		legacy: cfg.API == APIOriginal,
	}
	for _, s := range cfg.Targets {
		t, err := parseTarget(s)
		if err != nil {
			return nil, err
		}
		r.targets = append(r.targets, t)
	}
	if cfg.ReadLevel != "" {
		r.rq = "r=" + url.QueryEscape(cfg.ReadLevel)
	}
	if cfg.WriteLevel != "" {
		r.wq = "w=" + url.QueryEscape(cfg.WriteLevel)
	}
	free := r.keys.MaxIndex() - uint64(cfg.Records) + 1
	if r.keys.MaxIndex() == math.MaxUint64 && cfg.Records == 0 {
		free = math.MaxUint64
	}
	r.scatter = NewPermutation(free, splitmix64(uint64(cfg.Seed)^0x73636174)) // "scat"
	r.tr = NewLoadTransport(cfg.Concurrency)
	return r, nil
}

// NewLoadTransport returns the HTTP transport of a load generator with
// concurrency workers: keep-alive connections, enough idle ones per node
// that no worker ever redials, no compression, no proxy. Request
// timeouts are left to the requests' contexts.
func NewLoadTransport(concurrency int) *http.Transport {
	return &http.Transport{
		DialContext: (&net.Dialer{
			Timeout:   5 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		MaxIdleConns:        0, // no limit
		MaxIdleConnsPerHost: max(concurrency, 2) + 4,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
		WriteBufferSize:     16 << 10,
		ReadBufferSize:      16 << 10,
	}
}

// loadPhase is one phase of a RunLoad: its workers and what they share.
type loadPhase struct {
	run    *loadRun
	name   string
	load   bool // the load phase: insert k writes record k
	picker opPicker
	maxOps int64 // 0: until the deadline
	rate   float64
	every  float64 // nanoseconds between due times, open loop

	reqCtx   context.Context // parent of each request: the caller's ctx
	start    time.Time
	deadline time.Time // zero without one
	stop     atomic.Bool
	done     chan struct{} // closed when stop is set
	claim    atomic.Int64  // operations handed out
	acks     *ackCounter
	workers  []*loadWorker
	shards   []*statShard
}

// statShard holds the figures of a few workers: sharing one among
// workers bounds the memory of the histograms (58 KiB per operation type)
// whatever the concurrency, and spreading workers over a few keeps its
// mutex uncontended.
type statShard struct {
	mu struct {
		sync.Mutex
		stats    [numOpKinds]*opStats // nil for operations not in the mix
		retries  int64
		firstErr [numErrKinds]string
	}
}

// phase runs one phase and returns its result.
func (r *loadRun) phase(ctx context.Context, name string, load bool) *LoadResult {
	c := &r.cfg
	p := &loadPhase{
		run:    r,
		name:   name,
		load:   load,
		reqCtx: ctx,
		done:   make(chan struct{}),
		acks:   newAckCounter(uint64(c.Records)),
	}
	dist := c.Distribution
	var mixOps [numOpKinds]float64
	if load {
		mixOps[opInsert] = 1
		p.maxOps = int64(c.Records)
	} else {
		mixOps = r.spec.mix
		p.maxOps = c.Ops
		p.rate = c.Rate
		if p.rate > 0 {
			p.every = 1e9 / p.rate
		}
	}
	p.picker = newOpPicker(mixOps)
	chooser, err := newChooserFactory(dist, uint64(c.Records), uint64(c.Seed))
	if err != nil { // unreachable after Validate
		chooser, _ = newChooserFactory(DistUniform, uint64(c.Records), uint64(c.Seed))
	}
	salt := uint64(1)
	if load {
		salt = 0
	}
	for range min(c.Concurrency, 4*runtime.GOMAXPROCS(0)) {
		sh := new(statShard)
		for op, share := range mixOps {
			if share > 0 {
				sh.mu.stats[op] = new(opStats)
			}
		}
		p.shards = append(p.shards, sh)
	}
	for i := range c.Concurrency {
		stream := salt<<32 | uint64(i)
		rng := rand.New(rand.NewPCG(uint64(c.Seed), stream))
		w := &loadWorker{
			p:      p,
			rng:    rng,
			keys:   chooser.chooser(rng),
			values: r.values.Fork(int(stream)),
			key:    make([]byte, c.KeySize),
			key2:   make([]byte, c.KeySize),
			buf:    make([]byte, 16<<10),
			hdr:    http.Header{},
			watch:  newWatchdog(ctx, c.Timeout),
			tgt:    i % len(r.targets),
			down:   make([]time.Time, len(r.targets)),
			shard:  p.shards[i%len(p.shards)],
		}
		p.workers = append(p.workers, w)
	}

	_ = ResetPeakRSS() // best effort: without it the peak covers the process's life
	user0, sys0 := processCPU()
	p.start = time.Now()
	runCtx, cancel := ctx, context.CancelFunc(func() {})
	if p.maxOps == 0 {
		p.deadline = p.start.Add(c.Duration)
		runCtx, cancel = context.WithDeadline(ctx, p.deadline)
	}
	defer cancel()
	stopAfter := context.AfterFunc(runCtx, func() {
		p.stop.Store(true)
		close(p.done)
	})

	var progress []LoadInterval
	progressDone := make(chan struct{})
	var progressWG sync.WaitGroup
	if c.Progress > 0 {
		progressWG.Go(func() { progress = p.progressLoop(c.Progress, progressDone) })
	}
	var wg sync.WaitGroup
	for _, w := range p.workers {
		wg.Go(w.loop)
	}
	wg.Wait()
	elapsed := time.Since(p.start)
	user1, sys1 := processCPU()
	close(progressDone)
	progressWG.Wait()
	stopAfter()

	res := p.result(elapsed)
	res.Intervals = progress
	res.CPUUser, res.CPUSys = user1-user0, sys1-sys0
	if s := elapsed.Seconds(); s > 0 {
		res.CPUPercent = 100 * (res.CPUUser + res.CPUSys).Seconds() / s
	}
	_, res.PeakRSSBytes = ReadRSS()
	if p.rate > 0 && p.maxOps == 0 && ctx.Err() == nil {
		due := int64(math.Ceil(float64(c.Duration) / p.every))
		var issued int64
		for _, w := range p.workers {
			issued += w.issued
		}
		res.Missed = max(due-issued, 0)
	}
	return res
}

// opStats are the figures of one operation type of one worker.
type opStats struct {
	hist     Histogram // latencies of completed operations
	ops      int64     // completed
	notFound int64
	records  int64
	errs     [numErrKinds]int64
}

// loadWorker issues operations one at a time. Its fields are owned by its
// goroutine; it records its figures in its shard.
type loadWorker struct {
	p      *loadPhase
	rng    *rand.Rand
	keys   keyChooser
	values *ValueGen
	key    []byte      // KeySize bytes, reused
	key2   []byte      // the end key of scans
	qbuf   []byte      // query strings being built
	buf    []byte      // response bodies are read into it
	line   []byte      // the start of the current line of a range response
	hdr    http.Header // empty, shared by the worker's requests (only read)
	watch  *watchdog
	// tmpl is the request every request starts as a copy of: its
	// context is tmplCtx, the watchdog's current one.
	tmpl    *http.Request
	tmplCtx context.Context
	tgt     int         // next target
	down    []time.Time // per target: avoid it until then (zero: no)
	downs   int         // nonzero entries of down
	timer   *time.Timer
	issued  int64 // operations started
	shard   *statShard
}

// outcome is the result of one operation.
type outcome struct {
	kind     errKind
	err      error // set with kind
	notFound bool
	records  int64
	retries  int64
}

// loop runs operations until the phase ends.
func (w *loadWorker) loop() {
	p := w.p
	defer func() {
		if w.timer != nil {
			w.timer.Stop()
		}
		w.watch.close()
	}()
	for {
		k := p.claim.Add(1) - 1
		if p.maxOps > 0 && k >= p.maxOps {
			return
		}
		var t0 time.Time
		if p.rate > 0 {
			due := p.start.Add(time.Duration(float64(k) * p.every))
			if !p.deadline.IsZero() && !due.Before(p.deadline) {
				return
			}
			if !w.sleepUntil(due) {
				return
			}
			t0 = due
		} else {
			if p.stop.Load() {
				return
			}
			t0 = time.Now()
		}
		w.issued++
		op := p.picker.pick(w.rng.Float64())
		o := w.exec(op, k)
		t1 := time.Now()
		if p.reqCtx.Err() != nil {
			return // interrupted: this operation's fate is unknown
		}
		w.record(op, &o, t1.Sub(t0))
	}
}

// sleepUntil waits until t, and reports whether the phase is still on.
func (w *loadWorker) sleepUntil(t time.Time) bool {
	if d := time.Until(t); d > 0 {
		if w.timer == nil {
			w.timer = time.NewTimer(d)
		} else {
			w.timer.Reset(d)
		}
		select {
		case <-w.timer.C:
		case <-w.p.done:
			return false
		}
	}
	return !w.p.stop.Load()
}

// record adds the outcome of one operation that took lat.
func (w *loadWorker) record(op opKind, o *outcome, lat time.Duration) {
	sh := w.shard
	sh.mu.Lock()
	defer sh.mu.Unlock()
	s := sh.mu.stats[op]
	sh.mu.retries += o.retries
	if o.kind != errNone {
		s.errs[o.kind]++
		if sh.mu.firstErr[o.kind] == "" {
			sh.mu.firstErr[o.kind] = fmt.Sprintf("%s: %v", opNames[op], o.err)
		}
		return
	}
	s.ops++
	s.hist.Record(lat)
	s.records += o.records
	if o.notFound {
		s.notFound++
	}
}

// limit returns the number of records that reads may choose from.
func (p *loadPhase) limit() uint64 { return p.acks.Limit() }

// exec performs operation op, the phase's k-th.
func (w *loadWorker) exec(op opKind, k int64) outcome {
	p := w.p
	r := p.run
	switch op {
	case opRead:
		key := r.keys.Key(w.key, w.keys.next(p.limit()))
		return w.get(key)
	case opUpdate:
		key := r.keys.Key(w.key, w.keys.next(p.limit()))
		return w.put(key)
	case opInsert:
		if p.load {
			return w.put(r.keys.Key(w.key, uint64(k)))
		}
		j := p.acks.take()
		idx := j
		if r.spec.scatter {
			idx = uint64(r.cfg.Records) + r.scatter.At(j-uint64(r.cfg.Records))
		}
		o := w.put(r.keys.Key(w.key, idx))
		p.acks.ack(j)
		return o
	case opScan:
		i := w.keys.next(p.limit())
		n := 1 + w.rng.IntN(r.cfg.MaxScanLength)
		return w.scan(r.keys.Key(w.key, i), r.keys.Key(w.key2, i+uint64(n)-1), n)
	case opRMW:
		key := r.keys.Key(w.key, w.keys.next(p.limit()))
		o := w.get(key)
		if o.kind != errNone {
			return o
		}
		o2 := w.put(key)
		o2.notFound = o.notFound
		o2.retries += o.retries
		return o2
	}
	return outcome{kind: errOther, err: fmt.Errorf("bench: unknown operation %d", op)}
}

// request is one HTTP request, independent of the target.
type request struct {
	method string
	path   string
	query  string
	body   []byte // sent when hasBody
	// hasBody: send body (possibly empty) with its Content-Length.
	hasBody bool
	scan    scanFormat // how to read a 2xx response
}

type scanFormat uint8

const (
	scanNone   scanFormat = iota // drain the body
	scanNDJSON                   // a GET /kv range response
	scanJSON                     // a GET /range JSON array
)

func (w *loadWorker) get(key []byte) outcome {
	r := w.p.run
	var req request
	req.method = http.MethodGet
	if r.legacy {
		req.path = "/"
		w.qbuf = append(append(w.qbuf[:0], "key="...), key...)
		req.query = string(w.qbuf)
	} else {
		req.path = kvPath(key)
		req.query = r.rq
	}
	o, status := w.send(&req)
	if o.kind == errNone && status == http.StatusNotFound {
		o.notFound = true
	}
	return o
}

func (w *loadWorker) put(key []byte) outcome {
	r := w.p.run
	value := w.values.Next(r.cfg.ValueSize)
	var req request
	req.method = http.MethodPut
	if r.legacy {
		req.path = "/"
		q := append(w.qbuf[:0], "key="...)
		q = appendQueryEscape(q, key)
		q = append(q, "&value="...)
		q = appendQueryEscape(q, value)
		w.qbuf = q
		req.query = string(q)
	} else {
		req.path = kvPath(key)
		req.query = r.wq
		req.body, req.hasBody = value, true
	}
	o, _ := w.send(&req)
	return o
}

func (w *loadWorker) scan(start, end []byte, n int) outcome {
	r := w.p.run
	var req request
	req.method = http.MethodGet
	q := append(w.qbuf[:0], "start="...)
	q = appendQueryEscape(q, start)
	q = append(q, "&end="...)
	q = appendQueryEscape(q, end)
	if r.legacy {
		req.path = "/range"
		req.scan = scanJSON
	} else {
		req.path = "/kv"
		req.scan = scanNDJSON
		q = append(q, "&limit="...)
		q = strconv.AppendInt(q, int64(n), 10)
		if r.rq != "" {
			q = append(append(q, '&'), r.rq...)
		}
	}
	w.qbuf = q
	req.query = string(q)
	o, _ := w.send(&req)
	return o
}

// kvPath returns "/kv/" followed by key, which holds only digits and so
// needs no escaping.
func kvPath(key []byte) string {
	b := make([]byte, 0, 4+len(key))
	b = append(b, "/kv/"...)
	b = append(b, key...)
	return string(b)
}

// appendQueryEscape appends s escaped as url.QueryEscape does: letters,
// digits and -_.~ as they are, space as '+', every other byte as %XX.
func appendQueryEscape(dst, s []byte) []byte {
	const hex = "0123456789ABCDEF"
	for _, b := range s {
		switch {
		case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z', '0' <= b && b <= '9',
			b == '-', b == '_', b == '.', b == '~':
			dst = append(dst, b)
		case b == ' ':
			dst = append(dst, '+')
		default:
			dst = append(dst, '%', hex[b>>4], hex[b&0xf])
		}
	}
	return dst
}

// refusedBackoff is how long a worker avoids a target that refused a
// connection, unless every target is avoided.
const refusedBackoff = time.Second

// send sends req to the worker's next target, and on a refused connection
// to the following ones, until one accepts it or all have refused. A
// target that refused is skipped for refusedBackoff by this worker, so a
// dead node costs one retry per worker and second rather than one per
// request. send returns the outcome and the status code (0 on a transport
// error). A 404 answer to a point read is a success; other non-2xx codes
// are errors.
func (w *loadWorker) send(req *request) (outcome, int) {
	targets := w.p.run.targets
	var o outcome
	for attempt := 1; ; attempt++ {
		i := w.nextTarget()
		t := &targets[i]
		status, records, err := w.roundTrip(t, req)
		switch {
		case err != nil:
			if errors.Is(err, errRequestTimeout) {
				o.kind, o.err = errTimeout, err
			} else if isRefused(err) {
				if w.down[i].IsZero() {
					w.downs++
				}
				w.down[i] = time.Now().Add(refusedBackoff)
				if attempt < len(targets) {
					o.retries++
					continue
				}
				o.kind, o.err = errRefused, err
			} else {
				o.kind, o.err = errOther, err
			}
		case status/100 == 2:
			o.records = records
		case status == http.StatusNotFound && req.method == http.MethodGet && req.scan == scanNone:
		case status >= 500:
			o.kind, o.err = err5xx, fmt.Errorf("HTTP %d from %s", status, t)
		case status >= 400:
			o.kind, o.err = err4xx, fmt.Errorf("HTTP %d from %s", status, t)
		default:
			o.kind, o.err = errOther, fmt.Errorf("HTTP %d from %s", status, t)
		}
		return o, status
	}
}

// nextTarget returns the index of the target of the worker's next
// request: the next in turn that is not being avoided after a refusal, or
// simply the next in turn if all are.
func (w *loadWorker) nextTarget() int {
	n := len(w.down)
	i := w.tgt
	if w.downs > 0 {
		now := time.Now()
		for range n {
			if w.down[i].IsZero() {
				break
			}
			if now.After(w.down[i]) {
				w.down[i] = time.Time{}
				w.downs--
				break
			}
			i = (i + 1) % n
		}
	}
	w.tgt = (i + 1) % n
	return i
}

// isTimeout reports whether err is a timeout of the transport, such as
// its response header timeout.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// isRefused reports whether err is a refused connection.
func isRefused(err error) bool { return errors.Is(err, syscall.ECONNREFUSED) }

// roundTrip sends one request to t and reads the whole response, counting
// the records of a successful scan.
func (w *loadWorker) roundTrip(t *target, r *request) (status int, records int64, err error) {
	p := w.p
	ctx := w.watch.arm()
	if ctx != w.tmplCtx {
		// The template carries the context; rebuilt only after a timeout
		// replaced it.
		w.tmpl = (&http.Request{Header: w.hdr}).WithContext(ctx)
		w.tmplCtx = ctx
	}
	// One allocation holds the request, its URL and its body reader.
	a := &requestAlloc{req: *w.tmpl}
	a.url = url.URL{Scheme: t.scheme, Host: t.host, Path: r.path, RawQuery: r.query}
	req := &a.req
	req.Method, req.URL, req.Host = r.method, &a.url, t.host
	if r.hasBody {
		req.ContentLength = int64(len(r.body))
		if len(r.body) == 0 {
			req.Body = http.NoBody
		} else {
			// A *bytes.Reader (also inside io.NopCloser) lets the
			// transport send the headers and a small body in one write.
			// The transport may read it after the response arrived,
			// which is harmless: the value's bytes never change.
			a.body.Reset(r.body)
			req.Body = io.NopCloser(&a.body)
		}
	}
	resp, err := p.run.tr.RoundTrip(req)
	if err == nil {
		format := scanNone
		if resp.StatusCode/100 == 2 {
			format = r.scan
		}
		records, err = w.readBody(resp.Body, format)
		resp.Body.Close()
		status = resp.StatusCode
	}
	fired := w.watch.disarm()
	if err != nil {
		if p.reqCtx.Err() == nil && (fired || isTimeout(err)) {
			err = fmt.Errorf("%w after %v: %v", errRequestTimeout, p.run.cfg.Timeout, err)
		}
		return 0, 0, err
	}
	return status, records, nil
}

// requestAlloc is everything of one request allocated per request, in
// one piece.
type requestAlloc struct {
	req  http.Request
	url  url.URL
	body bytes.Reader
}

// watchdog bounds the requests of one worker: arm returns the context of
// the next request, which is canceled if disarm is not called within the
// timeout. One context and one timer serve every request that does not
// time out, where context.WithTimeout would allocate a context and a
// timer per request.
//
// arm and disarm are called by the worker's goroutine, alternately; the
// timer's callback runs on its own.
type watchdog struct {
	parent  context.Context
	timeout time.Duration // <= 0: none
	timer   *time.Timer   // calls fire; nil without a timeout

	mu struct {
		sync.Mutex
		ctx    context.Context // of the current request
		cancel context.CancelFunc
		start  time.Time // of the current request
		armed  bool
		fired  bool // ctx was canceled for a timeout
	}
}

func newWatchdog(parent context.Context, timeout time.Duration) *watchdog {
	d := &watchdog{parent: parent, timeout: timeout}
	d.mu.ctx, d.mu.cancel = context.WithCancel(parent)
	if timeout > 0 {
		d.timer = time.AfterFunc(time.Hour, d.fire)
		d.timer.Stop()
	}
	return d
}

// arm starts the timeout of a request and returns its context.
func (d *watchdog) arm() context.Context {
	d.mu.Lock()
	if d.mu.fired {
		d.mu.ctx, d.mu.cancel = context.WithCancel(d.parent)
		d.mu.fired = false
	}
	d.mu.armed = true
	d.mu.start = time.Now()
	ctx := d.mu.ctx
	d.mu.Unlock()
	if d.timer != nil {
		d.timer.Reset(d.timeout)
	}
	return ctx
}

// disarm ends the timeout of the request and reports whether it expired.
func (d *watchdog) disarm() (fired bool) {
	if d.timer != nil {
		d.timer.Stop()
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.mu.armed = false
	return d.mu.fired
}

// fire cancels the current request if it has run for the timeout. A late
// call armed for an earlier request finds a younger one and does nothing.
func (d *watchdog) fire() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.mu.armed && !d.mu.fired && time.Since(d.mu.start) >= d.timeout {
		d.mu.fired = true
		d.mu.cancel()
	}
}

// close stops the timer and releases the context.
func (d *watchdog) close() {
	if d.timer != nil {
		d.timer.Stop()
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.mu.cancel()
}

// The starts of the last lines of a range response.
var (
	ndjsonEnd   = []byte(`{"next"`)
	ndjsonError = []byte(`{"error"`)
)

// readBody reads body to its end into the worker's buffer. For a range
// response it counts the records and checks the response is complete.
func (w *loadWorker) readBody(body io.Reader, format scanFormat) (int64, error) {
	var records int64
	ended := false // NDJSON: the last line was seen
	match := 0     // JSON: bytes of `{"Key":` matched so far
	var last byte  // JSON: the last byte that is not white space
	w.line = w.line[:0]
	for {
		n, err := body.Read(w.buf)
		chunk := w.buf[:n]
		switch format {
		case scanNDJSON:
			for len(chunk) > 0 {
				i := bytes.IndexByte(chunk, '\n')
				part := chunk
				if i >= 0 {
					part = chunk[:i]
				}
				if room := 8 - len(w.line); room > 0 {
					w.line = append(w.line, part[:min(room, len(part))]...)
				}
				if i < 0 {
					break
				}
				switch {
				case bytes.HasPrefix(w.line, ndjsonEnd):
					ended = true
				case bytes.HasPrefix(w.line, ndjsonError):
					return records, fmt.Errorf("%w: the node reported a failure after %d records", errScanIncomplete, records)
				case !ended:
					records++
				}
				w.line = w.line[:0]
				chunk = chunk[i+1:]
			}
		case scanJSON:
			const pat = `{"Key":`
			for _, b := range chunk {
				switch {
				case b == pat[match]:
					match++
					if match == len(pat) {
						records++
						match = 0
					}
				case b == pat[0]:
					match = 1
				default:
					match = 0
				}
				if b != ' ' && b != '\n' && b != '\r' && b != '\t' {
					last = b
				}
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return records, err
		}
	}
	switch {
	case format == scanNDJSON && !ended:
		return records, fmt.Errorf("%w: no last line after %d records", errScanIncomplete, records)
	case format == scanJSON && last != ']':
		return records, fmt.Errorf("%w: no closing bracket after %d records", errScanIncomplete, records)
	}
	return records, nil
}

// progressLoop prints a progress line every interval until done is
// closed, and returns the lines' figures.
func (p *loadPhase) progressLoop(every time.Duration, done <-chan struct{}) []LoadInterval {
	t := time.NewTicker(every)
	defer t.Stop()
	var lines []LoadInterval
	var hist Histogram
	var lastOps int64
	lastTime := p.start
	for {
		select {
		case <-done:
			return lines
		case now := <-t.C:
			hist.Reset()
			var ops, errs int64
			for _, sh := range p.shards {
				sh.mu.Lock()
				for _, s := range sh.mu.stats {
					if s == nil {
						continue
					}
					hist.Merge(&s.hist)
					ops += s.ops
					for _, e := range s.errs {
						errs += e
					}
				}
				sh.mu.Unlock()
			}
			iv := LoadInterval{
				Elapsed: now.Sub(p.start),
				Ops:     ops,
				Errors:  errs,
				P99:     hist.Percentile(99),
			}
			if dt := now.Sub(lastTime).Seconds(); dt > 0 {
				iv.OpsPerSec = float64(ops-lastOps) / dt
			}
			lastOps, lastTime = ops, now
			lines = append(lines, iv)
			fmt.Fprintln(p.run.out, FormatLoadProgress(p.name, iv))
		}
	}
}

// result merges the workers' figures.
func (p *loadPhase) result(elapsed time.Duration) *LoadResult {
	r := p.run
	c := &r.cfg
	res := &LoadResult{
		Name:         p.name,
		Workload:     c.Workload,
		API:          c.API,
		Distribution: c.Distribution,
		Records:      c.Records,
		Concurrency:  c.Concurrency,
		TargetRate:   p.rate,
		Elapsed:      elapsed,
		ErrorsByKind: make(map[string]int64, numErrKinds-1),
		NumCPU:       runtime.NumCPU(),
	}
	if p.load {
		res.Workload, res.Distribution = "load", ""
	}
	for _, t := range r.targets {
		res.Targets = append(res.Targets, t.String())
	}
	secs := elapsed.Seconds()
	var all Histogram
	var allErrs [numErrKinds]int64
	for op := range numOpKinds {
		var h Histogram
		var s opStats
		present := false
		for _, sh := range p.shards {
			ws := sh.mu.stats[op]
			if ws == nil {
				continue
			}
			present = true
			h.Merge(&ws.hist)
			s.ops += ws.ops
			s.notFound += ws.notFound
			s.records += ws.records
			for k, e := range ws.errs {
				s.errs[k] += e
			}
		}
		if !present {
			continue
		}
		all.Merge(&h)
		or := opResult(opNames[op], &h, &s, secs)
		res.Operations = append(res.Operations, or)
		res.All.Count += or.Count
		res.All.Errors += or.Errors
		res.All.NotFound += or.NotFound
		res.All.Records += or.Records
		for k, e := range s.errs {
			allErrs[k] += e
		}
	}
	res.All = opResult("all", &all, &opStats{ops: res.All.Count, notFound: res.All.NotFound, records: res.All.Records, errs: allErrs}, secs)
	res.Ops, res.OpsPerSec, res.Errors = res.All.Count, res.All.OpsPerSec, res.All.Errors
	for k := errTimeout; k < numErrKinds; k++ {
		res.ErrorsByKind[errKindNames[k]] = allErrs[k]
	}
	for _, sh := range p.shards {
		res.Retries += sh.mu.retries
		for k, msg := range sh.mu.firstErr {
			if msg == "" {
				continue
			}
			if res.FirstErrors == nil {
				res.FirstErrors = make(map[string]string)
			}
			if _, ok := res.FirstErrors[errKindNames[k]]; !ok {
				res.FirstErrors[errKindNames[k]] = msg
			}
		}
	}
	return res
}

func opResult(name string, h *Histogram, s *opStats, secs float64) OpResult {
	or := OpResult{
		Op:       name,
		Count:    s.ops,
		NotFound: s.notFound,
		Records:  s.records,
		Mean:     h.Mean(),
		P50:      h.Percentile(50),
		P90:      h.Percentile(90),
		P99:      h.Percentile(99),
		P999:     h.Percentile(99.9),
		Max:      h.Max(),
	}
	for _, e := range s.errs {
		or.Errors += e
	}
	if secs > 0 {
		or.OpsPerSec = float64(s.ops) / secs
	}
	return or
}
