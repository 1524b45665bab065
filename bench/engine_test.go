package bench

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

const (
	testNum   = 2000
	testReads = 1000
)

func testConfig(t *testing.T, benchmarks ...string) EngineConfig {
	return EngineConfig{
		Dir:        t.TempDir(),
		Num:        testNum,
		Reads:      testReads,
		KeySize:    16,
		ValueSize:  100,
		ScanLength: 10,
		Seed:       7,
		Benchmarks: benchmarks,
	}
}

func TestRunEngineBenchmarks(t *testing.T) {
	type counts struct{ puts, gets, deletes, scans, keys int64 }
	tests := []struct {
		name       string
		benchmarks []string // the last one is checked
		ops        int64
		reads      int64 // Result.Reads
		found      int64 // Result.Found
		want       counts
	}{
		{"fillseq", []string{"fillseq"}, testNum, 0, 0,
			counts{puts: testNum, keys: testNum}},
		{"fillrandom", []string{"fillrandom"}, testNum, 0, 0,
			counts{puts: testNum, keys: testNum}},
		{"overwrite", []string{"fillseq", "overwrite"}, testNum, 0, 0,
			counts{puts: 2 * testNum, keys: testNum}},
		{"readrandom", []string{"fillrandom", "readrandom"}, testReads, testReads, testReads,
			counts{puts: testNum, gets: testReads, keys: testNum}},
		{"readmissing", []string{"fillrandom", "readmissing"}, testReads, testReads, 0,
			counts{puts: testNum, gets: testReads, keys: testNum}},
		{"seekrandom", []string{"fillseq", "seekrandom"}, testReads, testReads, testReads,
			counts{puts: testNum, scans: testReads, keys: testNum}},
		{"readwrite", []string{"fillrandom", "readwrite"}, testReads, testReads / 2, testReads / 2,
			counts{puts: testNum + testReads/2, gets: testReads / 2, keys: testNum}},
		{"deleterandom", []string{"fillrandom", "deleterandom"}, testNum, 0, 0,
			counts{puts: testNum, deletes: testNum, keys: 0}},
	}
	for _, tt := range tests {
		for _, threads := range []int{1, 3} {
			t.Run(tt.name+"/threads="+string(rune('0'+threads)), func(t *testing.T) {
				cfg := testConfig(t, tt.benchmarks...)
				cfg.Threads = threads
				o := &memOpener{keySize: cfg.KeySize, valueSize: cfg.ValueSize}
				var out bytes.Buffer
				results, err := RunEngine(context.Background(), cfg, o.open, &out)
				if err != nil {
					t.Fatalf("RunEngine: %v\n%s", err, &out)
				}
				if len(results) != len(tt.benchmarks) {
					t.Fatalf("got %d results, want %d", len(results), len(tt.benchmarks))
				}
				e := o.last()
				got := counts{e.puts.Load(), e.gets.Load(), e.deletes.Load(), e.scans.Load(), int64(e.len())}
				if got != tt.want {
					t.Errorf("engine calls = %+v, want %+v", got, tt.want)
				}
				if n := e.badArgs.Load(); n != 0 {
					t.Errorf("%d calls with keys or values of the wrong size", n)
				}
				if n := e.badScans.Load(); n != 0 {
					t.Errorf("%d scans returned the wrong number of records", n)
				}
				if !e.closed.Load() {
					t.Errorf("engine not closed")
				}
				if tt.name == "seekrandom" && e.scanRecords.Load() < int64(testReads*cfg.ScanLength*9/10) {
					t.Errorf("scans returned %d records, want about %d", e.scanRecords.Load(), testReads*cfg.ScanLength)
				}
				r := results[len(results)-1]
				if r.Name != tt.name || r.Ops != tt.ops || r.Reads != tt.reads || r.Found != tt.found ||
					r.Errors != 0 || r.Threads != threads {
					t.Errorf("result %s: ops %d reads %d found %d errors %d threads %d, want %s: %d %d %d 0 %d",
						r.Name, r.Ops, r.Reads, r.Found, r.Errors, r.Threads, tt.name, tt.ops, tt.reads, tt.found, threads)
				}
				if r.Elapsed <= 0 || r.OpsPerSec <= 0 || r.MBPerSec < 0 || r.P50 <= 0 || r.P50 > r.P99 || r.P99 > r.Max {
					t.Errorf("implausible timings: %+v", r)
				}
				if tt.name != "deleterandom" && tt.name != "readmissing" && r.MBPerSec <= 0 {
					t.Errorf("MB/s = %v, want > 0", r.MBPerSec)
				}
				if tt.want.keys > 0 && r.BytesOnDisk <= 0 {
					t.Errorf("BytesOnDisk = %d, want > 0", r.BytesOnDisk)
				}
				if !strings.Contains(out.String(), "\n"+FormatResult(r)+"\n") {
					t.Errorf("output lacks the result line %q:\n%s", FormatResult(r), &out)
				}
			})
		}
	}
}

