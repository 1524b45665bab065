package cache

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
)

func TestGetSet(t *testing.T) {
	c := New(8 << 20)
	if _, ok := c.Get(1, 0); ok {
		t.Fatal("Get on empty cache hit")
	}
	b := []byte("block")
	c.Set(1, 0, b)
	got, ok := c.Get(1, 0)
	if !ok || string(got) != "block" {
		t.Fatalf("Get(1,0) = %q, %v; want %q, true", got, ok, "block")
	}
	if &got[0] != &b[0] {
		t.Error("Get returned a copy; want the cached slice")
	}
	// A different id or offset is a different key.
	for _, k := range [][2]uint64{{2, 0}, {1, 1}} {
		if _, ok := c.Get(k[0], k[1]); ok {
			t.Errorf("Get(%d,%d) hit", k[0], k[1])
		}
	}
	// Set of a present key keeps the first block.
	c.Set(1, 0, []byte("other"))
	if got, _ := c.Get(1, 0); string(got) != "block" {
		t.Errorf("after second Set, Get = %q, want %q", got, "block")
	}
	st := c.Stats()
	want := Stats{Hits: 2, Misses: 3, Size: 5 + EntryOverhead, Capacity: 8 << 20, Entries: 1}
	if st != want {
		t.Errorf("Stats = %+v, want %+v", st, want)
	}
}

func TestDisabled(t *testing.T) {
	tests := []struct {
		name string
		c    *Cache
	}{
		{"zero", New(0)},
		{"negative", New(-5)},
		{"nil", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.c.Set(1, 2, []byte("x"))
			if _, ok := tc.c.Get(1, 2); ok {
				t.Error("Get hit on a disabled cache")
			}
			if st := tc.c.Stats(); st.Size != 0 || st.Entries != 0 || st.Hits != 0 {
				t.Errorf("Stats = %+v, want empty", st)
			}
		})
	}
}

func TestTooLargeBlockNotCached(t *testing.T) {
	c := New(1 << 10)
	c.Set(1, 0, make([]byte, 2<<10))
	if _, ok := c.Get(1, 0); ok {
		t.Error("block larger than the capacity was cached")
	}
}

func TestShardCount(t *testing.T) {
	tests := []struct {
		capacity int64
		want     int
	}{
		{0, 1},
		{1 << 20, 1},
		{4 << 20, 4},
		{64 << 20, 64},
		{1 << 30, 64},
	}
	for _, tc := range tests {
		if got := New(tc.capacity).numShards(); got != tc.want {
			t.Errorf("New(%d) has %d shards, want %d", tc.capacity, got, tc.want)
		}
	}
}

// The charged size never exceeds the capacity, and entries that keep being
// read survive a stream of one-time blocks.
func TestEvictionBoundsAndHotEntries(t *testing.T) {
	const capacity = 1 << 20 // one shard
	const blockSize = 1000
	c := New(capacity)
	hot := [][]byte{[]byte("hot0"), []byte("hot1"), []byte("hot2")}
	for i, b := range hot {
		c.Set(0, uint64(i), b)
	}
	for i := 0; i < 20000; i++ {
		for j := range hot {
			if _, ok := c.Get(0, uint64(j)); !ok {
				t.Fatalf("hot entry %d evicted after %d cold insertions", j, i)
			}
		}
		c.Set(1, uint64(i), make([]byte, blockSize))
		if st := c.Stats(); st.Size > capacity {
			t.Fatalf("Size %d exceeds capacity %d", st.Size, capacity)
		}
	}
	st := c.Stats()
	if min := int64(capacity - 2*(blockSize+EntryOverhead)); st.Size < min {
		t.Errorf("Size %d, want at least %d: cache is not filling up", st.Size, min)
	}
	wantEntries := int64(capacity / (blockSize + EntryOverhead))
	if st.Entries < wantEntries-2 || st.Entries > wantEntries+3 {
		t.Errorf("Entries = %d, want about %d", st.Entries, wantEntries)
	}
}

