package node

import (
	"context"
	"fmt"
	"sync"
	"time"

	"kvstore/antientropy"
	"kvstore/node/wire"
	"kvstore/storage"
)

// Anti-entropy defaults of the node. A pass compares every partition this
// node shares with each other replica; partitions that did not change since
// their trees were built cost a root each, compared in one request per peer
// (roots are kept per partition until a write touches it), so a short pass
// is affordable and a wiped replica in a small idle cluster is repaired
// within a minute. Full trees (about 35 KB each) are kept for at most
// maxCachedTrees partitions; a differing partition whose tree was evicted
// is scanned again.
const (
	defaultAETreesPerSecond = 200
	defaultAEFullPass       = 30 * time.Second
	maxCachedTrees          = 512
)

// aeReplica is this node's side of anti-entropy: the antientropy.Replica
// over the local engine, restricted to the partitions the node replicates.
type aeReplica struct {
	n *Node
	// anyPartition lifts the restriction: the node's own side of the
	// exchanges it starts (a joining node's partitions are not yet in the
	// read table; a partition about to be dropped no longer is).
	anyPartition bool
	cache        *treeCache
}

// treeCache holds partitions' Merkle trees, shared by the replica views,
// and the root of every partition's last tree (a few bytes each, never
// evicted).
type treeCache struct {
	mu    sync.Mutex // guards trees and roots
	trees map[int]cachedTree
	roots []cachedRoot // by partition
}

// cachedTree is a partition's tree and the partition's write generation
// when it was built: a tree is reused while no write touched the partition.
type cachedTree struct {
	gen  uint64
	tree *antientropy.Tree
}

// cachedRoot is the root of a partition's last tree and the write
// generation it was built at; known is false before the first.
type cachedRoot struct {
	gen   uint64
	root  uint64
	known bool
}

var _ antientropy.Replica = (*aeReplica)(nil)

func (r *aeReplica) holds(p int) error {
	if p < 0 || p >= r.n.cfg.Partitions {
		return fmt.Errorf("%w: partition %d out of range", ErrBadRequest, p)
	}
	if r.anyPartition {
		return nil
	}
	if t := r.n.table.Load(); t != nil && t.Owns(r.n.cfg.Name, p) {
		return nil
	}
	if t := r.n.target.Load(); t != nil && t.Owns(r.n.cfg.Name, p) {
		return nil // joining, or gaining p from a leaving node
	}
	return fmt.Errorf("%w: %s does not replicate partition %d", ErrBadRequest, r.n.cfg.Name, p)
}

// Tree implements antientropy.Replica.
func (r *aeReplica) Tree(ctx context.Context, p int) (*antientropy.Tree, error) {
	if err := r.holds(p); err != nil {
		return nil, err
	}
	gen := r.n.rep.generation(p)
	c := r.cache
	c.mu.Lock()
	if ct, ok := c.trees[p]; ok && ct.gen == gen {
		c.mu.Unlock()
		return ct.tree, nil // read-only for every holder (Replica.Tree)
	}
	c.mu.Unlock()
	start, end := partitionBounds(p, nil, nil)
	it, err := r.n.db.NewIter(storage.IterOptions{Start: start, End: end, Tombstones: true, NoCache: true})
	if err != nil {
		return nil, err
	}
	tree, err := antientropy.BuildTree(r.n.aeTreeConfig(), antientropy.PacedIter(ctx, antientropy.StorageIter(it, partitionPrefixLen), r.n.aeScan))
	if cerr := it.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if len(c.trees) >= maxCachedTrees {
		for k := range c.trees { // evict any one
			delete(c.trees, k)
			break
		}
	}
	c.trees[p] = cachedTree{gen: gen, tree: tree}
	c.roots[p] = cachedRoot{gen: gen, root: tree.Root(), known: true}
	c.mu.Unlock()
	return tree, nil
}

// Root implements antientropy.Replica: the root of the partition's last
// tree, if no write touched the partition since it was built.
func (r *aeReplica) Root(p int) (uint64, bool) {
	if r.holds(p) != nil {
		return 0, false
	}
	gen := r.n.rep.generation(p)
	c := r.cache
	c.mu.Lock()
	defer c.mu.Unlock()
	if cr := c.roots[p]; cr.known && cr.gen == gen {
		return cr.root, true
	}
	return 0, false
}

// Entries implements antientropy.Replica.
func (r *aeReplica) Entries(ctx context.Context, req *antientropy.EntriesRequest) (*antientropy.EntriesResponse, error) {
	if err := r.holds(req.Partition); err != nil {
		return nil, err
	}
	start, end := partitionBounds(req.Partition, req.Start, nil)
	it, err := r.n.db.NewIter(storage.IterOptions{Start: start, End: end, Tombstones: true, NoCache: true})
	if err != nil {
		return nil, err
	}
	resp, err := antientropy.CollectEntries(req, antientropy.StorageIter(it, partitionPrefixLen))
	if cerr := it.Close(); err == nil {
		err = cerr
	}
	return resp, err
}

