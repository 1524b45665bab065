package bench

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// engineOp performs operation number i (global across goroutines, in
// [0, ops)) of a benchmark on w. It updates w's byte, read and found
// counters only when it succeeds.
type engineOp func(w *engineWorker, i uint64) error

// engineBenchmark describes one benchmark of RunEngine.
type engineBenchmark struct {
	name      string
	fresh     bool   // starts from an empty database
	fills     bool   // leaves the database holding data
	needsData bool   // meaningless on an empty database
	reads     bool   // runs EngineConfig.Reads operations, not Num
	permSalt  uint64 // nonzero: workers get a permutation of [0, Num) seeded with it
	doc       string
	op        engineOp
}

// engineBenchmarks lists the benchmarks in the order EngineBenchmarks
// reports them. It is never modified.
var engineBenchmarks = [...]engineBenchmark{
	{name: "fillseq", fresh: true, fills: true, op: opFillSeq,
		doc: "Num puts in ascending key order into a fresh database"},
	{name: "fillrandom", fresh: true, fills: true, permSalt: 0x66696c6c, op: opFillRandom,
		doc: "Num puts of every key once, in random order, into a fresh database"},
	{name: "overwrite", needsData: true, fills: true, op: opOverwrite,
		doc: "Num puts of uniformly random keys in [0, Num)"},
	{name: "readrandom", needsData: true, reads: true, op: opReadRandom,
		doc: "Reads gets of uniformly random keys in [0, Num)"},
	{name: "readmissing", needsData: true, reads: true, op: opReadMissing,
		doc: "Reads gets of random keys that are never written"},
	{name: "seekrandom", needsData: true, reads: true, op: opSeekRandom,
		doc: "Reads scans of ScanLength records from uniformly random keys"},
	{name: "readwrite", needsData: true, reads: true, op: opReadWrite,
		doc: "Reads operations alternating gets and puts of uniformly random keys"},
	{name: "deleterandom", needsData: true, permSalt: 0x64656c, op: opDeleteRandom,
		doc: "Num deletes of every key once, in random order"},
}

// EngineBenchmarks returns the names of the benchmarks RunEngine knows.
func EngineBenchmarks() []string {
	names := make([]string, len(engineBenchmarks))
	for i := range engineBenchmarks {
		names[i] = engineBenchmarks[i].name
	}
	return names
}

// EngineBenchmarkDoc returns a one-line description of the named benchmark,
// or "" if there is none.
func EngineBenchmarkDoc(name string) string {
	if b := lookupEngineBenchmark(name); b != nil {
		return b.doc
	}
	return ""
}

func lookupEngineBenchmark(name string) *engineBenchmark {
	for i := range engineBenchmarks {
		if engineBenchmarks[i].name == name {
			return &engineBenchmarks[i]
		}
	}
	return nil
}

// engineWorker is the state of one goroutine of a benchmark. Everything in
// it is owned by that goroutine until the benchmark ends.
type engineWorker struct {
	eng        Engine
	keys       KeyFormat
	key        []byte // KeySize bytes, reused by every operation
	values     *ValueGen
	valueSize  int
	num        uint64
	rng        *rand.Rand
	perm       Permutation
	scanLength int
	scanFn     func(key, value []byte) bool // w.onScan, bound once
	stop       *atomic.Bool
	progress   *Progress // nil unless reporting
	batch      int64     // operations per progress.Add

	hist                Histogram
	ops, errs           int64
	reads, found, bytes int64 // of successful operations
	scanned             int   // records seen by the current scan
	seekFound           bool  // the current scan's first record has the seek key
	firstErr            error
	firstErrAt          time.Time
}

// run performs operations lo..hi-1, stopping early when w.stop is set. The
// latency of an operation is the time since the previous one ended, so one
// clock read serves each operation.
func (w *engineWorker) run(op engineOp, lo, hi uint64) {
	var pending int64
	t0 := time.Now()
	for i := lo; i < hi; i++ {
		if w.stop.Load() {
			break
		}
		err := op(w, i)
		t1 := time.Now()
		if err != nil {
			w.errs++
			if w.firstErr == nil {
				w.firstErr, w.firstErrAt = err, t1
			}
		} else {
			w.ops++
			w.hist.Record(t1.Sub(t0))
			if w.progress != nil {
				pending++
				if pending == w.batch {
					w.progress.Add(pending, t1)
					pending = 0
				}
			}
		}
		t0 = t1
	}
	if pending > 0 {
		w.progress.Add(pending, time.Now())
	}
}

func (w *engineWorker) put(idx uint64) error {
	k := w.keys.Key(w.key, idx)
	v := w.values.Next(w.valueSize)
	if err := w.eng.Put(k, v); err != nil {
		return err
	}
	w.bytes += int64(len(k) + len(v))
	return nil
}

func (w *engineWorker) get(k []byte) error {
	v, found, err := w.eng.Get(k)
	if err != nil {
		return err
	}
	w.reads++
	if found {
		w.found++
		w.bytes += int64(len(k) + len(v))
	}
	return nil
}

func opFillSeq(w *engineWorker, i uint64) error    { return w.put(i) }
func opFillRandom(w *engineWorker, i uint64) error { return w.put(w.perm.At(i)) }
func opOverwrite(w *engineWorker, _ uint64) error  { return w.put(w.rng.Uint64N(w.num)) }

