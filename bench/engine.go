package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Engine is what the engine benchmarks drive: a local ordered key-value
// store. Implementations must be safe for concurrent use by many goroutines.
//
// Slices passed in (keys, values, scan start) belong to the caller, are
// reused by it as soon as the method returns, and must be neither modified
// nor retained: copy what must outlive the call. Values passed to Put are
// views of a shared read-only buffer.
type Engine interface {
	// Put sets key to value, replacing any previous value.
	Put(key, value []byte) error

	// Get returns the value of key and found=true, or found=false and a nil
	// error if key is absent. The returned value is read-only and valid only
	// until the caller's next call on the Engine; it may alias the engine's
	// internal buffers. The benchmarks never keep or modify it.
	Get(key []byte) (value []byte, found bool, err error)

	// Delete removes key. Deleting an absent key is not an error.
	Delete(key []byte) error

	// Scan calls fn for up to n records with key >= start, in ascending key
	// order, and stops early if fn returns false. key and value passed to fn
	// are read-only and valid only during that call of fn. fn must not call
	// the Engine.
	Scan(start []byte, n int, fn func(key, value []byte) bool) error

	// DiskUsage returns the bytes the engine's files occupy on disk.
	DiskUsage() (int64, error)

	// Close flushes what needs flushing and releases the engine's
	// resources. It is called once, after all other calls have returned.
	Close() error
}

// OpenFunc opens (creating if needed) the engine whose files live in dir,
// an existing directory. With sync set, every write must be durable before
// Put or Delete returns.
type OpenFunc func(dir string, sync bool) (Engine, error)

// Errors returned by EngineConfig.Validate and RunEngine, wrapped with
// details; test with errors.Is.
var (
	ErrInvalidConfig    = errors.New("bench: invalid config")
	ErrUnknownBenchmark = errors.New("bench: unknown benchmark")
)

// EngineConfig configures RunEngine. Zero fields take their defaults (see
// EnsureDefaults); DefaultEngineConfig returns them filled in.
type EngineConfig struct {
	// Dir holds the database, in the subdirectory Dir/db, which fill
	// benchmarks delete and recreate; nothing else in Dir is touched. If
	// Dir/db already holds data, benchmarks before the first fill run on
	// it. Default "": a fresh temporary directory, removed when RunEngine
	// returns.
	Dir string

	// Num is the number of keys (indices [0, Num)), and the number of
	// operations of the fill, overwrite and delete benchmarks. Default
	// 1,000,000.
	Num int

	// Reads is the number of operations of the read, seek and readwrite
	// benchmarks. Default Num.
	Reads int

	// KeySize is the key length in bytes; it must hold Num-1 in decimal plus
	// one byte. Default 16.
	KeySize int

	// ValueSize is the value length in bytes, at most 64 MiB. Default 100.
	ValueSize int

	// Threads is the number of goroutines the operations of each benchmark
	// are divided among. Default 1.
	Threads int

	// Benchmarks run in order on the same database. Default fillseq,
	// fillrandom, readrandom, readmissing, seekrandom, readwrite. See
	// EngineBenchmarks for the full list.
	Benchmarks []string

	// Sync is passed to OpenFunc: writes are durable before they return.
	Sync bool

	// ScanLength is the number of records seekrandom reads after each seek.
	// Default 100.
	ScanLength int

	// Seed selects the random keys and values; runs with equal seeds issue
	// the same operations (per goroutine). Default 0.
	Seed int64

	// Duration, if positive, caps the running time of each benchmark; a
	// benchmark cut short reports the operations it completed.
	Duration time.Duration

	// ReportEvery, if positive, prints a progress line with the rate of the
	// last interval every ReportEvery completed operations of a benchmark,
	// and records these rates in Result.Intervals. Default 0 (off).
	ReportEvery int
}

// DefaultBenchmarks is the default value of EngineConfig.Benchmarks.
const DefaultBenchmarks = "fillseq,fillrandom,readrandom,readmissing,seekrandom,readwrite"

// maxValueSize bounds EngineConfig.ValueSize.
const maxValueSize = 64 << 20

