package storage

import (
	"bytes"
	"fmt"

	"kvstore/storage/internal/base"
	"kvstore/storage/sstable"
)

// compaction merges input tables of one shard into new tables one level
// down. Level 0 compactions take every level-0 table and the level-1 tables
// they overlap; deeper ones take one table (in round-robin key order) and the
// tables of the next level it overlaps.
type compaction struct {
	s           *shard
	level       int // input level; outputs go to level+1
	inputs      [2][]*table
	score       float64
	trivialMove bool      // one input table, nothing to merge with: move it down
	lv          *levelSet // the levelSet the inputs were picked from, pinned
}

// levelTarget is the size a sorted level should stay under.
func (db *DB) levelTarget(level int) int64 {
	t := db.opts.LevelBaseSize
	for i := 1; i < level; i++ {
		t *= int64(db.opts.LevelMultiplier)
	}
	return t
}

// scores returns each level's compaction score in ls: above 1 means the
// level should be compacted. Level 0 is scored by table count, deeper levels
// by size against their target. The last level is never scored.
func (db *DB) scores(ls *levelSet) [numLevels]float64 {
	var sc [numLevels]float64
	sc[0] = float64(len(ls.levels[0])) / float64(db.opts.L0CompactionTrigger)
	for level := 1; level < numLevels-1; level++ {
		sc[level] = float64(ls.levelBytes(level)) / float64(db.levelTarget(level))
	}
	return sc
}

// urgentScore is the score above which a compaction is debt: the workers
// beyond the first take only such compactions, so one compaction runs in
// the background normally and more run only when the tree falls behind.
const urgentScore = 2

// pickCompaction returns the most urgent compaction of s scoring at least
// minScore, or nil. Called with s.mu held.
func (s *shard) pickCompaction(minScore float64) *compaction {
	if s.busy || s.closing || s.bgErr != nil {
		return nil
	}
	ls := s.lv
	sc := s.db.scores(ls)
	best := -1
	for level := range sc {
		if sc[level] >= minScore && (best < 0 || sc[level] > sc[best]) {
			best = level
		}
	}
	if best < 0 {
		return nil
	}
	c := &compaction{s: s, level: best, score: sc[best]}
	if best == 0 {
		c.inputs[0] = append([]*table(nil), ls.levels[0]...)
	} else {
		// Round robin through the level's key space, so every key range is
		// compacted in turn.
		tables := ls.levels[best]
		i := 0
		if s.compactAt != nil {
			for i < len(tables) && bytes.Compare(tables[i].meta.largest, s.compactAt) <= 0 {
				i++
			}
			if i == len(tables) {
				i = 0
			}
		}
		c.inputs[0] = []*table{tables[i]}
	}
	smallest, largest := keyRange(c.inputs[0])
	c.inputs[1] = append([]*table(nil), overlapping(ls.levels[best+1], smallest, largest)...)
	c.trivialMove = best > 0 && len(c.inputs[0]) == 1 && len(c.inputs[1]) == 0
	return c
}

func keyRange(tables []*table) (smallest, largest []byte) {
	for _, t := range tables {
		if smallest == nil || bytes.Compare(t.meta.smallest, smallest) < 0 {
			smallest = t.meta.smallest
		}
		if largest == nil || bytes.Compare(t.meta.largest, largest) > 0 {
			largest = t.meta.largest
		}
	}
	return smallest, largest
}

// scheduleCompactions wakes the compaction workers.
func (db *DB) scheduleCompactions() {
	if db.compactWake == nil {
		return // still opening
	}
	db.compactMu.Lock()
	db.compactWake.Broadcast()
	db.compactMu.Unlock()
}

// compactionWorker runs the most urgent compaction of any shard until the
// store closes. Worker 0 takes any compaction that is due; the others only
// urgent ones.
func (db *DB) compactionWorker(id int) {
	defer db.compactWG.Done()
	minScore := 1.0
	if id > 0 {
		minScore = urgentScore
	}
	for {
		db.compactMu.Lock()
		var c *compaction
		for !db.closed {
			if c = db.pickCompaction(minScore); c != nil {
				break
			}
			db.compactWake.Wait()
		}
		db.compactMu.Unlock()
		if c == nil {
			return
		}
		err := c.run()
		c.lv.unref()
		s := c.s
		s.mu.Lock()
		s.busy = false
		if err != nil && !db.isClosed.Load() {
			s.bgErr = fmt.Errorf("storage: compaction of shard %d level %d failed: %w", s.id, c.level, err)
		}
		s.cond.Broadcast()
		s.mu.Unlock()
	}
}

