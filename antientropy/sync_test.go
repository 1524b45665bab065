package antientropy

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"kvstore/storage"
)

const testPartition = 5

// diverge makes a and b, holding the same records, differ in every way
// replicas can: each of n keys is changed with probability frac.
func diverge(rng *rand.Rand, n int, frac float64, a, b *memReplica) {
	base := storage.NewVersion(1_800_000_000_000, 0, 1)
	for i := range n {
		if rng.Float64() >= frac {
			continue
		}
		k := testKey(i)
		val := func() []byte { return testValue(rng, 1+rng.IntN(30)) }
		newer := base + storage.Version(rng.IntN(1000)+1)
		switch rng.IntN(11) {
		case 0: // missing on a
			a.del(testPartition, string(k))
		case 1: // missing on b
			b.del(testPartition, string(k))
		case 2: // a newer
			a.set(testPartition, Record{Key: k, Value: val(), Version: newer})
		case 3: // b newer
			b.set(testPartition, Record{Key: k, Value: val(), Version: newer})
		case 4: // a deleted it
			a.set(testPartition, Record{Key: k, Version: newer, Tombstone: true})
		case 5: // b deleted it
			b.set(testPartition, Record{Key: k, Version: newer, Tombstone: true})
		case 6: // equal versions, different values
			a.set(testPartition, Record{Key: k, Value: val(), Version: newer})
			b.set(testPartition, Record{Key: k, Value: val(), Version: newer})
		case 7: // equal versions, tombstone on a, value on b
			a.set(testPartition, Record{Key: k, Version: newer, Tombstone: true})
			b.set(testPartition, Record{Key: k, Value: val(), Version: newer})
		case 8: // equal versions, value on a, tombstone on b
			a.set(testPartition, Record{Key: k, Value: val(), Version: newer})
			b.set(testPartition, Record{Key: k, Version: newer, Tombstone: true})
		case 9: // a tombstone b never saw
			a.set(testPartition, Record{Key: testKey(n + i), Version: newer, Tombstone: true})
		case 10: // b older tombstone, a newer value
			b.set(testPartition, Record{Key: k, Version: newer, Tombstone: true})
			a.set(testPartition, Record{Key: k, Value: val(), Version: newer + 1})
		}
	}
}

// checkConverged checks a and b hold want and build equal trees.
func checkConverged(t *testing.T, a, b *memReplica, want map[string]Record) {
	t.Helper()
	if err := sameContents(a.contents(testPartition), want); err != nil {
		t.Fatalf("local replica: %v", err)
	}
	if err := sameContents(b.contents(testPartition), want); err != nil {
		t.Fatalf("remote replica: %v", err)
	}
	ta, _ := a.Tree(context.Background(), testPartition)
	tb, _ := b.Tree(context.Background(), testPartition)
	if !ta.Equal(tb) {
		t.Fatal("trees differ after sync")
	}
}

func TestSyncConverges(t *testing.T) {
	tests := []struct {
		name string
		cfg  TreeConfig
		n    int
		frac float64
	}{
		{"few differences", DefaultTreeConfig(), 3000, 0.01},
		{"many differences", DefaultTreeConfig(), 3000, 0.3},
		{"most keys differ", DefaultTreeConfig(), 3000, 0.95},
		{"small tree", TreeConfig{Fanout: 2, Depth: 2}, 500, 0.1},
		{"deep tree", TreeConfig{Fanout: 4, Depth: 6}, 2000, 0.05},
		{"one leaf level", TreeConfig{Fanout: 64, Depth: 1}, 1000, 0.05},
	}
	for _, tt := range tests {
		for seed := range uint64(4) {
			t.Run(fmt.Sprintf("%s/seed=%d", tt.name, seed), func(t *testing.T) {
				rng := rand.New(rand.NewPCG(seed, 99))
				a, b := newMemReplica(tt.cfg), newMemReplica(tt.cfg)
				fill(testPartition, tt.n, rng, a, b)
				diverge(rng, tt.n, tt.frac, a, b)
				want := merged(a.contents(testPartition), b.contents(testPartition))
				res, err := Sync(context.Background(), a, serverPeer(b), testPartition)
				if err != nil {
					t.Fatal(err)
				}
				checkConverged(t, a, b, want)
				if res.KeysSent+res.KeysReceived == 0 {
					t.Fatalf("nothing moved: %+v", res)
				}
				again, err := Sync(context.Background(), a, serverPeer(b), testPartition)
				if err != nil {
					t.Fatal(err)
				}
				if again.NodesCompared != 1 || again.KeysSent+again.KeysReceived != 0 {
					t.Fatalf("second sync did work: %+v", again)
				}
			})
		}
	}
}

