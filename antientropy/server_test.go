package antientropy

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"testing"
	"time"

	"kvstore/storage"
	"kvstore/storage/vfs"
)

func TestServerTreeLifetime(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1000, 0)
	r := newMemReplica(DefaultTreeConfig())
	fill(testPartition, 100, rand.New(rand.NewPCG(1, 2)), r)
	s, err := NewServer(r, ServerConfig{TreeTTL: time.Minute, MaxTrees: 2, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	sum := func() uint64 {
		resp, err := s.Summary(ctx, &SummaryRequest{Partition: testPartition})
		if err != nil {
			t.Fatal(err)
		}
		if resp.Count < 100 || resp.Fanout != 16 || resp.Depth != 3 || len(resp.Level1) != 16 {
			t.Fatalf("summary %+v", resp)
		}
		return resp.TreeID
	}
	nodes := func(id uint64, partition int) error {
		_, err := s.Nodes(ctx, &NodesRequest{Partition: partition, TreeID: id, Level: 2, Indexes: []uint32{0, 1}})
		return err
	}
	first := sum()
	if err := nodes(first, testPartition); err != nil {
		t.Fatal(err)
	}
	if err := nodes(first, testPartition+1); !errors.Is(err, ErrUnknownTree) {
		t.Fatalf("tree of another partition: %v", err)
	}
	if err := nodes(first+100, testPartition); !errors.Is(err, ErrUnknownTree) {
		t.Fatalf("unknown tree: %v", err)
	}
	// The data changes after the summary: the tree does not.
	r.set(testPartition, Record{Key: []byte("new"), Value: []byte("v"), Version: 1})
	before, _ := s.Nodes(ctx, &NodesRequest{Partition: testPartition, TreeID: first, Level: 0, Indexes: []uint32{0}})
	fresh, _ := r.Tree(ctx, testPartition)
	if before.Hashes[0] == fresh.Root() {
		t.Fatal("a record added after the summary changed nothing")
	}
	now = now.Add(time.Second)
	second := sum()
	now = now.Add(time.Second)
	third := sum() // evicts the oldest: first
	if err := nodes(first, testPartition); !errors.Is(err, ErrUnknownTree) {
		t.Fatalf("evicted tree: %v", err)
	}
	if err := nodes(second, testPartition); err != nil {
		t.Fatal(err)
	}
	now = now.Add(2 * time.Minute)
	if err := nodes(third, testPartition); !errors.Is(err, ErrUnknownTree) {
		t.Fatalf("expired tree: %v", err)
	}
}

func TestServerRejectsBadRequests(t *testing.T) {
	ctx := context.Background()
	r := newMemReplica(DefaultTreeConfig())
	s, err := NewServer(r, ServerConfig{MaxRecords: 10, MaxHashes: 8})
	if err != nil {
		t.Fatal(err)
	}
	sum, err := s.Summary(ctx, &SummaryRequest{Partition: 1})
	if err != nil {
		t.Fatal(err)
	}
	id := sum.TreeID
	tests := []struct {
		name string
		call func() error
	}{
		{"summary negative partition", func() error { _, err := s.Summary(ctx, &SummaryRequest{Partition: -1}); return err }},
		{"nodes negative level", func() error {
			_, err := s.Nodes(ctx, &NodesRequest{Partition: 1, TreeID: id, Level: -1})
			return err
		}},
		{"nodes level too deep", func() error {
			_, err := s.Nodes(ctx, &NodesRequest{Partition: 1, TreeID: id, Level: 4, Indexes: []uint32{0}})
			return err
		}},
		{"nodes index out of range", func() error {
			_, err := s.Nodes(ctx, &NodesRequest{Partition: 1, TreeID: id, Level: 1, Indexes: []uint32{16}})
			return err
		}},
		{"too many indexes", func() error {
			_, err := s.Nodes(ctx, &NodesRequest{Partition: 1, TreeID: id, Level: 3, Indexes: make([]uint32, 9)})
			return err
		}},
		{"entries no limit", func() error {
			_, err := s.Entries(ctx, &EntriesRequest{Partition: 1, MaxBytes: 10})
			return err
		}},
		{"entries bitmap size", func() error {
			_, err := s.Entries(ctx, &EntriesRequest{Partition: 1, Leaves: 16, Buckets: []byte{1}, Limit: 1, MaxBytes: 10})
			return err
		}},
		{"entries too many leaves", func() error {
			_, err := s.Entries(ctx, &EntriesRequest{Partition: 1, Leaves: MaxLeaves + 1, Limit: 1, MaxBytes: 10})
			return err
		}},
		{"entries negative partition", func() error {
			_, err := s.Entries(ctx, &EntriesRequest{Partition: -1, Limit: 1, MaxBytes: 10})
			return err
		}},
		{"read too many keys", func() error {
			_, err := s.Read(ctx, &ReadRequest{Partition: 1, Keys: make([][]byte, 11), MaxBytes: 10})
			return err
		}},
		{"read no byte limit", func() error {
			_, err := s.Read(ctx, &ReadRequest{Partition: 1, Keys: make([][]byte, 1)})
			return err
		}},
		{"apply too many records", func() error {
			return s.Apply(ctx, &ApplyRequest{Partition: 1, Records: make([]Record, 11)})
		}},
		{"apply tombstone with value", func() error {
			return s.Apply(ctx, &ApplyRequest{Partition: 1, Records: []Record{{Key: []byte("k"), Value: []byte("v"), Tombstone: true}}})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(); !errors.Is(err, ErrBadRequest) {
				t.Fatalf("got %v, want ErrBadRequest", err)
			}
		})
	}
	// The server lowers a page limit to its own.
	fill(1, 50, rand.New(rand.NewPCG(1, 1)), r)
	resp, err := s.Entries(ctx, &EntriesRequest{Partition: 1, Limit: 1000, MaxBytes: 1 << 20})
	if err != nil || len(resp.Entries) != 10 || !resp.More {
		t.Fatalf("entries: %d, more %v, %v", len(resp.Entries), resp.More, err)
	}
	if _, err := NewServer(r, ServerConfig{MaxTrees: -1}); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("NewServer = %v", err)
	}
}

