// Package cache is the storage engine's block cache: a bounded, sharded map
// from (table id, block offset) to the immutable bytes of a table block.
//
// Capacity is charged in bytes: each entry costs len(block) plus a fixed
// per-entry overhead (EntryOverhead) for its bookkeeping. The cache is split
// into power-of-two shards chosen by a hash of the key; each shard evicts
// with S3-FIFO (Yang et al., "FIFO queues are all you need for cache
// eviction", SOSP 2023), which keeps a scan from flushing the blocks that
// are read again and again:
//
//   - A new block enters a small FIFO queue (a tenth of the shard). When it
//     reaches the queue's end, it moves to the main queue if it was read
//     while it waited, and is dropped otherwise; its key is then recorded
//     as a ghost.
//   - A block whose key is a ghost when it is set again was dropped too
//     early: it enters the main queue at once. Ghosts are kept in two
//     generations of a Bloom filter (the paper uses a FIFO queue of keys):
//     the last one to two times as many drops as the shard holds entries
//     are remembered, at a few bits each and no allocation (the filters
//     take 0.2% of the capacity, not charged to it), and a false positive
//     only lets a block into the main queue unearned.
//   - At the main queue's end a block that was read since it last passed
//     there goes round again (its read count, at most 3, drops by one), and
//     one that was not is dropped.
//
// A block read once, as every block of a long range scan is, thus only ever
// displaces blocks of the small queue. A hit takes only the shard's read
// lock: it increments the entry's read count atomically.
//
// Keys never need to be invalidated: table ids are unique for the life of
// the process and never reused, so the blocks of a deleted table simply age
// out.
//
// Usage:
//
//	c := cache.New(64 << 20)
//	if b, ok := c.Get(tableID, off); ok {
//		// use b; never modify it
//	} else {
//		b = readBlock(off) // a fresh slice
//		c.Set(tableID, off, b)
//	}
package cache

import (
	"math/bits"
	"sync"
	"sync/atomic"
)

// EntryOverhead is the number of bytes charged for each entry on top of the
// length of its block: the slot, the index map entry, its place in a queue
// and the slice header.
const EntryOverhead = 80

const (
	maxShards = 64
	// minShardCapacity keeps shards large enough to hold many blocks: small
	// caches get fewer shards.
	minShardCapacity = 1 << 20
	// smallShare is the part of a shard's capacity the small queue may
	// hold before it is the one that gives up blocks: 1/smallShare.
	smallShare = 10
	// maxReads caps an entry's read count: a block read often survives at
	// most this many passes through the main queue without a further read.
	maxReads = 3
)

// Stats is a snapshot of the cache's counters.
type Stats struct {
	Hits     int64 // Get calls that found their block
	Misses   int64 // Get calls that did not
	Size     int64 // bytes charged: sum of len(block)+EntryOverhead over entries
	Capacity int64 // the capacity given to New
	Entries  int64 // number of cached blocks
}

// Cache is a bounded block cache.
//
// A Cache is safe for concurrent use by multiple goroutines. A nil *Cache is
// valid and behaves like a cache of capacity 0, except that it counts
// nothing.
type Cache struct {
	capacity int64
	mask     uint64
	shards   []shard
}

type key struct {
	id, offset uint64
}

type slot struct {
	key    key
	block  []byte
	charge int64
	reads  atomic.Int32 // Get hits since it entered or last passed the main queue's end, at most maxReads
}

type shard struct {
	mu    sync.RWMutex  // guards everything below except slots[i].reads
	index map[key]int32 // key -> position in slots
	slots []slot        // entries, and free positions
	free  []int32       // free positions in slots
	small fifo          // positions, oldest first
	main  fifo
	// smallSize and size are bytes charged: in the small queue, and in all.
	smallSize, size int64
	ghosts          ghosts
	capacity        int64        // immutable
	hits            atomic.Int64 // Get hits on this shard
	misses          atomic.Int64 // Get misses on this shard
	_               [64 - 8]byte // keep neighbouring shards' hot fields apart
}