// TestScanKeepsHotBlocks reads a hot set of 100 blocks (40% of the cache)
// in turn while a scan inserts two blocks it never reads again for every hot
// read, 160 times the cache in all: a block cache under a long range read.
// Each hot block is read again only after 200 scan blocks went in, most of
// the cache, so an LRU or CLOCK cache drops hot blocks; here the scan's
// blocks only pass through the small queue.
func TestScanKeepsHotBlocks(t *testing.T) {
	const capacity = 1 << 20 // one shard
	const blockSize = 4096
	c := New(capacity)
	const hot = 100
	get := func(id, off uint64) bool {
		if _, ok := c.Get(id, off); ok {
			return true
		}
		c.Set(id, off, make([]byte, blockSize))
		return false
	}
	for range 2 {
		for i := range hot {
			get(0, uint64(i))
		}
	}
	misses, reads := 0, 0
	var scan uint64
	for step := range 20000 {
		hit := get(0, uint64(step%hot))
		if step >= 1000 { // after warm-up
			reads++
			if !hit {
				misses++
			}
		}
		for range 2 {
			get(1, scan)
			scan++
		}
	}
	if misses*100 > reads {
		t.Errorf("%d of %d hot reads missed during the scan, want at most 1%%", misses, reads)
	}
	if st := c.Stats(); st.Size > capacity {
		t.Errorf("Size %d exceeds capacity %d", st.Size, capacity)
	}
}

// TestGhostEntersMain: a block dropped from the small queue unread and set
// again soon after (its key still a ghost) goes to the main queue, so it
// survives a scan even before it is read again.
func TestGhostEntersMain(t *testing.T) {
	const capacity = 1 << 20
	const blockSize = 4096
	c := New(capacity)
	c.Set(0, 0, make([]byte, blockSize))
	var scan uint64
	scanBlocks := func(n int) {
		for range n {
			c.Set(1, scan, make([]byte, blockSize))
			scan++
		}
	}
	scanBlocks(capacity / blockSize) // pushes (0,0) out of the small queue, unread
	if _, ok := c.Get(0, 0); ok {
		t.Fatal("a block never read survived a cache's worth of newer blocks")
	}
	c.Set(0, 0, make([]byte, blockSize))
	scanBlocks(5 * capacity / blockSize)
	if _, ok := c.Get(0, 0); !ok {
		t.Error("a block set again while its key was a ghost did not survive a scan")
	}
}

// TestGhosts: the ghosts remember the keys of the last generation (as many
// adds as the shard holds entries) and of the one before, and forget older
// ones, but for the filters' false positives.
func TestGhosts(t *testing.T) {
	const entries = 256
	g := newGhosts(1 << 20) // 256 blocks of 4 KiB
	rng := rand.New(rand.NewPCG(5, 6))
	gen := func() []uint64 {
		hs := make([]uint64, entries)
		for i := range hs {
			hs[i] = hash(key{rng.Uint64(), rng.Uint64()})
			g.add(hs[i], entries)
		}
		return hs
	}
	first, second := gen(), gen()
	for _, h := range second {
		if !g.contains(h) {
			t.Fatal("a ghost of the current generation is forgotten")
		}
	}
	g.add(1, entries) // starts a third generation: second becomes the old one
	for _, h := range second {
		if !g.contains(h) {
			t.Fatal("a ghost of the previous generation is forgotten")
		}
	}
	still := 0
	for _, h := range first {
		if g.contains(h) {
			still++
		}
	}
	if still > entries/10 {
		t.Errorf("%d of %d ghosts two generations old are still ghosts; want only false positives (a few percent)", still, entries)
	}
}

