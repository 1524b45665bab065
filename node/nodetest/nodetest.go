// Package nodetest runs whole kvstore clusters inside one test process:
// nodes talk over memnet, an in-process network that drops, delays and
// partitions messages as a test scripts (deterministic under a seed), and
// share scripted membership (Hub) instead of gossip.
//
//	c := nodetest.Start(t, nodetest.Options{Nodes: 3})
//	c.Node(0).Put(ctx, key, value, node.LevelDefault)
//	c.Net.Partition([]string{c.Name(0)}, []string{c.Name(1), c.Name(2)})
//	c.Kill(2); c.Restart(2)
package nodetest

import (
	"fmt"
	"log"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"kvstore/antientropy"
	"kvstore/gossip"
	"kvstore/node"
	"kvstore/node/transport"
	"kvstore/node/transport/memnet"
	"kvstore/storage"
	"kvstore/storage/vfs"
)

// Options configures a test cluster.
type Options struct {
	Nodes   int // default 3
	N, R, W int // default 3, 2, 2
	// Partitions is the ring's partition count. Default 64 (small, so ring
	// builds and range reads stay fast in tests).
	Partitions int
	// ReplicaTimeout bounds each replica RPC. Default 500ms.
	ReplicaTimeout time.Duration
	// Seed drives memnet's random faults. Default 1.
	Seed uint64
	// Verbose logs the nodes' messages to the test log.
	Verbose bool
	// DisableHints makes quorums strict (no hinted handoff).
	DisableHints bool
	// DisableAntiEntropy turns the background Merkle exchanges off.
	DisableAntiEntropy bool
	// AntiEntropyPass is the target time of a full anti-entropy pass.
	// Default 500ms.
	AntiEntropyPass time.Duration
	// JoinSettle is how long a joining node waits before its final
	// exchanges (node.Config.JoinSettle). Default 50ms: Hub membership
	// reaches every node at once.
	JoinSettle time.Duration
	// DropDelay is how long a node keeps a partition that moved away
	// (node.Config.DropDelay). Default 100ms.
	DropDelay time.Duration
	// ClockSkew[i], when given, offsets node i's wall clock
	// (node.Config.Now) from the real one.
	ClockSkew []time.Duration
	// Sync is the nodes' WAL durability. Default storage.SyncAlways.
	Sync storage.SyncMode
	// DiskFaults[i], when given and not nil, is consulted before every
	// file operation of node i's storage engine (vfs.ErrorFS): it can fail
	// the operation or stall it.
	DiskFaults []vfs.InjectFunc
}

// Cluster is a running in-process cluster.
type Cluster struct {
	t     testing.TB
	opts  Options
	Net   *memnet.Network
	Hub   *Hub
	names []string
	dirs  []string
	nodes []*node.Node
	trs   []transport.Transport
	joins []bool // node i was added to a running cluster (Add)
	base  string
}

// Start starts a cluster and registers its shutdown with t.Cleanup.
func Start(t testing.TB, opts Options) *Cluster {
	t.Helper()
	if opts.Nodes == 0 {
		opts.Nodes = 3
	}
	if opts.N == 0 {
		opts.N, opts.R, opts.W = 3, 2, 2
	}
	if opts.Partitions == 0 {
		opts.Partitions = 64
	}
	if opts.ReplicaTimeout == 0 {
		opts.ReplicaTimeout = 500 * time.Millisecond
	}
	if opts.Seed == 0 {
		opts.Seed = 1
	}
	if opts.AntiEntropyPass == 0 {
		opts.AntiEntropyPass = 500 * time.Millisecond
	}
	if opts.JoinSettle == 0 {
		opts.JoinSettle = 50 * time.Millisecond
	}
	if opts.DropDelay == 0 {
		opts.DropDelay = 100 * time.Millisecond
	}
	c := &Cluster{t: t, opts: opts, Net: memnet.New(opts.Seed), Hub: NewHub()}
	c.base = t.TempDir()
	for range opts.Nodes {
		c.newSlot(false)
	}
	for i := range opts.Nodes {
		c.Restart(i)
	}
	t.Cleanup(c.Close)
	c.WaitRing(opts.Nodes, 10*time.Second)
	return c
}

func (c *Cluster) newSlot(join bool) int {
	i := len(c.names)
	c.names = append(c.names, fmt.Sprintf("n%d", i))
	c.dirs = append(c.dirs, filepath.Join(c.base, c.names[i]))
	c.nodes = append(c.nodes, nil)
	c.trs = append(c.trs, nil)
	c.joins = append(c.joins, join)
	return i
}

// Add starts a new node that joins the running cluster and returns its
// index. The node is Joining (it streams its partitions and serves no reads)
// until its join completes; WaitRing waits for that.
func (c *Cluster) Add() int {
	c.t.Helper()
	i := c.newSlot(true)
	c.Restart(i)
	return i
}

// Size returns the number of nodes the cluster ever had (running or not).
func (c *Cluster) Size() int { return len(c.names) }

// clock returns node i's wall clock: nil (the real one) unless ClockSkew
// offsets it.
func (c *Cluster) clock(i int) func() time.Time {
	if i >= len(c.opts.ClockSkew) || c.opts.ClockSkew[i] == 0 {
		return nil
	}
	skew := c.opts.ClockSkew[i]
	return func() time.Time { return time.Now().Add(skew) }
}

