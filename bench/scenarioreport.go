package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"
)

// FormatScenarioReport renders a scenario's report as text, ending in a
// newline:
//
//	phase              time      ops     ops/s  w p50  w p99  r p50  r p99  failed retried  stale
//	warm-up           10.0s    48211    4821.1  3.1ms   12ms  1.9ms  8.8ms       0       0      0
//	restart n1        10.0s    45102    4510.2  3.3ms   25ms  2.0ms   14ms       0      37      0
//	...
//	all              120.3s   501234    4166.5  3.2ms   19ms  2.0ms   11ms       0     212      0
//	actions:
//	  restart n1     SIGTERM: exited in 1.2s (exit status 0); down 0s; http up 310ms, ready 820ms after start
//	...
//	restarts: node, signal, stop, down, http up and ready after start
//	  n1    restart n1     SIGTERM  1.2s  0s  310ms  820ms
//	hints: drained in 1.3s
//	verify r=quorum: 10000 keys (9987 acknowledged): ok 10000, lost 0 (missing 0, older 0), corrupt 0, unverified 0; 2.1s
//	verify r=all: ...
//	result: PASS: 0 of 251234 acknowledged writes lost; 0 failed requests; 0 stale reads
//
// with, between them, the failed requests of each phase by kind and node
// with examples, the stale reads with examples, and the keys that did not
// read back.
func FormatScenarioReport(r *ScenarioReport) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-16s %7s %8s %9s %6s %6s %6s %6s %7s %7s %6s\n",
		"phase", "time", "ops", "ops/s", "w p50", "w p99", "r p50", "r p99", "failed", "retried", "stale")
	var total ScenarioPhase
	var secs float64
	for _, p := range r.Phases {
		formatPhaseRow(&b, &p)
		total.Ops += p.Ops
		total.Errors += p.Errors
		total.Retries += p.Retries
		total.StaleReads += p.StaleReads
		total.Elapsed += p.Elapsed
		secs += p.Elapsed.Seconds()
	}
	total.Name = "all"
	if secs > 0 {
		total.OpsPerSec = float64(total.Ops) / secs
	}
	fmt.Fprintf(&b, "%-16s %6.1fs %8d %9.1f %6s %6s %6s %6s %7d %7d %6d\n",
		total.Name, secs, total.Ops, total.OpsPerSec, "", "", "", "", total.Errors, total.Retries, total.StaleReads)

	if slices.ContainsFunc(r.Phases, func(p ScenarioPhase) bool { return p.Action != "" }) {
		b.WriteString("actions:\n")
		for _, p := range r.Phases {
			if p.Action != "" {
				fmt.Fprintf(&b, "  %-14s %s\n", p.Name, p.Action)
			}
		}
	}
	if total.Errors > 0 {
		b.WriteString("failed requests:\n")
		for _, p := range r.Phases {
			if p.Errors == 0 {
				continue
			}
			fmt.Fprintf(&b, "  %-14s %d: %s; by node: %s\n", p.Name, p.Errors, formatCounts(p.ErrorsByKind, ErrorKinds()), formatCounts(p.ErrorsByNode, nil))
			for _, e := range p.ErrorSamples {
				fmt.Fprintf(&b, "    %6.1fs %-5s %s %s %s", e.At.Seconds(), e.Op, e.Key, e.Node, e.Kind)
				if e.Status != 0 {
					fmt.Fprintf(&b, " %d", e.Status)
				}
				fmt.Fprintf(&b, ": %s\n", e.Text)
			}
		}
	}
	if total.StaleReads > 0 || slices.ContainsFunc(r.Phases, func(p ScenarioPhase) bool { return p.CorruptReads > 0 }) {
		b.WriteString("stale reads (acked: the sequence number acknowledged before the read; got: the one read):\n")
		for _, p := range r.Phases {
			if p.StaleReads == 0 && p.CorruptReads == 0 {
				continue
			}
			fmt.Fprintf(&b, "  %-14s %d stale, %d corrupt\n", p.Name, p.StaleReads, p.CorruptReads)
			for _, s := range p.StaleSamples {
				fmt.Fprintf(&b, "    %6.1fs %s via %s: %s, acked %d, got %d\n", s.At.Seconds(), s.Key, s.Node, s.Verdict, s.Acked, s.Got)
			}
		}
	}
	if len(r.Restarts) > 0 {
		b.WriteString("restarts: node, phase, signal, stop (signal to exit), down (exit to start), http up and ready (after start)\n")
		for _, rs := range r.Restarts {
			fmt.Fprintf(&b, "  %-5s %-14s %-7s %7s %7s %7s %7s\n", rs.Node, rs.Phase, rs.Signal,
				FormatDuration(rs.Stop), FormatDuration(rs.Down), FormatDuration(rs.HTTPUp), FormatDuration(rs.Ready))
		}
	}
	switch {
	case r.Hints.Drained:
		fmt.Fprintf(&b, "hints: drained in %s\n", FormatDuration(r.Hints.Elapsed))
	case r.Hints.Elapsed > 0:
		fmt.Fprintf(&b, "hints: NOT drained after %s: %d pending (%s)\n", FormatDuration(r.Hints.Elapsed), r.Hints.Pending, formatCounts(r.Hints.ByNode, nil))
	}
	for _, v := range r.Verify {
		fmt.Fprintf(&b, "verify r=%s: %d keys (%d acknowledged): ok %d, lost %d (missing %d, older %d), corrupt %d, unverified %d; %s\n",
			v.Level, v.Keys, v.Acknowledged, v.OK, v.Lost, v.Missing, v.Older, v.Corrupt, v.Unverified, FormatDuration(v.Elapsed))
		for _, s := range v.Samples {
			fmt.Fprintf(&b, "  %s %s: acked %d (version %d), got %d (version %d) via %s", s.Key, s.Verdict, s.Acked, s.AckedVersion, s.Got, s.GotVersion, s.Node)
			if s.Error != "" {
				fmt.Fprintf(&b, ": %s", s.Error)
			}
			b.WriteByte('\n')
		}
	}
	if r.Passed {
		fmt.Fprintf(&b, "result: PASS: 0 of %d acknowledged writes lost; %d failed requests; %d stale reads\n",
			r.Acknowledged, r.Failed, r.StaleReads)
	} else {
		fmt.Fprintf(&b, "result: FAIL: %s; %d acknowledged writes, %d failed requests, %d stale reads\n",
			strings.Join(r.Problems, "; "), r.Acknowledged, r.Failed, r.StaleReads)
	}
	return b.String()
}

