package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"

	"kvstore/bench"
)

// ceilingServerCommand is the hidden subcommand that runs the ceiling
// server (bench.CeilingServerMain); "kvstore bench -ceiling" starts it as
// a child process of the kvstore executable.
const ceilingServerCommand = "bench-ceiling-server"

// hasFlag reports whether args set one of the named flags (-name,
// --name, -name=value) before any "--".
func hasFlag(args []string, names ...string) bool {
	for _, a := range args {
		if a == "--" {
			return false
		}
		if !strings.HasPrefix(a, "-") {
			continue
		}
		name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		for _, n := range names {
			if name == n {
				return true
			}
		}
	}
	return false
}

// runBenchLoad runs "kvstore bench" in HTTP load mode:
//
//	kvstore bench -targets URL[,URL...] -workload a..f|write -duration D -concurrency C [-json FILE]
//	kvstore bench -ceiling -workload write -duration 10s -concurrency 64
//
// With -targets it loads the nodes (bench.RunLoad); with -ceiling it
// measures the same workload against a bare HTTP server in a child
// process (bench.RunCeiling); with both it runs one after the other and
// prints both throughputs and their ratio. -json writes everything
// measured as one bench.LoadReport.
func runBenchLoad(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("kvstore bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg := bench.LoadFlags(fs)
	ceiling := fs.Bool("ceiling", false,
		"also measure the workload against a bare HTTP server in a separate process (the ceiling), and the ratio of the two")
	jsonPath := fs.String("json", "", "also write the results as JSON to this file")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the load generator to this file")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "kvstore bench: unexpected arguments: %s\n", strings.Join(fs.Args(), " "))
		return 2
	}
	if len(cfg.Targets) == 0 && !*ceiling {
		fmt.Fprintln(stderr, "kvstore bench: give -targets, -ceiling or both")
		return 2
	}
	if len(cfg.Targets) > 0 {
		if err := cfg.Validate(); err != nil {
			fmt.Fprintln(stderr, "kvstore bench:", err)
			return 2
		}
	}
	if *cpuProfile != "" {
		stopProfile, err := startCPUProfile(*cpuProfile)
		if err != nil {
			fmt.Fprintln(stderr, "kvstore bench:", err)
			return 1
		}
		defer stopProfile()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	rep := new(bench.LoadReport)
	var runErr error
	if len(cfg.Targets) > 0 {
		r, err := bench.RunLoad(ctx, *cfg, stdout)
		if r != nil {
			rep = r
		}
		runErr = err
	}
	if *ceiling && runErr == nil {
		exe, err := os.Executable()
		if err != nil {
			runErr = fmt.Errorf("ceiling: %w", err)
		} else {
			cmd := exec.Command(exe, ceilingServerCommand)
			cmd.Stderr = stderr
			if len(cfg.Targets) > 0 {
				fmt.Fprintln(stdout)
			}
			c, err := bench.RunCeiling(ctx, *cfg, cmd, stdout)
			rep.SetCeiling(c)
			runErr = err
			if rep.Run != nil && rep.Ceiling != nil {
				fmt.Fprint(stdout, "\n"+bench.FormatCeiling(rep))
			}
		}
	}
	if *jsonPath != "" && (rep.Load != nil || rep.Run != nil || rep.Ceiling != nil) {
		if err := writeFile(*jsonPath, func(w io.Writer) error { return bench.WriteLoadJSON(w, rep) }); err != nil {
			fmt.Fprintln(stderr, "kvstore bench:", err)
			return 1
		}
	}
	if runErr != nil {
		fmt.Fprintln(stderr, "kvstore bench:", runErr)
		return 1
	}
	return 0
}

// runCeilingServer is the hidden subcommand ceilingServerCommand: the
// ceiling server process that "kvstore bench -ceiling" starts. It prints
// its address on stdout and serves until its stdin is closed or it is
// interrupted.
func runCeilingServer(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return bench.CeilingServerMain(ctx, args, os.Stdin, stdout, stderr)
}
