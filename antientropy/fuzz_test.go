package antientropy

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"slices"
	"testing"

	"kvstore/storage"
)

// fuzzReader hands out fuzz input; once it runs out it returns zeros.
type fuzzReader struct{ b []byte }

func (r *fuzzReader) empty() bool { return len(r.b) == 0 }

func (r *fuzzReader) byte() byte {
	if len(r.b) == 0 {
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *fuzzReader) u64() uint64 {
	var w [8]byte
	n := copy(w[:], r.b)
	r.b = r.b[n:]
	return binary.LittleEndian.Uint64(w[:])
}

func (r *fuzzReader) bytes(max int) []byte {
	n := min(int(r.byte())%(max+1), len(r.b))
	out := bytes.Clone(r.b[:n])
	r.b = r.b[n:]
	return out
}

// fuzzPeer answers an exchange with responses made of fuzz input, often
// close to a real replica's (derived from tree) so the exchange goes deep.
type fuzzPeer struct {
	in    *fuzzReader
	tree  *Tree
	calls int
}

var errFuzzPeer = errors.New("fuzz peer error")

func (p *fuzzPeer) call() error {
	p.calls++
	if p.calls > 10_000 {
		panic("exchange does not terminate")
	}
	if p.in.byte() == 0xff {
		return errFuzzPeer
	}
	return nil
}

// Roots is not part of an exchange.
func (p *fuzzPeer) Roots(ctx context.Context, req *RootsRequest) (*RootsResponse, error) {
	return nil, errFuzzPeer
}

func (p *fuzzPeer) Summary(ctx context.Context, req *SummaryRequest) (*SummaryResponse, error) {
	if err := p.call(); err != nil {
		return nil, err
	}
	cfg := p.tree.Config()
	s := &SummaryResponse{TreeID: 1, Fanout: cfg.Fanout, Depth: cfg.Depth, Count: int64(p.in.byte()), Root: p.in.u64(),
		Level1: slices.Clone(p.tree.Level(1))}
	switch p.in.byte() % 8 {
	case 0:
		s.Fanout = int(p.in.byte())
	case 1:
		s.Depth = int(p.in.byte() % 10)
	case 2:
		s.Level1 = s.Level1[:p.in.byte()%uint8(len(s.Level1)+1)]
	case 3:
		s.Count = -1
	}
	for range p.in.byte() % 4 {
		if len(s.Level1) > 0 {
			s.Level1[int(p.in.byte())%len(s.Level1)] ^= p.in.u64() | 1
		}
	}
	return s, nil
}

func (p *fuzzPeer) Nodes(ctx context.Context, req *NodesRequest) (*NodesResponse, error) {
	if err := p.call(); err != nil {
		return nil, err
	}
	h, err := p.tree.Nodes(req.Level, req.Indexes)
	if err != nil {
		return nil, err
	}
	if p.in.byte()%16 == 0 && len(h) > 0 {
		h = h[:len(h)-1]
	}
	for range p.in.byte() % 4 {
		if len(h) > 0 {
			h[int(p.in.byte())%len(h)] ^= p.in.u64() | 1
		}
	}
	return &NodesResponse{Hashes: h}, nil
}

func (p *fuzzPeer) Entries(ctx context.Context, req *EntriesRequest) (*EntriesResponse, error) {
	if err := p.call(); err != nil {
		return nil, err
	}
	resp := &EntriesResponse{}
	n := int(p.in.byte()) % (req.Limit + 2)
	var keys [][]byte
	for range n {
		keys = append(keys, append(bytes.Clone(req.Start), p.in.bytes(6)...))
	}
	if p.in.byte()%8 != 0 {
		slices.SortFunc(keys, bytes.Compare)
		keys = slices.CompactFunc(keys, bytes.Equal)
	}
	for _, k := range keys {
		e := Entry{Key: k, Version: storage.Version(p.in.byte() % 4), Tombstone: p.in.byte()%3 == 0, ValueHash: uint64(p.in.byte() % 3), ValueLen: int(int8(p.in.byte()))}
		resp.Entries = append(resp.Entries, e)
		if req.Values {
			resp.Values = append(resp.Values, p.in.bytes(4))
		}
	}
	resp.More = !p.in.empty() && p.in.byte()%2 == 0
	return resp, nil
}

func (p *fuzzPeer) Read(ctx context.Context, req *ReadRequest) (*ReadResponse, error) {
	if err := p.call(); err != nil {
		return nil, err
	}
	resp := &ReadResponse{Next: len(req.Keys)}
	if b := p.in.byte(); b%4 == 0 {
		resp.Next = int(b) % (len(req.Keys) + 2)
	}
	for i := 0; i < min(resp.Next, len(req.Keys)); i++ {
		if p.in.byte()%4 != 0 {
			k := req.Keys[i]
			if p.in.byte()%16 == 0 {
				k = p.in.bytes(4)
			}
			resp.Records = append(resp.Records, Record{Key: k, Value: p.in.bytes(8), Version: storage.Version(p.in.byte() % 4), Tombstone: p.in.byte()%3 == 0})
		}
	}
	return resp, nil
}

func (p *fuzzPeer) Apply(ctx context.Context, req *ApplyRequest) error { return p.call() }

// FuzzExchange runs exchanges against a peer answering with arbitrary
// (mostly plausible) responses: the exchange must never panic or loop, and
// must stop with ErrProtocol, the peer's error, or success.
func FuzzExchange(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0, 5, 1, 2, 3, 4, 5, 6, 7, 8, 9, 2, 1, 0})
	f.Add(bytes.Repeat([]byte{1, 7, 3}, 40))
	f.Add(bytes.Repeat([]byte{2, 200, 9, 0, 4}, 60))
	f.Fuzz(func(t *testing.T, data []byte) {
		in := &fuzzReader{b: data}
		cfg := TreeConfig{Fanout: 2 + int(in.byte()%4), Depth: 1 + int(in.byte()%3)}
		local := newMemReplica(cfg)
		rng := rand.New(rand.NewPCG(uint64(in.byte()), 1))
		fill(testPartition, int(in.byte()%64), rng, local)
		tree, _ := local.Tree(context.Background(), testPartition)
		peer := &fuzzPeer{in: in, tree: tree}
		s := Syncer{Config: SyncConfig{MaxRecords: 1 + int(in.byte()%8), MaxBytes: 1 + int(in.byte())*4, MaxHashes: 1 + int(in.byte()%16)}}
		_, err := s.Sync(context.Background(), local, peer, testPartition)
		if err != nil && !errors.Is(err, ErrProtocol) && !errors.Is(err, errFuzzPeer) && !errors.Is(err, ErrBadRequest) {
			t.Fatalf("unexpected error %v", err)
		}
	})
}

