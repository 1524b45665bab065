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
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// scenarioTarget is one node the load sends requests to.
type scenarioTarget struct {
	name string // "n1"
	host string // "127.0.0.1:40001"
	slot int    // the node's index in the cluster, < scenarioMaxNodes+2
}

// The operation types of a scenario's load.
const (
	scOpWrite = iota
	scOpRead
	numScOps
)

var scOpNames = [numScOps]string{"write", "read"}

// Samples kept per phase, and per verification.
const (
	scenarioPhaseSamples  = 8
	scenarioVerifySamples = 20
)

// scenarioLoad is the load of a scenario: its workers, the ledger and the
// figures of each phase.
//
// setTargets, beginPhase, endPhase, stop and verify are called by one
// goroutine (the scenario's); the workers run on their own goroutines,
// which stop waits for. phases[i] is written by beginPhase before cur
// says i, and read by the workers after they load cur.
type scenarioLoad struct {
	cfg    *ScenarioConfig
	tr     *http.Transport
	ctx    context.Context // parent of every request
	epoch  time.Time       // the scenario's start: times of samples
	start  time.Time       // the load's start
	ledger *ledger

	targets  atomic.Pointer[[]scenarioTarget]
	phases   []*phaseStats // one per phase of the plan; nil until begun
	cur      atomic.Int32  // index of the current phase
	stopping atomic.Bool
	wg       sync.WaitGroup
	shards   int // stat shards per phase
}

// newScenarioLoad returns the load of a scenario of phases phases; it
// does not start until the first beginPhase.
func newScenarioLoad(ctx context.Context, cfg *ScenarioConfig, tr *http.Transport, epoch time.Time, phases int) *scenarioLoad {
	return &scenarioLoad{
		cfg:    cfg,
		tr:     tr,
		ctx:    ctx,
		epoch:  epoch,
		ledger: newLedger(cfg.Keys, cfg.Concurrency),
		phases: make([]*phaseStats, phases),
		shards: max(1, min(cfg.Concurrency, 2*runtime.GOMAXPROCS(0))),
	}
}

// setTargets replaces the nodes the workers send requests to.
func (l *scenarioLoad) setTargets(ts []scenarioTarget) {
	ts = slices.Clone(ts)
	l.targets.Store(&ts)
}

// beginPhase starts phase i; the first call starts the workers.
func (l *scenarioLoad) beginPhase(i int, name string) *phaseStats {
	ps := newPhaseStats(name, l.shards)
	ps.start = time.Now()
	l.phases[i] = ps
	l.cur.Store(int32(i))
	if i == 0 {
		l.start = ps.start
		for id := range l.cfg.Concurrency {
			w := l.newWorker(l.ctx, id)
			l.wg.Go(w.loop)
		}
	}
	return ps
}

// endPhase records the end of phase i: the start of the next one, or of
// the stop.
func (l *scenarioLoad) endPhase(i int) { l.phases[i].setEnd(time.Now()) }

// stop ends the load and waits for the workers; operations in flight
// complete (each is bounded by the request timeout) and count in the
// phase they started in.
func (l *scenarioLoad) stop() {
	l.stopping.Store(true)
	l.wg.Wait()
}

// scenarioWorker issues one request at a time. Its fields are owned by
// its goroutine.
type scenarioWorker struct {
	l     *scenarioLoad
	ctx   context.Context // parent of the worker's requests
	id    int
	rng   *rand.Rand
	owned []int       // the keys it writes
	next  int         // position of its next target
	down  []time.Time // per target slot: avoid it until then
	key   []byte
	val   []byte
	body  []byte
}

func (l *scenarioLoad) newWorker(ctx context.Context, id int) *scenarioWorker {
	w := &scenarioWorker{
		l:    l,
		ctx:  ctx,
		id:   id,
		rng:  rand.New(rand.NewPCG(uint64(l.cfg.Seed), uint64(id)<<8|0x5c)),
		next: id,
		down: make([]time.Time, scenarioMaxNodes+2),
	}
	for k := id; k < l.cfg.Keys; k += l.cfg.Concurrency {
		w.owned = append(w.owned, k)
	}
	return w
}

