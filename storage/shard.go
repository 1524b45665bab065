package storage

import (
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"kvstore/storage/internal/base"
	"kvstore/storage/memtable"
	"kvstore/storage/record"
	"kvstore/storage/sstable"
	"kvstore/storage/vfs"
)

// shard is one independent log-structured merge tree: a memtable,
// immutable memtables waiting for their flush, and levels of tables.
type shard struct {
	db  *DB
	id  int
	dir string
	fs  vfs.FS

	rs atomic.Pointer[readState] // what readers see; replaced under mu

	// manifestMu serializes changes to the levelSet, so each is computed,
	// written to the manifest and installed without another in between.
	manifestMu sync.Mutex

	mu   sync.Mutex // guards the fields below
	cond sync.Cond  // on mu: broadcast when a flush or compaction installs, or on close
	// mem takes writes; memLogNum is the lowest-numbered WAL file holding
	// its records (noLog while it has none).
	mem       *memtable.Memtable
	memLogNum uint64
	imm       []immutableMem // oldest first
	lv        *levelSet      // current tables; rs.lv
	nextFile  uint64         // next file number to allocate
	// replayFrom is the manifest's minLogNum at open: older WAL records of
	// this shard are in its tables.
	replayFrom uint64
	busy       bool // a compaction or DropRange owns the levels
	closing    bool
	bgErr      error  // a failed flush or WAL write: the shard refuses writes
	scratch    []byte // WAL payload being built, under mu
	compactAt  []byte // per-level round-robin position for compaction picks

	flushCh chan struct{} // wakes the flusher; capacity 1
	done    chan struct{}
	wg      sync.WaitGroup
}

type immutableMem struct {
	mem    *memtable.Memtable
	logNum uint64 // the lowest-numbered WAL file holding its records
}

// openShard opens (or creates) a shard directory: its manifest and tables.
// The store replays the shared WAL into it next (replayRecord), then calls
// start.
func openShard(db *DB, id int) (*shard, error) {
	s := &shard{
		db:      db,
		id:      id,
		dir:     filepath.Join(db.dir, shardDirName(id)),
		fs:      db.opts.FS,
		flushCh: make(chan struct{}, 1),
		done:    make(chan struct{}),
	}
	s.cond.L = &s.mu
	if err := s.fs.MkdirAll(s.dir, 0o755); err != nil {
		return nil, err
	}
	if err := s.fs.SyncDir(db.dir); err != nil {
		return nil, err
	}
	m, err := readManifest(s.fs, s.dir)
	if err != nil {
		return nil, err
	}
	if m == nil {
		m = &manifest{nextFileNum: 1, minLogNum: 0}
	}
	s.nextFile = m.nextFileNum
	s.replayFrom = m.minLogNum
	lv := &levelSet{}
	for _, mt := range m.tables {
		t := s.newTable(mt.meta)
		lv.levels[mt.level] = append(lv.levels[mt.level], t)
	}
	if lv, err = lv.apply(versionEdit{}); err != nil { // sorts, checks and refs
		return nil, err
	}
	s.lv = lv

	names, err := s.fs.List(s.dir)
	if err != nil {
		return nil, err
	}
	live := make(map[uint64]bool)
	for _, mt := range m.tables {
		live[mt.meta.fileNum] = true
	}
	for _, name := range names {
		num, ext, ok := parseFileName(name)
		if !ok {
			continue
		}
		if num >= s.nextFile {
			s.nextFile = num + 1
		}
		if ext == ".wal" || (ext == ".sst" && !live[num]) {
			// The output of an interrupted flush or compaction (or a WAL
			// file of the per-shard layout).
			if err := s.fs.Remove(filepath.Join(s.dir, name)); err != nil {
				return nil, err
			}
		}
	}
	s.mem = memtable.New(db.opts.MemtableSize)
	s.memLogNum = noLog
	return s, nil
}

// noLog marks a memtable that holds no record yet: it needs no WAL file.
const noLog = ^uint64(0)

