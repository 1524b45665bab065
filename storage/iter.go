package storage

import (
	"bytes"
	"container/heap"

	"kvstore/storage/internal/base"
	"kvstore/storage/sstable"
)

// mergingIter merges child iterators into one ascending stream with one
// record per key: where several children hold a key, the newest record (by
// base.Newer) wins and the others are skipped.
type mergingIter struct {
	children []base.Iterator
	h        iterHeap
	// The current key's children: cur is the winner; same holds every child
	// positioned on the current key (popped from the heap).
	cur  base.Iterator
	same []base.Iterator
	err  error
}

var _ base.Iterator = (*mergingIter)(nil)

func newMergingIter(children []base.Iterator) *mergingIter {
	return &mergingIter{children: children, h: iterHeap{its: make([]base.Iterator, 0, len(children))}}
}

type iterHeap struct{ its []base.Iterator }

func (h *iterHeap) Len() int           { return len(h.its) }
func (h *iterHeap) Less(i, j int) bool { return bytes.Compare(h.its[i].Key(), h.its[j].Key()) < 0 }
func (h *iterHeap) Swap(i, j int)      { h.its[i], h.its[j] = h.its[j], h.its[i] }
func (h *iterHeap) Push(x any)         { h.its = append(h.its, x.(base.Iterator)) }
func (h *iterHeap) Pop() any {
	n := len(h.its) - 1
	x := h.its[n]
	h.its = h.its[:n]
	return x
}

func (m *mergingIter) reset(position func(base.Iterator) bool) bool {
	m.h.its = m.h.its[:0]
	m.same = m.same[:0]
	m.cur = nil
	for _, c := range m.children {
		if position(c) {
			m.h.its = append(m.h.its, c)
		} else if err := c.Err(); err != nil {
			m.err = err
			return false
		}
	}
	heap.Init(&m.h)
	return m.settle()
}

// settle pops every child positioned on the smallest key and picks the winner.
func (m *mergingIter) settle() bool {
	m.same = m.same[:0]
	m.cur = nil
	if m.err != nil || len(m.h.its) == 0 {
		return false
	}
	first := heap.Pop(&m.h).(base.Iterator)
	m.same = append(m.same, first)
	m.cur = first
	key := first.Key()
	for len(m.h.its) > 0 && bytes.Equal(m.h.its[0].Key(), key) {
		c := heap.Pop(&m.h).(base.Iterator)
		m.same = append(m.same, c)
		if base.Newer(c.Version(), c.Kind(), c.Value(), m.cur.Version(), m.cur.Kind(), m.cur.Value()) {
			m.cur = c
		}
	}
	return true
}

func (m *mergingIter) First() bool { return m.reset(base.Iterator.First) }

func (m *mergingIter) SeekGE(key []byte) bool {
	return m.reset(func(c base.Iterator) bool { return c.SeekGE(key) })
}

func (m *mergingIter) Next() bool {
	for _, c := range m.same {
		if c.Next() {
			heap.Push(&m.h, c)
		} else if err := c.Err(); err != nil {
			m.err = err
			m.cur = nil
			return false
		}
	}
	return m.settle()
}

func (m *mergingIter) Valid() bool     { return m.cur != nil }
func (m *mergingIter) Key() []byte     { return m.cur.Key() }
func (m *mergingIter) Value() []byte   { return m.cur.Value() }
func (m *mergingIter) Version() uint64 { return m.cur.Version() }
func (m *mergingIter) Kind() base.Kind { return m.cur.Kind() }
func (m *mergingIter) Err() error      { return m.err }

func (m *mergingIter) Close() error {
	err := m.err
	for _, c := range m.children {
		if cerr := c.Close(); err == nil {
			err = cerr
		}
	}
	m.children = nil
	m.cur = nil
	return err
}

// levelIter iterates the disjoint, ordered tables of one level as one stream,
// opening one table iterator at a time.
type levelIter struct {
	tables []*table
	opts   sstable.IterOptions
	i      int // index of the table iter reads
	iter   base.Iterator
	err    error
}

