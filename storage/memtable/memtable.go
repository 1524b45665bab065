package memtable

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"math/bits"
	"sync/atomic"
	"unsafe"

	"kvstore/storage/internal/base"
)

// ErrFull is returned by Set when the arena lacks room for the entry. The
// memtable is unchanged; the caller rotates to a new memtable.
var ErrFull = errors.New("memtable: full")

const (
	// maxHeight is the tallest tower. With p = 1/4 per level, 16 levels keep
	// searches logarithmic far beyond the entries a 4 GiB arena can hold.
	maxHeight = 16
	// recordHeaderSize is version (8) + kind (1) + valueLen (4).
	recordHeaderSize = 13
	// nodeHeaderWords are the record offset, the key offset and the key's
	// prefix (four words; see keyPrefix).
	nodeHeaderWords = 6
	// headBytes is the size of the head node, at the start of the arena.
	headBytes = 4 * (nodeHeaderWords + maxHeight)
	// maxEntryOverhead is what EntrySize adds to keyLen+valueLen: the
	// longest key length varint, a record header and the tallest node.
	maxEntryOverhead = binary.MaxVarintLen32 + recordHeaderSize + 4*(nodeHeaderWords+maxHeight)
)

// MaxCapacity is the largest capacity New accepts: byte offsets into the
// arena (capacity plus the head node) must fit in a uint32.
const MaxCapacity = (1<<32 - 4) - headBytes

// Memtable is an ordered map from key to the newest record of the key, held
// in a fixed-size arena (see the package documentation for the layout).
//
// Concurrency: Set must be serialized by the caller. Every other method may
// be called concurrently with Set and with each other.
type Memtable struct {
	// Read by everyone; words and data are set by New and never replaced.
	words  []uint32      // the arena as words: node headers and links
	data   []byte        // the same arena as bytes: keys and records
	height atomic.Uint32 // levels in use, 1..maxHeight
	// bloom is a cache-line-blocked bloom filter of the keys, so that a Get of
	// an absent key (the common case for a store much larger than its
	// memtables) costs one cache miss instead of a skiplist descent. Bits are
	// set with atomic OR before a node is linked, so a reader that can reach
	// a node always passes the filter.
	bloom []uint64

	// Keep the fields the writer updates on every Set off the cache line
	// that readers load on every lookup.
	_ [64]byte

	// size is the arena bytes handed out, head node excluded: what
	// dataEnd and nodeLow say, kept as one atomic for concurrent readers.
	size       atomic.Uint32
	count      atomic.Int64  // distinct keys
	maxVersion atomic.Uint64 // highest version of an applied Set

	// Writer-only state (Set is single-writer).
	dataEnd uint32            // byte offset of the first free data byte
	nodeLow uint32            // word index of the lowest node allocated
	rng     uint64            // splitmix64 state for tower heights
	prev    [maxHeight]uint32 // splice: node before the key at each level
	next    [maxHeight]uint32 // splice: node after the key at each level
}

// New returns an empty memtable whose arena can hold capacity bytes of
// entries (keys, records and skiplist nodes; see EntrySize). The arena is
// allocated at once. A negative capacity is treated as 0 and a capacity above
// MaxCapacity as MaxCapacity; the capacity is rounded up to a multiple of 4.
func New(capacity int) *Memtable {
	c := uint64(max(capacity, 0))
	c = min(c, MaxCapacity)
	c = (c + 3) &^ 3
	words := make([]uint32, (c+headBytes)/4)
	m := &Memtable{
		words: words,
		// The byte view of the same memory: keys and records are bytes,
		// nodes are words accessed with sync/atomic. Both views cover the
		// same allocation, which holds no pointers.
		data:    unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(words))), 4*len(words)),
		dataEnd: headBytes, // after the head node: no key, no record, zero links
		nodeLow: uint32(len(words)),
		rng:     0x2545f4914f6cdd1d ^ c,
	}
	// About 10 bits per entry of 100 bytes, in 64-byte lines.
	lines := 1
	for lines*512 < int(c)/10 {
		lines <<= 1
	}
	m.bloom = make([]uint64, lines*8)
	m.height.Store(1)
	return m
}