// DefaultEngineConfig returns the configuration with every default filled
// in, except Reads, which stays 0 to follow Num.
func DefaultEngineConfig() EngineConfig {
	var c EngineConfig
	c.EnsureDefaults()
	c.Reads = 0
	return c
}

// EnsureDefaults replaces zero fields with their defaults.
func (c *EngineConfig) EnsureDefaults() {
	if c.Num == 0 {
		c.Num = 1_000_000
	}
	if c.Reads == 0 && c.Num > 0 {
		c.Reads = c.Num
	}
	if c.KeySize == 0 {
		c.KeySize = 16
	}
	if c.ValueSize == 0 {
		c.ValueSize = 100
	}
	if c.Threads == 0 {
		c.Threads = 1
	}
	if len(c.Benchmarks) == 0 {
		c.Benchmarks = strings.Split(DefaultBenchmarks, ",")
	}
	if c.ScanLength == 0 {
		c.ScanLength = 100
	}
}

// Validate reports every problem of c, after defaults, as errors wrapping
// ErrInvalidConfig or ErrUnknownBenchmark, joined; nil if c is usable.
func (c EngineConfig) Validate() error {
	c.EnsureDefaults()
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalidConfig}, args...)...))
	}
	if c.Num < 0 {
		bad("num %d < 0", c.Num)
	}
	if c.Reads < 0 {
		bad("reads %d < 0", c.Reads)
	}
	if c.KeySize < 2 {
		bad("key size %d < 2", c.KeySize)
	} else if c.Num > 0 && (KeyFormat{Size: c.KeySize}).MaxIndex() < uint64(c.Num-1) {
		bad("key size %d cannot hold %d keys: need %d decimal digits plus one byte",
			c.KeySize, c.Num, len(fmt.Sprint(c.Num-1)))
	}
	if c.ValueSize < 0 || c.ValueSize > maxValueSize {
		bad("value size %d not in [0, %d]", c.ValueSize, maxValueSize)
	}
	if c.Threads < 1 {
		bad("threads %d < 1", c.Threads)
	}
	if c.ScanLength < 1 {
		bad("scan length %d < 1", c.ScanLength)
	}
	if c.Duration < 0 {
		bad("duration %v < 0", c.Duration)
	}
	if c.ReportEvery < 0 {
		bad("report every %d < 0", c.ReportEvery)
	}
	for _, name := range c.Benchmarks {
		if lookupEngineBenchmark(name) == nil {
			errs = append(errs, fmt.Errorf("%w %q (known: %s)", ErrUnknownBenchmark, name,
				strings.Join(EngineBenchmarks(), ",")))
		}
	}
	return errors.Join(errs...)
}