// diskFS returns node i's storage file system: the operating system's,
// through an ErrorFS when DiskFaults gives the node one.
func (c *Cluster) diskFS(i int) vfs.FS {
	if i >= len(c.opts.DiskFaults) || c.opts.DiskFaults[i] == nil {
		return vfs.Default
	}
	return vfs.NewErrorFS(vfs.Default, c.opts.DiskFaults[i])
}

// WaitRing waits until every running node places keys with a ring of n
// members, all active (Status.RingSettled), so a test goes on from a
// cluster whose nodes agree on placement.
func (c *Cluster) WaitRing(n int, timeout time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		agreed := true
		for _, nd := range c.nodes {
			if nd != nil && !nd.Status().RingSettled(n) {
				agreed = false
			}
		}
		if agreed {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("nodetest: nodes do not agree on a ring of %d active members within %v", n, timeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Name returns node i's name.
func (c *Cluster) Name(i int) string { return c.names[i] }

// Node returns node i (nil while it is stopped).
func (c *Cluster) Node(i int) *node.Node { return c.nodes[i] }

// Restart starts node i on its data directory (first start or restart).
func (c *Cluster) Restart(i int) {
	c.t.Helper()
	if c.nodes[i] != nil {
		c.t.Fatalf("nodetest: node %d is running", i)
	}
	name := c.names[i]
	c.Net.Start(name)
	tr := c.Net.Transport(name)
	var join []string
	if c.joins[i] {
		join = []string{c.names[0]} // Hub membership needs no address
	}
	logger := log.New(os.Stderr, name+": ", log.Lmicroseconds)
	if !c.opts.Verbose {
		logger = log.New(discard{}, "", 0)
	}
	n, err := node.Start(node.Config{
		Name:                 name,
		DataDir:              c.dirs[i],
		RPCAddr:              name,
		N:                    c.opts.N,
		R:                    c.opts.R,
		W:                    c.opts.W,
		Partitions:           c.opts.Partitions,
		Insecure:             true,
		ReplicaTimeout:       c.opts.ReplicaTimeout,
		DisableHintedHandoff: c.opts.DisableHints,
		DisableAntiEntropy:   c.opts.DisableAntiEntropy,
		JoinSettle:           c.opts.JoinSettle,
		DropDelay:            c.opts.DropDelay,
		Now:                  c.clock(i),
		AntiEntropy: antientropy.Config{
			TreesPerSecond:     -1,
			BytesPerSecond:     -1,
			ScanBytesPerSecond: -1,
			FullPassTarget:     c.opts.AntiEntropyPass,
			IdleInterval:       100 * time.Millisecond,
		},
		Storage:    storage.Options{FS: c.diskFS(i), Shards: 2, MemtableSize: 1 << 20, CacheSize: 1 << 20, Sync: c.opts.Sync},
		Transport:  tr,
		Membership: c.Hub.View(name),
		Join:       join,
		Logger:     logger,
	})
	if err != nil {
		c.t.Fatalf("nodetest: start %s: %v", name, err)
	}
	c.nodes[i], c.trs[i] = n, tr
}

// Stop shuts node i down gracefully (it stays in the ring).
func (c *Cluster) Stop(i int) {
	c.t.Helper()
	n := c.nodes[i]
	if n == nil {
		return
	}
	if err := n.Close(); err != nil {
		c.t.Errorf("nodetest: close %s: %v", c.names[i], err)
	}
	c.trs[i].Close()
	c.Net.Stop(c.names[i])
	c.nodes[i] = nil
}

// Kill stops node i as a crash would look to its peers: its network stops
// first, so peers see calls refused, and membership reports it dead. It
// returns once every running node sees it down, so what a test does next
// meets the failure detector's verdict, not a view from before it.
func (c *Cluster) Kill(i int) {
	c.t.Helper()
	c.Net.Stop(c.names[i])
	c.Hub.SetState(c.names[i], gossip.StateDead)
	c.Stop(i)
	deadline := time.Now().Add(10 * time.Second)
	for !c.allSeeDown(c.names[i]) {
		if time.Now().After(deadline) {
			c.t.Fatalf("nodetest: the nodes do not see %s down within 10s", c.names[i])
		}
		time.Sleep(time.Millisecond)
	}
}

// allSeeDown reports whether every running node reports member name
// neither alive nor suspect.
func (c *Cluster) allSeeDown(name string) bool {
	for _, nd := range c.nodes {
		if nd == nil {
			continue
		}
		ms := nd.Status().Members
		i := slices.IndexFunc(ms, func(m node.MemberStatus) bool { return m.Name == name })
		if i >= 0 && (ms[i].State == "alive" || ms[i].State == "suspect") {
			return false
		}
	}
	return true
}

// Wipe deletes stopped node i's data directory, as a replaced disk would.
func (c *Cluster) Wipe(i int) {
	c.t.Helper()
	if c.nodes[i] != nil {
		c.t.Fatalf("nodetest: wipe of running node %d", i)
	}
	if err := os.RemoveAll(c.dirs[i]); err != nil {
		c.t.Fatal(err)
	}
}

// Close stops every node.
func (c *Cluster) Close() {
	for i := range c.nodes {
		c.Stop(i)
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
