package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"kvstore/node"
	"kvstore/storage"
)

// runDev starts a local cluster of several nodes in this process, on
// loopback ports, with data under one directory.
func runDev(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("kvstore dev", flag.ContinueOnError)
	fs.SetOutput(stderr)
	nodes := fs.Int("nodes", 3, "number of nodes")
	data := fs.String("data", "./data", "data directory; node i keeps its data in DATA/nodeI")
	basePort := fs.Int("port", 8080, "HTTP port of node 1; node i serves HTTP on PORT+i-1, RPC on PORT+100+i-1 and gossip on PORT+200+i-1")
	n := fs.Int("n", 3, "replicas per key (N)")
	sync := fs.String("sync", "always", "WAL durability: always, interval or none")
	syncWindow := fs.Duration("sync-window", 0, "with -sync always, how long after one WAL fsync starts the next may gather concurrent writes (when not given: 2ms for several nodes, 0 for one)")
	cacheMiB := fs.Int("cache-mib", 64, "block cache of each node's storage engine, in MiB; 0: none")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the whole cluster (all nodes run in this process) to this file until it stops")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *nodes < 1 || *nodes > 64 {
		fmt.Fprintln(stderr, "kvstore dev: -nodes must be between 1 and 64")
		return 2
	}
	mode, err := storage.ParseSyncMode(*sync)
	if err != nil {
		fmt.Fprintln(stderr, "kvstore dev:", err)
		return 2
	}
	if !hasFlag(args, "sync-window") {
		*syncWindow = devSyncWindow(*nodes)
	}
	setServerProcs()
	if *cpuProfile != "" {
		stop, err := startCPUProfile(*cpuProfile)
		if err != nil {
			fmt.Fprintln(stderr, "kvstore dev:", err)
			return 1
		}
		defer stop()
	}
	secret, err := loadSecret("", *data, false, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "kvstore dev:", err)
		return 1
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)

	var running []*node.Node
	stopAll := func() error {
		var errs []error
		for i := len(running) - 1; i >= 0; i-- {
			errs = append(errs, running[i].Close())
		}
		return errors.Join(errs...)
	}
	seed := fmt.Sprintf("127.0.0.1:%d", *basePort+200)
	for i := 1; i <= *nodes; i++ {
		name := fmt.Sprintf("node%d", i)
		cfg := node.Config{
			Name:       name,
			DataDir:    filepath.Join(*data, name),
			HTTPAddr:   fmt.Sprintf("127.0.0.1:%d", *basePort+i-1),
			RPCAddr:    fmt.Sprintf("127.0.0.1:%d", *basePort+100+i-1),
			GossipAddr: fmt.Sprintf("127.0.0.1:%d", *basePort+200+i-1),
			N:          *n,
			R:          min(2, *n),
			W:          min(2, *n),
			Secret:     secret,
			Storage:    storage.Options{Sync: mode, GroupCommitWindow: *syncWindow, CacheSize: cacheSize(*cacheMiB)},
			Logger:     log.New(stderr, name+": ", log.LstdFlags),
		}
		if i > 1 {
			cfg.Join = []string{seed}
		}
		nd, err := node.Start(cfg)
		if err != nil {
			fmt.Fprintf(stderr, "kvstore dev: start %s: %v\n", name, err)
			stopAll()
			return 1
		}
		running = append(running, nd)
		fmt.Fprintf(stdout, "%s: http://%s\n", name, nd.HTTPAddr())
	}
	if !waitActive(running, time.Minute) {
		fmt.Fprintln(stderr, "kvstore dev: the nodes did not all become active ring members within a minute; see /status")
	}
	fmt.Fprintf(stdout, "cluster of %d nodes is up (data in %s); try: curl -X PUT 'http://127.0.0.1:%d/?key=hello&value=world'\n",
		*nodes, *data, *basePort)
	<-sigs
	fmt.Fprintln(stderr, "stopping the cluster")
	if err := stopAll(); err != nil {
		fmt.Fprintln(stderr, "kvstore dev:", err)
		return 1
	}
	return 0
}

// waitActive waits until every node sees all of them as active ring
// members (new nodes stream their partitions first).
func waitActive(nodes []*node.Node, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for {
		done := true
		for _, nd := range nodes {
			done = done && nd.Status().RingSettled(len(nodes))
		}
		if done {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// devSyncWindow is the group-commit window of a dev cluster's nodes. They
// share the machine's CPUs, where each node's fsyncs cost CPU the others
// need: with three nodes on 2 CPUs a 2 ms window cut cluster CPU per synced
// write by about 15%; one node alone is faster without it
// (docs/performance.md).
func devSyncWindow(nodes int) time.Duration {
	if nodes > 1 {
		return 2 * time.Millisecond
	}
	return 0
}