// Model test: every hit returns exactly the block that was set for the key.
func TestRandomOpsAgainstModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	c := New(4 << 20)
	model := map[[2]uint64][]byte{}
	for i := 0; i < 50000; i++ {
		id, off := rng.Uint64N(4), rng.Uint64N(3000)*4096
		k := [2]uint64{id, off}
		if rng.IntN(2) == 0 {
			if _, ok := model[k]; ok {
				continue // a present key keeps its first block
			}
			b := []byte(fmt.Sprintf("%d/%d/%d", id, off, rng.IntN(1<<20)))
			b = append(b, make([]byte, rng.IntN(8000))...)
			if got, ok := c.Get(id, off); ok {
				t.Fatalf("Get(%d,%d) hit %q on a key never set", id, off, got[:10])
			}
			c.Set(id, off, b)
			model[k] = b
		} else if got, ok := c.Get(id, off); ok {
			want, present := model[k]
			if !present || &got[0] != &want[0] {
				t.Fatalf("Get(%d,%d) returned the wrong block", id, off)
			}
		}
		if st := c.Stats(); st.Size > st.Capacity {
			t.Fatalf("Size %d > Capacity %d", st.Size, st.Capacity)
		}
	}
}

func TestConcurrent(t *testing.T) {
	c := New(2 << 20) // two shards, constant eviction
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 7))
			for i := 0; i < 20000; i++ {
				id, off := rng.Uint64N(2), rng.Uint64N(1000)
				if b, ok := c.Get(id, off); ok {
					if b[0] != byte(id) || b[1] != byte(off) {
						t.Errorf("Get(%d,%d) returned block of (%d,%d)", id, off, b[0], b[1])
						return
					}
					continue
				}
				b := make([]byte, 2+rng.IntN(4096))
				b[0], b[1] = byte(id), byte(off)
				c.Set(id, off, b)
			}
		}(g)
	}
	wg.Wait()
	st := c.Stats()
	if st.Size > st.Capacity || st.Hits+st.Misses != 80000 {
		t.Errorf("Stats = %+v", st)
	}
}

func BenchmarkGetHitParallel(b *testing.B) {
	const n = 4096
	c := New(64 << 20)
	for i := 0; i < n; i++ {
		c.Set(uint64(i%8), uint64(i)*4096, make([]byte, 4096))
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := rand.Uint64()
		for pb.Next() {
			i++
			k := i % n
			if _, ok := c.Get(k%8, k*4096); !ok {
				b.Fatal("miss")
			}
		}
	})
}

func BenchmarkGetMissParallel(b *testing.B) {
	c := New(64 << 20)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := rand.Uint64()
		for pb.Next() {
			i++
			c.Get(1, i)
		}
	})
}

func BenchmarkSetEvict(b *testing.B) {
	c := New(16 << 20)
	blocks := make([][]byte, 1024)
	for i := range blocks {
		blocks[i] = make([]byte, 4096)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c.Set(1, uint64(i), blocks[i%len(blocks)])
	}
}

// BenchmarkHitRatio reports the share of reads that hit for read-through
// access patterns over 4 KiB blocks in a 4 MiB cache (1,000 blocks):
// uniform over twice the blocks the cache holds, Zipf-distributed over ten
// times as many, and the Zipf reads with a scan of one-time blocks beside
// them (two scan blocks per read).
func BenchmarkHitRatio(b *testing.B) {
	const capacity = 4 << 20
	const blockSize = 4096
	const fits = capacity / (blockSize + EntryOverhead)
	block := make([]byte, blockSize)
	for _, tc := range []struct {
		name string
		scan bool
		next func(*rand.Rand, *rand.Zipf) uint64
	}{
		{"uniform", false, func(r *rand.Rand, _ *rand.Zipf) uint64 { return r.Uint64N(2 * fits) }},
		{"zipf", false, func(_ *rand.Rand, z *rand.Zipf) uint64 { return z.Uint64() }},
		{"zipf+scan", true, func(_ *rand.Rand, z *rand.Zipf) uint64 { return z.Uint64() }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			c := New(capacity)
			r := rand.New(rand.NewPCG(3, 4))
			z := rand.NewZipf(r, 1.1, 1, 10*fits-1)
			var hits, reads int64
			var scan uint64
			for b.Loop() {
				k := tc.next(r, z)
				reads++
				if _, ok := c.Get(0, k); ok {
					hits++
				} else {
					c.Set(0, k, block)
				}
				if tc.scan {
					for range 2 {
						c.Set(1, scan, block)
						scan++
					}
				}
			}
			b.ReportMetric(100*float64(hits)/float64(reads), "hit%")
		})
	}
}
