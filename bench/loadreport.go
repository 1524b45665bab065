package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
)

// FormatLoadResult renders one phase of RunLoad as a table, ending in a
// newline:
//
//	run: workload a (native API), 2 targets, 16 workers, closed loop, zipfian keys over 100000 records
//	op              count       ops/s       p50       p90       p99     p99.9       max    errors
//	read            61728      6172.8     1.2ms     2.0ms     4.5ms      11ms      35ms         0
//	update          61731      6173.1     1.5ms     2.4ms     5.1ms      12ms      40ms         0
//	all            123459     12345.9     1.3ms     2.2ms     4.8ms      12ms      40ms         0
//	elapsed 10.0s; errors: timeout 0, refused 0, 5xx 0, 4xx 0, other 0; retries 0
//	generator: cpu 45% of one core (2 CPUs), peak rss 35.2 MB
//
// followed by lines for reads that found no key, records returned by
// scans, operations an open loop missed, one example per error kind, and a
// warning when the generator itself used most of the machine's CPU.
func FormatLoadResult(r *LoadResult) string {
	var b strings.Builder
	loop := "closed loop"
	if r.TargetRate > 0 {
		loop = fmt.Sprintf("open loop at %.0f ops/s", r.TargetRate)
	}
	keys := fmt.Sprintf("%s keys over %d records", r.Distribution, r.Records)
	if w := lookupWorkload(r.Workload); w != nil && w.scatter {
		keys = "random new keys"
	}
	if r.Name == "load" {
		keys = fmt.Sprintf("inserting %d records", r.Records)
	}
	fmt.Fprintf(&b, "%s: workload %s (%s API), %d target%s, %d workers, %s, %s\n",
		r.Name, r.Workload, r.API, len(r.Targets), plural(len(r.Targets)), r.Concurrency, loop, keys)
	fmt.Fprintf(&b, "%-10s %10s %11s %9s %9s %9s %9s %9s %9s\n",
		"op", "count", "ops/s", "p50", "p90", "p99", "p99.9", "max", "errors")
	for _, o := range append(slices.Clip(r.Operations), r.All) {
		fmt.Fprintf(&b, "%-10s %10d %11.1f %9s %9s %9s %9s %9s %9d\n",
			o.Op, o.Count, o.OpsPerSec, FormatDuration(o.P50), FormatDuration(o.P90),
			FormatDuration(o.P99), FormatDuration(o.P999), FormatDuration(o.Max), o.Errors)
	}
	fmt.Fprintf(&b, "elapsed %.1fs; errors:", r.Elapsed.Seconds())
	for i, k := range ErrorKinds() {
		sep := ","
		if i == 0 {
			sep = ""
		}
		fmt.Fprintf(&b, "%s %s %d", sep, k, r.ErrorsByKind[k])
	}
	fmt.Fprintf(&b, "; retries %d\n", r.Retries)
	for _, o := range r.Operations {
		if o.NotFound > 0 {
			fmt.Fprintf(&b, "%s: %d of %d found no key (404)\n", o.Op, o.NotFound, o.Count)
		}
		if o.Op == opNames[opScan] && o.Count > 0 {
			fmt.Fprintf(&b, "scan: %d records, %.1f per scan\n", o.Records, float64(o.Records)/float64(o.Count))
		}
	}
	if r.Missed > 0 {
		fmt.Fprintf(&b, "missed: %d operations were due but never sent: the targets did not sustain %.0f ops/s with %d workers\n",
			r.Missed, r.TargetRate, r.Concurrency)
	}
	for _, k := range ErrorKinds() {
		if msg, ok := r.FirstErrors[k]; ok {
			fmt.Fprintf(&b, "  %s, e.g. %s\n", k, msg)
		}
	}
	fmt.Fprintf(&b, "generator: cpu %.0f%% of one core (%d CPUs), peak rss %s", r.CPUPercent, r.NumCPU, FormatMB(r.PeakRSSBytes))
	if r.ServerCPUPercent > 0 {
		fmt.Fprintf(&b, "; ceiling server: cpu %.0f%% of one core", r.ServerCPUPercent)
	}
	b.WriteByte('\n')
	if r.NumCPU > 0 && r.CPUPercent >= 80*float64(r.NumCPU) {
		b.WriteString("warning: the generator used most of the machine's CPU: the targets may be faster than measured\n")
	}
	return b.String()
}

// FormatCeiling renders the comparison of a run with its ceiling, ending
// in a newline:
//
//	throughput: targets 12345.9 ops/s, ceiling (bare HTTP server) 45678.1 ops/s, ratio 0.27
func FormatCeiling(rep *LoadReport) string {
	if rep.Run == nil || rep.Ceiling == nil {
		return ""
	}
	return fmt.Sprintf("throughput: targets %.1f ops/s, ceiling (bare HTTP server) %.1f ops/s, ratio %.2f\n",
		rep.Run.OpsPerSec, rep.Ceiling.OpsPerSec, rep.CeilingRatio)
}

// FormatLoadProgress renders one progress line of phase name, without a
// newline:
//
//	run   :    5.0s    12345 ops/s      61725 ops  errors 0  p99 4.5ms
func FormatLoadProgress(name string, iv LoadInterval) string {
	return fmt.Sprintf("%-6s: %6.1fs %8.0f ops/s %10d ops  errors %d  p99 %s",
		name, iv.Elapsed.Seconds(), iv.OpsPerSec, iv.Ops, iv.Errors, FormatDuration(iv.P99))
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// WriteLoadJSON writes rep as an indented JSON object whose field names
// are the json tags of LoadReport, LoadResult and OpResult; durations are
// integer nanoseconds:
//
//	{"load": {...}, "run": {"name": "run", "ops": 123459, "ops_per_sec": 12345.9,
//	  "errors_by_kind": {"timeout": 0, ...}, "operations": [{"op": "read", "p99_ns": 4500000, ...}],
//	  "cpu_percent": 45, "peak_rss_bytes": 36700160, ...},
//	 "ceiling": {...}, "ceiling_ratio": 0.27}
func WriteLoadJSON(w io.Writer, rep *LoadReport) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(rep); err != nil {
		return fmt.Errorf("bench: write JSON: %w", err)
	}
	return nil
}

// ReadLoadJSON reads a report written by WriteLoadJSON.
func ReadLoadJSON(r io.Reader) (*LoadReport, error) {
	rep := new(LoadReport)
	if err := json.NewDecoder(r).Decode(rep); err != nil {
		return nil, fmt.Errorf("bench: read JSON: %w", err)
	}
	return rep, nil
}