// formatPhaseRow writes one phase's line of the table.
func formatPhaseRow(b *strings.Builder, p *ScenarioPhase) {
	fmt.Fprintf(b, "%-16s %6.1fs %8d %9.1f %6s %6s %6s %6s %7d %7d %6d\n",
		p.Name, p.Elapsed.Seconds(), p.Ops, p.OpsPerSec,
		opLatency(p.Writes, p.Writes.P50), opLatency(p.Writes, p.Writes.P99),
		opLatency(p.Reads, p.Reads.P50), opLatency(p.Reads, p.Reads.P99),
		p.Errors, p.Retries, p.StaleReads)
}

// opLatency renders d, a latency of o, or "-" when o counts no
// completed operation.
func opLatency(o ScenarioOps, d time.Duration) string {
	if o.Count == 0 {
		return "-"
	}
	return FormatDuration(d)
}

// formatCounts renders the nonzero counts as "k1 n1, k2 n2", in the order
// of order, then of the remaining keys sorted.
func formatCounts(m map[string]int64, order []string) string {
	keys := slices.Clone(order)
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	var parts []string
	for _, k := range keys {
		if n := m[k]; n != 0 {
			parts = append(parts, fmt.Sprintf("%s %d", k, n))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// WriteScenarioJSON writes rep as an indented JSON object whose field
// names are the json tags of ScenarioReport and the types it holds;
// durations are integer nanoseconds.
func WriteScenarioJSON(w io.Writer, rep *ScenarioReport) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(rep); err != nil {
		return fmt.Errorf("bench: write JSON: %w", err)
	}
	return nil
}

// ReadScenarioJSON reads a report written by WriteScenarioJSON.
func ReadScenarioJSON(r io.Reader) (*ScenarioReport, error) {
	rep := new(ScenarioReport)
	if err := json.NewDecoder(r).Decode(rep); err != nil {
		return nil, fmt.Errorf("bench: read JSON: %w", err)
	}
	return rep, nil
}