// bloomProbes is the number of bits a key sets in its line.
const bloomProbes = 4

// bloomAdd sets key's bits. Writer only.
func (m *Memtable) bloomAdd(key []byte) {
	h := base.Hash64(key)
	line := (h >> 32) & uint64(len(m.bloom)/8-1) * 8
	for i := range bloomProbes {
		bit := (h >> (9 * i)) & 511
		atomic.OrUint64(&m.bloom[line+bit/64], 1<<(bit%64))
	}
}

// bloomMayContain reports whether key may be in the memtable.
func (m *Memtable) bloomMayContain(key []byte) bool {
	h := base.Hash64(key)
	line := (h >> 32) & uint64(len(m.bloom)/8-1) * 8
	for i := range bloomProbes {
		bit := (h >> (9 * i)) & 511
		if atomic.LoadUint64(&m.bloom[line+bit/64])&(1<<(bit%64)) == 0 {
			return false
		}
	}
	return true
}

// EntrySize returns an upper bound of the arena bytes one Set of a key and
// value of these lengths can take: the key with its length, the record and
// the tallest possible node. If EntrySize(len(key), len(value))
// <= Available(), Set(key, ..., value) does not return ErrFull.
func EntrySize(keyLen, valueLen int) int {
	return keyLen + valueLen + maxEntryOverhead
}

// Capacity returns the arena bytes available to entries when the memtable was
// created: Size() + Available().
func (m *Memtable) Capacity() int { return len(m.data) - headBytes }

// Available returns how many arena bytes remain.
func (m *Memtable) Available() int { return m.Capacity() - m.Size() }

// Size returns the arena bytes used by entries, including replaced records.
func (m *Memtable) Size() int { return int(m.size.Load()) }

// Len returns the number of distinct keys.
func (m *Memtable) Len() int { return int(m.count.Load()) }

// Empty reports whether the memtable holds no key.
func (m *Memtable) Empty() bool { return m.count.Load() == 0 }

// MaxVersion returns the highest version of any applied Set, 0 if none.
func (m *Memtable) MaxVersion() uint64 { return m.maxVersion.Load() }

// Set records (key, version, kind, value) as the key's record, unless the
// memtable already holds a record of key that base.Newer does not rank older:
// then Set does nothing and returns false, nil. A newer record is appended to
// the arena and replaces the old one atomically; bytes handed out earlier are
// never overwritten. Key and value are copied; the caller keeps them.
//
// Set returns ErrFull, and leaves the memtable unchanged, if the arena lacks
// room for the entry; EntrySize and Available tell in advance.
//
// Set must be serialized by the caller; it is safe concurrently with readers.
// It does not allocate.
func (m *Memtable) Set(key []byte, version uint64, kind base.Kind, value []byte) (applied bool, err error) {
	if n := m.findSplice(key); n != 0 {
		return m.update(n, version, kind, value)
	}

	// A new key: [keyLen varint][key tail][record] at the end of the data, and
	// a node of h links below the lowest node.
	state, r := splitmix64(m.rng)
	h := randomHeight(r)
	keyOff := uint64(m.dataEnd)
	tail := key[min(len(key), prefixLen):] // the key bytes the node's prefix lacks
	recOff := keyOff + uint64(varintLen(len(key))) + uint64(len(tail))
	dataEnd := recOff + recordHeaderSize + uint64(len(value))
	nodeWords := uint64(nodeHeaderWords + h)
	if dataEnd+4*nodeWords > 4*uint64(m.nodeLow) {
		return false, ErrFull
	}
	m.rng = state

	m.bloomAdd(key)
	off := binary.PutUvarint(m.data[keyOff:], uint64(len(key)))
	copy(m.data[keyOff+uint64(off):], tail)
	m.writeRecord(uint32(recOff), version, kind, value)
	n := m.nodeLow - uint32(nodeWords)
	node := m.words[n : n+uint32(nodeWords)]
	node[1] = uint32(keyOff)
	hi, lo := keyPrefix(key) // read back by nodePrefix
	node[2], node[3] = uint32(hi>>32), uint32(hi)
	node[4], node[5] = uint32(lo>>32), uint32(lo)
	atomic.StoreUint32(&node[0], uint32(recOff))

	if lh := int(m.height.Load()); h > lh {
		for l := lh; l < h; l++ {
			m.prev[l], m.next[l] = 0, 0
		}
		m.height.Store(uint32(h))
	}
	// Fill the node's own links first, then publish it bottom-up: a reader
	// that reaches the node at any level finds its lower levels linked.
	for l := range h {
		atomic.StoreUint32(&node[nodeHeaderWords+l], m.next[l])
	}
	for l := range h {
		atomic.StoreUint32(&m.words[m.prev[l]+nodeHeaderWords+uint32(l)], n)
	}

	m.dataEnd = uint32(dataEnd)
	m.nodeLow = n
	m.size.Add(uint32(dataEnd-keyOff) + 4*uint32(nodeWords))
	m.count.Add(1)
	m.noteVersion(version)
	return true, nil
}

