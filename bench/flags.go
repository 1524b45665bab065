package bench

import (
	"flag"
	"fmt"
	"strings"
)

// EngineFlags registers the flags of the engine benchmarks on fs and
// returns the configuration they fill in when fs is parsed:
//
//	-dir -num -reads -key-size -value-size -threads -benchmarks -sync
//	-scan-length -seed -duration -report-every
//
// Defaults are those of DefaultEngineConfig; -dir defaults to a fresh
// temporary directory. -benchmarks takes a comma-separated list and rejects
// unknown names when parsed.
func EngineFlags(fs *flag.FlagSet) *EngineConfig {
	c := new(EngineConfig)
	*c = DefaultEngineConfig()
	fs.StringVar(&c.Dir, "dir", c.Dir,
		"directory for the database, kept in DIR/db and recreated by fill benchmarks (default: a fresh temporary directory, removed afterwards)")
	fs.IntVar(&c.Num, "num", c.Num, "number of keys, and of operations of fill, overwrite and delete benchmarks")
	fs.IntVar(&c.Reads, "reads", c.Reads, "number of operations of read, seek and readwrite benchmarks (0: -num)")
	fs.IntVar(&c.KeySize, "key-size", c.KeySize, "key size in bytes")
	fs.IntVar(&c.ValueSize, "value-size", c.ValueSize, "value size in bytes")
	fs.IntVar(&c.Threads, "threads", c.Threads, "goroutines sharing the operations of each benchmark")
	fs.Var(&benchmarkList{&c.Benchmarks}, "benchmarks",
		"comma-separated benchmarks to run in order, from: "+strings.Join(EngineBenchmarks(), ","))
	fs.BoolVar(&c.Sync, "sync", c.Sync, "make every write durable before it returns")
	fs.IntVar(&c.ScanLength, "scan-length", c.ScanLength, "records read after each seek of seekrandom")
	fs.Int64Var(&c.Seed, "seed", c.Seed, "seed of random keys and values")
	fs.DurationVar(&c.Duration, "duration", c.Duration, "cap on the running time of each benchmark (0: none)")
	fs.IntVar(&c.ReportEvery, "report-every", c.ReportEvery,
		"print the rate of the last interval every this many operations of a benchmark (0: never)")
	return c
}

// benchmarkList is the flag.Value of -benchmarks.
type benchmarkList struct {
	names *[]string
}

func (l *benchmarkList) String() string {
	if l == nil || l.names == nil {
		return ""
	}
	return strings.Join(*l.names, ",")
}

func (l *benchmarkList) Set(s string) error {
	var names []string
	for name := range strings.SplitSeq(s, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		if lookupEngineBenchmark(name) == nil {
			return fmt.Errorf("%w %q (known: %s)", ErrUnknownBenchmark, name, strings.Join(EngineBenchmarks(), ","))
		}
		names = append(names, name)
	}
	*l.names = names
	return nil
}