func TestCollectEntries(t *testing.T) {
	var recs []Record
	for i := range 100 {
		r := Record{Key: testKey(i), Value: bytes.Repeat([]byte{'v'}, i), Version: storage.Version(i + 1)}
		if i%7 == 0 {
			r.Tombstone, r.Value = true, nil
		}
		recs = append(recs, r)
	}
	tree := buildFrom(t, TreeConfig{Fanout: 4, Depth: 2}, recs)
	bitmap := make([]byte, 2)
	setBit(bitmap, 3)
	setBit(bitmap, 9)
	inFilter := 0
	for _, r := range recs {
		if b := tree.LeafOf(r.Key); b == 3 || b == 9 {
			inFilter++
		}
	}
	tests := []struct {
		name     string
		req      EntriesRequest
		want     int
		wantMore bool
		first    int // index of the first record returned
	}{
		{"all", EntriesRequest{Limit: 1000, MaxBytes: 1 << 20}, 100, false, 0},
		{"limit", EntriesRequest{Limit: 10, MaxBytes: 1 << 20}, 10, true, 0},
		{"start", EntriesRequest{Start: testKey(90), Limit: 1000, MaxBytes: 1 << 20}, 10, false, 90},
		{"start between keys", EntriesRequest{Start: append(testKey(89), 0), Limit: 1000, MaxBytes: 1 << 20}, 10, false, 90},
		{"bytes", EntriesRequest{Limit: 1000, MaxBytes: messageOverhead + 5*(len(testKey(0))+entryOverhead)}, 5, true, 0},
		{"one entry over the byte cap", EntriesRequest{Limit: 1000, MaxBytes: 1}, 1, true, 0},
		{"values count toward bytes", EntriesRequest{Start: testKey(50), Limit: 1000, MaxBytes: 150, Values: true}, 1, true, 50},
		{"filter", EntriesRequest{Leaves: 16, Buckets: bitmap, Limit: 1000, MaxBytes: 1 << 20}, inFilter, false, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := CollectEntries(&tt.req, &sliceIter{recs: recs})
			if err != nil {
				t.Fatal(err)
			}
			if len(resp.Entries) != tt.want || resp.More != tt.wantMore {
				t.Fatalf("%d entries, more %v; want %d, %v", len(resp.Entries), resp.More, tt.want, tt.wantMore)
			}
			if tt.first >= 0 && tt.want > 0 && !bytes.Equal(resp.Entries[0].Key, testKey(tt.first)) {
				t.Fatalf("first key %q", resp.Entries[0].Key)
			}
			for i, e := range resp.Entries {
				if tt.req.Leaves > 0 && !bitSet(bitmap, tree.LeafOf(e.Key)) {
					t.Fatalf("entry %q outside the filter", e.Key)
				}
				var src Record
				for _, r := range recs {
					if bytes.Equal(r.Key, e.Key) {
						src = r
					}
				}
				want := src.Entry()
				if !bytes.Equal(e.Key, want.Key) || e.Version != want.Version || e.Tombstone != want.Tombstone || e.ValueHash != want.ValueHash || e.ValueLen != want.ValueLen {
					t.Fatalf("entry %+v of %+v", e, src)
				}
				if tt.req.Values && !bytes.Equal(resp.Values[i], src.Value) {
					t.Fatalf("value of %q", e.Key)
				}
			}
			if !tt.req.Values && resp.Values != nil {
				t.Fatal("values not asked for")
			}
		})
	}
}