// FuzzServer sends arbitrary requests to a Server: it must never panic,
// and its answers must respect the protocol.
func FuzzServer(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{1, 0, 2, 3, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 1})
	f.Add([]byte{2, 16, 0, 0xff, 0xff, 10, 100, 1, 3, 'k', 'e', 'y'})
	f.Add([]byte{3, 4, 5, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10})
	f.Add([]byte{4, 2, 3, 'a', 'b', 'c', 1, 2, 3})
	local := newMemReplica(TreeConfig{Fanout: 4, Depth: 2})
	fill(testPartition, 300, rand.New(rand.NewPCG(1, 1)), local)
	srv, err := NewServer(local, ServerConfig{MaxRecords: 50, MaxBytes: 2000, MaxHashes: 20})
	if err != nil {
		f.Fatal(err)
	}
	ctx := context.Background()
	sum, err := srv.Summary(ctx, &SummaryRequest{Partition: testPartition})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		in := &fuzzReader{b: data}
		partition := testPartition
		if in.byte()%8 == 0 {
			partition = int(int8(in.byte()))
		}
		switch in.byte() % 6 {
		case 0:
			srv.Summary(ctx, &SummaryRequest{Partition: partition})
		case 1:
			req := &NodesRequest{Partition: partition, TreeID: sum.TreeID, Level: int(int8(in.byte()))}
			for range in.byte() % 32 {
				req.Indexes = append(req.Indexes, uint32(in.u64()>>int(in.byte()%64)))
			}
			resp, err := srv.Nodes(ctx, req)
			if err == nil && len(resp.Hashes) != len(req.Indexes) {
				t.Fatal("wrong number of hashes")
			}
		case 2:
			req := &EntriesRequest{Partition: partition, Leaves: int(int16(in.u64())), Start: in.bytes(16),
				Limit: int(int16(in.u64())), MaxBytes: int(int16(in.u64())), Values: in.byte()%2 == 0}
			req.Buckets = in.bytes(255)
			resp, err := srv.Entries(ctx, req)
			if err != nil {
				return
			}
			if len(resp.Entries) > min(req.Limit, 50) || (req.Values && len(resp.Values) != len(resp.Entries)) {
				t.Fatalf("%d entries for limit %d", len(resp.Entries), req.Limit)
			}
			for i := range resp.Entries {
				if bytes.Compare(resp.Entries[i].Key, req.Start) < 0 || (i > 0 && bytes.Compare(resp.Entries[i-1].Key, resp.Entries[i].Key) >= 0) {
					t.Fatal("entries out of order")
				}
			}
		case 3:
			req := &ReadRequest{Partition: partition, MaxBytes: int(int16(in.u64()))}
			for range in.byte() % 64 {
				if in.byte()%2 == 0 {
					req.Keys = append(req.Keys, testKey(int(in.byte())))
				} else {
					req.Keys = append(req.Keys, in.bytes(12))
				}
			}
			resp, err := srv.Read(ctx, req)
			if err == nil && len(req.Keys) > 0 && (resp.Next < 1 || resp.Next > len(req.Keys) || len(resp.Records) > resp.Next) {
				t.Fatalf("read of %d keys: next %d, %d records", len(req.Keys), resp.Next, len(resp.Records))
			}
		case 4:
			req := &ApplyRequest{Partition: partition + 1000} // leave the fixture alone
			for range in.byte() % 64 {
				req.Records = append(req.Records, Record{Key: in.bytes(8), Value: in.bytes(8), Version: storage.Version(in.u64()), Tombstone: in.byte()%2 == 0})
			}
			srv.Apply(ctx, req)
		case 5:
			req := &RootsRequest{}
			for range in.byte() % 32 {
				if in.byte()%4 == 0 {
					req.Partitions = append(req.Partitions, int(int8(in.byte())))
				} else {
					req.Partitions = append(req.Partitions, testPartition)
				}
			}
			resp, err := srv.Roots(ctx, req)
			if err != nil {
				if len(req.Partitions) <= 20 && !slices.ContainsFunc(req.Partitions, func(p int) bool { return p < 0 }) {
					t.Fatalf("roots of %v: %v", req.Partitions, err)
				}
				return
			}
			if len(resp.Roots) != len(req.Partitions) || len(resp.Known) != (len(req.Partitions)+7)/8 {
				t.Fatalf("%d roots, %d bitmap bytes for %d partitions", len(resp.Roots), len(resp.Known), len(req.Partitions))
			}
			// The fixture's partition is never written: its root is known.
			// Other partitions have one once a Summary built their trees.
			for i, p := range req.Partitions {
				root, ok := resp.Root(i)
				if p == testPartition && (!ok || root != sum.Root) {
					t.Fatalf("partition %d: root %x, %v; the tree's is %x", p, root, ok, sum.Root)
				}
				if ok {
					tree, err := local.Tree(ctx, p)
					if err != nil || tree.Root() != root {
						t.Fatalf("partition %d: root %x, the tree's is %x (%v)", p, root, tree.Root(), err)
					}
				}
			}
		}
	})
}