// loop runs operations until the load stops.
func (w *scenarioWorker) loop() {
	l := w.l
	reads := l.cfg.readFraction()
	for !l.stopping.Load() && l.ctx.Err() == nil {
		ps := l.phases[l.cur.Load()]
		t0 := time.Now()
		if reads > 0 && w.rng.Float64() < reads {
			w.read(ps, w.rng.IntN(l.cfg.Keys), t0)
		} else {
			w.write(ps, w.owned[w.rng.IntN(len(w.owned))], t0)
		}
	}
}

// write sends the next value of key, which the worker owns.
func (w *scenarioWorker) write(ps *phaseStats, key int, t0 time.Time) {
	l := w.l
	seq := l.ledger.next(key)
	w.val = encodeScenarioValue(w.val[:0], key, w.id, seq, l.cfg.ValueSize)
	r := w.do(http.MethodPut, key, w.val, "w=quorum")
	if l.ctx.Err() != nil {
		return // interrupted: the write's fate is unknown, and irrelevant
	}
	lat := time.Since(t0)
	if r.kind == errNone {
		l.ledger.ack(key, seq, r.version)
	}
	ps.record(w.id, scOpWrite, &r, lat, w.sample(scOpWrite, key, &r))
}

// read reads key and judges the value against the ledger.
func (w *scenarioWorker) read(ps *phaseStats, key int, t0 time.Time) {
	l := w.l
	ackedBefore, _ := l.ledger.acked(key)
	r := w.do(http.MethodGet, key, nil, "r=quorum")
	if l.ctx.Err() != nil {
		return
	}
	lat := time.Since(t0)
	if r.kind == errNone {
		found := r.status == http.StatusOK
		r.verdict, r.got = judgeRead(key, l.ledger.writer(key), ackedBefore, l.ledger.attempted(key), found, r.body)
		r.acked = ackedBefore
	}
	ps.record(w.id, scOpRead, &r, lat, w.sample(scOpRead, key, &r))
}

// sample describes a failed or stale operation, when there is one.
func (w *scenarioWorker) sample(op, key int, r *scenarioResponse) any {
	switch {
	case r.kind != errNone:
		text := string(bytes.TrimSpace(r.body))
		if r.err != nil {
			text = r.err.Error()
		}
		if len(text) > 300 {
			text = text[:300] + "..."
		}
		return ScenarioError{At: time.Since(w.l.epoch), Op: scOpNames[op], Key: string(scenarioKey(nil, key)),
			Node: r.node, Kind: errKindNames[r.kind], Status: r.status, Text: text}
	case op == scOpRead && r.verdict != readOK:
		return ScenarioStaleRead{At: time.Since(w.l.epoch), Key: string(scenarioKey(nil, key)), Node: r.node,
			Verdict: r.verdict.String(), Acked: r.acked, Got: r.got}
	}
	return nil
}

// scenarioResponse is the outcome of one operation.
type scenarioResponse struct {
	kind    errKind // errNone: answered 200 (or 404 to a read)
	err     error   // a transport error, with kind
	status  int     // the last HTTP status, 0 for a transport error
	node    string  // the node of the last attempt; "*" if every node refused
	body    []byte  // the value read, or an error's body; owned by the worker
	version uint64  // X-Kvstore-Version
	retries int64
	// Reads only, when kind is errNone.
	verdict readVerdict
	acked   uint64 // the acknowledged sequence number when the read started
	got     uint64 // the sequence number read
}

// scenarioBackoff is how long a worker avoids a node after a connection
// error, unless every node is avoided (the same as the load generator's).
const scenarioBackoff = refusedBackoff

