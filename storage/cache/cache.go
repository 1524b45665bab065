// Package cache is the storage engine's block cache: a bounded, sharded map
// from (table id, block offset) to the immutable bytes of a table block.
//
// Capacity is charged in bytes: each entry costs len(block) plus a fixed
// per-entry overhead (EntryOverhead) for its bookkeeping. The cache is split
// into power-of-two shards chosen by a hash of the key; each shard runs the
// CLOCK replacement algorithm (a circular list of slots with a reference bit
// per entry, a close approximation of LRU that lets hits proceed under a
// shared lock).
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
	"sync"
	"sync/atomic"
)

// EntryOverhead is the number of bytes charged for each entry on top of the
// length of its block: the slot, the index map entry and the slice header.
const EntryOverhead = 80

const (
	maxShards = 64
	// minShardCapacity keeps shards large enough to hold many blocks: small
	// caches get fewer shards.
	minShardCapacity = 1 << 20
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
	used   bool        // the slot holds an entry
	ref    atomic.Bool // set by Get, cleared by the clock hand
}

type shard struct {
	mu       sync.RWMutex  // guards index, slots (except ref), free, hand and size
	index    map[key]int32 // key -> position in slots
	slots    []slot        // the clock; free slots have used == false
	free     []int32       // positions of free slots
	hand     int           // next slot the clock hand examines
	size     int64         // bytes charged
	capacity int64         // immutable
	hits     atomic.Int64  // Get hits on this shard
	misses   atomic.Int64  // Get misses on this shard
	_        [64 - 8]byte  // keep neighbouring shards' hot fields apart
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
	}
	return c
}

func (c *Cache) shard(k key) *shard {
	// A multiply-xorshift mix of both halves; offsets are multiples of
	// typical block sizes, so their low bits alone would spread poorly.
	h := k.id*0x9e3779b97f4a7c15 ^ k.offset*0xc2b2ae3d27d4eb4f
	h ^= h >> 29
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 32
	return &c.shards[h&c.mask]
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
	s := c.shard(k)
	s.mu.RLock()
	i, ok := s.index[k]
	if !ok {
		s.mu.RUnlock()
		s.misses.Add(1)
		return nil, false
	}
	sl := &s.slots[i]
	if !sl.ref.Load() {
		sl.ref.Store(true)
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
	s := c.shard(k)
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
	sl.used = true
	sl.ref.Store(false)
	s.index[k] = i
	s.size += charge
}

// evict runs the clock hand until charge more bytes fit. s.mu must be held
// for writing, and charge must not exceed s.capacity.
func (s *shard) evict(charge int64) {
	// Each full turn clears every reference bit, so the loop evicts at least
	// one entry per two turns and ends once the shard is empty at the latest.
	for s.size+charge > s.capacity {
		if s.hand >= len(s.slots) {
			s.hand = 0
		}
		sl := &s.slots[s.hand]
		if sl.used {
			if sl.ref.Load() {
				sl.ref.Store(false)
			} else {
				delete(s.index, sl.key)
				s.size -= sl.charge
				*sl = slot{}
				s.free = append(s.free, int32(s.hand))
			}
		}
		s.hand++
	}
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