var _ base.Iterator = (*levelIter)(nil)

func newLevelIter(tables []*table, opts sstable.IterOptions) *levelIter {
	return &levelIter{tables: tables, opts: opts, i: -1}
}

// open switches to table i; it returns false when i is past the end or the
// table cannot be read.
func (l *levelIter) open(i int) bool {
	if l.iter != nil {
		if err := l.iter.Close(); err != nil && l.err == nil {
			l.err = err
		}
		l.iter = nil
	}
	l.i = i
	if i >= len(l.tables) || l.err != nil {
		return false
	}
	r, err := l.tables[i].reader()
	if err != nil {
		l.err = err
		return false
	}
	l.iter = r.NewIter(l.opts)
	return true
}

// skipEmpty moves to following tables while the current one is exhausted.
func (l *levelIter) skipEmpty(ok bool) bool {
	for !ok {
		if l.iter != nil {
			if err := l.iter.Err(); err != nil {
				l.err = err
				return false
			}
		}
		if !l.open(l.i + 1) {
			return false
		}
		ok = l.iter.First()
	}
	return true
}

func (l *levelIter) First() bool {
	if !l.open(0) {
		return false
	}
	return l.skipEmpty(l.iter.First())
}

func (l *levelIter) SeekGE(key []byte) bool {
	i := 0
	for i < len(l.tables) && bytes.Compare(l.tables[i].meta.largest, key) < 0 {
		i++
	}
	if !l.open(i) {
		return false
	}
	return l.skipEmpty(l.iter.SeekGE(key))
}

func (l *levelIter) Next() bool      { return l.skipEmpty(l.iter.Next()) }
func (l *levelIter) Valid() bool     { return l.err == nil && l.iter != nil && l.iter.Valid() }
func (l *levelIter) Key() []byte     { return l.iter.Key() }
func (l *levelIter) Value() []byte   { return l.iter.Value() }
func (l *levelIter) Version() uint64 { return l.iter.Version() }
func (l *levelIter) Kind() base.Kind { return l.iter.Kind() }
func (l *levelIter) Err() error      { return l.err }

func (l *levelIter) Close() error {
	if l.iter != nil {
		if err := l.iter.Close(); err != nil && l.err == nil {
			l.err = err
		}
		l.iter = nil
	}
	return l.err
}

// IterOptions bounds an iterator.
type IterOptions struct {
	// Start is the inclusive lower bound; nil is unbounded.
	Start []byte
	// End is the exclusive upper bound; nil is unbounded.
	End []byte
	// Tombstones makes the iterator return tombstones too (anti-entropy and
	// streaming need them); by default they are skipped.
	Tombstones bool
	// NoCache reads tables sequentially through a read-ahead buffer of the
	// iterator's own (at most sstable.ReadAheadSize bytes, and not past End)
	// without consulting or filling the block cache, as compactions do: for
	// one-time background scans (anti-entropy, moving partitions) that must
	// not evict the blocks point reads keep using.
	NoCache bool
}

// Iterator walks the newest record of each key in [Start, End) in ascending
// key order. It reads a consistent set of tables, pinned until Close, plus
// the memtables, whose later writes it may or may not see. It holds only the
// blocks it is positioned in, never the whole range. Close it promptly: it
// keeps obsolete table files from being deleted.
//
// An Iterator is not safe for concurrent use.
type Iterator struct {
	db     *DB
	opts   IterOptions
	states []*readState
	merge  *mergingIter
	valid  bool
	closed bool
}