// fifo is a queue of slot positions that reuses its buffer.
type fifo struct {
	buf  []int32
	head int
}

func (q *fifo) len() int { return len(q.buf) - q.head }

func (q *fifo) push(i int32) { q.buf = append(q.buf, i) }

// pop removes and returns the oldest position; the queue must not be empty.
func (q *fifo) pop() int32 {
	v := q.buf[q.head]
	q.head++
	if q.head >= 64 && 2*q.head >= len(q.buf) {
		n := copy(q.buf, q.buf[q.head:])
		clear(q.buf[n:])
		q.buf, q.head = q.buf[:n], 0
	}
	return v
}

// New returns a cache holding at most capacityBytes bytes (see EntryOverhead
// for how entries are charged). A capacity of 0 or less disables caching: Get
// always misses and Set does nothing.
func New(capacityBytes int64) *Cache {
	if capacityBytes < 0 {
		capacityBytes = 0
	}
	n := int64(maxShards)
	for n > 1 && capacityBytes/n < minShardCapacity {
		n /= 2
	}
	c := &Cache{
		capacity: capacityBytes,
		mask:     uint64(n - 1),
		shards:   make([]shard, n),
	}
	for i := range c.shards {
		c.shards[i].capacity = capacityBytes / n
		c.shards[i].index = make(map[key]int32)
		c.shards[i].ghosts = newGhosts(capacityBytes / n)
	}
	return c
}

// hash mixes both halves of k (multiply-xorshift); offsets are multiples
// of typical block sizes, so their low bits alone would spread poorly.
func hash(k key) uint64 {
	h := k.id*0x9e3779b97f4a7c15 ^ k.offset*0xc2b2ae3d27d4eb4f
	h ^= h >> 29
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 32
	return h
}

// Get returns the block cached for (id, offset). The returned slice is shared
// with other readers and must not be modified; the cache never reuses or
// modifies it, so the caller may keep it for as long as it likes.
// Get does not allocate.
func (c *Cache) Get(id, offset uint64) ([]byte, bool) {
	if c == nil {
		return nil, false
	}
	k := key{id, offset}
	s := &c.shards[hash(k)&c.mask]
	s.mu.RLock()
	i, ok := s.index[k]
	if !ok {
		s.mu.RUnlock()
		s.misses.Add(1)
		return nil, false
	}
	sl := &s.slots[i]
	if r := sl.reads.Load(); r < maxReads {
		sl.reads.CompareAndSwap(r, r+1) // a lost race loses a count, no more
	}
	b := sl.block
	s.mu.RUnlock()
	s.hits.Add(1)
	return b, true
}

