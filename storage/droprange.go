package storage

import (
	"bytes"
	"slices"

	"kvstore/storage/internal/base"
	"kvstore/storage/memtable"
	"kvstore/storage/sstable"
)

// KeyRange is the key range [Start, End); a nil End is unbounded.
type KeyRange struct {
	Start, End []byte
}

// DropRange deletes every record with a key in [start, end) (a nil end is
// unbounded) without writing tombstones: tables wholly inside the range are
// dropped from the manifest, tables straddling its ends are rewritten, and
// memtables holding keys in the range are flushed first. It is meant for data
// the node no longer owns (a partition that moved away); writes into the
// range while DropRange runs may survive it.
func (db *DB) DropRange(start, end []byte) error {
	return db.DropRanges([]KeyRange{{Start: start, End: end}})
}

// DropRanges is DropRange for several ranges at once: each table is
// rewritten at most once, keeping the records outside every range, so
// dropping many small ranges (scattered partitions) costs one pass over the
// tables they touch. Empty ranges are ignored; the ranges may be given in
// any order and may overlap.
func (db *DB) DropRanges(ranges []KeyRange) error {
	rs := normalizeRanges(ranges)
	if len(rs) == 0 {
		return nil
	}
	if err := db.enter(); err != nil {
		return err
	}
	defer db.leave()
	for _, s := range db.shards {
		if err := s.dropRanges(rs); err != nil {
			return err
		}
	}
	db.scheduleCompactions()
	return nil
}

// normalizeRanges returns the non-empty ranges sorted by start with
// overlapping and adjacent ones merged.
func normalizeRanges(ranges []KeyRange) []KeyRange {
	var rs []KeyRange
	for _, r := range ranges {
		if r.End == nil || bytes.Compare(r.Start, r.End) < 0 {
			rs = append(rs, r)
		}
	}
	slices.SortFunc(rs, func(a, b KeyRange) int { return bytes.Compare(a.Start, b.Start) })
	out := rs[:0]
	for _, r := range rs {
		if n := len(out); n > 0 && (out[n-1].End == nil || bytes.Compare(r.Start, out[n-1].End) <= 0) {
			if out[n-1].End != nil && (r.End == nil || bytes.Compare(r.End, out[n-1].End) > 0) {
				out[n-1].End = r.End
			}
			continue
		}
		out = append(out, r)
	}
	return out
}

// inRanges reports whether key falls in one of rs (normalized).
func inRanges(key []byte, rs []KeyRange) bool {
	i, _ := slices.BinarySearchFunc(rs, key, func(r KeyRange, k []byte) int { return bytes.Compare(r.Start, k) })
	// rs[i-1] is the last range starting at or before key, unless key is
	// exactly a start.
	if i < len(rs) && bytes.Equal(rs[i].Start, key) {
		return true
	}
	return i > 0 && inRange(key, rs[i-1].Start, rs[i-1].End)
}

func inRange(key, start, end []byte) bool {
	return bytes.Compare(key, start) >= 0 && (end == nil || bytes.Compare(key, end) < 0)
}

// memHasRanges reports whether m holds a key in one of rs.
func memHasRanges(m *memtable.Memtable, rs []KeyRange) bool {
	it := m.NewIter()
	defer it.Close()
	for _, r := range rs {
		if it.SeekGE(r.Start) && (r.End == nil || bytes.Compare(it.Key(), r.End) < 0) {
			return true
		}
	}
	return false
}

// tableOverlaps reports whether t may hold a key of one of rs, and whether
// all of its keys surely are in one range.
func tableOverlaps(t *table, rs []KeyRange) (overlaps, inside bool) {
	for _, r := range rs {
		if !t.overlaps(r.Start, r.End) {
			continue
		}
		if inRange(t.meta.smallest, r.Start, r.End) && inRange(t.meta.largest, r.Start, r.End) {
			return true, true
		}
		overlaps = true
	}
	return overlaps, false
}

func (s *shard) dropRanges(rs []KeyRange) error {
	s.mu.Lock()
	for s.busy && !s.closing {
		s.cond.Wait()
	}
	if s.closing {
		s.mu.Unlock()
		return ErrClosed
	}
	s.busy = true
	rd := acquireReadState(&s.rs)
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.busy = false
		s.cond.Broadcast()
		s.mu.Unlock()
	}()

	flush := memHasRanges(rd.mem, rs)
	for _, m := range rd.imm {
		flush = flush || memHasRanges(m, rs)
	}
	rd.release()
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
			overlaps, inside := tableOverlaps(t, rs)
			if !overlaps {
				continue
			}
			if !inside {
				nt, changed, err := s.rewriteOutside(t, rs)
				if err != nil {
					return err
				}
				if !changed {
					continue // no key of t is in a range
				}
				if nt != nil {
					e.added = append(e.added, levelTable{level: level, t: nt})
				}
			}
			e.removed[t.meta.fileNum] = true
			dropped = append(dropped, t)
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

// rewriteOutside copies the records of t outside rs to a new table (nil
// when none remain). changed is false, and nothing is written, when no
// record of t is in rs.
func (s *shard) rewriteOutside(t *table, rs []KeyRange) (nt *table, changed bool, err error) {
	r, err := t.reader()
	if err != nil {
		return nil, false, err
	}
	it := r.NewIter(sstable.IterOptions{NoCache: true})
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		if inRanges(it.Key(), rs) {
			changed = true
			break
		}
	}
	if err := it.Err(); err != nil || !changed {
		return nil, false, err
	}
	it.First()
	keep := func(it base.Iterator) bool { return !inRanges(it.Key(), rs) }
	nt, _, err = s.writeTableUntil(s.allocFileLocked(), it, keep, 0)
	return nt, true, err
}