// NewIter returns an Iterator over opts' range; call First or SeekGE first.
func (db *DB) NewIter(opts IterOptions) (*Iterator, error) {
	if err := db.enter(); err != nil {
		return nil, err
	}
	defer db.leave()
	it := &Iterator{db: db, opts: opts}
	topts := sstable.IterOptions{NoCache: opts.NoCache, ReadAheadEnd: opts.End}
	var children []base.Iterator
	for _, s := range db.shardsFor(opts.Start, opts.End) {
		rs := acquireReadState(&s.rs)
		it.states = append(it.states, rs)
		children = append(children, rs.mem.NewIter())
		for _, m := range rs.imm {
			children = append(children, m.NewIter())
		}
		for _, t := range rs.lv.levels[0] {
			if t.overlaps(opts.Start, opts.End) {
				children = append(children, newLevelIter([]*table{t}, topts))
			}
		}
		for level := 1; level < numLevels; level++ {
			var tables []*table
			for _, t := range rs.lv.levels[level] {
				if t.overlaps(opts.Start, opts.End) {
					tables = append(tables, t)
				}
			}
			if len(tables) > 0 {
				children = append(children, newLevelIter(tables, topts))
			}
		}
	}
	it.merge = newMergingIter(children)
	return it, nil
}

// shardsFor returns the shards that may hold keys in [start, end): all of
// them, or only one when every key of the range shares the routing prefix
// (a range inside one partition, when keys are prefixed with it).
func (db *DB) shardsFor(start, end []byte) []*shard {
	p := db.prefix
	if p == 0 || len(db.shards) == 1 || len(start) < p || end == nil {
		return db.shards
	}
	prefix := start[:p]
	if bytes.HasPrefix(end, prefix) || bytes.Equal(end, prefixSuccessor(prefix)) {
		s := db.shardFor(start)
		return []*shard{s}
	}
	return db.shards
}

// prefixSuccessor returns the smallest key greater than every key with the
// given prefix, or nil if there is none (the prefix is all 0xff).
func prefixSuccessor(prefix []byte) []byte {
	out := bytes.Clone(prefix)
	for i := len(out) - 1; i >= 0; i-- {
		if out[i] != 0xff {
			out[i]++
			return out[:i+1]
		}
	}
	return nil
}

// First moves to the first record in range.
func (it *Iterator) First() bool {
	if it.opts.Start != nil {
		return it.SeekGE(it.opts.Start)
	}
	return it.settle(it.merge.First())
}

// SeekGE moves to the first record in range with key >= key.
func (it *Iterator) SeekGE(key []byte) bool {
	if it.opts.Start != nil && bytes.Compare(key, it.opts.Start) < 0 {
		key = it.opts.Start
	}
	return it.settle(it.merge.SeekGE(key))
}

// Next moves to the next record in range.
func (it *Iterator) Next() bool { return it.settle(it.merge.Next()) }

// settle skips tombstones (unless asked for) and stops at the end bound.
func (it *Iterator) settle(ok bool) bool {
	for ok {
		if it.opts.End != nil && bytes.Compare(it.merge.Key(), it.opts.End) >= 0 {
			ok = false
			break
		}
		if it.opts.Tombstones || it.merge.Kind() != base.KindTombstone {
			break
		}
		ok = it.merge.Next()
	}
	it.valid = ok
	return ok
}

// Valid reports whether the iterator is positioned on a record.
func (it *Iterator) Valid() bool { return it.valid }

// Key returns the current key, valid until the next positioning call.
func (it *Iterator) Key() []byte { return it.merge.Key() }

// Value returns the current value (nil for a tombstone), valid until the
// next positioning call. It must not be modified.
func (it *Iterator) Value() []byte {
	if it.merge.Kind() == base.KindTombstone {
		return nil
	}
	return it.merge.Value()
}

// Version returns the current record's version.
func (it *Iterator) Version() Version { return Version(it.merge.Version()) }

// Tombstone reports whether the current record is a tombstone.
func (it *Iterator) Tombstone() bool { return it.merge.Kind() == base.KindTombstone }

// Err returns the first error the iterator met.
func (it *Iterator) Err() error { return it.merge.Err() }

// Close releases the iterator's tables. It returns Err.
func (it *Iterator) Close() error {
	if it.closed {
		return it.merge.Err()
	}
	it.closed = true
	err := it.merge.Close()
	for _, rs := range it.states {
		rs.release()
	}
	it.valid = false
	return err
}
