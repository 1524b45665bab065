package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
)

// Result is the outcome of one benchmark. Only completed (successful)
// operations count towards Ops, the rates and the latencies; failed ones are
// counted in Errors.
type Result struct {
	Name      string        `json:"name"`
	Ops       int64         `json:"ops"`     // completed operations
	Threads   int           `json:"threads"` // goroutines issuing them
	Elapsed   time.Duration `json:"elapsed_ns"`
	OpsPerSec float64       `json:"ops_per_sec"` // Ops / Elapsed
	MBPerSec  float64       `json:"mb_per_sec"`  // key and value bytes written or read, in MiB/s

	// Latency of one operation, measured per goroutine from the end of its
	// previous operation (so including key and value generation, as in
	// LevelDB's db_bench).
	P50  time.Duration `json:"p50_ns"`
	P90  time.Duration `json:"p90_ns"`
	P99  time.Duration `json:"p99_ns"`
	P999 time.Duration `json:"p999_ns"`
	Max  time.Duration `json:"max_ns"`

	Errors int64  `json:"errors"`
	Error  string `json:"error,omitempty"` // text of the first error, if any

	// Reads counts the completed point reads and seeks among Ops; Found how
	// many of them found their key (for a seek: the first record returned
	// has the seek key).
	Reads int64 `json:"reads,omitempty"`
	Found int64 `json:"found,omitempty"`

	BytesOnDisk  int64 `json:"bytes_on_disk"`  // reported by the engine after the benchmark; 0 if unknown
	PeakRSSBytes int64 `json:"peak_rss_bytes"` // peak resident set size during the benchmark (see ResetPeakRSS); 0 if unknown
	RSSBytes     int64 `json:"rss_bytes"`      // resident set size when the benchmark ended; 0 if unknown

	Intervals []IntervalRate `json:"intervals,omitempty"` // one per ReportEvery completed ops
}

// MicrosPerOp returns the mean time one goroutine spent per operation, in
// microseconds (Elapsed * Threads / Ops), the figure db_bench prints.
func (r *Result) MicrosPerOp() float64 {
	if r.Ops == 0 {
		return 0
	}
	return r.Elapsed.Seconds() * 1e6 * float64(max(r.Threads, 1)) / float64(r.Ops)
}

// FormatResult renders r as one db_bench-style line, without a newline:
//
//	fillrandom   :    3.456 micros/op    289345 ops/sec;   31.9 MB/s  p50 2.1us p99 9.8us p99.9 45us max 1.2ms  disk 123.0 MB  rss 456.0 MB
//
// followed by "(found F of R)" for read benchmarks and "errors N (first: ...)"
// if any operation failed.
func FormatResult(r Result) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-12s : %9.3f micros/op %9.0f ops/sec; %6.1f MB/s  p50 %s p99 %s p99.9 %s max %s  disk %s  rss %s",
		r.Name, r.MicrosPerOp(), r.OpsPerSec, r.MBPerSec,
		FormatDuration(r.P50), FormatDuration(r.P99), FormatDuration(r.P999), FormatDuration(r.Max),
		FormatMB(r.BytesOnDisk), FormatMB(r.PeakRSSBytes))
	if r.Reads > 0 {
		fmt.Fprintf(&b, "  (found %d of %d)", r.Found, r.Reads)
	}
	if r.Errors > 0 {
		fmt.Fprintf(&b, "  errors %d (first: %s)", r.Errors, r.Error)
	}
	return b.String()
}

// FormatProgress renders one progress line of benchmark name, without a
// newline:
//
//	fillrandom   : ... 1000000 ops   289345 ops/sec   3.4s
func FormatProgress(name string, iv IntervalRate) string {
	return fmt.Sprintf("%-12s : ... %d ops %9.0f ops/sec %7.1fs", name, iv.Ops, iv.OpsPerSec, iv.Elapsed.Seconds())
}

// FormatDuration renders a latency compactly with two or three significant
// digits: "850ns", "2.1us", "45us", "1.2ms", "3.5s".
func FormatDuration(d time.Duration) string {
	v := float64(d)
	unit := "ns"
	switch {
	case d >= time.Second:
		v, unit = v/float64(time.Second), "s"
	case d >= time.Millisecond:
		v, unit = v/float64(time.Millisecond), "ms"
	case d >= time.Microsecond:
		v, unit = v/float64(time.Microsecond), "us"
	default:
		return fmt.Sprintf("%dns", int64(d))
	}
	if v < 10 {
		return fmt.Sprintf("%.1f%s", v, unit)
	}
	return fmt.Sprintf("%.0f%s", v, unit)
}

// FormatMB renders a byte count in MiB with one decimal, e.g. "123.4 MB".
func FormatMB(n int64) string {
	return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
}

// WriteJSON writes results as an indented JSON array of objects whose field
// names are the json tags of Result; durations are integer nanoseconds.
func WriteJSON(w io.Writer, results []Result) error {
	if results == nil {
		results = []Result{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(results); err != nil {
		return fmt.Errorf("bench: write JSON: %w", err)
	}
	return nil
}

// ReadJSON reads results written by WriteJSON.
func ReadJSON(r io.Reader) ([]Result, error) {
	var results []Result
	if err := json.NewDecoder(r).Decode(&results); err != nil {
		return nil, fmt.Errorf("bench: read JSON: %w", err)
	}
	return results, nil
}