func TestRunEngineFreshFill(t *testing.T) {
	cfg := testConfig(t, "fillseq", "readrandom", "fillrandom", "readrandom")
	keep := filepath.Join(cfg.Dir, "keep")
	if err := os.WriteFile(keep, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	o := &memOpener{}
	var dirs []string
	open := func(dir string, sync bool) (Engine, error) {
		if entries, _ := os.ReadDir(dir); len(entries) != 0 {
			t.Errorf("fill opened a database directory holding %d files", len(entries))
		}
		dirs = append(dirs, dir)
		// Leave a file behind, as a real engine does.
		if err := os.WriteFile(filepath.Join(dir, "data"), []byte("x"), 0o644); err != nil {
			return nil, err
		}
		return o.open(dir, sync)
	}
	results, err := RunEngine(context.Background(), cfg, open, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs) != 2 {
		t.Errorf("engine opened %d times, want 2 (once per fill)", len(dirs))
	}
	for _, d := range dirs {
		if d != filepath.Join(cfg.Dir, "db") {
			t.Errorf("engine opened in %s, want %s", d, filepath.Join(cfg.Dir, "db"))
		}
	}
	for _, e := range o.engines {
		if !e.closed.Load() {
			t.Errorf("an engine was left open")
		}
	}
	if _, err := os.Stat(keep); err != nil {
		t.Errorf("file beside the database: %v", err)
	}
	for i, r := range results {
		if r.Name == "readrandom" && r.Found != testReads {
			t.Errorf("results[%d]: readrandom found %d of %d", i, r.Found, testReads)
		}
	}
}

func TestRunEngineImplicitFill(t *testing.T) {
	cfg := testConfig(t, "readrandom")
	o := &memOpener{}
	var out bytes.Buffer
	results, err := RunEngine(context.Background(), cfg, o.open, &out)
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != 2 || results[0].Name != "fillrandom" || results[1].Name != "readrandom" {
		t.Fatalf("results %v, want fillrandom then readrandom", names(results))
	}
	if results[1].Found != testReads {
		t.Errorf("readrandom found %d of %d", results[1].Found, testReads)
	}
	if !strings.Contains(out.String(), "empty") {
		t.Errorf("output does not say why fillrandom ran:\n%s", &out)
	}
}

func TestRunEngineExistingDatabase(t *testing.T) {
	cfg := testConfig(t, "readrandom")
	db := filepath.Join(cfg.Dir, "db")
	if err := os.MkdirAll(db, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(db, "data"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	o := &memOpener{}
	results, err := RunEngine(context.Background(), cfg, o.open, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != 1 || results[0].Name != "readrandom" {
		t.Fatalf("results %v, want only readrandom on the existing database", names(results))
	}
	if _, err := os.Stat(filepath.Join(db, "data")); err != nil {
		t.Errorf("existing database touched: %v", err)
	}
}

func TestRunEngineTempDir(t *testing.T) {
	cfg := testConfig(t, "fillseq")
	cfg.Dir = ""
	var dir string
	open := func(d string, sync bool) (Engine, error) {
		dir = d
		return newMemEngine(d, sync), nil
	}
	if _, err := RunEngine(context.Background(), cfg, open, nil); err != nil {
		t.Fatal(err)
	}
	if dir == "" {
		t.Fatal("engine never opened")
	}
	if _, err := os.Stat(filepath.Dir(dir)); !os.IsNotExist(err) {
		t.Errorf("temporary directory %s not removed: %v", filepath.Dir(dir), err)
	}
}

// nopEngine accepts every operation and stores nothing; hook, if set, runs
// before each Put.
type nopEngine struct {
	hook func()
}

func (e *nopEngine) Put(key, value []byte) error {
	if e.hook != nil {
		e.hook()
	}
	return nil
}
func (e *nopEngine) Get(key []byte) ([]byte, bool, error) { return nil, false, nil }
func (e *nopEngine) Delete(key []byte) error              { return nil }
func (e *nopEngine) Scan(start []byte, n int, fn func(key, value []byte) bool) error {
	return nil
}
func (e *nopEngine) DiskUsage() (int64, error) { return 0, nil }
func (e *nopEngine) Close() error              { return nil }

func TestRunEngineDuration(t *testing.T) {
	cfg := testConfig(t, "fillseq", "fillrandom")
	cfg.Num = 1_000_000_000
	cfg.Duration = 20 * time.Millisecond
	open := func(string, bool) (Engine, error) { return &nopEngine{}, nil }
	start := time.Now()
	results, err := RunEngine(context.Background(), cfg, open, nil)
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("run took %v with a %v cap per benchmark", took, cfg.Duration)
	}
	for _, r := range results {
		if r.Ops <= 0 || r.Ops >= int64(cfg.Num) {
			t.Errorf("%s: %d ops, want some but not all %d", r.Name, r.Ops, cfg.Num)
		}
		if r.Elapsed < cfg.Duration {
			t.Errorf("%s: elapsed %v < cap %v", r.Name, r.Elapsed, cfg.Duration)
		}
	}
}

func TestRunEngineCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var puts atomic.Int64
	open := func(string, bool) (Engine, error) {
		return &nopEngine{hook: func() {
			if puts.Add(1) == 500 {
				cancel()
			}
		}}, nil
	}
	cfg := testConfig(t, "fillseq", "fillrandom")
	cfg.Num = 100_000_000
	cfg.Threads = 2
	results, err := RunEngine(ctx, cfg, open, nil)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("RunEngine error = %v, want context.Canceled", err)
	}
	if len(results) != 1 || results[0].Ops < 500 || results[0].Ops >= int64(cfg.Num) {
		t.Errorf("results %+v, want one partial fillseq", results)
	}

	// A context already done runs nothing.
	results, err = RunEngine(ctx, cfg, open, nil)
	if !errors.Is(err, context.Canceled) || len(results) != 0 {
		t.Errorf("RunEngine on a done context = %d results, %v", len(results), err)
	}
}

// failingEngine fails every third Get.
type failingEngine struct {
	*memEngine
	n atomic.Int64
}

var errInjected = errors.New("injected failure")

func (e *failingEngine) Get(key []byte) ([]byte, bool, error) {
	if e.n.Add(1)%3 == 0 {
		return nil, false, errInjected
	}
	return e.memEngine.Get(key)
}

func TestRunEngineCountsErrors(t *testing.T) {
	cfg := testConfig(t, "fillseq", "readrandom")
	open := func(dir string, sync bool) (Engine, error) {
		return &failingEngine{memEngine: newMemEngine(dir, sync)}, nil
	}
	var out bytes.Buffer
	results, err := RunEngine(context.Background(), cfg, open, &out)
	if err != nil {
		t.Fatal(err)
	}
	r := results[1]
	wantErrs := int64(testReads / 3)
	if r.Errors != wantErrs || r.Ops != testReads-wantErrs || r.Found != r.Ops || r.Error != errInjected.Error() {
		t.Errorf("readrandom: ops %d errors %d found %d error %q, want %d %d %d %q",
			r.Ops, r.Errors, r.Found, r.Error, testReads-wantErrs, wantErrs, testReads-wantErrs, errInjected)
	}
	if !strings.Contains(out.String(), "errors 333 (first: injected failure)") {
		t.Errorf("output does not report the errors:\n%s", &out)
	}
}

func TestRunEngineOpenError(t *testing.T) {
	cfg := testConfig(t, "fillseq")
	errOpen := errors.New("cannot open")
	_, err := RunEngine(context.Background(), cfg, func(string, bool) (Engine, error) { return nil, errOpen }, nil)
	if !errors.Is(err, errOpen) {
		t.Errorf("RunEngine error = %v, want %v", err, errOpen)
	}
}

func TestRunEngineReportEvery(t *testing.T) {
	for _, threads := range []int{1, 2} {
		cfg := testConfig(t, "fillseq")
		cfg.ReportEvery = 500
		cfg.Threads = threads
		o := &memOpener{}
		var out bytes.Buffer
		results, err := RunEngine(context.Background(), cfg, o.open, &out)
		if err != nil {
			t.Fatal(err)
		}
		ivs := results[0].Intervals
		if threads == 1 && len(ivs) != testNum/500 {
			t.Errorf("threads=1: %d intervals, want %d: %+v", len(ivs), testNum/500, ivs)
		}
		if len(ivs) == 0 || ivs[len(ivs)-1].Ops != testNum {
			t.Fatalf("threads=%d: intervals %+v do not end at %d ops", threads, ivs, testNum)
		}
		for i, iv := range ivs {
			if iv.Ops%500 != 0 || iv.OpsPerSec <= 0 || (i > 0 && (iv.Ops <= ivs[i-1].Ops || iv.Elapsed < ivs[i-1].Elapsed)) {
				t.Errorf("threads=%d: bad interval %d: %+v", threads, i, ivs)
			}
		}
		if got := strings.Count(out.String(), "fillseq      : ... "); got != len(ivs) {
			t.Errorf("threads=%d: %d progress lines, want %d:\n%s", threads, got, len(ivs), &out)
		}
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(c *EngineConfig)
		wantErr error
	}{
		{"defaults", func(c *EngineConfig) {}, nil},
		{"zero value", func(c *EngineConfig) { *c = EngineConfig{} }, nil},
		{"negative num", func(c *EngineConfig) { c.Num = -1 }, ErrInvalidConfig},
		{"negative reads", func(c *EngineConfig) { c.Reads = -1 }, ErrInvalidConfig},
		{"key too small for num", func(c *EngineConfig) { c.KeySize = 4; c.Num = 1001 }, ErrInvalidConfig},
		{"key just fits", func(c *EngineConfig) { c.KeySize = 4; c.Num = 1000 }, nil},
		{"key size 1", func(c *EngineConfig) { c.KeySize = 1 }, ErrInvalidConfig},
		{"value too big", func(c *EngineConfig) { c.ValueSize = 1 << 30 }, ErrInvalidConfig},
		{"negative threads", func(c *EngineConfig) { c.Threads = -2 }, ErrInvalidConfig},
		{"negative scan length", func(c *EngineConfig) { c.ScanLength = -1 }, ErrInvalidConfig},
		{"negative duration", func(c *EngineConfig) { c.Duration = -time.Second }, ErrInvalidConfig},
		{"negative report every", func(c *EngineConfig) { c.ReportEvery = -1 }, ErrInvalidConfig},
		{"unknown benchmark", func(c *EngineConfig) { c.Benchmarks = []string{"fillseq", "nosuch"} }, ErrUnknownBenchmark},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultEngineConfig()
			tt.mutate(&c)
			err := c.Validate()
			if tt.wantErr == nil && err != nil {
				t.Errorf("Validate() = %v, want nil", err)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("Validate() = %v, want %v", err, tt.wantErr)
			}
		})
	}
	// Every problem is reported.
	c := EngineConfig{Num: -1, Threads: -1, Benchmarks: []string{"x"}}
	err := c.Validate()
	if !errors.Is(err, ErrInvalidConfig) || !errors.Is(err, ErrUnknownBenchmark) || strings.Count(err.Error(), "\n") != 2 {
		t.Errorf("Validate() = %v, want three problems", err)
	}
	if _, err := RunEngine(context.Background(), c, nil, nil); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("RunEngine with a bad config = %v, want ErrInvalidConfig", err)
	}
}