// pickCompaction picks the highest-scored compaction across shards and
// marks its shard busy. Called with compactMu held.
func (db *DB) pickCompaction(minScore float64) *compaction {
	var best *compaction
	for _, s := range db.shards {
		s.mu.Lock()
		c := s.pickCompaction(minScore)
		s.mu.Unlock()
		if c != nil && (best == nil || c.score > best.score) {
			best = c
		}
	}
	if best == nil {
		return nil
	}
	// Pick again and claim the shard in one critical section: a DropRange
	// may have claimed it since.
	s := best.s
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.pickCompaction(minScore)
	if c != nil {
		s.busy = true
		c.lv = s.lv
		c.lv.ref()
	}
	return c
}

// run performs the compaction and installs its result.
func (c *compaction) run() error {
	s := c.s
	db := s.db
	e := versionEdit{removed: make(map[uint64]bool)}
	for _, in := range c.inputs {
		for _, t := range in {
			e.removed[t.meta.fileNum] = true
		}
	}
	if c.trivialMove {
		t := c.inputs[0][0] // same file, one level down
		e.added = []levelTable{{level: c.level + 1, t: t}}
		if err := s.logAndApply(e, nil); err != nil {
			return err
		}
		s.mu.Lock()
		s.compactAt = t.meta.largest
		s.mu.Unlock()
		db.stats.trivialMoves.Add(1)
		return nil
	}

	var children []base.Iterator
	var readBytes int64
	for _, t := range c.inputs[0] {
		children = append(children, newLevelIter([]*table{t}, sstable.IterOptions{NoCache: true}))
		readBytes += int64(t.meta.size)
	}
	if len(c.inputs[1]) > 0 {
		children = append(children, newLevelIter(c.inputs[1], sstable.IterOptions{NoCache: true}))
		for _, t := range c.inputs[1] {
			readBytes += int64(t.meta.size)
		}
	}
	it := newMergingIter(children)
	outputs, err := s.writeCompactionOutputs(it, c.level+1)
	if cerr := it.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		for _, t := range outputs {
			s.fs.Remove(t.path)
		}
		return err
	}
	for _, t := range outputs {
		e.added = append(e.added, levelTable{level: c.level + 1, t: t})
	}
	if err := s.logAndApply(e, nil); err != nil {
		for _, t := range outputs {
			s.fs.Remove(t.path)
		}
		return err
	}
	for _, in := range c.inputs {
		for _, t := range in {
			t.obsolete.Store(true)
		}
	}
	if c.level > 0 {
		s.mu.Lock()
		s.compactAt = c.inputs[0][0].meta.largest
		s.mu.Unlock()
	}
	db.stats.compactions.Add(1)
	db.stats.compactionBytesRead.Add(readBytes)
	for _, t := range outputs {
		db.stats.compactionBytesWritten.Add(int64(t.meta.size))
	}
	db.scheduleCompactions()
	return nil
}

// writeCompactionOutputs writes the merged stream to tables of outputLevel,
// cut at TargetFileSize, dropping tombstones that nothing below can shadow
// and that are older than the grace period.
func (s *shard) writeCompactionOutputs(it *mergingIter, outputLevel int) ([]*table, error) {
	db := s.db
	s.mu.Lock()
	ls := s.lv
	ls.ref()
	s.mu.Unlock()
	defer ls.unref()
	horizon := db.opts.Now().Add(-db.opts.TombstoneGrace).UnixMilli()
	keep := func(it base.Iterator) bool {
		if it.Kind() != base.KindTombstone || Version(it.Version()).Millis() >= horizon {
			return true
		}
		// An older record of the key may sit in a deeper level; the
		// tombstone must stay to shadow it.
		for level := outputLevel + 1; level < numLevels; level++ {
			if findTable(ls.levels[level], it.Key()) >= 0 {
				return true
			}
		}
		db.stats.tombstonesPurged.Add(1)
		return false
	}

	var outputs []*table
	ok := it.First()
	for ok {
		if s.isClosing() {
			return outputs, ErrClosed
		}
		num := s.allocFileLocked()
		t, next, err := s.writeTableUntil(num, it, keep, db.opts.TargetFileSize)
		if t != nil {
			outputs = append(outputs, t)
		}
		if err != nil {
			return outputs, err
		}
		ok = next
	}
	return outputs, it.Err()
}

func (s *shard) isClosing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing || s.db.isClosed.Load()
}

func (s *shard) allocFileLocked() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.allocFile()
}