// varintLen returns the bytes binary.PutUvarint takes for n.
func varintLen(n int) int {
	return (bits.Len64(uint64(n)|1) + 6) / 7
}

// update replaces the record of node n if (version, kind, value) is newer.
func (m *Memtable) update(n uint32, version uint64, kind base.Kind, value []byte) (bool, error) {
	oldValue, oldVersion, oldKind := m.record(atomic.LoadUint32(&m.words[n]))
	if !base.Newer(version, kind, value, oldVersion, oldKind, oldValue) {
		return false, nil
	}
	used := uint64(m.dataEnd)
	end := used + recordHeaderSize + uint64(len(value))
	if end > 4*uint64(m.nodeLow) {
		return false, ErrFull
	}
	m.writeRecord(uint32(used), version, kind, value)
	atomic.StoreUint32(&m.words[n], uint32(used))
	m.dataEnd = uint32(end)
	m.size.Add(uint32(end - used))
	m.noteVersion(version)
	return true, nil
}

func (m *Memtable) noteVersion(v uint64) {
	if v > m.maxVersion.Load() {
		m.maxVersion.Store(v)
	}
}

// writeRecord writes a record at byte offset off; the caller checked room.
func (m *Memtable) writeRecord(off uint32, version uint64, kind base.Kind, value []byte) {
	d := m.data[off : off+recordHeaderSize+uint32(len(value))]
	binary.LittleEndian.PutUint64(d, version)
	d[8] = byte(kind)
	binary.LittleEndian.PutUint32(d[9:], uint32(len(value)))
	copy(d[recordHeaderSize:], value)
}

// record decodes the record at byte offset off. The value's capacity ends
// with it, so appending to it cannot write into the arena.
func (m *Memtable) record(off uint32) (value []byte, version uint64, kind base.Kind) {
	d := m.data[off : off+recordHeaderSize]
	version = binary.LittleEndian.Uint64(d)
	kind = base.Kind(d[8])
	start := off + recordHeaderSize
	end := start + binary.LittleEndian.Uint32(d[9:])
	return m.data[start:end:end], version, kind
}

// prefixLen is how many of a key's first bytes its node holds.
const prefixLen = 16

// keyTail returns the length of node n's key and its bytes past the
// prefix (empty for a key of prefixLen bytes or fewer).
func (m *Memtable) keyTail(n uint32) (keyLen int, tail []byte) {
	off := m.words[n+1]
	l, w := uint64(m.data[off]), 1
	if l >= 0x80 {
		l, w = binary.Uvarint(m.data[off:])
	}
	start := off + uint32(w)
	end := start + uint32(max(l, prefixLen)-prefixLen)
	return int(l), m.data[start:end:end]
}

// appendKey appends node n's key to dst: its prefix, then its tail.
func (m *Memtable) appendKey(dst []byte, n uint32) []byte {
	l, tail := m.keyTail(n)
	hi, lo := m.nodePrefix(n)
	var p [prefixLen]byte
	binary.BigEndian.PutUint64(p[:8], hi)
	binary.BigEndian.PutUint64(p[8:], lo)
	dst = append(dst, p[:min(l, prefixLen)]...)
	return append(dst, tail...)
}

// nodePrefix returns the keyPrefix stored in node n.
func (m *Memtable) nodePrefix(n uint32) (hi, lo uint64) {
	w := m.words[n+2 : n+6 : n+6]
	return uint64(w[0])<<32 | uint64(w[1]), uint64(w[2])<<32 | uint64(w[3])
}