func opReadRandom(w *engineWorker, _ uint64) error {
	return w.get(w.keys.Key(w.key, w.rng.Uint64N(w.num)))
}

func opReadMissing(w *engineWorker, _ uint64) error {
	return w.get(w.keys.MissingKey(w.key, w.rng.Uint64N(w.num)))
}

func opSeekRandom(w *engineWorker, _ uint64) error {
	k := w.keys.Key(w.key, w.rng.Uint64N(w.num))
	w.scanned, w.seekFound = 0, false
	before := w.bytes
	if err := w.eng.Scan(k, w.scanLength, w.scanFn); err != nil {
		w.bytes = before // count bytes of successful operations only
		return err
	}
	w.reads++
	if w.seekFound {
		w.found++
	}
	return nil
}

// onScan is the Scan callback of seekrandom.
func (w *engineWorker) onScan(key, value []byte) bool {
	if w.scanned == 0 && bytes.Equal(key, w.key) {
		w.seekFound = true
	}
	w.scanned++
	w.bytes += int64(len(key) + len(value))
	return w.scanned < w.scanLength
}

func opReadWrite(w *engineWorker, i uint64) error {
	if i%2 == 0 {
		return opReadRandom(w, i)
	}
	return opOverwrite(w, i)
}

func opDeleteRandom(w *engineWorker, i uint64) error {
	return w.eng.Delete(w.keys.Key(w.key, w.perm.At(i)))
}

// run runs benchmark b, number seq in the configured list, on the open
// engine (after preparing the database) and reports its result. It returns
// a nil result only with an error.
func (r *engineRun) run(ctx context.Context, seq int, b *engineBenchmark) (*Result, error) {
	if err := r.prepare(b.fresh); err != nil {
		return nil, err
	}
	c := &r.cfg
	total := uint64(c.Num)
	if b.reads {
		total = uint64(c.Reads)
	}

	var stop atomic.Bool
	var perm Permutation
	if b.permSalt != 0 {
		perm = NewPermutation(uint64(c.Num), splitmix64(uint64(c.Seed)^b.permSalt))
	}
	workers := make([]*engineWorker, c.Threads)
	for t := range workers {
		w := &engineWorker{
			eng:        r.eng,
			keys:       r.keys,
			key:        make([]byte, c.KeySize),
			values:     r.values.Fork(seq<<16 | t),
			valueSize:  c.ValueSize,
			num:        uint64(c.Num),
			rng:        rand.New(rand.NewPCG(uint64(c.Seed), uint64(seq)<<16|uint64(t))),
			perm:       perm,
			scanLength: c.ScanLength,
			stop:       &stop,
		}
		w.scanFn = w.onScan
		workers[t] = w
	}

	_ = ResetPeakRSS() // best effort: without it the peak covers the process's life
	// The clock starts before the duration's timer, so a capped benchmark
	// reports at least its cap.
	start := time.Now()
	runCtx, cancel := ctx, context.CancelFunc(func() {})
	if c.Duration > 0 {
		runCtx, cancel = context.WithDeadline(ctx, start.Add(c.Duration))
	}
	defer cancel()
	defer context.AfterFunc(runCtx, func() { stop.Store(true) })()
	var progress *Progress
	if c.ReportEvery > 0 {
		every := int64(c.ReportEvery)
		progress = NewProgress(every, start, func(iv IntervalRate) {
			fmt.Fprintln(r.out, FormatProgress(b.name, iv))
		})
		// Batches of at most 1/16 of an interval per goroutine keep both
		// the shared counter and the interval boundaries accurate enough.
		batch := min(max(every/int64(16*c.Threads), 1), 256)
		for _, w := range workers {
			w.progress, w.batch = progress, batch
		}
	}

	var wg sync.WaitGroup
	n := uint64(len(workers))
	for t, w := range workers {
		lo, hi := total*uint64(t)/n, total*uint64(t+1)/n
		wg.Go(func() { w.run(b.op, lo, hi) })
	}
	wg.Wait()
	elapsed := time.Since(start)

	res := Result{Name: b.name, Threads: c.Threads, Elapsed: elapsed}
	var hist Histogram
	var firstErrAt time.Time
	var bytesDone int64
	for _, w := range workers {
		hist.Merge(&w.hist)
		res.Ops += w.ops
		res.Errors += w.errs
		res.Reads += w.reads
		res.Found += w.found
		bytesDone += w.bytes
		if w.firstErr != nil && (res.Error == "" || w.firstErrAt.Before(firstErrAt)) {
			res.Error, firstErrAt = w.firstErr.Error(), w.firstErrAt
		}
	}
	if secs := elapsed.Seconds(); secs > 0 {
		res.OpsPerSec = float64(res.Ops) / secs
		res.MBPerSec = float64(bytesDone) / (1 << 20) / secs
	}
	res.P50 = hist.Percentile(50)
	res.P90 = hist.Percentile(90)
	res.P99 = hist.Percentile(99)
	res.P999 = hist.Percentile(99.9)
	res.Max = hist.Max()
	if progress != nil {
		res.Intervals = progress.Intervals()
	}
	if b.fills && res.Ops > 0 {
		r.loaded = true
	}
	if du, err := r.eng.DiskUsage(); err == nil {
		res.BytesOnDisk = du
	}
	res.RSSBytes, res.PeakRSSBytes = ReadRSS()
	fmt.Fprintln(r.out, FormatResult(res))
	return &res, nil
}