// countingPeer wraps a Peer and records what crosses it.
type countingPeer struct {
	Peer
	mu          sync.Mutex
	nodeIndexes int
	nodesCalls  int
	entries     int // entries received
	msgs        []string
	check       func(op string, n, bytes int) error
	fail        map[Op]error
}

func (c *countingPeer) note(op Op, n, bytes int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.msgs = append(c.msgs, fmt.Sprintf("%s:%d", op, n))
	if err := c.fail[op]; err != nil {
		return err
	}
	if c.check != nil {
		return c.check(op.String(), n, bytes)
	}
	return nil
}

func (c *countingPeer) Summary(ctx context.Context, req *SummaryRequest) (*SummaryResponse, error) {
	if err := c.note(OpSummary, 0, 0); err != nil {
		return nil, err
	}
	return c.Peer.Summary(ctx, req)
}

func (c *countingPeer) Nodes(ctx context.Context, req *NodesRequest) (*NodesResponse, error) {
	c.mu.Lock()
	c.nodesCalls++
	c.nodeIndexes += len(req.Indexes)
	c.mu.Unlock()
	if err := c.note(OpNodes, len(req.Indexes), 0); err != nil {
		return nil, err
	}
	return c.Peer.Nodes(ctx, req)
}

func (c *countingPeer) Entries(ctx context.Context, req *EntriesRequest) (*EntriesResponse, error) {
	resp, err := c.Peer.Entries(ctx, req)
	if err != nil {
		return nil, err
	}
	size := 0
	for i := range resp.Entries {
		size += EntrySize(&resp.Entries[i])
		if req.Values {
			size += len(resp.Values[i])
		}
	}
	c.mu.Lock()
	c.entries += len(resp.Entries)
	c.mu.Unlock()
	return resp, c.note(OpEntries, len(resp.Entries), size)
}

func (c *countingPeer) Read(ctx context.Context, req *ReadRequest) (*ReadResponse, error) {
	resp, err := c.Peer.Read(ctx, req)
	if err != nil {
		return nil, err
	}
	size := 0
	for i := range resp.Records {
		size += RecordSize(&resp.Records[i])
	}
	if err := c.note(OpRead, len(req.Keys), size); err != nil {
		return nil, err
	}
	return resp, nil
}

func (c *countingPeer) Apply(ctx context.Context, req *ApplyRequest) error {
	size := 0
	for i := range req.Records {
		size += RecordSize(&req.Records[i])
	}
	if err := c.note(OpApply, len(req.Records), size); err != nil {
		return err
	}
	return c.Peer.Apply(ctx, req)
}

func TestSyncDescendsOnlyDifferingSubtrees(t *testing.T) {
	const n = 100_000
	rng := rand.New(rand.NewPCG(7, 8))
	a, b := newMemReplica(DefaultTreeConfig()), newMemReplica(DefaultTreeConfig())
	fill(testPartition, n, rng, a, b)
	k := testKey(4242)
	b.set(testPartition, Record{Key: k, Value: []byte("newer"), Version: storage.NewVersion(1_900_000_000_000, 0, 2)})
	peer := &countingPeer{Peer: serverPeer(b)}
	res, err := Sync(context.Background(), a, peer, testPartition)
	if err != nil {
		t.Fatal(err)
	}
	const depth, fanout = 3, 16
	// Level 1 comes with the summary; levels 2 and 3 ask for the 16
	// children of the one differing node.
	if peer.nodeIndexes > depth*fanout || peer.nodesCalls != depth-1 {
		t.Fatalf("asked for %d node hashes in %d calls, want at most %d in %d", peer.nodeIndexes, peer.nodesCalls, depth*fanout, depth-1)
	}
	if res.NodesCompared != 1+depth*fanout {
		t.Errorf("NodesCompared = %d, want %d", res.NodesCompared, 1+depth*fanout)
	}
	if res.BucketsDiffering != 1 || res.Streamed {
		t.Errorf("BucketsDiffering = %d, Streamed = %v", res.BucketsDiffering, res.Streamed)
	}
	// Only the entries of one bucket (about n/4096) are compared.
	if peer.entries > 100 {
		t.Errorf("peer sent %d entries for one differing bucket", peer.entries)
	}
	if res.KeysReceived != 1 || res.KeysSent != 0 {
		t.Errorf("moved %d/%d keys, want 0/1", res.KeysSent, res.KeysReceived)
	}
	if res.BytesSent > 2000 || res.BytesReceived > 10000 {
		t.Errorf("bytes sent/received %d/%d", res.BytesSent, res.BytesReceived)
	}
	if got := a.contents(testPartition)[string(k)]; string(got.Value) != "newer" {
		t.Fatalf("key not repaired: %+v", got)
	}
}

