// Command kvstore runs kvstore nodes and talks to them.
//
//	kvstore [serve] [flags]         run a node (no arguments: a single node on :8080)
//	kvstore dev -nodes 3            run a local cluster on loopback ports
//	kvstore put|get|delete|range|status ...   talk to a node
//	kvstore bench -engine [flags]   db_bench-style workloads on the local storage engine
//
// Run "kvstore help" for the list of subcommands.
package main

import (
	"fmt"
	"io"
	"os"
	"runtime/pprof"
)

type command struct {
	name, summary string
	run           func(args []string, stdout, stderr io.Writer) int
}

func commands() []command {
	return []command{
		{"serve", "run a node (the default command)", runServe},
		{"dev", "run a local cluster of several nodes on loopback ports", runDev},
		{"put", "write a key: put KEY VALUE", runPut},
		{"get", "read a key: get KEY", runGet},
		{"delete", "delete a key: delete KEY", runDelete},
		{"range", "list keys: range START END (both inclusive)", runRange},
		{"status", "show a node's view of the cluster", runStatus},
		{"remove", "remove a failed node from the ring", runRemove},
		{"leave", "make a node hand its partitions off and leave the ring", runLeave},
		{"bench", "run benchmarks (-engine: workloads on the local storage engine)", runBench},
	}
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		return runServe(nil, stdout, stderr)
	}
	if args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stdout)
		return 0
	}
	if args[0] == ceilingServerCommand { // started by kvstore bench -ceiling
		return runCeilingServer(args[1:], stdout, stderr)
	}
	if args[0][0] == '-' { // flags only: serve
		return runServe(args, stdout, stderr)
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(args[1:], stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "kvstore: unknown command %q\n", args[0])
	usage(stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: kvstore COMMAND [flags]\n\ncommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun \"kvstore COMMAND -h\" for a command's flags.")
}

// writeFile creates path and fills it with write.
func writeFile(path string, write func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	err = write(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// startCPUProfile starts a CPU profile written to path; stop ends it.
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}