// TestStorageIter builds the tree of a partition stored in the storage
// engine, as the node does, and compares it with the in-memory one.
func TestStorageIter(t *testing.T) {
	db, err := storage.Open("db", storage.Options{FS: vfs.NewMem(), Shards: 2, ShardPrefixLen: 2, Sync: storage.SyncNone})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	mem := newMemReplica(DefaultTreeConfig())
	rng := rand.New(rand.NewPCG(3, 3))
	for p := range 3 {
		for i := range 300 {
			k := testKey(i)
			v := storage.Version(rng.Uint64N(1 << 40))
			sk := append([]byte{0, byte(p)}, k...)
			if i%5 == 0 {
				err = db.Delete(sk, v)
				if p == 1 {
					mem.set(1, Record{Key: k, Version: v, Tombstone: true})
				}
			} else {
				val := testValue(rng, 10)
				err = db.Put(sk, val, v)
				if p == 1 {
					mem.set(1, Record{Key: k, Value: val, Version: v})
				}
			}
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	it, err := db.NewIter(storage.IterOptions{Start: []byte{0, 1}, End: []byte{0, 2}, Tombstones: true})
	if err != nil {
		t.Fatal(err)
	}
	got, err := BuildTree(DefaultTreeConfig(), StorageIter(it, 2))
	if cerr := it.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	want, _ := mem.Tree(context.Background(), 1)
	if got.Count() != 300 || !got.Equal(want) {
		t.Fatalf("storage tree (%d records) differs from the in-memory one (%d)", got.Count(), want.Count())
	}
	// Entries from the engine, starting in the middle of the partition.
	start := testKey(150)
	it, err = db.NewIter(storage.IterOptions{Start: append([]byte{0, 1}, start...), End: []byte{0, 2}, Tombstones: true})
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	req := &EntriesRequest{Partition: 1, Start: start, Limit: 1000, MaxBytes: 1 << 20}
	resp, err := CollectEntries(req, StorageIter(it, 2))
	if err != nil {
		t.Fatal(err)
	}
	memResp, _ := mem.Entries(context.Background(), req)
	if len(resp.Entries) != 150 || len(memResp.Entries) != 150 {
		t.Fatalf("%d entries from storage, %d from memory", len(resp.Entries), len(memResp.Entries))
	}
	for i := range resp.Entries {
		a, b := resp.Entries[i], memResp.Entries[i]
		if !bytes.Equal(a.Key, b.Key) || a.Version != b.Version || a.Tombstone != b.Tombstone || a.ValueHash != b.ValueHash || a.ValueLen != b.ValueLen {
			t.Fatalf("entry %d: %+v vs %+v", i, a, b)
		}
	}
}