// Read implements antientropy.Replica.
func (r *aeReplica) Read(ctx context.Context, req *antientropy.ReadRequest) (*antientropy.ReadResponse, error) {
	if err := r.holds(req.Partition); err != nil {
		return nil, err
	}
	resp := &antientropy.ReadResponse{}
	size := 0
	for i, key := range req.Keys {
		if i > 0 && size >= req.MaxBytes {
			break
		}
		resp.Next = i + 1
		rec, err := r.n.db.Get(storageKey(nil, req.Partition, key))
		if err == storage.ErrNotFound {
			continue
		}
		if err != nil {
			return nil, err
		}
		ar := antientropy.Record{Key: key, Version: rec.Version, Tombstone: rec.Tombstone}
		if !rec.Tombstone {
			ar.Value = append([]byte(nil), rec.Value...)
		}
		size += antientropy.RecordSize(&ar)
		resp.Records = append(resp.Records, ar)
	}
	return resp, nil
}

// Apply implements antientropy.Replica.
func (r *aeReplica) Apply(ctx context.Context, req *antientropy.ApplyRequest) error {
	if err := r.holds(req.Partition); err != nil {
		return err
	}
	recs := make([]wire.Record, len(req.Records))
	for i, ar := range req.Records {
		if p := r.n.rep.parts(ar.Key); p != req.Partition {
			return fmt.Errorf("%w: key of partition %d in an apply to partition %d", ErrBadRequest, p, req.Partition)
		}
		recs[i] = wire.Record{Key: ar.Key, Value: ar.Value, Version: uint64(ar.Version), Tombstone: ar.Tombstone}
	}
	if err := r.n.rep.apply(recs); err != nil {
		return err
	}
	r.n.metrics.aeKeysApplied.Add(int64(len(recs)))
	return nil
}

// aePeer reaches another node's anti-entropy server over RPC.
type aePeer struct {
	n    *Node
	name string
}

var _ antientropy.Peer = aePeer{}

func aeCall[T wire.Message](p aePeer, ctx context.Context, req wire.Message) (T, error) {
	var zero T
	resp, err := p.n.call(ctx, p.name, req)
	if err != nil {
		return zero, err
	}
	out, ok := resp.(T)
	if !ok {
		return zero, fmt.Errorf("%w: %s answered %T", antientropy.ErrProtocol, p.name, resp)
	}
	return out, nil
}

func (p aePeer) Roots(ctx context.Context, req *antientropy.RootsRequest) (*antientropy.RootsResponse, error) {
	r, err := aeCall[*wire.AERootsResponse](p, ctx, &wire.AERootsRequest{RootsRequest: *req})
	if err != nil {
		return nil, err
	}
	return &r.RootsResponse, nil
}

func (p aePeer) Summary(ctx context.Context, req *antientropy.SummaryRequest) (*antientropy.SummaryResponse, error) {
	r, err := aeCall[*wire.AESummaryResponse](p, ctx, &wire.AESummaryRequest{SummaryRequest: *req})
	if err != nil {
		return nil, err
	}
	return &r.SummaryResponse, nil
}

func (p aePeer) Nodes(ctx context.Context, req *antientropy.NodesRequest) (*antientropy.NodesResponse, error) {
	r, err := aeCall[*wire.AENodesResponse](p, ctx, &wire.AENodesRequest{NodesRequest: *req})
	if err != nil {
		return nil, err
	}
	return &r.NodesResponse, nil
}

func (p aePeer) Entries(ctx context.Context, req *antientropy.EntriesRequest) (*antientropy.EntriesResponse, error) {
	r, err := aeCall[*wire.AEEntriesResponse](p, ctx, &wire.AEEntriesRequest{EntriesRequest: *req})
	if err != nil {
		return nil, err
	}
	return &r.EntriesResponse, nil
}

func (p aePeer) Read(ctx context.Context, req *antientropy.ReadRequest) (*antientropy.ReadResponse, error) {
	r, err := aeCall[*wire.AEReadResponse](p, ctx, &wire.AEReadRequest{ReadRequest: *req})
	if err != nil {
		return nil, err
	}
	return &r.ReadResponse, nil
}

func (p aePeer) Apply(ctx context.Context, req *antientropy.ApplyRequest) error {
	_, err := aeCall[*wire.AEApplyResponse](p, ctx, &wire.AEApplyRequest{ApplyRequest: *req})
	return err
}