func TestEngineFlags(t *testing.T) {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	cfg := EngineFlags(fs)
	if !reflect.DeepEqual(*cfg, DefaultEngineConfig()) {
		t.Errorf("before parsing: %+v, want the defaults %+v", *cfg, DefaultEngineConfig())
	}
	args := []string{"-dir", "/tmp/x", "-num", "500", "-reads", "50", "-key-size", "20", "-value-size", "1000",
		"-threads", "4", "-benchmarks", "fillrandom, readrandom,,", "-sync", "-scan-length", "5", "-seed", "9",
		"-duration", "3s", "-report-every", "100"}
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	want := EngineConfig{Dir: "/tmp/x", Num: 500, Reads: 50, KeySize: 20, ValueSize: 1000, Threads: 4,
		Benchmarks: []string{"fillrandom", "readrandom"}, Sync: true, ScanLength: 5, Seed: 9,
		Duration: 3 * time.Second, ReportEvery: 100}
	if !reflect.DeepEqual(*cfg, want) {
		t.Errorf("parsed %+v, want %+v", *cfg, want)
	}

	fs = flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(&bytes.Buffer{})
	EngineFlags(fs)
	if err := fs.Parse([]string{"-benchmarks", "fillseq,bogus"}); err == nil {
		t.Errorf("parsing an unknown benchmark succeeded")
	}
	if err := fs.Lookup("benchmarks").Value.Set("bogus"); !errors.Is(err, ErrUnknownBenchmark) {
		t.Errorf("setting an unknown benchmark: %v, want ErrUnknownBenchmark", err)
	}
	var usage bytes.Buffer
	fs.SetOutput(&usage)
	fs.PrintDefaults()
	for _, name := range []string{"-dir", "-num", "-reads", "-key-size", "-value-size", "-threads", "-benchmarks",
		"-sync", "-scan-length", "-seed", "-duration", "-report-every", DefaultBenchmarks} {
		if !strings.Contains(usage.String(), name) {
			t.Errorf("usage lacks %q:\n%s", name, &usage)
		}
	}
}

