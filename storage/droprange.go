package storage

import (
	"bytes"

	"kvstore/storage/internal/base"
	"kvstore/storage/memtable"
	"kvstore/storage/sstable"
)

// DropRange deletes every record with a key in [start, end) (a nil end is
// unbounded) without writing tombstones: tables wholly inside the range are
// dropped from the manifest, tables straddling its ends are rewritten, and
// memtables holding keys in the range are flushed first. It is meant for data
// the node no longer owns (a partition that moved away); writes into the
// range while DropRange runs may survive it.
func (db *DB) DropRange(start, end []byte) error {
	if end != nil && bytes.Compare(start, end) >= 0 {
		return nil
	}
	if err := db.enter(); err != nil {
		return err
	}
	defer db.leave()
	for _, s := range db.shards {
		if err := s.dropRange(start, end); err != nil {
			return err
		}
	}
	db.scheduleCompactions()
	return nil
}

func inRange(key, start, end []byte) bool {
	return bytes.Compare(key, start) >= 0 && (end == nil || bytes.Compare(key, end) < 0)
}

func memHasRange(m *memtable.Memtable, start, end []byte) bool {
	it := m.NewIter()
	defer it.Close()
	return it.SeekGE(start) && (end == nil || bytes.Compare(it.Key(), end) < 0)
}

func (s *shard) dropRange(start, end []byte) error {
	s.mu.Lock()
	for s.busy && !s.closing {
		s.cond.Wait()
	}
	if s.closing {
		s.mu.Unlock()
		return ErrClosed
	}
	s.busy = true
	rs := acquireReadState(&s.rs)
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.busy = false
		s.cond.Broadcast()
		s.mu.Unlock()
	}()

	flush := memHasRange(rs.mem, start, end)
	for _, m := range rs.imm {
		flush = flush || memHasRange(m, start, end)
	}
	rs.release()
	if flush {
		if err := s.flushAll(); err != nil {
			return err
		}
	}

	s.mu.Lock()
	ls := s.lv
	ls.ref()
	s.mu.Unlock()
	defer ls.unref()

	e := versionEdit{removed: make(map[uint64]bool)}
	var dropped []*table
	for level, tables := range ls.levels {
		for _, t := range tables {
			if !t.overlaps(start, end) {
				continue
			}
			e.removed[t.meta.fileNum] = true
			dropped = append(dropped, t)
			if inRange(t.meta.smallest, start, end) && inRange(t.meta.largest, start, end) {
				continue
			}
			nt, err := s.rewriteOutside(t, start, end)
			if err != nil {
				return err
			}
			if nt != nil {
				e.added = append(e.added, levelTable{level: level, t: nt})
			}
		}
	}
	if len(dropped) == 0 {
		return nil
	}
	if err := s.logAndApply(e, nil); err != nil {
		for _, a := range e.added {
			s.fs.Remove(a.t.path)
		}
		return err
	}
	for _, t := range dropped {
		t.obsolete.Store(true)
	}
	return nil
}

// rewriteOutside copies the records of t outside [start, end) to a new table.
func (s *shard) rewriteOutside(t *table, start, end []byte) (*table, error) {
	r, err := t.reader()
	if err != nil {
		return nil, err
	}
	it := r.NewIter(sstable.IterOptions{NoCache: true})
	defer it.Close()
	it.First()
	keep := func(it base.Iterator) bool { return !inRange(it.Key(), start, end) }
	nt, _, err := s.writeTableUntil(s.allocFileLocked(), it, keep, 0)
	return nt, err
}
