package storage

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"sort"
	"testing"
	"time"

	"kvstore/storage/vfs"
)

var seedFlag = flag.Uint64("seed", 0, "seed for randomized storage tests (0: time-based)")

func testSeed(t *testing.T) uint64 {
	seed := *seedFlag
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (replay with -seed %d)", seed, seed)
	return seed
}

// smallOptions makes a store that flushes and compacts after a few
// kilobytes, so tests exercise every level.
func smallOptions(fs vfs.FS) Options {
	return Options{
		FS:                  fs,
		Shards:              3,
		MemtableSize:        64 << 10,
		BlockSize:           512,
		TargetFileSize:      64 << 10,
		L0CompactionTrigger: 2,
		L0StopWritesTrigger: 8,
		LevelBaseSize:       1 << 20,
		LevelMultiplier:     2,
		CacheSize:           256 << 10,
	}
}

// modelRecord is the reference model's view of a key.
type modelRecord struct {
	value     []byte
	version   Version
	tombstone bool
}

type model map[string]modelRecord

// apply records a write under the engine's rule: the newer record wins.
func (m model) apply(key string, value []byte, v Version, tombstone bool) {
	old, ok := m[key]
	kindNew, kindOld := 1, 1
	if tombstone {
		kindNew = 0
	}
	if old.tombstone {
		kindOld = 0
	}
	if ok {
		if v < old.version || (v == old.version && (kindNew < kindOld || (kindNew == kindOld && bytes.Compare(value, old.value) <= 0))) {
			return
		}
	}
	m[key] = modelRecord{value: value, version: v, tombstone: tombstone}
}

// TestModel compares the engine with a map under random puts, deletes,
// batches, reads, range scans, flushes, range drops and reopenings, with
// versions that arrive out of order.
func TestModel(t *testing.T) {
	seed := testSeed(t)
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	fs := vfs.NewMem()
	opts := smallOptions(fs)
	db, err := Open("db", opts)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { db.Close() }()

	m := model{}
	var flushes, compactions int64
	countWork := func() {
		st := db.Stats()
		flushes += st.Flushes
		compactions += st.Compactions
	}
	now := time.Now().UnixMilli()
	key := func() string { return fmt.Sprintf("k%05d", rng.IntN(3000)) }
	version := func() Version {
		// Mostly increasing, sometimes from the past: replays and races.
		return NewVersion(now+int64(rng.IntN(100000)), uint32(rng.IntN(4)), uint32(rng.IntN(3)))
	}
	value := func() []byte {
		b := make([]byte, rng.IntN(300))
		for i := range b {
			b[i] = byte('a' + rng.IntN(26))
		}
		return b
	}
	checkGet := func(k string) {
		t.Helper()
		rec, err := db.Get([]byte(k))
		want, ok := m[k]
		switch {
		case !ok:
			if !errors.Is(err, ErrNotFound) {
				t.Fatalf("Get(%s) = %+v, %v; want ErrNotFound", k, rec, err)
			}
		case err != nil:
			t.Fatalf("Get(%s): %v; want %+v", k, err, want)
		case rec.Version != want.version || rec.Tombstone != want.tombstone || !bytes.Equal(rec.Value, want.value):
			t.Fatalf("Get(%s) = {%q %v %v}, want {%q %v %v}", k, rec.Value, rec.Version, rec.Tombstone,
				want.value, want.version, want.tombstone)
		}
	}
	checkRange := func(start, end string, tombstones, noCache bool) {
		t.Helper()
		var want []string
		for k, r := range m {
			if k >= start && (end == "" || k < end) && (tombstones || !r.tombstone) {
				want = append(want, k)
			}
		}
		sort.Strings(want)
		o := IterOptions{Start: []byte(start), Tombstones: tombstones, NoCache: noCache}
		if end != "" {
			o.End = []byte(end)
		}
		it, err := db.NewIter(o)
		if err != nil {
			t.Fatal(err)
		}
		i := 0
		for ok := it.First(); ok; ok = it.Next() {
			k := string(it.Key())
			if i >= len(want) || k != want[i] {
				t.Fatalf("range [%s, %s): record %d is %q, want %q (of %d)", start, end, i, k, want[min(i, len(want)-1)], len(want))
			}
			r := m[k]
			if it.Version() != r.version || it.Tombstone() != r.tombstone || !bytes.Equal(it.Value(), r.value) {
				t.Fatalf("range: %s = {%q %v}, want {%q %v}", k, it.Value(), it.Version(), r.value, r.version)
			}
			i++
		}
		if err := it.Close(); err != nil {
			t.Fatal(err)
		}
		if i != len(want) {
			t.Fatalf("range [%s, %s): %d records, want %d", start, end, i, len(want))
		}
	}

	const steps = 30000
	for step := 0; step < steps; step++ {
		switch r := rng.IntN(1000); {
		case r < 450:
			k, v, ver := key(), value(), version()
			if err := db.Put([]byte(k), v, ver); err != nil {
				t.Fatal(err)
			}
			m.apply(k, v, ver, false)
		case r < 600:
			k, ver := key(), version()
			if err := db.Delete([]byte(k), ver); err != nil {
				t.Fatal(err)
			}
			m.apply(k, nil, ver, true)
		case r < 700:
			var b Batch
			type w struct {
				k   string
				v   []byte
				ver Version
				del bool
			}
			var ws []w
			for range rng.IntN(20) + 1 {
				x := w{k: key(), v: value(), ver: version(), del: rng.IntN(4) == 0}
				if x.del {
					x.v = nil
					b.Delete([]byte(x.k), x.ver)
				} else {
					b.Put([]byte(x.k), x.v, x.ver)
				}
				ws = append(ws, x)
			}
			if err := db.Apply(&b); err != nil {
				t.Fatal(err)
			}
			for _, x := range ws {
				m.apply(x.k, x.v, x.ver, x.del)
			}
		case r < 900:
			checkGet(key())
		case r < 950:
			a, b := key(), key()
			if a > b {
				a, b = b, a
			}
			if rng.IntN(5) == 0 {
				b = ""
			}
			checkRange(a, b, rng.IntN(2) == 0, rng.IntN(2) == 0)
		case r < 960:
			if err := db.Flush(); err != nil {
				t.Fatal(err)
			}
		case r < 965:
			// One to three ranges, in any order, possibly overlapping.
			var ranges []KeyRange
			for range 1 + rng.IntN(3) {
				a, b := key(), key()
				if a > b {
					a, b = b, a
				}
				ranges = append(ranges, KeyRange{Start: []byte(a), End: []byte(b)})
				for k := range m {
					if k >= a && k < b {
						delete(m, k)
					}
				}
			}
			if err := db.DropRanges(ranges); err != nil {
				t.Fatal(err)
			}
		case r < 970:
			countWork()
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			if db, err = Open("db", opts); err != nil {
				t.Fatal(err)
			}
		}
	}
	for k := range m {
		checkGet(k)
	}
	checkRange("", "", true, false)
	checkRange("", "", true, true)
	countWork()
	t.Logf("levels %+v; %d compactions, %d flushes", db.Stats().Levels, compactions, flushes)
	if compactions == 0 || flushes == 0 {
		t.Errorf("the test did not exercise compaction: %d compactions, %d flushes", compactions, flushes)
	}
}