// do sends one request for key to the worker's next node, and after a
// connection error to the following ones, each at most once.
func (w *scenarioWorker) do(method string, key int, body []byte, query string) scenarioResponse {
	ts := *w.l.targets.Load()
	n := len(ts)
	var r scenarioResponse
	var tried uint64 // bit i: position i was tried
	now := time.Now()
	for attempt := 0; attempt < n; attempt++ {
		// The first untried position not avoided, else the first untried.
		pick := -1
		for j := range n {
			p := (w.next + j) % n
			if tried&(1<<p) != 0 {
				continue
			}
			if pick < 0 {
				pick = p
			}
			if w.down[ts[p].slot].Before(now) {
				pick = p
				break
			}
		}
		tried |= 1 << pick
		t := &ts[pick]
		if attempt == 0 {
			w.next = (pick + 1) % n
		}
		r.node = t.name
		err := w.roundTrip(t, method, key, body, query, &r)
		switch {
		case err == nil:
			return r
		case w.ctx.Err() != nil:
			r.kind, r.err = errOther, err
			return r
		case errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
			r.kind, r.err = errTimeout, err
			return r
		case isConnError(err):
			w.down[t.slot] = time.Now().Add(scenarioBackoff)
			if attempt+1 < n {
				r.retries++
				continue
			}
			r.kind, r.err, r.node = errRefused, fmt.Errorf("every node failed to connect; last, %s: %w", t.name, err), "*"
			return r
		default:
			r.kind, r.err = errOther, err
			return r
		}
	}
	r.kind, r.err, r.node = errRefused, errors.New("bench: no nodes to send to"), "*"
	return r
}

// roundTrip sends one request to t and reads the answer into r. It
// returns a transport error, or nil with r.kind set from the status.
func (w *scenarioWorker) roundTrip(t *scenarioTarget, method string, key int, body []byte, query string, r *scenarioResponse) error {
	l := w.l
	ctx, cancel := context.WithTimeout(w.ctx, l.cfg.Timeout)
	defer cancel()
	w.key = append(w.key[:0], "http://"...)
	w.key = append(w.key, t.host...)
	w.key = append(w.key, "/kv/"...)
	w.key = scenarioKey(w.key, key)
	w.key = append(w.key, '?')
	w.key = append(w.key, query...)
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, string(w.key), rd)
	if err != nil {
		return err
	}
	// No Idempotency-Key: a write on a kept-alive connection that turns out
	// closed comes back as a connection error, which do retries on another
	// node and counts, instead of the transport resending it unseen.
	resp, err := l.tr.RoundTrip(req)
	if err != nil {
		return err
	}
	limit := int64(512)
	if resp.StatusCode == http.StatusOK {
		limit = int64(l.cfg.ValueSize) + 1
	}
	w.body, err = readAllInto(w.body[:0], io.LimitReader(resp.Body, limit))
	if err == nil {
		_, err = io.Copy(io.Discard, resp.Body)
	}
	resp.Body.Close()
	if err != nil && method == http.MethodGet {
		return err // an interrupted read is resent
	}
	r.status, r.body, r.kind, r.err = resp.StatusCode, w.body, errNone, nil
	r.version, _ = strconv.ParseUint(resp.Header.Get(headerVersion), 10, 64)
	switch s := resp.StatusCode; {
	case s == http.StatusOK:
	case s == http.StatusNotFound && method == http.MethodGet:
	case s >= 500:
		r.kind = err5xx
	case s >= 400:
		r.kind = err4xx
	default:
		r.kind = errOther
	}
	return nil
}

// headerVersion is the response header carrying a record's version.
const headerVersion = "X-Kvstore-Version"

// readAllInto appends everything rd holds to dst.
func readAllInto(dst []byte, rd io.Reader) ([]byte, error) {
	for {
		if len(dst) == cap(dst) {
			dst = append(dst, 0)[:len(dst)]
		}
		n, err := rd.Read(dst[len(dst):cap(dst)])
		dst = dst[:len(dst)+n]
		if err == io.EOF {
			return dst, nil
		}
		if err != nil {
			return dst, err
		}
	}
}

// isConnError reports whether err means the request never reached a
// working node: the connection was refused, reset or closed before the
// response.
func isConnError(err error) bool {
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, net.ErrClosed) ||
		// A node shutting down closed the kept-alive connection the
		// request was about to use; net/http does not export this error.
		strings.Contains(err.Error(), errServerClosedIdle)
}

// errServerClosedIdle is the text of net/http's error for a request sent on
// a kept-alive connection the server closed meanwhile, unread.
const errServerClosedIdle = "http: server closed idle connection"

// phaseStats are the figures of one phase, kept in shards so that workers
// rarely contend. record is safe for concurrent use; setAction and setEnd
// are called by the scenario's goroutine, result after the workers
// stopped or for a snapshot.
type phaseStats struct {
	name   string
	start  time.Time
	shards []phaseShard

	mu struct {
		sync.Mutex
		end           time.Time // zero while running
		action        string
		actionElapsed time.Duration
	}
}

