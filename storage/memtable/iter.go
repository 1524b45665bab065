package memtable

import (
	"sync/atomic"

	"kvstore/storage/internal/base"
)

var _ base.Iterator = (*Iter)(nil)

// Iter walks a memtable in ascending key order, one record per key (the
// key's record when the iterator reached it). It implements base.Iterator.
//
// An Iter may run while a writer keeps calling Set: it may or may not see
// keys inserted after it was created, and never sees a partly written key or
// record. Value aliases arena memory that is never modified, so it stays
// valid while the memtable is reachable (longer than base.Iterator
// promises); Key is assembled from the node's prefix and the key's tail in
// the arena into the iterator's own buffer, valid until the next
// positioning call. An Iter is not safe for concurrent use.
type Iter struct {
	m       *Memtable // nil after Close
	node    uint32    // current node, 0 when not valid
	key     []byte    // the current key, in a buffer reused from key to key
	value   []byte
	version uint64
	kind    base.Kind
}

// NewIter returns an unpositioned iterator over m.
func (m *Memtable) NewIter() *Iter { return &Iter{m: m} }

// First moves to the smallest key.
func (it *Iter) First() bool {
	if it.m == nil {
		return false
	}
	return it.load(it.m.nextAt(0, 0))
}

// SeekGE moves to the smallest key >= key. It does not allocate.
func (it *Iter) SeekGE(key []byte) bool {
	if it.m == nil {
		return false
	}
	n, _ := it.m.seekGE(key)
	return it.load(n)
}

// Next moves to the next key. It must only be called when Valid; otherwise
// it returns false.
func (it *Iter) Next() bool {
	if it.node == 0 {
		return false
	}
	return it.load(it.m.nextAt(it.node, 0))
}

// load positions the iterator on node n (0: past the end) and snapshots its
// key and current record.
func (it *Iter) load(n uint32) bool {
	it.node = n
	if n == 0 {
		it.key, it.value, it.version, it.kind = it.key[:0], nil, 0, 0
		return false
	}
	if it.key == nil { // room for most keys, and an empty key is not nil
		it.key = make([]byte, 0, 64)
	}
	it.key = it.m.appendKey(it.key[:0], n)
	it.value, it.version, it.kind = it.m.record(atomic.LoadUint32(&it.m.words[n]))
	return true
}

// Valid reports whether the iterator is positioned on a record.
func (it *Iter) Valid() bool { return it.node != 0 }

// Key returns the current key; nil when not Valid.
func (it *Iter) Key() []byte {
	if it.node == 0 {
		return nil
	}
	return it.key
}

// Value returns the current record's value; nil when not Valid.
func (it *Iter) Value() []byte { return it.value }

// Version returns the current record's version.
func (it *Iter) Version() uint64 { return it.version }

// Kind returns the current record's kind.
func (it *Iter) Kind() base.Kind { return it.kind }

// Err returns nil: walking an in-memory arena cannot fail.
func (it *Iter) Err() error { return nil }

// Close unpositions the iterator and drops its reference to the memtable;
// later positioning calls return false. It returns nil.
func (it *Iter) Close() error {
	it.load(0)
	it.m = nil
	return nil
}
