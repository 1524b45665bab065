// Package bench measures kvstore's performance.
//
// The engine mode, in the style of LevelDB's db_bench, drives a local
// storage engine through the small Engine interface, so that kvstore's own
// engine and others plug in through an adapter and an OpenFunc:
//
//	fs := flag.NewFlagSet("bench", flag.ExitOnError)
//	cfg := bench.EngineFlags(fs)
//	fs.Parse(args) // e.g. -num 1000000 -benchmarks fillrandom,readrandom -report-every 100000
//	results, err := bench.RunEngine(ctx, *cfg, openMyEngine, os.Stdout)
//	...
//	err = bench.WriteJSON(f, results)
//
// RunEngine prints one line per benchmark:
//
//	fillrandom   :     3.456 micros/op    289345 ops/sec;   31.9 MB/s  p50 2.1us p99 9.8us p99.9 45us max 1.2ms  disk 123.0 MB  rss 456.0 MB
//
// Benchmarks (see EngineBenchmarks) run in order on one database; fillseq
// and fillrandom start from an empty one. Keys are KeySize bytes, the key
// index in zero-padded decimal; values are ValueSize bytes of half-random,
// half-repeated printable data from a pre-generated buffer. The operations
// of a benchmark are divided among Threads goroutines; each records the
// latency of every operation in its own Histogram, merged at the end.
//
// The HTTP mode (RunLoad, load.go) drives the nodes of a cluster over their
// HTTP API with YCSB's core workloads a to f and a write-only stream,
// closed loop or open loop at a fixed rate, and reports per-operation
// throughput and latency, errors by kind, and its own CPU and memory use
// (FormatLoadResult, WriteLoadJSON). RunCeiling (ceiling.go) runs the same
// workload against a bare HTTP server in a child process, the ceiling the
// store's figures are compared with.
//
// The parts that other load generators reuse live in their own files:
// Histogram (histogram.go), KeyFormat and Permutation (keys.go), ValueGen
// (values.go), Progress (progress.go), Result with its text and JSON forms
// (report.go), and ReadRSS (rss.go).
package bench