// Set caches block under (id, offset), evicting older entries as needed. The
// cache takes ownership of block and never modifies it; the caller must not
// modify it either. If (id, offset) is already cached, or the block alone
// exceeds a shard's capacity, Set does nothing.
func (c *Cache) Set(id, offset uint64, block []byte) {
	if c == nil || c.capacity <= 0 {
		return
	}
	k := key{id, offset}
	h := hash(k)
	s := &c.shards[h&c.mask]
	charge := int64(len(block)) + EntryOverhead
	if charge > s.capacity {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.index[k]; ok {
		return
	}
	s.evict(charge)
	var i int32
	if n := len(s.free); n > 0 {
		i = s.free[n-1]
		s.free = s.free[:n-1]
	} else {
		s.slots = append(s.slots, slot{})
		i = int32(len(s.slots) - 1)
	}
	sl := &s.slots[i]
	sl.key = k
	sl.block = block
	sl.charge = charge
	sl.reads.Store(0)
	s.index[k] = i
	s.size += charge
	if s.ghosts.contains(h) {
		s.main.push(i)
		return
	}
	s.small.push(i)
	s.smallSize += charge
}

// evict drops entries until charge more bytes fit. s.mu must be held for
// writing, and charge must not exceed s.capacity. Every call of evictSmall
// empties a place in the small queue and every call of evictMain either
// drops an entry or lowers a read count, so the loop ends.
func (s *shard) evict(charge int64) {
	for s.size+charge > s.capacity {
		if s.small.len() > 0 && (s.smallSize*smallShare > s.capacity || s.main.len() == 0) {
			s.evictSmall()
		} else {
			s.evictMain()
		}
	}
}

// evictSmall moves the small queue's oldest entry to the main queue if it
// was read while in the small one, and drops it otherwise.
func (s *shard) evictSmall() {
	i := s.small.pop()
	sl := &s.slots[i]
	s.smallSize -= sl.charge
	if sl.reads.Load() > 0 {
		sl.reads.Store(0)
		s.main.push(i)
		return
	}
	s.ghosts.add(hash(sl.key), len(s.index))
	s.drop(i)
}

// evictMain puts the main queue's oldest entry back at its start, with one
// read less, if it was read since it was last there, and drops it
// otherwise.
func (s *shard) evictMain() {
	i := s.main.pop()
	sl := &s.slots[i]
	if r := sl.reads.Load(); r > 0 {
		sl.reads.Store(r - 1)
		s.main.push(i)
		return
	}
	s.drop(i)
}

func (s *shard) drop(i int32) {
	sl := &s.slots[i]
	delete(s.index, sl.key)
	s.size -= sl.charge
	sl.block, sl.charge = nil, 0
	s.free = append(s.free, i)
}

// ghosts remembers the hashes of recently dropped keys in two Bloom
// filters of the same size: add sets bits in the current one, and once it
// holds as many keys as the shard holds entries, the older one is cleared
// and becomes the current one. A key is a ghost while either has its bits.
type ghosts struct {
	cur, old []uint64 // bit sets
	added    int      // keys added to cur
}

// ghostBitsPerEntry sizes the filters for a shard full of 4 KiB blocks:
// with two probes, under 1% false positives when a generation is full.
const ghostBitsPerEntry = 32

func newGhosts(capacity int64) ghosts {
	words := min(max(capacity/4096*ghostBitsPerEntry/64, 8), 1<<24)
	words = 1 << bits.Len64(uint64(words-1)) // a power of two
	return ghosts{cur: make([]uint64, words), old: make([]uint64, words)}
}

// probes returns the two bits of hash h, as word and bit indexes. The low
// bits of h chose the shard, so they are dropped; two multiplications mix
// the rest into the high bits the probes take.
func (g *ghosts) probes(h uint64) (w1, b1, w2, b2 uint64) {
	mask := uint64(len(g.cur) - 1)
	x := (h >> bits.Len(maxShards-1)) * 0x9e3779b97f4a7c15
	y := x * 0xc2b2ae3d27d4eb4f
	return (x >> 40) & mask, (x >> 34) & 63, (y >> 40) & mask, (y >> 34) & 63
}

// add records h; entries is the number the shard holds, the generation's
// size.
func (g *ghosts) add(h uint64, entries int) {
	if g.added >= max(entries, 16) {
		g.cur, g.old = g.old, g.cur
		clear(g.cur)
		g.added = 0
	}
	w1, b1, w2, b2 := g.probes(h)
	g.cur[w1] |= 1 << b1
	g.cur[w2] |= 1 << b2
	g.added++
}

func (g *ghosts) contains(h uint64) bool {
	w1, b1, w2, b2 := g.probes(h)
	in := func(f []uint64) bool { return f[w1]&(1<<b1) != 0 && f[w2]&(1<<b2) != 0 }
	return in(g.cur) || in(g.old)
}

// Stats returns the cache's counters. The shards are read one after the
// other, so under concurrent use the totals are not an atomic snapshot.
func (c *Cache) Stats() Stats {
	if c == nil {
		return Stats{}
	}
	st := Stats{Capacity: c.capacity}
	for i := range c.shards {
		s := &c.shards[i]
		st.Hits += s.hits.Load()
		st.Misses += s.misses.Load()
		s.mu.RLock()
		st.Size += s.size
		st.Entries += int64(len(s.index))
		s.mu.RUnlock()
	}
	return st
}

// numShards reports the number of shards (for tests).
func (c *Cache) numShards() int { return len(c.shards) }
