// Package memtable is the storage engine's in-memory write buffer: an ordered
// map from key to the newest record of that key (version, kind, value),
// filled by a single writer while any number of readers look keys up and
// iterate without locks. When it is full the engine freezes it, opens a new
// one and flushes the frozen one to a sorted table.
//
// # Usage
//
//	m := memtable.New(64 << 20)
//	if memtable.EntrySize(len(key), len(val)) > m.Available() {
//		// rotate: freeze m, start a new memtable
//	}
//	applied, err := m.Set(key, version, base.KindValue, val)
//	val, version, kind, ok := m.Get(key)
//	it := m.NewIter()
//	for ok := it.First(); ok; ok = it.Next() {
//		// it.Key(), it.Value(), it.Version(), it.Kind()
//	}
//	_ = it.Close()
//
// # Concurrency
//
// Set must be serialized by the caller (one writer at a time). Get, NewIter,
// the iterators, Len, Size, Available, Empty and MaxVersion may run
// concurrently with each other and with Set, without locks. A reader sees
// every Set that happened before it started and may or may not see Sets that
// run concurrently; it never sees a partly written key or record, because the
// writer fills every byte of an entry before publishing it with an atomic
// store, and never modifies published bytes afterwards.
//
// # Memory layout
//
// A memtable is a skiplist stored in one arena allocated by New: a []uint32
// that is also viewed as a []byte. The arena holds no Go pointers, so the
// garbage collector never scans it, and the bytes it may use are fixed at
// creation: Size counts every byte handed out, and Size+Available equals
// Capacity.
//
// Nodes are addressed by word index (a uint32; 0 is the head node and means
// "none" in a link, since nothing links to the head). Records and keys are
// addressed by byte offset (a uint32), so one arena is smaller than 4 GiB.
//
// The arena has two regions that grow towards each other: keys and records
// from the start (after the head node) upwards, nodes from the end
// downwards; the memtable is full when they would meet. Inserting a key
// appends to the first and prepends to the second:
//
//	data        [keyLen uvarint][the key's bytes past its 16th][record], at
//	            the first free byte
//	node        words, each a native-endian uint32, below the lowest node:
//	              [0]      record offset (byte offset of the key's newest
//	                       record; read and written atomically)
//	              [1]      key offset (byte offset of the keyLen varint)
//	              [2]..[5] the key's first 16 bytes, zero-padded, as
//	                       two big-endian uint64s (high words first)
//	              [6+l]    next node at level l, for l < height (read and
//	                       written atomically; 0 = end of level)
//	record      [version 8 bytes LE][kind 1 byte][valueLen 4 bytes LE][value]
//
// The split keeps what a search reads dense: a node averages 29 bytes (24
// and 1.33 links of 4), about a fifth of an entry with an 18-byte key and
// a 100-byte value, so far more of the nodes a search visits stay in the
// CPU's caches than if each sat beside its value. A search compares the
// 16-byte prefixes in the nodes and reads a key's tail from the data region
// only when the prefixes are equal: 16 bytes, not 8, because keys often
// share their first bytes (a node's partition id, zero-padded numbers, a
// common "user:"), and a tie costs a second cache miss. The data region
// holds only the bytes the prefix lacks, so a key's bytes are stored once;
// an iterator assembles the key from both into a buffer of its own.
//
// A newer record for an existing key appends a record only and swaps the
// node's record offset atomically; the old record stays in the arena
// unchanged, so values handed out earlier stay valid.
//
// Tower heights are drawn from a per-memtable deterministic generator with
// p = 1/4 per extra level, up to maxHeight (16) levels. The head node sits at
// the start of the arena (word 0) with a full tower; it is not counted in
// Size or Capacity.
//
// EntrySize(keyLen, valueLen) = keyLen + 5 + 13 + 4*(6+16) + valueLen bounds
// the bytes one Set can take (a new key with the longest length varint and
// the tallest tower). An update of an existing key takes exactly 13 +
// valueLen bytes.
//
// Beside the arena, a bloom filter of about one bit per 10 arena bytes, in
// 64-byte lines, lets Get answer for an absent key with one cache miss: a
// key's line is picked by bits 32 and up of base.Hash64(key), and it sets
// 4 bits of that line, bits 9i..9i+8 of the hash for i = 0..3. The writer
// sets them (atomic OR) before linking the key's node.
package memtable