func TestSyncWipedReplica(t *testing.T) {
	for _, localEmpty := range []bool{true, false} {
		t.Run(fmt.Sprintf("local empty=%v", localEmpty), func(t *testing.T) {
			const n = 20_000
			rng := rand.New(rand.NewPCG(9, 10))
			full, empty := newMemReplica(DefaultTreeConfig()), newMemReplica(DefaultTreeConfig())
			fill(testPartition, n, rng, full)
			for i := 0; i < n; i += 10 {
				full.set(testPartition, Record{Key: testKey(i), Version: storage.NewVersion(1_900_000_000_000, 0, 1), Tombstone: true})
			}
			want := full.contents(testPartition)
			local, remote := full, empty
			if localEmpty {
				local, remote = empty, full
			}
			peer := &countingPeer{Peer: serverPeer(remote)}
			res, err := Sync(context.Background(), local, peer, testPartition)
			if err != nil {
				t.Fatal(err)
			}
			checkConverged(t, local, remote, want)
			if !res.Streamed || peer.nodesCalls != 0 {
				t.Errorf("descended (%d node calls) into a wiped replica: %+v", peer.nodesCalls, res)
			}
			moved := res.KeysReceived
			if !localEmpty {
				moved = res.KeysSent
			}
			if moved != n {
				t.Errorf("moved %d keys, want %d", moved, n)
			}
			// Values come with the entries: no reads from the peer.
			for _, m := range peer.msgs {
				if m[:4] == "read" {
					t.Fatalf("wiped replica repaired with reads: %v", peer.msgs)
				}
			}
		})
	}
}

func TestSyncRespectsCaps(t *testing.T) {
	cfg := SyncConfig{MaxRecords: 7, MaxBytes: 400, MaxHashes: 5}
	for _, frac := range []float64{0.02, 0.5, 1} {
		t.Run(fmt.Sprint(frac), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(11, uint64(frac*100)))
			treeCfg := TreeConfig{Fanout: 4, Depth: 3}
			a, b := newMemReplica(treeCfg), newMemReplica(treeCfg)
			fill(testPartition, 1500, rng, a, b)
			diverge(rng, 1500, frac, a, b)
			// Some values bigger than MaxBytes must still travel, alone.
			a.set(testPartition, Record{Key: []byte("big-a"), Value: testValue(rng, 1000), Version: 5})
			b.set(testPartition, Record{Key: []byte("big-b"), Value: testValue(rng, 1000), Version: 5})
			want := merged(a.contents(testPartition), b.contents(testPartition))
			var violations []string
			check := func(op string, n, bytes int) error {
				limit := cfg.MaxRecords
				if op == "nodes" {
					limit = cfg.MaxHashes
				}
				if n > limit || (n > 1 && bytes > cfg.MaxBytes) {
					violations = append(violations, fmt.Sprintf("%s of %d items, %d bytes", op, n, bytes))
				}
				return nil
			}
			peer := &countingPeer{Peer: serverPeer(b), check: check}
			local := &checkedReplica{Replica: a, check: check}
			res, err := (&Syncer{Config: cfg}).Sync(context.Background(), local, peer, testPartition)
			if err != nil {
				t.Fatal(err)
			}
			if len(violations) > 0 {
				t.Fatalf("caps exceeded: %v", violations)
			}
			checkConverged(t, a, b, want)
			t.Logf("%+v in %d remote messages", res, len(peer.msgs))
		})
	}
}

// checkedReplica checks the messages a local Replica answers.
type checkedReplica struct {
	Replica
	check func(op string, n, bytes int) error
}

