package antientropy

import (
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"testing"

	"kvstore/storage"
)

func randomRecords(rng *rand.Rand, n int) []Record {
	recs := make([]Record, n)
	for i := range recs {
		recs[i] = Record{Key: testKey(i), Version: storage.Version(rng.Uint64N(1 << 50))}
		if rng.IntN(5) == 0 {
			recs[i].Tombstone = true
		} else {
			recs[i].Value = testValue(rng, rng.IntN(40))
		}
	}
	return recs
}

func buildFrom(t testing.TB, cfg TreeConfig, recs []Record) *Tree {
	t.Helper()
	tr, err := BuildTree(cfg, &sliceIter{recs: recs})
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func TestBuildTreeOrderIndependent(t *testing.T) {
	for _, cfg := range []TreeConfig{DefaultTreeConfig(), {Fanout: 2, Depth: 1}, {Fanout: 8, Depth: 4}} {
		rng := rand.New(rand.NewPCG(3, 4))
		recs := randomRecords(rng, 5000)
		want := buildFrom(t, cfg, recs)
		if want.Count() != 5000 {
			t.Fatalf("Count = %d", want.Count())
		}
		for range 5 {
			rng.Shuffle(len(recs), func(i, j int) { recs[i], recs[j] = recs[j], recs[i] })
			if got := buildFrom(t, cfg, recs); !got.Equal(want) {
				t.Fatalf("%+v: tree depends on record order", cfg)
			}
		}
	}
}

func TestIncrementalEqualsRebuild(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	cfg := TreeConfig{Fanout: 4, Depth: 3}
	recs := randomRecords(rng, 2000)
	tr := buildFrom(t, cfg, recs)
	live := make(map[string]Record)
	for _, r := range recs {
		live[string(r.Key)] = r
	}
	for i := range 3000 {
		k := testKey(rng.IntN(2500))
		old, had := live[string(k)]
		switch {
		case had && rng.IntN(3) == 0: // delete from the tree entirely
			tr.Remove(old.Entry())
			delete(live, string(k))
		default: // insert or replace
			if had {
				tr.Remove(old.Entry())
			}
			r := Record{Key: k, Version: storage.Version(i + 1), Value: testValue(rng, rng.IntN(10)), Tombstone: rng.IntN(4) == 0}
			if r.Tombstone {
				r.Value = nil
			}
			tr.Add(r.Entry())
			live[string(k)] = r
		}
	}
	var final []Record
	for _, r := range live {
		final = append(final, r)
	}
	if want := buildFrom(t, cfg, final); !tr.Equal(want) {
		t.Fatal("incremental tree differs from a rebuild")
	}
	for _, r := range final {
		tr.Remove(r.Entry())
	}
	if empty := mustTree(t, cfg); !tr.Equal(empty) {
		t.Fatal("removing every record does not give the empty tree")
	}
}

func TestTreeConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  TreeConfig
		ok   bool
	}{
		{"zero is default", TreeConfig{}, true},
		{"default", DefaultTreeConfig(), true},
		{"binary deep", TreeConfig{Fanout: 2, Depth: 8}, true},
		{"max leaves", TreeConfig{Fanout: 32, Depth: 4}, true},
		{"too many leaves", TreeConfig{Fanout: 256, Depth: 3}, false},
		{"fan-out 1", TreeConfig{Fanout: 1, Depth: 3}, false},
		{"fan-out too big", TreeConfig{Fanout: 257, Depth: 1}, false},
		{"negative depth", TreeConfig{Fanout: 16, Depth: -1}, false},
		{"too deep", TreeConfig{Fanout: 2, Depth: 9}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if (err == nil) != tt.ok {
				t.Fatalf("Validate = %v, want ok %v", err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("error %v does not wrap ErrInvalidConfig", err)
			}
			if _, err := NewTree(tt.cfg); (err == nil) != tt.ok {
				t.Fatalf("NewTree = %v", err)
			}
		})
	}
}

func TestTreeLevelsAndNodes(t *testing.T) {
	tr := goldenTree(t, DefaultTreeConfig())
	for l, n := range []int{1, 16, 256, 4096} {
		if got := len(tr.Level(l)); got != n {
			t.Errorf("level %d has %d nodes, want %d", l, got, n)
		}
	}
	got, err := tr.Nodes(2, []uint32{0, 255, 7})
	if err != nil {
		t.Fatal(err)
	}
	lv := tr.Level(2)
	if got[0] != lv[0] || got[1] != lv[255] || got[2] != lv[7] {
		t.Fatal("Nodes does not return the requested hashes")
	}
	for _, bad := range []struct {
		level int
		idx   []uint32
	}{{-1, nil}, {4, nil}, {2, []uint32{256}}, {3, []uint32{1 << 31}}} {
		if _, err := tr.Nodes(bad.level, bad.idx); !errors.Is(err, ErrBadRequest) {
			t.Errorf("Nodes(%d, %v) = %v, want ErrBadRequest", bad.level, bad.idx, err)
		}
	}
	// One record changes exactly its leaf and that leaf's ancestors.
	c := tr.Clone()
	key := []byte("one more")
	c.Add(EntryOf(key, []byte("v"), 1, false))
	diff := tr.DiffLeaves(c)
	if len(diff) != 1 || diff[0] != tr.LeafOf(key) {
		t.Fatalf("DiffLeaves = %v, want [%d]", diff, tr.LeafOf(key))
	}
	for l := 0; l < 3; l++ {
		n := 0
		for i := range tr.Level(l) {
			if tr.Level(l)[i] != c.Level(l)[i] {
				n++
			}
		}
		if n != 1 {
			t.Errorf("level %d: %d nodes changed, want 1", l, n)
		}
	}
}

// ringPartition is the ring's placement (fmix64(FNV-1a(key)) mod P), which
// must not correlate with the leaf buckets.
func ringPartition(key []byte, partitions uint64) uint64 {
	h := uint64(14695981039346656037)
	for _, c := range key {
		h ^= uint64(c)
		h *= 1099511628211
	}
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h % partitions
}

func TestLeavesSpreadWithinPartition(t *testing.T) {
	tr := mustTree(t, DefaultTreeConfig())
	const want = 1000
	n := 0
	var k [8]byte
	for i := uint64(0); n < want; i++ {
		binary.BigEndian.PutUint64(k[:], i)
		if ringPartition(k[:], 1024) != 7 {
			continue
		}
		tr.Add(EntryOf(k[:], nil, 1, true))
		n++
	}
	used := 0
	for _, h := range tr.Level(3) {
		if h != 0 {
			used++
		}
	}
	// 1000 keys over 4096 uniform buckets fill about 887 of them; buckets
	// derived from the ring's hash would fill at most 4.
	if used < 800 {
		t.Fatalf("keys of one partition use %d of 4096 leaves", used)
	}
}