func TestFormatResult(t *testing.T) {
	r := Result{Name: "fillrandom", Ops: 1000, Threads: 2, Elapsed: 2 * time.Millisecond, OpsPerSec: 500000,
		MBPerSec: 31.94, P50: 2100, P99: 9800, P999: 45 * time.Microsecond, Max: 1200 * time.Microsecond,
		BytesOnDisk: 123 << 20, PeakRSSBytes: 456 << 20, Reads: 10, Found: 7, Errors: 1, Error: "boom"}
	got := FormatResult(r)
	for _, want := range []string{"fillrandom   :     4.000 micros/op    500000 ops/sec;   31.9 MB/s",
		"p50 2.1us p99 9.8us p99.9 45us max 1.2ms", "disk 123.0 MB", "rss 456.0 MB", "(found 7 of 10)",
		"errors 1 (first: boom)"} {
		if !strings.Contains(got, want) {
			t.Errorf("FormatResult = %q, lacks %q", got, want)
		}
	}
}

func TestFormatDuration(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{0, "0ns"}, {850, "850ns"}, {2140, "2.1us"}, {45 * time.Microsecond, "45us"},
		{1250 * time.Microsecond, "1.2ms"}, {3500 * time.Millisecond, "3.5s"}, {100 * time.Second, "100s"},
	}
	for _, tt := range tests {
		if got := FormatDuration(tt.d); got != tt.want {
			t.Errorf("FormatDuration(%d) = %q, want %q", int64(tt.d), got, tt.want)
		}
	}
}