// keyPrefix returns the first 16 bytes of key, zero-padded, as two
// big-endian integers. Two keys whose prefixes differ order as their
// prefixes do.
func keyPrefix(key []byte) (hi, lo uint64) {
	if len(key) >= prefixLen {
		return binary.BigEndian.Uint64(key), binary.BigEndian.Uint64(key[8:])
	}
	var b [prefixLen]byte
	copy(b[:], key)
	return binary.BigEndian.Uint64(b[:]), binary.BigEndian.Uint64(b[8:])
}

// compare orders the key of node n against key, whose keyPrefix is hi, lo.
// The prefix is in the node's header, so most comparisons of distinct keys
// load no key bytes. Equal zero-padded prefixes mean the shorter key's
// bytes begin the longer one's (past its own length the longer one has
// zeros up to prefixLen): both longer than prefixLen, their tails decide;
// otherwise the shorter key sorts first.
func (m *Memtable) compare(n uint32, key []byte, hi, lo uint64) int {
	nh, nl := m.nodePrefix(n)
	if c := cmp.Compare(nh, hi); c != 0 {
		return c
	}
	if c := cmp.Compare(nl, lo); c != 0 {
		return c
	}
	l, tail := m.keyTail(n)
	if l > prefixLen && len(key) > prefixLen {
		return bytes.Compare(tail, key[prefixLen:])
	}
	return cmp.Compare(l, len(key))
}

func (m *Memtable) nextAt(n uint32, level int) uint32 {
	return atomic.LoadUint32(&m.words[n+nodeHeaderWords+uint32(level)])
}

// findSplice returns the node holding key, or 0 after filling m.prev and
// m.next for every level in use with the nodes around key. Writer only.
func (m *Memtable) findSplice(key []byte) uint32 {
	var x, bound uint32 // bound: a node known to sort after key
	hi, lo := keyPrefix(key)
	for l := int(m.height.Load()) - 1; l >= 0; l-- {
		nx := m.nextAt(x, l)
		for nx != 0 && nx != bound {
			c := m.compare(nx, key, hi, lo)
			if c == 0 {
				return nx
			}
			if c > 0 {
				bound = nx
				break
			}
			x = nx
			nx = m.nextAt(x, l)
		}
		m.prev[l], m.next[l] = x, nx
	}
	return 0
}

// seekGE returns the first node whose key is >= key (0 if none) and whether
// its key equals key.
func (m *Memtable) seekGE(key []byte) (node uint32, eq bool) {
	var x, bound, nx uint32
	hi, lo := keyPrefix(key)
	for l := int(m.height.Load()) - 1; l >= 0; l-- {
		nx = m.nextAt(x, l)
		for nx != 0 && nx != bound {
			c := m.compare(nx, key, hi, lo)
			if c == 0 {
				return nx, true
			}
			if c > 0 {
				bound = nx
				break
			}
			x = nx
			nx = m.nextAt(x, l)
		}
	}
	return nx, false
}

// Get returns the record of key. The value aliases arena memory that is
// never modified, so it stays valid as long as the memtable is reachable;
// callers must not modify it. Get is safe concurrently with Set and does not
// allocate.
func (m *Memtable) Get(key []byte) (value []byte, version uint64, kind base.Kind, ok bool) {
	if !m.bloomMayContain(key) {
		return nil, 0, 0, false
	}
	n, eq := m.seekGE(key)
	if !eq {
		return nil, 0, 0, false
	}
	value, version, kind = m.record(atomic.LoadUint32(&m.words[n]))
	return value, version, kind, true
}

// splitmix64 advances state and returns the new state and a random word.
func splitmix64(state uint64) (next, r uint64) {
	next = state + 0x9e3779b97f4a7c15
	z := next
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return next, z ^ (z >> 31)
}

// randomHeight maps a random word to a tower height in [1, maxHeight] with
// P(height > k) = 4^-k: every pair of zero low bits adds a level.
func randomHeight(r uint64) int {
	return 1 + bits.TrailingZeros64(r|1<<(2*(maxHeight-1)))/2
}