type phaseShard struct {
	mu struct {
		sync.Mutex
		ops          [numScOps]phaseOpStats
		retries      int64
		verdicts     [numReadVerdicts]int64
		byNode       map[string]int64
		errSamples   []ScenarioError
		staleSamples []ScenarioStaleRead
	}
}

type phaseOpStats struct {
	hist     Histogram
	count    int64
	notFound int64
	errs     [numErrKinds]int64
}

func newPhaseStats(name string, shards int) *phaseStats {
	return &phaseStats{name: name, shards: make([]phaseShard, shards)}
}

func (p *phaseStats) setAction(action string, elapsed time.Duration) {
	p.mu.Lock()
	p.mu.action, p.mu.actionElapsed = action, elapsed
	p.mu.Unlock()
}

func (p *phaseStats) setEnd(t time.Time) {
	p.mu.Lock()
	p.mu.end = t
	p.mu.Unlock()
}

// record adds one operation of worker that took lat; sample is a
// ScenarioError, a ScenarioStaleRead or nil.
func (p *phaseStats) record(worker, op int, r *scenarioResponse, lat time.Duration, sample any) {
	sh := &p.shards[worker%len(p.shards)]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	s := &sh.mu.ops[op]
	sh.mu.retries += r.retries
	switch smp := sample.(type) {
	case ScenarioError:
		if len(sh.mu.errSamples) < scenarioPhaseSamples {
			sh.mu.errSamples = append(sh.mu.errSamples, smp)
		}
	case ScenarioStaleRead:
		if len(sh.mu.staleSamples) < scenarioPhaseSamples {
			sh.mu.staleSamples = append(sh.mu.staleSamples, smp)
		}
	}
	if r.kind != errNone {
		s.errs[r.kind]++
		if sh.mu.byNode == nil {
			sh.mu.byNode = make(map[string]int64)
		}
		sh.mu.byNode[r.node]++
		return
	}
	s.count++
	s.hist.Record(lat)
	if op == scOpRead {
		if r.status == http.StatusNotFound {
			s.notFound++
		}
		sh.mu.verdicts[r.verdict]++
	}
}

// result merges the shards; start is the load's start. A phase still
// running is measured up to now.
func (p *phaseStats) result(start time.Time) ScenarioPhase {
	p.mu.Lock()
	end, action, actionElapsed := p.mu.end, p.mu.action, p.mu.actionElapsed
	p.mu.Unlock()
	if end.IsZero() {
		end = time.Now()
	}
	res := ScenarioPhase{
		Name:          p.name,
		Action:        action,
		ActionElapsed: actionElapsed,
		Start:         p.start.Sub(start),
		Elapsed:       end.Sub(p.start),
		ErrorsByKind:  make(map[string]int64, numErrKinds-1),
	}
	var hists [numScOps]Histogram
	var all Histogram
	var ops [numScOps]phaseOpStats // without their histograms
	var errs [numErrKinds]int64
	for i := range p.shards {
		sh := &p.shards[i]
		sh.mu.Lock()
		for op := range numScOps {
			s := &sh.mu.ops[op]
			hists[op].Merge(&s.hist)
			ops[op].count += s.count
			ops[op].notFound += s.notFound
			for k, e := range s.errs {
				ops[op].errs[k] += e
				errs[k] += e
			}
		}
		res.Retries += sh.mu.retries
		res.StaleReads += sh.mu.verdicts[readMissing] + sh.mu.verdicts[readOlder]
		res.CorruptReads += sh.mu.verdicts[readCorrupt]
		for node, n := range sh.mu.byNode {
			if res.ErrorsByNode == nil {
				res.ErrorsByNode = make(map[string]int64)
			}
			res.ErrorsByNode[node] += n
		}
		res.ErrorSamples = append(res.ErrorSamples, sh.mu.errSamples...)
		res.StaleSamples = append(res.StaleSamples, sh.mu.staleSamples...)
		sh.mu.Unlock()
	}
	secs := res.Elapsed.Seconds()
	summary := func(h *Histogram, s *phaseOpStats) ScenarioOps {
		o := ScenarioOps{Count: s.count, NotFound: s.notFound, Mean: h.Mean(),
			P50: h.Percentile(50), P99: h.Percentile(99), Max: h.Max()}
		for _, e := range s.errs {
			o.Errors += e
		}
		return o
	}
	res.Writes = summary(&hists[scOpWrite], &ops[scOpWrite])
	res.Reads = summary(&hists[scOpRead], &ops[scOpRead])
	all.Merge(&hists[scOpWrite])
	all.Merge(&hists[scOpRead])
	res.All = summary(&all, &phaseOpStats{count: ops[0].count + ops[1].count, notFound: ops[1].notFound, errs: errs})
	res.Ops, res.Errors = res.All.Count, res.All.Errors
	if secs > 0 {
		res.OpsPerSec = float64(res.Ops) / secs
	}
	for k := errTimeout; k < numErrKinds; k++ {
		res.ErrorsByKind[errKindNames[k]] = errs[k]
	}
	slices.SortFunc(res.ErrorSamples, func(a, b ScenarioError) int { return int(a.At - b.At) })
	slices.SortFunc(res.StaleSamples, func(a, b ScenarioStaleRead) int { return int(a.At - b.At) })
	res.ErrorSamples = clipSamples(res.ErrorSamples)
	res.StaleSamples = clipSamples(res.StaleSamples)
	return res
}