// start publishes the recovered state, records it in the manifest and
// starts the flush goroutine. current is the WAL file the store writes next.
func (s *shard) start(current uint64) error {
	if s.memLogNum == noLog {
		s.memLogNum = current
	}
	s.publish()
	// Record the state recovered so far, so the WAL files it came from can
	// go once the memtable is flushed.
	if err := s.writeManifest(s.lv, s.minLogNum()); err != nil {
		return err
	}
	s.wg.Add(1)
	go s.flushLoop()
	// A memtable refilled from the WAL (only a crash leaves one: Close
	// flushes) is flushed in the background, so that its WAL files go and a
	// later crash does not replay them again: crash after crash, a restart
	// replays only what was written since the previous one.
	if !s.mem.Empty() {
		s.mu.Lock()
		err := s.rotate(0)
		s.mu.Unlock()
		return err
	}
	return nil
}

func (s *shard) newTable(meta tableMeta) *table {
	return &table{
		meta:    meta,
		path:    filepath.Join(s.dir, tableFileName(meta.fileNum)),
		fs:      s.fs,
		cache:   s.db.cache,
		cacheID: s.db.nextCacheID.Add(1),
		stats:   &s.db.stats,
	}
}

// replayRecord applies the records of one WAL record of this shard, found
// in WAL file num and checked by parseWALPayload, to the memtable, flushing
// it first when they do not fit.
func (s *shard) replayRecord(num uint64, ops []byte, need int) error {
	s.memLogNum = min(s.memLogNum, num)
	if need > s.mem.Available() {
		if err := s.flushMemtable(s.mem); err != nil {
			return err
		}
		s.mem = memtable.New(max(s.db.opts.MemtableSize, need))
		s.memLogNum = num
	}
	s.insert(ops)
	return nil
}

// insert puts checked records (see encodeOp) into the memtable, which has
// room for them. Called with mu held or before the shard is shared.
func (s *shard) insert(ops []byte) {
	for rest := ops; len(rest) > 0; {
		var o op
		o, rest, _ = decodeOp(rest)
		if _, err := s.mem.Set(o.key, uint64(o.version), o.kind, o.value); err != nil {
			// The room was checked: this is a broken invariant.
			panic(fmt.Sprintf("storage: memtable refused a reserved write: %v", err))
		}
	}
}

func (s *shard) allocFile() uint64 {
	n := s.nextFile
	s.nextFile++
	return n
}

// minLogNum returns the oldest WAL file still needed. Called with mu held or
// before the shard is shared.
func (s *shard) minLogNum() uint64 {
	m := s.memLogNum
	for _, im := range s.imm {
		m = min(m, im.logNum)
	}
	return m
}

// publish installs a new readState from the current fields. Called with mu
// held or before the shard is shared.
func (s *shard) publish() {
	rs := &readState{mem: s.mem, lv: s.lv}
	for i := len(s.imm) - 1; i >= 0; i-- {
		rs.imm = append(rs.imm, s.imm[i].mem)
	}
	s.lv.ref()
	rs.refs.Store(1)
	if old := s.rs.Swap(rs); old != nil {
		old.release()
	}
}

// write applies count encoded records (see encodeOp) atomically to the shard
// and returns once they are as durable as the sync mode promises. need is the
// memtable space they take (memtable.EntrySize summed).
func (s *shard) write(ops []byte, count, need int) error {
	end, err := s.append(ops, count, need)
	if err != nil {
		return err
	}
	return s.db.log.wait(end)
}

// append is write without the wait: it returns the log offset the records
// end at, for dbLog.wait.
func (s *shard) append(ops []byte, count, need int) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.makeRoom(need); err != nil {
		return 0, err
	}
	s.scratch = appendWALPayload(s.scratch[:0], s.id, count, ops)
	end, err := s.db.log.append(s.scratch)
	if err != nil {
		return 0, err
	}
	s.db.stats.walBytes.Add(int64(len(s.scratch) + record.HeaderSize))
	s.insert(ops)
	return end, nil
}

