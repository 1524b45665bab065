package bench

import (
	"flag"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// LoadFlags registers the flags of the HTTP load generator on fs and
// returns the configuration they fill in when fs is parsed:
//
//	-targets -workload -api -records -load -key-size -value-size
//	-distribution -duration -ops -rate -concurrency -r -w -progress
//	-seed -timeout -max-scan
//
// Defaults are those of DefaultLoadConfig, except -progress, 5s. -targets
// takes a comma-separated list of URLs; -load is a boolean flag whose
// absence means LoadPhaseAuto; -distribution left empty follows the
// workload.
func LoadFlags(fs *flag.FlagSet) *LoadConfig {
	c := new(LoadConfig)
	*c = DefaultLoadConfig()
	c.Progress = 5 * time.Second
	fs.Var(&targetList{&c.Targets}, "targets", "comma-separated base URLs of the nodes to load, e.g. http://127.0.0.1:8080,http://127.0.0.1:8081")
	fs.StringVar(&c.Workload, "workload", c.Workload, "workload, one of: "+workloadHelp())
	fs.StringVar(&c.API, "api", c.API, "HTTP API: "+APINative+" (/kv/{key}) or "+APIOriginal+" (/?key=K&value=V)")
	fs.IntVar(&c.Records, "records", c.Records, "records inserted by the load phase, and that reads, updates and scans choose from")
	fs.Var(&loadPhaseFlag{&c.Load}, "load", "insert the records before the run (default: true for workloads a to f, false for write)")
	fs.IntVar(&c.KeySize, "key-size", c.KeySize, "key size in bytes (the record index in zero-padded decimal)")
	fs.IntVar(&c.ValueSize, "value-size", c.ValueSize, "value size in bytes")
	fs.StringVar(&c.Distribution, "distribution", "",
		"key distribution: uniform, zipfian or latest (default: latest for workload d, zipfian for the others)")
	fs.DurationVar(&c.Duration, "duration", c.Duration, "length of the run, unless -ops is set")
	fs.Int64Var(&c.Ops, "ops", c.Ops, "stop the run after this many operations instead of after -duration (0: use -duration)")
	fs.Float64Var(&c.Rate, "rate", c.Rate,
		"target ops/s, open loop: latency counts from each operation's due time (0: unthrottled closed loop)")
	fs.IntVar(&c.Concurrency, "concurrency", c.Concurrency, "workers, each with one operation in flight")
	fs.StringVar(&c.ReadLevel, "r", c.ReadLevel, "read consistency level: one, quorum, all or a number (default: the node's)")
	fs.StringVar(&c.WriteLevel, "w", c.WriteLevel, "write consistency level: one, quorum, all or a number (default: the node's)")
	fs.DurationVar(&c.Progress, "progress", c.Progress, "print a progress line at this interval (0: never)")
	fs.Int64Var(&c.Seed, "seed", c.Seed, "seed of keys, values and operation choices")
	fs.DurationVar(&c.Timeout, "timeout", c.Timeout, "timeout of each request")
	fs.IntVar(&c.MaxScanLength, "max-scan", c.MaxScanLength, "longest scan of workload e (lengths are uniform in [1, max-scan])")
	return c
}

func workloadHelp() string {
	var b strings.Builder
	for i, name := range Workloads() {
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "%s: %s", name, WorkloadDoc(name))
	}
	return b.String()
}

// targetList is the flag.Value of -targets.
type targetList struct{ targets *[]string }

func (l *targetList) String() string {
	if l == nil || l.targets == nil {
		return ""
	}
	return strings.Join(*l.targets, ",")
}

func (l *targetList) Set(s string) error {
	var ts []string
	for t := range strings.SplitSeq(s, ",") {
		t = strings.TrimSpace(t)
		if t == "" {
			continue
		}
		if _, err := parseTarget(t); err != nil {
			return err
		}
		ts = append(ts, t)
	}
	*l.targets = ts
	return nil
}

// loadPhaseFlag is the flag.Value of -load: a boolean whose absence is
// LoadPhaseAuto.
type loadPhaseFlag struct{ p *LoadPhase }

func (f *loadPhaseFlag) IsBoolFlag() bool { return true }

func (f *loadPhaseFlag) String() string {
	if f == nil || f.p == nil {
		return ""
	}
	switch *f.p {
	case LoadPhaseOn:
		return "true"
	case LoadPhaseOff:
		return "false"
	}
	return ""
}

func (f *loadPhaseFlag) Set(s string) error {
	on, err := strconv.ParseBool(s)
	if err != nil {
		return err
	}
	*f.p = LoadPhaseOff
	if on {
		*f.p = LoadPhaseOn
	}
	return nil
}
