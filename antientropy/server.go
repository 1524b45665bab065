package antientropy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"kvstore/storage"
)

// ServerConfig configures a Server.
type ServerConfig struct {
	// TreeTTL is how long a tree built for a Summary stays available to the
	// NodesRequests of the same exchange. Default 1 minute.
	TreeTTL time.Duration
	// MaxTrees bounds the trees kept at once (exchanges in flight with this
	// node); the oldest is evicted first. Default 16.
	MaxTrees int
	// MaxRecords caps the entries, keys or records of one message: entry
	// page limits are lowered to it, larger reads and applies are refused.
	// Default 4096.
	MaxRecords int
	// MaxBytes caps the approximate size of an entries or read response.
	// Default 4 MiB.
	MaxBytes int
	// MaxHashes caps the indexes of one NodesRequest and the partitions of
	// one RootsRequest. Default 65536.
	MaxHashes int
	// Now returns the current time. Default time.Now.
	Now func() time.Time
}

// DefaultServerConfig returns the default ServerConfig.
func DefaultServerConfig() ServerConfig {
	return ServerConfig{
		TreeTTL:    time.Minute,
		MaxTrees:   16,
		MaxRecords: 4096,
		MaxBytes:   4 << 20,
		MaxHashes:  1 << 16,
		Now:        time.Now,
	}
}

func (c ServerConfig) withDefaults() ServerConfig {
	d := DefaultServerConfig()
	if c.TreeTTL == 0 {
		c.TreeTTL = d.TreeTTL
	}
	if c.MaxTrees == 0 {
		c.MaxTrees = d.MaxTrees
	}
	if c.MaxRecords == 0 {
		c.MaxRecords = d.MaxRecords
	}
	if c.MaxBytes == 0 {
		c.MaxBytes = d.MaxBytes
	}
	if c.MaxHashes == 0 {
		c.MaxHashes = d.MaxHashes
	}
	if c.Now == nil {
		c.Now = d.Now
	}
	return c
}

// Validate reports every problem of c (zero fields count as their
// defaults). The error wraps ErrInvalidConfig.
func (c ServerConfig) Validate() error {
	c = c.withDefaults()
	var errs []error
	if c.TreeTTL < 0 {
		errs = append(errs, fmt.Errorf("TreeTTL %v < 0", c.TreeTTL))
	}
	if c.MaxTrees < 1 {
		errs = append(errs, fmt.Errorf("MaxTrees %d < 1", c.MaxTrees))
	}
	if c.MaxRecords < 1 {
		errs = append(errs, fmt.Errorf("MaxRecords %d < 1", c.MaxRecords))
	}
	if c.MaxBytes < 1 {
		errs = append(errs, fmt.Errorf("MaxBytes %d < 1", c.MaxBytes))
	}
	if c.MaxHashes < 1 {
		errs = append(errs, fmt.Errorf("MaxHashes %d < 1", c.MaxHashes))
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: server: %w", ErrInvalidConfig, errors.Join(errs...))
	}
	return nil
}

// Server answers a peer's exchange requests from the local Replica: it is
// the Peer the remote side of an exchange talks to, once the node's
// transport has carried the requests over. It keeps the tree built for each
// Summary for the NodesRequests that follow, so every level the peer
// compares comes from one snapshot. Every request is validated; bad ones
// fail with ErrBadRequest.
//
// A Server is safe for concurrent use.
type Server struct {
	local Replica
	cfg   ServerConfig

	mu struct {
		sync.Mutex
		trees  map[uint64]*cachedTree // by tree id; guarded by mu
		nextID uint64                 // last tree id handed out; guarded by mu
	}
}

type cachedTree struct {
	partition int
	tree      *Tree
	built     time.Time
}

var _ Peer = (*Server)(nil)

// NewServer returns a Server answering from local. It returns an error
// wrapping ErrInvalidConfig if cfg is invalid.
func NewServer(local Replica, cfg ServerConfig) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Server{local: local, cfg: cfg.withDefaults()}
	s.mu.trees = make(map[uint64]*cachedTree)
	// Tree ids start from the clock so ids of an earlier run of this node,
	// still held by a peer, do not name a tree of this run.
	s.mu.nextID = uint64(s.cfg.Now().UnixNano())
	return s, nil
}