func TestJSONRoundTrip(t *testing.T) {
	results := []Result{
		{Name: "fillrandom", Ops: 2000, Threads: 3, Elapsed: 12345678, OpsPerSec: 162000.12345, MBPerSec: 17.3,
			P50: 1234, P90: 2345, P99: 3456, P999: 45678, Max: 99999, Errors: 2, Error: "x",
			BytesOnDisk: 1 << 30, PeakRSSBytes: 5 << 20, RSSBytes: 4 << 20,
			Intervals: []IntervalRate{{Ops: 1000, Elapsed: 6e6, OpsPerSec: 166666.6}, {Ops: 2000, Elapsed: 12e6, OpsPerSec: 1e5 / 3}}},
		{Name: "readrandom", Ops: 10, Threads: 1, Reads: 10, Found: 9},
	}
	var buf bytes.Buffer
	if err := WriteJSON(&buf, results); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), `"p999_ns": 45678`) {
		t.Errorf("JSON lacks snake_case nanosecond fields:\n%s", &buf)
	}
	got, err := ReadJSON(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, results) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, results)
	}

	buf.Reset()
	if err := WriteJSON(&buf, nil); err != nil || strings.TrimSpace(buf.String()) != "[]" {
		t.Errorf("WriteJSON(nil) = %q, %v; want []", buf.String(), err)
	}
	if _, err := ReadJSON(strings.NewReader("{")); err == nil {
		t.Errorf("ReadJSON accepted malformed input")
	}
}

func names(results []Result) []string {
	var n []string
	for _, r := range results {
		n = append(n, r.Name)
	}
	return n
}

// BenchmarkRunEngineOverhead measures the harness's own cost per operation
// (key and value generation, clock reads, histogram) against an engine that
// does nothing.
func BenchmarkRunEngineOverhead(b *testing.B) {
	for _, name := range []string{"fillrandom", "readrandom"} {
		b.Run(name, func(b *testing.B) {
			cfg := EngineConfig{Dir: b.TempDir(), Num: max(b.N, 2), Benchmarks: []string{"fillseq", name},
				ReportEvery: 1_000_000}
			open := func(string, bool) (Engine, error) { return &nopEngine{}, nil }
			b.ReportAllocs()
			b.ResetTimer()
			results, err := RunEngine(context.Background(), cfg, open, nil)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(results[1].Elapsed.Nanoseconds())/float64(results[1].Ops), "ns/op-harness")
		})
	}
}
