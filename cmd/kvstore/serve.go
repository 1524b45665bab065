package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"kvstore/antientropy"
	"kvstore/node"
	"kvstore/storage"
)

// serveFlags are the flags of "kvstore serve".
type serveFlags struct {
	name, data, http, rpc, gossip, join, advertise string
	n, r, w                                        int
	sync, secretFile                               string
	partitions, aeScanMiB, cacheMiB                int
	leaveOnTerm, noHints                           bool
	syncWindow                                     time.Duration
}

func (f *serveFlags) register(fs *flag.FlagSet) {
	host, _ := os.Hostname()
	if host == "" {
		host = "node1"
	}
	fs.StringVar(&f.name, "node", host, "node name, unique in the cluster and stable across restarts")
	fs.StringVar(&f.data, "data", "./data", "data directory")
	fs.StringVar(&f.http, "http", ":8080", "client HTTP API listen address")
	fs.StringVar(&f.rpc, "rpc", ":8081", "node-to-node RPC listen address")
	fs.StringVar(&f.gossip, "gossip", ":8082", "gossip listen address (UDP and TCP)")
	fs.StringVar(&f.join, "join", "", "gossip addresses of existing members, comma-separated (empty: start a new cluster)")
	fs.StringVar(&f.advertise, "advertise", "", "host other nodes and clients reach this node at (default: the first non-loopback IPv4 address)")
	fs.IntVar(&f.n, "n", 3, "replicas per key (N)")
	fs.IntVar(&f.r, "r", 2, "default read quorum (R)")
	fs.IntVar(&f.w, "w", 2, "default write quorum (W)")
	fs.StringVar(&f.sync, "sync", "always", "WAL durability: always (fsync before acknowledging), interval or none")
	fs.DurationVar(&f.syncWindow, "sync-window", 0, "with -sync always, how long after one WAL fsync starts the next may gather concurrent writes (fewer fsyncs, more latency, under load; a lone writer never waits): for several nodes sharing a machine's CPUs, e.g. 2ms; 0: none")
	fs.StringVar(&f.secretFile, "secret-file", "", "file holding the cluster secret (also $KVSTORE_SECRET); a new cluster without one creates DATA/cluster.secret")
	fs.IntVar(&f.partitions, "partitions", 1024, "partitions of the ring; fixed for the life of the cluster")
	fs.BoolVar(&f.noHints, "no-hints", false, "strict quorums: no hinted handoff (a write counts only its own replicas' acknowledgements; anti-entropy repairs a replica that was down)")
	fs.IntVar(&f.cacheMiB, "cache-mib", 64, "block cache of the storage engine, in MiB (recently read table blocks; the OS page cache holds more); 0: none")
	fs.IntVar(&f.aeScanMiB, "ae-scan-mib", 32, "MiB/s of records anti-entropy may read to build Merkle trees (its own and peers'); -1: no cap")
	fs.BoolVar(&f.leaveOnTerm, "leave-on-term", false, "on SIGTERM, hand this node's partitions off and leave the ring before stopping (default: stay in the ring, as for a restart)")
}

// config turns the flags into a node configuration.
func (f *serveFlags) config(stderr io.Writer) (node.Config, error) {
	mode, err := storage.ParseSyncMode(f.sync)
	if err != nil {
		return node.Config{}, err
	}
	var join []string
	for _, a := range strings.Split(f.join, ",") {
		if a = strings.TrimSpace(a); a != "" {
			join = append(join, a)
		}
	}
	secret, err := loadSecret(f.secretFile, f.data, len(join) > 0, stderr)
	if err != nil {
		return node.Config{}, err
	}
	return node.Config{
		Name:                 f.name,
		DataDir:              f.data,
		HTTPAddr:             f.http,
		RPCAddr:              f.rpc,
		GossipAddr:           f.gossip,
		AdvertiseHost:        f.advertise,
		Join:                 join,
		N:                    f.n,
		R:                    f.r,
		W:                    f.w,
		Partitions:           f.partitions,
		Secret:               secret,
		DisableHintedHandoff: f.noHints,
		AntiEntropy:          antientropy.Config{ScanBytesPerSecond: scanRate(f.aeScanMiB)},
		Storage:              storage.Options{Sync: mode, GroupCommitWindow: f.syncWindow, CacheSize: cacheSize(f.cacheMiB)},
		Logger:               log.New(stderr, f.name+": ", log.LstdFlags),
	}, nil
}

