package storage

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"

	"kvstore/storage/cache"
	"kvstore/storage/internal/base"
	"kvstore/storage/memtable"
	"kvstore/storage/sstable"
	"kvstore/storage/vfs"
)

// table is one live or recently replaced table file of a shard. Its reader
// (index and filter in memory) is opened on first use, so opening a store
// reads no table.
//
// refs counts the levelSets that hold the table. When it drops to zero the
// file is closed, and deleted if a compaction marked the table obsolete.
type table struct {
	meta    tableMeta
	path    string
	fs      vfs.FS
	cache   *cache.Cache
	cacheID uint64
	stats   *dbStats

	refs     atomic.Int32
	obsolete atomic.Bool

	// r is the reader once the table is open: read without mu, so a read
	// that must not wait never waits for an open in progress, which holds
	// mu across its file reads. Written with mu held.
	r atomic.Pointer[sstable.Reader]

	mu      sync.Mutex // guards the fields below
	f       vfs.File
	openErr error
}

// reader returns the table's reader, opening it on first use.
func (t *table) reader() (*sstable.Reader, error) {
	if r := t.r.Load(); r != nil {
		return r, nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if r := t.r.Load(); r != nil || t.openErr != nil {
		return r, t.openErr
	}
	f, err := t.fs.Open(t.path)
	if err != nil {
		t.openErr = fmt.Errorf("storage: open table: %w", err)
		return nil, t.openErr
	}
	r, err := sstable.Open(f, int64(t.meta.size), sstable.ReaderOptions{Cache: t.cache, CacheID: t.cacheID})
	if err != nil {
		f.Close()
		t.openErr = fmt.Errorf("storage: table %s: %w", t.path, err)
		return nil, t.openErr
	}
	t.f = f
	t.r.Store(r)
	t.stats.tableMemory.Add(int64(r.MemoryUsage()))
	return r, nil
}

// get looks key up in the table, opening it on first use. With cachedOnly
// it reads nothing from the file and never waits for an open in progress:
// it returns ErrNotCached when the table is not open or the key's block is
// not cached.
func (t *table) get(key []byte, cachedOnly bool) (value []byte, version uint64, kind base.Kind, found bool, err error) {
	if cachedOnly {
		r := t.r.Load()
		if r == nil {
			return nil, 0, 0, false, ErrNotCached
		}
		value, version, kind, found, err = r.GetCached(key)
		if errors.Is(err, sstable.ErrNotCached) {
			return nil, 0, 0, false, ErrNotCached
		}
	} else {
		r, rerr := t.reader()
		if rerr != nil {
			return nil, 0, 0, false, rerr
		}
		value, version, kind, found, err = r.Get(key)
	}
	if err != nil {
		return nil, 0, 0, false, fmt.Errorf("storage: %s: %w", filepath.Base(t.path), err)
	}
	return value, version, kind, found, nil
}

func (t *table) ref() { t.refs.Add(1) }

func (t *table) unref() {
	if t.refs.Add(-1) != 0 {
		return
	}
	t.mu.Lock()
	if r := t.r.Swap(nil); r != nil {
		t.stats.tableMemory.Add(-int64(r.MemoryUsage()))
		r.Close()
		t.f.Close()
		t.f = nil
	}
	t.openErr = ErrClosed
	t.mu.Unlock()
	if t.obsolete.Load() {
		t.fs.Remove(t.path) // best effort: an orphan is removed at the next Open
	}
}

// overlaps reports whether the table may hold keys in [start, end); a nil end
// is unbounded.
func (t *table) overlaps(start, end []byte) bool {
	if end != nil && bytes.Compare(t.meta.smallest, end) >= 0 {
		return false
	}
	return start == nil || bytes.Compare(t.meta.largest, start) >= 0
}

func (t *table) contains(key []byte) bool {
	return bytes.Compare(key, t.meta.smallest) >= 0 && bytes.Compare(key, t.meta.largest) <= 0
}

// levelSet is an immutable set of a shard's live tables by level. Level 0
// tables may overlap and are ordered newest first; the tables of every other
// level are disjoint and ordered by key.
type levelSet struct {
	levels [numLevels][]*table
	refs   atomic.Int32
}

func (ls *levelSet) ref() { ls.refs.Add(1) }

func (ls *levelSet) unref() {
	if ls.refs.Add(-1) != 0 {
		return
	}
	for _, level := range ls.levels {
		for _, t := range level {
			t.unref()
		}
	}
}

func (ls *levelSet) levelBytes(level int) int64 {
	var n int64
	for _, t := range ls.levels[level] {
		n += int64(t.meta.size)
	}
	return n
}

// find returns the index of the table in a sorted level (>= 1) that may hold
// key, or -1.
func findTable(tables []*table, key []byte) int {
	i := sort.Search(len(tables), func(i int) bool {
		return bytes.Compare(tables[i].meta.largest, key) >= 0
	})
	if i < len(tables) && bytes.Compare(tables[i].meta.smallest, key) <= 0 {
		return i
	}
	return -1
}

// overlapping returns the tables of a sorted level (>= 1) that overlap the
// closed key range [smallest, largest].
func overlapping(tables []*table, smallest, largest []byte) []*table {
	i := sort.Search(len(tables), func(i int) bool {
		return bytes.Compare(tables[i].meta.largest, smallest) >= 0
	})
	j := i
	for j < len(tables) && bytes.Compare(tables[j].meta.smallest, largest) <= 0 {
		j++
	}
	return tables[i:j]
}

// versionEdit is a change to a shard's levelSet.
type versionEdit struct {
	removed map[uint64]bool // file numbers leaving the set
	added   []levelTable
}

type levelTable struct {
	level int
	t     *table
}

// apply returns a new levelSet: ls with the edit applied. The result holds a
// reference on each of its tables and has one reference of its own.
func (ls *levelSet) apply(e versionEdit) (*levelSet, error) {
	next := &levelSet{}
	for level, tables := range ls.levels {
		for _, t := range tables {
			if !e.removed[t.meta.fileNum] {
				next.levels[level] = append(next.levels[level], t)
			}
		}
	}
	for _, a := range e.added {
		next.levels[a.level] = append(next.levels[a.level], a.t)
	}
	sort.Slice(next.levels[0], func(i, j int) bool {
		return next.levels[0][i].meta.fileNum > next.levels[0][j].meta.fileNum
	})
	for level := 1; level < numLevels; level++ {
		tables := next.levels[level]
		sort.Slice(tables, func(i, j int) bool {
			return bytes.Compare(tables[i].meta.smallest, tables[j].meta.smallest) < 0
		})
		for i := 1; i < len(tables); i++ {
			if bytes.Compare(tables[i-1].meta.largest, tables[i].meta.smallest) >= 0 {
				return nil, fmt.Errorf("storage: internal error: level %d tables %d and %d overlap",
					level, tables[i-1].meta.fileNum, tables[i].meta.fileNum)
			}
		}
	}
	for _, tables := range next.levels {
		for _, t := range tables {
			t.ref()
		}
	}
	next.refs.Store(1)
	return next, nil
}

func (ls *levelSet) manifestTables() []manifestTable {
	var out []manifestTable
	for level, tables := range ls.levels {
		for _, t := range tables {
			out = append(out, manifestTable{level: level, meta: t.meta})
		}
	}
	return out
}

// readState is what a reader of a shard needs: the memtables and the
// levelSet at one moment. It is immutable; the shard publishes a new one on
// every memtable rotation, flush and compaction. Readers pin it with acquire
// and unpin it with release; the last release drops the levelSet reference.
type readState struct {
	mem  *memtable.Memtable
	imm  []*memtable.Memtable // newest first
	lv   *levelSet
	refs atomic.Int32
}

// acquireReadState pins the current readState of p. The loop never revives a
// readState whose count already reached zero.
func acquireReadState(p *atomic.Pointer[readState]) *readState {
	for {
		rs := p.Load()
		n := rs.refs.Load()
		if n > 0 && rs.refs.CompareAndSwap(n, n+1) {
			return rs
		}
	}
}

func (rs *readState) release() {
	if rs.refs.Add(-1) == 0 {
		rs.lv.unref()
	}
}

// get returns the newest record of key in rs. The value aliases immutable
// memory (a memtable arena or a cached block). With cachedOnly set it reads
// nothing from disk: it returns ErrNotCached when the answer would need a
// table that is not open or a block that is not cached.
func (rs *readState) get(key []byte, cachedOnly bool) (value []byte, version uint64, kind base.Kind, found bool, err error) {
	if v, ver, k, ok := rs.mem.Get(key); ok {
		value, version, kind, found = v, ver, k, true
	}
	for _, m := range rs.imm {
		if found && m.MaxVersion() < version {
			continue
		}
		if v, ver, k, ok := m.Get(key); ok && (!found || base.Newer(ver, k, v, version, kind, value)) {
			value, version, kind, found = v, ver, k, true
		}
	}
	probe := func(t *table) error {
		// A table whose newest record is older than what we found cannot
		// change the answer.
		if found && t.meta.maxVersion < version {
			return nil
		}
		v, ver, k, ok, err := t.get(key, cachedOnly)
		if err != nil {
			return err
		}
		if ok && (!found || base.Newer(ver, k, v, version, kind, value)) {
			value, version, kind, found = v, ver, k, true
		}
		return nil
	}
	for _, t := range rs.lv.levels[0] {
		if t.contains(key) {
			if err := probe(t); err != nil {
				return nil, 0, 0, false, err
			}
		}
	}
	for level := 1; level < numLevels; level++ {
		if i := findTable(rs.lv.levels[level], key); i >= 0 {
			if err := probe(rs.lv.levels[level][i]); err != nil {
				return nil, 0, 0, false, err
			}
		}
	}
	return value, version, kind, found, nil
}
