package antientropy

import (
	"context"
	"fmt"
	"sync"
)

// Replica is this node's side of an exchange: its records of each partition
// it holds. Requests and responses change hands with the call: the callee
// must not modify a request or keep it past the call, and the caller owns a
// response. Methods may be called concurrently (by exchanges of different
// partitions, and by a Server answering several peers). They return ctx's
// error when ctx ends first, and an error for a partition the replica does
// not hold.
type Replica interface {
	// Tree returns the Merkle tree of partition over the replica's current
	// records (BuildTree over a scan of the partition, or a Clone of a tree
	// kept up to date). The tree is read-only from then on, for the caller
	// and the replica alike, so a replica may hand the same tree to several
	// callers (a cache of unchanged partitions' trees). It must fail if the
	// replica does not hold partition (a Server would otherwise describe an
	// empty tree, and the peer would stream the whole partition to a node
	// that does not own it).
	Tree(ctx context.Context, partition int) (*Tree, error)
	// Root returns the root of the tree Tree would return now, if the
	// replica has it without a scan (a cached tree of a partition not
	// written since), and false otherwise; also false for a partition the
	// replica does not hold. A replica that keeps no trees always returns
	// false. It must be cheap: a pass asks it for every partition.
	Root(partition int) (uint64, bool)
	// Entries returns one page of the partition's entries, tombstones
	// included, as req describes; CollectEntries builds it from an iterator
	// positioned at req.Start.
	Entries(ctx context.Context, req *EntriesRequest) (*EntriesResponse, error)
	// Read returns the current records (tombstones included) of req.Keys,
	// as ReadResponse describes.
	Read(ctx context.Context, req *ReadRequest) (*ReadResponse, error)
	// Apply stores each record of req unless the replica holds a record of
	// its key that is not older (Newer), durably before it returns.
	// Tombstones are stored like values. Apply should reject keys that do
	// not belong to req.Partition.
	Apply(ctx context.Context, req *ApplyRequest) error
}

// Peer is the other replica of an exchange, reached through the node's
// transport. Server implements it over a Replica; the node's client side
// sends each request to the peer's Server and returns its answer. The
// ownership and concurrency rules of Replica apply. Errors are the
// transport's or the peer's (such as ErrUnknownTree); any error ends the
// exchange.
type Peer interface {
	// Roots returns the roots the peer has of its trees of some
	// partitions, without building any (see RootsRequest).
	Roots(ctx context.Context, req *RootsRequest) (*RootsResponse, error)
	// Summary builds the peer's tree of the partition and describes it.
	Summary(ctx context.Context, req *SummaryRequest) (*SummaryResponse, error)
	// Nodes returns hashes of the tree a Summary described.
	Nodes(ctx context.Context, req *NodesRequest) (*NodesResponse, error)
	// Entries, Read and Apply are Replica's, on the peer.
	Entries(ctx context.Context, req *EntriesRequest) (*EntriesResponse, error)
	Read(ctx context.Context, req *ReadRequest) (*ReadResponse, error)
	Apply(ctx context.Context, req *ApplyRequest) error
}

// Syncer runs exchanges: it drives an Exchange with a Replica and a Peer.
// A Syncer is safe for concurrent use if Pace is.
type Syncer struct {
	// Config bounds each exchange; zero fields take their defaults.
	Config SyncConfig
	// Pace, if set, is called after each round of requests with the bytes
	// the round moved to and from the peer (Result's estimate). It may
	// block to hold a rate, and must return ctx's error if ctx ends.
	Pace func(ctx context.Context, bytes int64) error
}

// Sync makes the local and remote replicas of partition converge with the
// default SyncConfig: afterwards each holds, for every key either held when
// their entries were compared, the newer of the two records. It returns the
// exchange's Result, partial if it fails.
func Sync(ctx context.Context, local Replica, remote Peer, partition int) (Result, error) {
	var s Syncer
	return s.Sync(ctx, local, remote, partition)
}