// scanRate turns -ae-scan-mib into a byte rate: negative is no cap, zero
// the default.
func scanRate(mib int) int64 {
	if mib < 0 {
		return -1
	}
	return int64(mib) << 20
}

// cacheSize turns -cache-mib into storage.Options.CacheSize: zero or less
// is no cache.
func cacheSize(mib int) int64 {
	if mib <= 0 {
		return -1
	}
	return int64(mib) << 20
}

// loadSecret returns the cluster secret: from the file, from
// $KVSTORE_SECRET, or, for a node starting a new cluster, from
// DATA/cluster.secret, created with 32 random bytes if missing.
func loadSecret(file, data string, joining bool, stderr io.Writer) ([]byte, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("cluster secret: %w", err)
		}
		return checkSecret(b, file)
	}
	if s := os.Getenv("KVSTORE_SECRET"); s != "" {
		return checkSecret([]byte(s), "$KVSTORE_SECRET")
	}
	path := filepath.Join(data, "cluster.secret")
	b, err := os.ReadFile(path)
	if err == nil {
		return checkSecret(b, path)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("cluster secret: %w", err)
	}
	if joining {
		return nil, errors.New("joining a cluster needs its secret: pass -secret-file FILE or set KVSTORE_SECRET")
	}
	raw := make([]byte, 32)
	rand.Read(raw)
	secret := []byte(hex.EncodeToString(raw) + "\n")
	if err := os.MkdirAll(data, 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, secret, 0o600); err != nil {
		return nil, fmt.Errorf("cluster secret: %w", err)
	}
	fmt.Fprintf(stderr, "created a new cluster secret in %s; start other nodes with -secret-file pointing to a copy of it\n", path)
	return checkSecret(secret, path)
}

func checkSecret(b []byte, from string) ([]byte, error) {
	s := strings.TrimSpace(string(b))
	if len(s) < 16 {
		return nil, fmt.Errorf("cluster secret from %s is shorter than 16 characters", from)
	}
	return []byte(s), nil
}

func runServe(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("kvstore serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f serveFlags
	f.register(fs)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg, err := f.config(stderr)
	if err != nil {
		fmt.Fprintln(stderr, "kvstore serve:", err)
		return 2
	}
	setServerProcs()
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	n, err := node.Start(cfg)
	if err != nil {
		fmt.Fprintln(stderr, "kvstore serve:", err)
		return 1
	}
	fmt.Fprintf(stdout, "node %s serving http://%s (rpc %s, gossip %s, data %s)\n",
		cfg.Name, n.HTTPAddr(), n.RPCAddr(), cfg.GossipAddr, cfg.DataDir)
	select {
	case sig := <-sigs:
		if sig == syscall.SIGTERM && f.leaveOnTerm {
			fmt.Fprintf(stderr, "%s: %v: handing partitions off and leaving the ring\n", cfg.Name, sig)
			rep, err := n.Leave(context.Background())
			if err != nil {
				fmt.Fprintln(stderr, "kvstore serve: leave:", err)
			} else {
				fmt.Fprintf(stderr, "%s: left the ring (%d partitions, %d records handed off)\n", cfg.Name, rep.Partitions, rep.Records)
			}
		}
		fmt.Fprintf(stderr, "%s: %v: finishing requests and flushing\n", cfg.Name, sig)
	case <-n.Left():
		fmt.Fprintf(stderr, "%s: left the ring; stopping\n", cfg.Name)
	}
	start := time.Now()
	if err := n.Close(); err != nil {
		fmt.Fprintln(stderr, "kvstore serve: shutdown:", err)
		return 1
	}
	fmt.Fprintf(stderr, "%s: stopped in %v\n", cfg.Name, time.Since(start).Round(time.Millisecond))
	return 0
}