// A range inside one routing prefix reads one shard and still sees every
// key of the range, whatever shard the prefix maps to.
func TestPrefixRangeReadsOneShard(t *testing.T) {
	opts := smallOptions(vfs.NewMem())
	opts.ShardPrefixLen = 2
	opts.Shards = 4
	db := mustOpen(t, "db", opts)
	defer db.Close()
	want := map[string]int{}
	for p := range 16 {
		for i := range 50 {
			k := fmt.Sprintf("%c%ckey%03d", 0, p, i)
			if err := db.Put([]byte(k), []byte("v"), nowVersion(i)); err != nil {
				t.Fatal(err)
			}
			want[k[:2]]++
		}
	}
	tests := []struct {
		name       string
		start, end []byte
		shards     int
		count      int
	}{
		{"whole prefix", []byte{0, 3}, []byte{0, 4}, 1, 50},
		{"inside prefix", []byte{0, 3, 'k', 'e', 'y', '0', '1'}, []byte{0, 3, 'k', 'e', 'y', '0', '3'}, 1, 20},
		{"two prefixes", []byte{0, 3}, []byte{0, 5}, 4, 100},
		{"unbounded", []byte{0, 15}, nil, 4, 50},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := len(db.shardsFor(tc.start, tc.end)); got != tc.shards {
				t.Errorf("shards = %d, want %d", got, tc.shards)
			}
			it, err := db.NewIter(IterOptions{Start: tc.start, End: tc.end})
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for ok := it.First(); ok; ok = it.Next() {
				n++
			}
			it.Close()
			if n != tc.count {
				t.Errorf("%d keys, want %d", n, tc.count)
			}
		})
	}
}
