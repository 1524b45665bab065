package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"kvstore/bench"
)

// runBenchScenario runs "kvstore bench -scenario rolling|crash": it starts
// a local cluster of "kvstore serve" processes (this executable unless
// -binary says otherwise), runs the scenario under load and reads back
// every acknowledged write (bench.RunScenario). It exits with 0 when no
// acknowledged write was lost, 1 when one was or the scenario could not
// run, 2 for bad flags. -json writes the bench.ScenarioReport.
func runBenchScenario(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("kvstore bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg := bench.ScenarioFlags(fs)
	jsonPath := fs.String("json", "", "also write the report as JSON to this file")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "kvstore bench: unexpected arguments: %s\n", strings.Join(fs.Args(), " "))
		return 2
	}
	if cfg.Binary == "" {
		exe, err := os.Executable()
		if err != nil {
			fmt.Fprintln(stderr, "kvstore bench: -binary:", err)
			return 2
		}
		cfg.Binary = exe
	}
	if err := cfg.Validate(); err != nil {
		fmt.Fprintln(stderr, "kvstore bench:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := bench.RunScenario(ctx, *cfg, stdout)
	if *jsonPath != "" && rep != nil {
		if ferr := writeFile(*jsonPath, func(w io.Writer) error { return bench.WriteScenarioJSON(w, rep) }); ferr != nil {
			fmt.Fprintln(stderr, "kvstore bench:", ferr)
			return 1
		}
	}
	if err != nil {
		fmt.Fprintln(stderr, "kvstore bench:", err)
		return 1
	}
	if !rep.Passed {
		return 1
	}
	return 0
}