// Roots answers from the local replica's Root: it never builds a tree.
func (s *Server) Roots(ctx context.Context, req *RootsRequest) (*RootsResponse, error) {
	if len(req.Partitions) > s.cfg.MaxHashes {
		return nil, fmt.Errorf("%w: roots: %d partitions, limit %d", ErrBadRequest, len(req.Partitions), s.cfg.MaxHashes)
	}
	resp := &RootsResponse{Roots: make([]uint64, len(req.Partitions)), Known: make([]byte, (len(req.Partitions)+7)/8)}
	for i, p := range req.Partitions {
		if p < 0 {
			return nil, fmt.Errorf("%w: roots: partition %d", ErrBadRequest, p)
		}
		if root, ok := s.local.Root(p); ok {
			resp.Roots[i] = root
			setBit(resp.Known, i)
		}
	}
	return resp, nil
}

// Summary builds the local tree of the partition, keeps it under a new
// tree id and describes it.
func (s *Server) Summary(ctx context.Context, req *SummaryRequest) (*SummaryResponse, error) {
	if req.Partition < 0 {
		return nil, fmt.Errorf("%w: summary: partition %d", ErrBadRequest, req.Partition)
	}
	t, err := s.local.Tree(ctx, req.Partition)
	if err != nil {
		return nil, err
	}
	now := s.cfg.Now()
	s.mu.Lock()
	for id, c := range s.mu.trees {
		if now.Sub(c.built) > s.cfg.TreeTTL {
			delete(s.mu.trees, id)
		}
	}
	for len(s.mu.trees) >= s.cfg.MaxTrees {
		var oldest uint64
		var at time.Time
		for id, c := range s.mu.trees {
			if at.IsZero() || c.built.Before(at) || (c.built.Equal(at) && id < oldest) {
				oldest, at = id, c.built
			}
		}
		delete(s.mu.trees, oldest)
	}
	s.mu.nextID++
	id := s.mu.nextID
	s.mu.trees[id] = &cachedTree{partition: req.Partition, tree: t, built: now}
	s.mu.Unlock()
	cfg := t.Config()
	return &SummaryResponse{
		TreeID: id,
		Fanout: cfg.Fanout,
		Depth:  cfg.Depth,
		Count:  t.Count(),
		Root:   t.Root(),
		Level1: append([]uint64(nil), t.Level(1)...),
	}, nil
}

// Nodes returns hashes of a tree kept by Summary. It returns ErrUnknownTree
// if the tree expired or was evicted, ErrBadRequest for a bad level or
// index or too many indexes.
func (s *Server) Nodes(ctx context.Context, req *NodesRequest) (*NodesResponse, error) {
	if len(req.Indexes) > s.cfg.MaxHashes {
		return nil, fmt.Errorf("%w: nodes: %d indexes, limit %d", ErrBadRequest, len(req.Indexes), s.cfg.MaxHashes)
	}
	now := s.cfg.Now()
	s.mu.Lock()
	c, ok := s.mu.trees[req.TreeID]
	if ok && now.Sub(c.built) > s.cfg.TreeTTL {
		delete(s.mu.trees, req.TreeID)
		ok = false
	}
	s.mu.Unlock()
	if !ok || c.partition != req.Partition {
		return nil, fmt.Errorf("%w: tree %d of partition %d", ErrUnknownTree, req.TreeID, req.Partition)
	}
	hashes, err := c.tree.Nodes(req.Level, req.Indexes)
	if err != nil {
		return nil, err
	}
	return &NodesResponse{Hashes: hashes}, nil
}

// Entries validates req, lowers its limits to the server's and asks the
// local replica.
func (s *Server) Entries(ctx context.Context, req *EntriesRequest) (*EntriesResponse, error) {
	if err := req.validate(); err != nil {
		return nil, err
	}
	r := *req
	r.Limit = min(r.Limit, s.cfg.MaxRecords)
	r.MaxBytes = min(r.MaxBytes, s.cfg.MaxBytes)
	return s.local.Entries(ctx, &r)
}