// Sync runs one exchange of partition between local and remote (see the
// package Sync). Errors name the partition and the failed operation and
// wrap the replica's or peer's error, ErrProtocol, or ErrInvalidConfig.
func (s *Syncer) Sync(ctx context.Context, local Replica, remote Peer, partition int) (Result, error) {
	res := Result{Partition: partition}
	if err := s.Config.Validate(); err != nil {
		return res, err
	}
	tree, err := local.Tree(ctx, partition)
	if err != nil {
		return res, fmt.Errorf("antientropy: partition %d: local tree: %w", partition, err)
	}
	x := NewExchange(s.Config, partition, tree)
	var paced int64
	for !x.Done() {
		if err := ctx.Err(); err != nil {
			return x.Result(), err
		}
		reqs := x.Ready()
		if len(reqs) == 0 {
			// An exchange that is not done always has requests out.
			panic("antientropy: exchange stalled")
		}
		resps, err := perform(ctx, local, remote, reqs)
		if err != nil {
			return x.Result(), fmt.Errorf("antientropy: partition %d: %w", partition, err)
		}
		for _, r := range resps {
			if err := x.Step(r); err != nil {
				return x.Result(), fmt.Errorf("antientropy: partition %d: %w", partition, err)
			}
		}
		if s.Pace != nil {
			r := x.Result()
			n := r.BytesSent + r.BytesReceived - paced
			paced += n
			if err := s.Pace(ctx, n); err != nil {
				return x.Result(), err
			}
		}
	}
	return x.Result(), x.Err()
}

// perform runs one round of requests: the local ones in a goroutine of its
// own while the remote ones run in this one, each side in order. It returns
// the responses in request order, or the first error.
func perform(ctx context.Context, local Replica, remote Peer, reqs []Request) ([]Response, error) {
	resps := make([]Response, len(reqs))
	var nLocal, nRemote int
	for _, r := range reqs {
		if r.To == Local {
			nLocal++
		} else {
			nRemote++
		}
	}
	run := func(to Side) error {
		for i := range reqs {
			if reqs[i].To != to {
				continue
			}
			resp, err := do(ctx, local, remote, &reqs[i])
			if err != nil {
				return fmt.Errorf("%s %s: %w", reqs[i].To, reqs[i].Op, err)
			}
			resps[i] = resp
		}
		return nil
	}
	if nLocal == 0 || nRemote == 0 {
		to := Local
		if nLocal == 0 {
			to = Remote
		}
		return resps, run(to)
	}
	var wg sync.WaitGroup
	var localErr error
	wg.Go(func() { localErr = run(Local) })
	remoteErr := run(Remote)
	wg.Wait()
	if remoteErr != nil {
		return nil, remoteErr
	}
	return resps, localErr
}

func do(ctx context.Context, local Replica, remote Peer, r *Request) (Response, error) {
	resp := Response{ID: r.ID}
	var err error
	switch {
	case r.Op == OpSummary && r.To == Remote:
		resp.Summary, err = remote.Summary(ctx, r.Summary)
	case r.Op == OpNodes && r.To == Remote:
		resp.Nodes, err = remote.Nodes(ctx, r.Nodes)
	case r.Op == OpEntries && r.To == Local:
		resp.Entries, err = local.Entries(ctx, r.Entries)
	case r.Op == OpEntries:
		resp.Entries, err = remote.Entries(ctx, r.Entries)
	case r.Op == OpRead && r.To == Local:
		resp.Read, err = local.Read(ctx, r.Read)
	case r.Op == OpRead:
		resp.Read, err = remote.Read(ctx, r.Read)
	case r.Op == OpApply && r.To == Local:
		err = local.Apply(ctx, r.Apply)
	case r.Op == OpApply:
		err = remote.Apply(ctx, r.Apply)
	default:
		panic(fmt.Sprintf("antientropy: exchange emitted %s %s", r.To, r.Op))
	}
	return resp, err
}