// serveAE answers a peer's anti-entropy request; handled reports whether
// req was one. The server runs even with background anti-entropy disabled:
// joining nodes stream partitions through it.
func (n *Node) serveAE(ctx context.Context, req wire.Message) (resp wire.Message, handled bool, err error) {
	switch m := req.(type) {
	case *wire.AERootsRequest:
		r, err := n.aeServer.Roots(ctx, &m.RootsRequest)
		if err != nil {
			return nil, true, err
		}
		return &wire.AERootsResponse{RootsResponse: *r}, true, nil
	case *wire.AESummaryRequest:
		r, err := n.aeServer.Summary(ctx, &m.SummaryRequest)
		if err != nil {
			return nil, true, err
		}
		return &wire.AESummaryResponse{SummaryResponse: *r}, true, nil
	case *wire.AENodesRequest:
		r, err := n.aeServer.Nodes(ctx, &m.NodesRequest)
		if err != nil {
			return nil, true, err
		}
		return &wire.AENodesResponse{NodesResponse: *r}, true, nil
	case *wire.AEEntriesRequest:
		r, err := n.aeServer.Entries(ctx, &m.EntriesRequest)
		if err != nil {
			return nil, true, err
		}
		return &wire.AEEntriesResponse{EntriesResponse: *r}, true, nil
	case *wire.AEReadRequest:
		r, err := n.aeServer.Read(ctx, &m.ReadRequest)
		if err != nil {
			return nil, true, err
		}
		return &wire.AEReadResponse{ReadResponse: *r}, true, nil
	case *wire.AEApplyRequest:
		if err := n.aeServer.Apply(ctx, &m.ApplyRequest); err != nil {
			return nil, true, err
		}
		return &wire.AEApplyResponse{}, true, nil
	}
	return nil, false, nil
}

func (n *Node) aeTreeConfig() antientropy.TreeConfig { return antientropy.DefaultTreeConfig() }

// newAntiEntropy creates the anti-entropy server and, unless disabled, the
// (not yet started) background scheduler.
func (n *Node) newAntiEntropy() error {
	// Tree builds are paced whether or not background passes run: joins
	// and peers' exchanges build trees too.
	n.aeScan = n.cfg.AntiEntropy.ScanPacer()
	cache := &treeCache{trees: map[int]cachedTree{}, roots: make([]cachedRoot, n.cfg.Partitions)}
	n.aeReplica = &aeReplica{n: n, cache: cache}
	n.aeLocal = &aeReplica{n: n, cache: cache, anyPartition: true}
	srv, err := antientropy.NewServer(n.aeReplica, antientropy.ServerConfig{})
	if err != nil {
		return err
	}
	n.aeServer = srv
	if n.cfg.DisableAntiEntropy {
		return nil
	}
	cfg := n.cfg.AntiEntropy
	if cfg.TreesPerSecond == 0 {
		cfg.TreesPerSecond = defaultAETreesPerSecond
	}
	if cfg.FullPassTarget == 0 {
		cfg.FullPassTarget = defaultAEFullPass
	}
	sched, err := antientropy.NewScheduler(cfg, antientropy.Env{
		Local: n.aeLocal,
		Work:  n.aeWork,
		Peer:  func(name string) (antientropy.Peer, error) { return aePeer{n: n, name: name}, nil },
		Alive: func(name string) bool {
			p := n.peers.Load().byName[name]
			return p != nil && p.up()
		},
	})
	if err != nil {
		return err
	}
	n.aeSched = sched
	return nil
}

// aeWork lists the exchanges of one pass: every partition this node
// replicates, with each other replica whose name sorts after this node's
// (an exchange repairs both sides, so one side of each pair is enough).
func (n *Node) aeWork() []antientropy.WorkItem {
	t := n.table.Load()
	var items []antientropy.WorkItem
	for _, p := range t.PartitionsOf(n.cfg.Name) {
		for _, r := range t.Replicas(p) {
			if r > n.cfg.Name {
				items = append(items, antientropy.WorkItem{Partition: p, Peer: r})
			}
		}
	}
	return items
}

// MerkleRoot returns the root of this node's Merkle tree of partition p (an
// operator compares replicas with it; equal roots mean equal contents).
func (n *Node) MerkleRoot(p int) (uint64, error) {
	t, err := n.aeLocal.Tree(context.Background(), p)
	if err != nil {
		return 0, err
	}
	return t.Root(), nil
}

// AntiEntropyProgress reports the background exchanges.
func (n *Node) AntiEntropyProgress() (antientropy.Progress, bool) {
	if n.aeSched == nil {
		return antientropy.Progress{}, false
	}
	return n.aeSched.Progress(), true
}