// makeRoom waits out write stalls and rotates the memtable if need bytes do
// not fit. Called with mu held.
func (s *shard) makeRoom(need int) error {
	var stalled time.Time
	for {
		switch {
		case s.closing:
			return ErrClosed
		case s.bgErr != nil:
			return s.bgErr
		}
		if need <= s.mem.Available() {
			break
		}
		if len(s.imm) < s.db.opts.MaxImmutableMemtables && len(s.lv.levels[0]) < s.db.opts.L0StopWritesTrigger {
			if err := s.rotate(need); err != nil {
				return err
			}
			break
		}
		if stalled.IsZero() {
			stalled = time.Now()
			s.db.stats.stalls.Add(1)
		}
		s.cond.Wait()
	}
	if !stalled.IsZero() {
		s.db.stats.stallNanos.Add(int64(time.Since(stalled)))
	}
	return nil
}

// rotate moves the memtable to the immutable list and starts a new one,
// whose records go to the current WAL file and later ones. Called with mu
// held.
func (s *shard) rotate(need int) error {
	s.imm = append(s.imm, immutableMem{mem: s.mem, logNum: s.memLogNum})
	s.mem = memtable.New(max(s.db.opts.MemtableSize, need))
	s.memLogNum = s.db.log.current()
	s.publish()
	s.wakeFlusher()
	return nil
}

func (s *shard) wakeFlusher() {
	select {
	case s.flushCh <- struct{}{}:
	default:
	}
}

func (s *shard) flushLoop() {
	defer s.wg.Done()
	for {
		select {
		case <-s.flushCh:
		case <-s.done:
			return
		}
		for {
			s.mu.Lock()
			if len(s.imm) == 0 || s.bgErr != nil {
				s.mu.Unlock()
				break
			}
			m := s.imm[0].mem
			s.mu.Unlock()
			if err := s.flushMemtable(m); err != nil {
				s.mu.Lock()
				s.bgErr = fmt.Errorf("storage: flush of shard %d failed: %w", s.id, err)
				s.cond.Broadcast()
				s.mu.Unlock()
				break
			}
		}
	}
}

// flushMemtable writes m to a level-0 table and installs it. When m is the
// oldest immutable memtable it leaves the immutable list and the WAL files
// only it needed are deleted. During recovery m is the memtable being
// replayed into, and the WAL files stay until the next flush.
func (s *shard) flushMemtable(m *memtable.Memtable) error {
	if m.Empty() {
		return s.installFlush(m, nil)
	}
	s.mu.Lock()
	num := s.allocFile()
	s.mu.Unlock()
	it := m.NewIter()
	it.First()
	t, _, err := s.writeTableUntil(num, it, nil, 0)
	it.Close()
	if err != nil {
		return err
	}
	if t != nil {
		s.db.stats.flushes.Add(1)
		s.db.stats.flushBytes.Add(int64(t.meta.size))
	}
	return s.installFlush(m, t)
}

func (s *shard) installFlush(m *memtable.Memtable, t *table) error {
	var e versionEdit
	if t != nil {
		e.added = []levelTable{{level: 0, t: t}}
	}
	if err := s.logAndApply(e, m); err != nil {
		return err
	}
	s.db.log.removeObsolete()
	s.db.scheduleCompactions()
	return nil
}

// logAndApply computes the levelSet that results from e, makes it durable in
// the manifest, then installs it. flushed, when it is the oldest immutable
// memtable, leaves the immutable list in the same step, so the manifest's
// minLogNum releases its WAL files.
func (s *shard) logAndApply(e versionEdit, flushed *memtable.Memtable) error {
	s.manifestMu.Lock()
	defer s.manifestMu.Unlock()
	s.mu.Lock()
	next, err := s.lv.apply(e)
	if err != nil {
		s.mu.Unlock()
		return err
	}
	popImm := flushed != nil && len(s.imm) > 0 && s.imm[0].mem == flushed
	minLog := s.memLogNum
	for i, im := range s.imm {
		if i > 0 || !popImm {
			minLog = min(minLog, im.logNum)
		}
	}
	s.mu.Unlock()

	if err := s.writeManifestLocked(next, minLog); err != nil {
		next.unref()
		return err
	}

	s.mu.Lock()
	if popImm {
		s.imm = s.imm[1:]
	}
	old := s.lv
	s.lv = next
	s.publish()
	old.unref()
	s.cond.Broadcast()
	s.mu.Unlock()
	return nil
}