// Read validates req, lowers its byte limit to the server's and asks the
// local replica.
func (s *Server) Read(ctx context.Context, req *ReadRequest) (*ReadResponse, error) {
	switch {
	case req.Partition < 0:
		return nil, fmt.Errorf("%w: read: partition %d", ErrBadRequest, req.Partition)
	case len(req.Keys) > s.cfg.MaxRecords:
		return nil, fmt.Errorf("%w: read: %d keys, limit %d", ErrBadRequest, len(req.Keys), s.cfg.MaxRecords)
	case req.MaxBytes <= 0:
		return nil, fmt.Errorf("%w: read: max bytes %d", ErrBadRequest, req.MaxBytes)
	}
	if len(req.Keys) == 0 {
		return &ReadResponse{}, nil
	}
	r := *req
	r.MaxBytes = min(r.MaxBytes, s.cfg.MaxBytes)
	return s.local.Read(ctx, &r)
}

// Apply validates req and applies it to the local replica.
func (s *Server) Apply(ctx context.Context, req *ApplyRequest) error {
	switch {
	case req.Partition < 0:
		return fmt.Errorf("%w: apply: partition %d", ErrBadRequest, req.Partition)
	case len(req.Records) > s.cfg.MaxRecords:
		return fmt.Errorf("%w: apply: %d records, limit %d", ErrBadRequest, len(req.Records), s.cfg.MaxRecords)
	}
	for i := range req.Records {
		if req.Records[i].Tombstone && len(req.Records[i].Value) > 0 {
			return fmt.Errorf("%w: apply: tombstone with a value", ErrBadRequest)
		}
	}
	if len(req.Records) == 0 {
		return nil
	}
	return s.local.Apply(ctx, req)
}

// CollectEntries builds the answer to req from it, an iterator over the
// records of req.Partition in ascending key order, tombstones included,
// positioned before the first key >= req.Start (records below Start are
// skipped anyway). It stops after req.Limit entries or before the entry
// that would take the page past req.MaxBytes (always taking at least one);
// More is then set. Keys and values are copied. It returns it.Err() if the
// iteration fails.
func CollectEntries(req *EntriesRequest, it RecordIterator) (*EntriesResponse, error) {
	resp := &EntriesResponse{}
	limit := max(req.Limit, 1)
	size := messageOverhead
	for it.Next() {
		key := it.Key()
		if req.Start != nil && bytes.Compare(key, req.Start) < 0 {
			continue
		}
		if !req.wants(key) {
			continue
		}
		tomb := it.Tombstone()
		var value []byte
		if !tomb {
			value = it.Value()
		}
		e := EntryOf(key, value, it.Version(), tomb)
		n := EntrySize(&e)
		if req.Values {
			n += len(value)
		}
		if len(resp.Entries) == limit || (len(resp.Entries) > 0 && size+n > req.MaxBytes) {
			resp.More = true
			break
		}
		e.Key = bytes.Clone(key)
		resp.Entries = append(resp.Entries, e)
		if req.Values {
			if tomb {
				resp.Values = append(resp.Values, nil)
			} else {
				resp.Values = append(resp.Values, append([]byte{}, value...))
			}
		}
		size += n
	}
	if err := it.Err(); err != nil {
		return nil, err
	}
	return resp, nil
}

// StorageIter adapts it, a storage iterator over one partition's range
// opened with IterOptions.Tombstones set and not yet positioned, to a
// RecordIterator. Keys are returned without their first prefixLen bytes
// (the node's partition prefix), so trees and entries carry the keys users
// see. Closing it stays the caller's job.
func StorageIter(it *storage.Iterator, prefixLen int) RecordIterator {
	return &storageIter{it: it, prefix: prefixLen}
}

type storageIter struct {
	it      *storage.Iterator
	prefix  int
	started bool
}

func (s *storageIter) Next() bool {
	if !s.started {
		s.started = true
		return s.it.First()
	}
	return s.it.Next()
}

func (s *storageIter) Key() []byte {
	k := s.it.Key()
	return k[min(s.prefix, len(k)):]
}

func (s *storageIter) Value() []byte            { return s.it.Value() }
func (s *storageIter) Version() storage.Version { return s.it.Version() }
func (s *storageIter) Tombstone() bool          { return s.it.Tombstone() }
func (s *storageIter) Err() error               { return s.it.Err() }