func clipSamples[T any](s []T) []T {
	if len(s) > scenarioPhaseSamples {
		s = s[:scenarioPhaseSamples]
	}
	return slices.Clip(s)
}

// verify reads back every key written at level, with Concurrency
// workers, retrying a failed read up to five times, and judges each
// against the ledger. The load must have stopped.
func (l *scenarioLoad) verify(ctx context.Context, level string) ScenarioVerify {
	t0 := time.Now()
	v := ScenarioVerify{Level: level}
	var keys []int
	for k := range l.cfg.Keys {
		if l.ledger.attempted(k) > 0 {
			keys = append(keys, k)
			if seq, _ := l.ledger.acked(k); seq > 0 {
				v.Acknowledged++
			}
		}
	}
	v.Keys = len(keys)
	var next atomic.Int64
	var mu sync.Mutex // guards v's counts and samples
	var wg sync.WaitGroup
	for id := range l.cfg.Concurrency {
		w := l.newWorker(ctx, id)
		wg.Go(func() {
			for ctx.Err() == nil {
				i := next.Add(1) - 1
				if i >= int64(len(keys)) {
					return
				}
				key := keys[i]
				acked, ackedVersion := l.ledger.acked(key)
				var r scenarioResponse
				for try := range 6 {
					if try > 0 && sleepCtx(ctx, 200*time.Millisecond) != nil {
						return
					}
					r = w.do(http.MethodGet, key, nil, "r="+level)
					mu.Lock()
					v.Retries += r.retries
					mu.Unlock()
					if r.kind == errNone {
						break
					}
				}
				if ctx.Err() != nil {
					return
				}
				verdict, got := readOK, uint64(0)
				if r.kind == errNone {
					verdict, got = judgeRead(key, l.ledger.writer(key), acked, l.ledger.attempted(key), r.status == http.StatusOK, r.body)
				}
				mu.Lock()
				switch {
				case r.kind != errNone:
					v.Unverified++
				case verdict == readOK:
					v.OK++
				case verdict == readMissing:
					v.Missing++
				case verdict == readOlder:
					v.Older++
				case verdict == readCorrupt:
					v.Corrupt++
				}
				if (r.kind != errNone || verdict != readOK) && len(v.Samples) < scenarioVerifySamples {
					s := ScenarioLostWrite{Key: string(scenarioKey(nil, key)), Verdict: verdict.String(),
						Acked: acked, AckedVersion: ackedVersion, Got: got, GotVersion: r.version, Node: r.node}
					if r.kind != errNone {
						s.Verdict = "unverified"
						s.Error = fmt.Sprint(r.err)
						if r.err == nil {
							s.Error = fmt.Sprintf("HTTP %d: %s", r.status, bytes.TrimSpace(r.body))
						}
					}
					v.Samples = append(v.Samples, s)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	v.Lost = v.Missing + v.Older
	v.Elapsed = time.Since(t0)
	slices.SortFunc(v.Samples, func(a, b ScenarioLostWrite) int {
		if a.Key < b.Key {
			return -1
		}
		if a.Key > b.Key {
			return 1
		}
		return 0
	})
	return v
}