func (s *shard) writeManifest(lv *levelSet, minLog uint64) error {
	s.manifestMu.Lock()
	defer s.manifestMu.Unlock()
	return s.writeManifestLocked(lv, minLog)
}

func (s *shard) writeManifestLocked(lv *levelSet, minLog uint64) error {
	s.mu.Lock()
	next := s.nextFile
	s.mu.Unlock()
	return writeManifest(s.fs, s.dir, &manifest{nextFileNum: next, minLogNum: minLog, tables: lv.manifestTables()})
}

// writeTableUntil writes records from it's current position to table file
// num until the file reaches limit bytes (0: no limit) or it is exhausted;
// keep, when set, filters records. It returns the table (nil if no record was
// kept), not yet in any levelSet, and whether it is still valid.
func (s *shard) writeTableUntil(num uint64, it base.Iterator, keep func(base.Iterator) bool, limit int64) (*table, bool, error) {
	path := filepath.Join(s.dir, tableFileName(num))
	f, err := s.fs.Create(path)
	if err != nil {
		return nil, false, err
	}
	fail := func(err error) (*table, bool, error) {
		f.Close()
		s.fs.Remove(path)
		return nil, false, err
	}
	w := sstable.NewWriter(f, s.db.writerOptions())
	n := 0
	ok := it.Valid()
	for ; ok; ok = it.Next() {
		if limit > 0 && n > 0 && int64(w.EstimatedSize()) >= limit {
			break
		}
		if keep != nil && !keep(it) {
			continue
		}
		if err := w.Add(it.Key(), it.Version(), it.Kind(), it.Value()); err != nil {
			return fail(err)
		}
		n++
	}
	if err := it.Err(); err != nil {
		return fail(err)
	}
	if n == 0 {
		f.Close()
		return nil, false, s.fs.Remove(path)
	}
	props, err := w.Finish()
	if err == nil {
		err = f.Sync()
	}
	if err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		s.fs.Remove(path)
		return nil, false, err
	}
	return s.newTable(metaFromProps(num, props)), ok, nil
}

func metaFromProps(num uint64, p sstable.Properties) tableMeta {
	return tableMeta{
		fileNum:       num,
		size:          p.FileSize,
		numEntries:    p.NumEntries,
		numTombstones: p.NumTombstones,
		minVersion:    p.MinVersion,
		maxVersion:    p.MaxVersion,
		smallest:      p.Smallest,
		largest:       p.Largest,
	}
}

// flushAll flushes every memtable of the shard and waits for it.
func (s *shard) flushAll() error {
	s.mu.Lock()
	if !s.mem.Empty() {
		for len(s.imm) >= s.db.opts.MaxImmutableMemtables && s.bgErr == nil {
			s.cond.Wait()
		}
		if s.bgErr != nil {
			err := s.bgErr
			s.mu.Unlock()
			return err
		}
		if err := s.rotate(0); err != nil {
			s.mu.Unlock()
			return err
		}
	}
	for len(s.imm) > 0 && s.bgErr == nil {
		s.cond.Wait()
	}
	err := s.bgErr
	s.mu.Unlock()
	return err
}

// close flushes the memtables, stops the shard's goroutines and closes its
// files. The caller has stopped compactions.
func (s *shard) close() error {
	err := s.flushAll()
	if err == nil {
		// Everything is in tables: no WAL file is needed to reopen.
		next := s.db.log.nextNum()
		s.mu.Lock()
		s.memLogNum = next
		s.mu.Unlock()
		err = s.writeManifest(s.lv, next)
	}
	s.mu.Lock()
	s.closing = true
	s.cond.Broadcast()
	s.mu.Unlock()
	close(s.done)
	s.wg.Wait()

	s.mu.Lock()
	rs := s.rs.Swap(nil)
	lv := s.lv
	s.mu.Unlock()
	rs.release()
	lv.unref()
	return err
}