// RunEngine runs cfg.Benchmarks in order against the engine that open
// returns, printing a header, progress lines (if cfg.ReportEvery > 0) and
// one result line per benchmark to out (which may be nil), and returns the
// results.
//
// Like LevelDB's db_bench, the benchmarks share one database: fillseq and
// fillrandom start by deleting it and opening a fresh one, and the others
// work on what the previous ones left. A benchmark that needs data
// (readrandom, readmissing, seekrandom, readwrite, overwrite, deleterandom)
// running on a database that is empty because nothing filled it is preceded
// by a fillrandom, reported like the others.
//
// Failed engine operations are counted in Result.Errors and do not stop the
// run. RunEngine stops at the first error opening, closing or resetting the
// engine, or when ctx is done, and returns the results so far with that
// error (ctx.Err() for cancellation). It closes the engine before
// returning.
func RunEngine(ctx context.Context, cfg EngineConfig, open OpenFunc, out io.Writer) (results []Result, err error) {
	cfg.EnsureDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if out == nil {
		out = io.Discard
	}
	dir := cfg.Dir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "kvstore-bench-")
		if err != nil {
			return nil, fmt.Errorf("bench: temporary directory: %w", err)
		}
		defer func() {
			if rerr := os.RemoveAll(tmp); rerr != nil && err == nil {
				err = fmt.Errorf("bench: remove temporary directory: %w", rerr)
			}
		}()
		dir = tmp
	}
	r := &engineRun{
		cfg:    cfg,
		open:   open,
		out:    out,
		dbDir:  filepath.Join(dir, "db"),
		keys:   KeyFormat{Size: cfg.KeySize},
		values: NewValueGen(cfg.Seed, cfg.ValueSize, DefaultCompressionRatio),
	}
	defer func() {
		if cerr := r.close(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	r.printHeader()

	for seq, name := range cfg.Benchmarks {
		if err := ctx.Err(); err != nil {
			return results, err
		}
		b := lookupEngineBenchmark(name)
		if !b.fresh {
			// Open the database as found, to learn whether it holds data.
			if err := r.prepare(false); err != nil {
				return results, err
			}
		}
		if b.needsData && !r.loaded {
			fmt.Fprintf(out, "%-12s : the database is empty: running fillrandom first\n", name)
			res, err := r.run(ctx, seq, lookupEngineBenchmark("fillrandom"))
			if res != nil {
				results = append(results, *res)
			}
			if err != nil {
				return results, err
			}
			if err := ctx.Err(); err != nil {
				return results, err
			}
		}
		res, err := r.run(ctx, seq, b)
		if res != nil {
			results = append(results, *res)
		}
		if err != nil {
			return results, err
		}
	}
	return results, ctx.Err()
}

// engineRun is the state of one RunEngine call. It is used by one goroutine.
type engineRun struct {
	cfg    EngineConfig
	open   OpenFunc
	out    io.Writer
	dbDir  string
	keys   KeyFormat
	values *ValueGen

	eng    Engine // nil until the first benchmark, and while reset
	loaded bool   // the database holds data: filled in this run or found on disk
}

// prepare opens the engine if it is not open, after wiping the database if
// fresh.
func (r *engineRun) prepare(fresh bool) error {
	if fresh {
		if err := r.close(); err != nil {
			return err
		}
		if err := os.RemoveAll(r.dbDir); err != nil {
			return fmt.Errorf("bench: reset database: %w", err)
		}
		r.loaded = false
	}
	if r.eng != nil {
		return nil
	}
	if !fresh {
		entries, err := os.ReadDir(r.dbDir)
		r.loaded = err == nil && len(entries) > 0
	}
	if err := os.MkdirAll(r.dbDir, 0o755); err != nil {
		return fmt.Errorf("bench: create database directory: %w", err)
	}
	eng, err := r.open(r.dbDir, r.cfg.Sync)
	if err != nil {
		return fmt.Errorf("bench: open engine in %s: %w", r.dbDir, err)
	}
	r.eng = eng
	return nil
}

// close closes the engine if it is open.
func (r *engineRun) close() error {
	if r.eng == nil {
		return nil
	}
	err := r.eng.Close()
	r.eng = nil
	if err != nil {
		return fmt.Errorf("bench: close engine: %w", err)
	}
	return nil
}

func (r *engineRun) printHeader() {
	c := &r.cfg
	raw := float64(c.Num) * float64(c.KeySize+c.ValueSize)
	file := float64(c.Num) * (float64(c.KeySize) + float64(c.ValueSize)*DefaultCompressionRatio)
	fmt.Fprintf(r.out, "Dir:        %s\n", r.dbDir)
	fmt.Fprintf(r.out, "Keys:       %d bytes each\n", c.KeySize)
	fmt.Fprintf(r.out, "Values:     %d bytes each (%d bytes after compression)\n",
		c.ValueSize, int(float64(c.ValueSize)*DefaultCompressionRatio+0.5))
	fmt.Fprintf(r.out, "Entries:    %d\n", c.Num)
	fmt.Fprintf(r.out, "Reads:      %d\n", c.Reads)
	fmt.Fprintf(r.out, "Threads:    %d\n", c.Threads)
	fmt.Fprintf(r.out, "Sync:       %v\n", c.Sync)
	fmt.Fprintf(r.out, "RawSize:    %.1f MB (estimated)\n", raw/(1<<20))
	fmt.Fprintf(r.out, "FileSize:   %.1f MB (estimated)\n", file/(1<<20))
	fmt.Fprintf(r.out, "------------------------------------------------\n")
}
