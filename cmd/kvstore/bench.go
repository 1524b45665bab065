package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"

	"kvstore/bench"
	"kvstore/storage"
)

func runBench(args []string, stdout, stderr io.Writer) int {
	// -scenario selects a fault scenario; -targets or -ceiling the HTTP
	// load generator; otherwise -engine the storage engine workloads.
	if hasFlag(args, "scenario") {
		return runBenchScenario(args, stdout, stderr)
	}
	if hasFlag(args, "targets", "ceiling") {
		return runBenchLoad(args, stdout, stderr)
	}
	fs := flag.NewFlagSet("kvstore bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	engine := fs.Bool("engine", false, "run db_bench-style workloads on the local storage engine")
	cfg := bench.EngineFlags(fs)
	shards := fs.Int("shards", 0, "engine shards (0: the engine's default)")
	cacheMB := fs.Int64("cache-mb", 0, "block cache in MiB (0: the engine's default)")
	memtableMB := fs.Int("memtable-mb", 0, "memtable size per shard in MiB (0: the engine's default)")
	levelBaseMB := fs.Int64("level-base-mb", 0, "target size of level 1 per shard in MiB (0: the engine's default)")
	l0Trigger := fs.Int("l0-trigger", 0, "level-0 tables that start a compaction (0: the engine's default)")
	jsonPath := fs.String("json", "", "also write the results as JSON to this file")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the run to this file")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if !*engine {
		fmt.Fprintln(stderr, "kvstore bench: choose a mode: -engine (the local storage engine) or -targets URL[,URL...] (nodes over HTTP; see -h with -targets) or -scenario rolling|crash (faults on a local cluster; see -h with -scenario)")
		fs.Usage()
		return 2
	}
	if *cpuProfile != "" {
		stop, err := startCPUProfile(*cpuProfile)
		if err != nil {
			fmt.Fprintln(stderr, "kvstore bench:", err)
			return 1
		}
		defer stop()
	}
	opts := storage.Options{
		Shards:              *shards,
		CacheSize:           *cacheMB << 20,
		MemtableSize:        *memtableMB << 20,
		LevelBaseSize:       *levelBaseMB << 20,
		L0CompactionTrigger: *l0Trigger,
		Sync:                storage.SyncNone,
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	results, err := bench.RunEngine(ctx, *cfg, bench.OpenStorage(opts, stdout), stdout)
	if *jsonPath != "" && len(results) > 0 {
		if ferr := writeFile(*jsonPath, func(w io.Writer) error { return bench.WriteJSON(w, results) }); ferr != nil {
			fmt.Fprintln(stderr, "kvstore bench:", ferr)
			return 1
		}
	}
	if err != nil {
		fmt.Fprintln(stderr, "kvstore bench:", err)
		return 1
	}
	return 0
}