func (c *checkedReplica) Entries(ctx context.Context, req *EntriesRequest) (*EntriesResponse, error) {
	resp, err := c.Replica.Entries(ctx, req)
	if err != nil {
		return nil, err
	}
	size := 0
	for i := range resp.Entries {
		size += EntrySize(&resp.Entries[i])
		if req.Values {
			size += len(resp.Values[i])
		}
	}
	return resp, c.check("local entries", len(resp.Entries), size)
}

func (c *checkedReplica) Read(ctx context.Context, req *ReadRequest) (*ReadResponse, error) {
	resp, err := c.Replica.Read(ctx, req)
	if err != nil {
		return nil, err
	}
	size := 0
	for i := range resp.Records {
		size += RecordSize(&resp.Records[i])
	}
	return resp, c.check("local read", len(req.Keys), size)
}

func (c *checkedReplica) Apply(ctx context.Context, req *ApplyRequest) error {
	size := 0
	for i := range req.Records {
		size += RecordSize(&req.Records[i])
	}
	if err := c.check("local apply", len(req.Records), size); err != nil {
		return err
	}
	return c.Replica.Apply(ctx, req)
}

func TestSyncTreeShapeMismatch(t *testing.T) {
	rng := rand.New(rand.NewPCG(12, 13))
	a, b := newMemReplica(DefaultTreeConfig()), newMemReplica(TreeConfig{Fanout: 8, Depth: 2})
	fill(testPartition, 2000, rng, a, b)
	diverge(rng, 2000, 0.1, a, b)
	want := merged(a.contents(testPartition), b.contents(testPartition))
	res, err := Sync(context.Background(), a, serverPeer(b), testPartition)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Streamed {
		t.Errorf("trees of different shapes compared: %+v", res)
	}
	if err := sameContents(a.contents(testPartition), want); err != nil {
		t.Fatal(err)
	}
	if err := sameContents(b.contents(testPartition), want); err != nil {
		t.Fatal(err)
	}
}

func TestSyncErrors(t *testing.T) {
	boom := errors.New("boom")
	for _, op := range []Op{OpSummary, OpNodes, OpEntries, OpRead, OpApply} {
		t.Run(op.String(), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(14, 15))
			a, b := newMemReplica(DefaultTreeConfig()), newMemReplica(DefaultTreeConfig())
			fill(testPartition, 500, rng, a, b)
			diverge(rng, 500, 0.05, a, b)
			peer := &countingPeer{Peer: serverPeer(b), fail: map[Op]error{op: boom}}
			_, err := Sync(context.Background(), a, peer, testPartition)
			if !errors.Is(err, boom) {
				t.Fatalf("Sync = %v, want boom", err)
			}
		})
	}
	t.Run("cancelled", func(t *testing.T) {
		a, b := newMemReplica(DefaultTreeConfig()), newMemReplica(DefaultTreeConfig())
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := Sync(ctx, a, serverPeer(b), testPartition); !errors.Is(err, context.Canceled) {
			t.Fatalf("Sync = %v, want context.Canceled", err)
		}
	})
	t.Run("bad config", func(t *testing.T) {
		a, b := newMemReplica(DefaultTreeConfig()), newMemReplica(DefaultTreeConfig())
		s := Syncer{Config: SyncConfig{StreamFraction: 2}}
		if _, err := s.Sync(context.Background(), a, serverPeer(b), testPartition); !errors.Is(err, ErrInvalidConfig) {
			t.Fatalf("Sync = %v, want ErrInvalidConfig", err)
		}
	})
}

func TestSyncPaces(t *testing.T) {
	rng := rand.New(rand.NewPCG(16, 17))
	a, b := newMemReplica(DefaultTreeConfig()), newMemReplica(DefaultTreeConfig())
	fill(testPartition, 3000, rng, a)
	var paced int64
	s := Syncer{Config: SyncConfig{MaxRecords: 100}, Pace: func(ctx context.Context, n int64) error {
		paced += n
		return nil
	}}
	res, err := s.Sync(context.Background(), a, serverPeer(b), testPartition)
	if err != nil {
		t.Fatal(err)
	}
	if paced != res.BytesSent+res.BytesReceived || paced < 3000*20 {
		t.Fatalf("paced %d bytes, result %+v", paced, res)
	}
}
