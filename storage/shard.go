package storage

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"kvstore/storage/internal/base"
	"kvstore/storage/memtable"
	"kvstore/storage/record"
	"kvstore/storage/sstable"
	"kvstore/storage/vfs"
)

// shard is one independent log-structured merge tree: a WAL, a memtable,
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
	// mem takes writes; its records are in WAL files numbered memLogNum and up.
	mem       *memtable.Memtable
	memLogNum uint64
	imm       []immutableMem // oldest first
	spare     spareWAL       // the next WAL file, created in the background
	lv        *levelSet      // current tables; rs.lv
	nextFile  uint64         // next file number to allocate
	wal       *walWriter
	walNum    uint64 // number of the WAL file being written
	busy      bool   // a compaction or DropRange owns the levels
	closing   bool
	bgErr     error  // a failed flush or WAL write: the shard refuses writes
	scratch   []byte // WAL payload being built, under mu
	compactAt []byte // per-level round-robin position for compaction picks

	flushCh chan struct{} // wakes the flusher; capacity 1
	done    chan struct{}
	wg      sync.WaitGroup
}

type spareWAL struct {
	num uint64
	f   vfs.File
}

type immutableMem struct {
	mem    *memtable.Memtable
	logNum uint64 // its records are in WAL files numbered logNum up to the next memtable's
}

// openShard opens (or creates) a shard directory and replays its WAL.
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
	var logs []uint64
	for _, name := range names {
		num, ext, ok := parseFileName(name)
		if !ok {
			continue
		}
		if num >= s.nextFile {
			s.nextFile = num + 1
		}
		switch {
		case ext == ".wal" && num >= m.minLogNum:
			logs = append(logs, num)
		case ext == ".wal", ext == ".sst" && !live[num]:
			// Obsolete WAL, or the output of an interrupted flush or compaction.
			if err := s.fs.Remove(filepath.Join(s.dir, name)); err != nil {
				return nil, err
			}
		}
	}
	sort.Slice(logs, func(i, j int) bool { return logs[i] < logs[j] })

	s.mem = memtable.New(db.opts.MemtableSize)
	s.memLogNum = s.nextFile
	if len(logs) > 0 {
		s.memLogNum = logs[0]
	}
	for _, num := range logs {
		if err := s.replay(num); err != nil {
			return nil, err
		}
	}
	num, f, err := s.createWAL()
	if err != nil {
		return nil, err
	}
	s.walNum = num
	if s.wal, err = newWALWriter(f, db.opts.Sync, s.walSegmentSize(0)); err != nil {
		f.Close()
		return nil, err
	}
	s.publish()
	// Record the file numbers used so far, so a crash before the next
	// manifest write cannot reuse them.
	if err := s.writeManifest(s.lv, s.minLogNum()); err != nil {
		return nil, err
	}
	s.wg.Add(1)
	go s.flushLoop()
	return s, nil
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

// replay applies the records of WAL file num to the memtable, flushing it
// when it fills, and truncates a torn tail.
func (s *shard) replay(num uint64) error {
	path := filepath.Join(s.dir, walFileName(num))
	f, err := s.fs.OpenReadWrite(path)
	if err != nil {
		return err
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		return err
	}
	r := record.NewReader(f)
	for {
		payload, err := r.Next()
		if err == io.EOF {
			break
		}
		if err == nil {
			err = s.replayRecord(payload)
		}
		if errors.Is(err, record.ErrTornTail) || errors.Is(err, base.ErrCorruption) {
			// Keep every record before the damage and cut the rest.
			end := r.Offset()
			if errors.Is(err, base.ErrCorruption) {
				end = r.Offset() - int64(record.HeaderSize+len(payload))
			}
			s.db.stats.walBytesDropped.Add(size - end)
			s.db.recovery.note(fmt.Sprintf("%s: dropped %d bytes at offset %d: %v", path, size-end, end, err))
			if err := f.Truncate(end); err != nil {
				return err
			}
			if err := f.Sync(); err != nil {
				return err
			}
			break
		}
		if err != nil {
			return err
		}
	}
	s.db.stats.walBytesReplayed.Add(r.Offset())
	return nil
}

func (s *shard) replayRecord(payload []byte) error {
	// Check first so that a corrupt record applies nothing.
	need := 0
	if err := decodeWALPayload(payload, func(o op) error {
		need += memtable.EntrySize(len(o.key), len(o.value))
		return nil
	}); err != nil {
		return err
	}
	if need > s.mem.Available() {
		if err := s.flushMemtable(s.mem); err != nil {
			return err
		}
		s.mem = memtable.New(max(s.db.opts.MemtableSize, need))
	}
	return decodeWALPayload(payload, func(o op) error {
		_, err := s.mem.Set(o.key, uint64(o.version), o.kind, o.value)
		return err
	})
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
	s.mu.Lock()
	if err := s.makeRoom(need); err != nil {
		s.mu.Unlock()
		return err
	}
	s.scratch = appendWALPayload(s.scratch[:0], count, ops)
	if !s.wal.fits(len(s.scratch)) {
		if err := s.switchWAL(len(s.scratch)); err != nil {
			s.mu.Unlock()
			return err
		}
	}
	end, err := s.wal.append(s.scratch)
	if err != nil {
		s.mu.Unlock()
		return err
	}
	s.db.stats.walBytes.Add(int64(len(s.scratch) + record.HeaderSize))
	for rest := ops; len(rest) > 0; {
		var o op
		o, rest, _ = decodeOp(rest) // encoded by us and checked by the caller
		if _, err := s.mem.Set(o.key, uint64(o.version), o.kind, o.value); err != nil {
			// makeRoom guaranteed the space: this is a broken invariant.
			panic(fmt.Sprintf("storage: memtable refused a reserved write: %v", err))
		}
	}
	s.mu.Unlock()
	return s.wal.wait(end)
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

// createWAL creates the next WAL file. Its name is durable before it is
// returned, so a write acknowledged from it survives a crash. Called with mu
// held or before the shard is shared.
func (s *shard) createWAL() (uint64, vfs.File, error) {
	num := s.allocFile()
	f, err := s.fs.Create(filepath.Join(s.dir, walFileName(num)))
	if err != nil {
		return 0, nil, err
	}
	if err := s.fs.SyncDir(s.dir); err != nil {
		f.Close()
		return 0, nil, err
	}
	return num, f, nil
}

// walSegmentSize is the size a mapped WAL file is allocated with: room for a
// memtable's worth of records (records are smaller in the WAL than in the
// memtable), or for one larger write.
func (s *shard) walSegmentSize(payload int) int64 {
	return int64(max(s.db.opts.MemtableSize+1<<20, payload+record.HeaderSize))
}

// nextWAL returns the file the log continues in: the spare prepared in the
// background when there is one (so the write path does not wait for a
// directory fsync), else a new one. Called with mu held.
func (s *shard) nextWAL() (uint64, vfs.File, error) {
	if sp := s.spare; sp.f != nil {
		s.spare = spareWAL{}
		s.wakeFlusher() // to prepare the next spare
		return sp.num, sp.f, nil
	}
	return s.createWAL()
}

// prepareSpare creates the next WAL file ahead of need, off the write path.
// A spare may get a lower number than a file created meanwhile; memLogNum
// tracks the lowest file a memtable uses, so ordering does not matter.
func (s *shard) prepareSpare() {
	s.mu.Lock()
	if s.spare.f != nil || s.closing || s.bgErr != nil {
		s.mu.Unlock()
		return
	}
	num := s.allocFile()
	s.mu.Unlock()
	path := filepath.Join(s.dir, walFileName(num))
	f, err := s.fs.Create(path)
	if err == nil {
		if err = s.fs.SyncDir(s.dir); err != nil {
			f.Close()
		}
	}
	if err != nil {
		s.fs.Remove(path) // the next rotation creates its file itself
		return
	}
	s.mu.Lock()
	if s.spare.f == nil && !s.closing {
		s.spare = spareWAL{num: num, f: f}
		s.mu.Unlock()
		return
	}
	s.mu.Unlock()
	f.Close()
	s.fs.Remove(path)
}

func (s *shard) wakeFlusher() {
	select {
	case s.flushCh <- struct{}{}:
	default:
	}
}

// switchWAL continues the log in a new file; the memtable stays. Called with
// mu held.
func (s *shard) switchWAL(payload int) error {
	num, f, err := s.nextWAL()
	if err != nil {
		return err
	}
	if err := s.wal.rotate(f, s.walSegmentSize(payload)); err != nil {
		s.bgErr = err
		return err
	}
	s.walNum = num
	s.memLogNum = min(s.memLogNum, num)
	return nil
}

// rotate moves the memtable to the immutable list and starts a new memtable
// and WAL file. Called with mu held.
func (s *shard) rotate(need int) error {
	num, f, err := s.nextWAL()
	if err != nil {
		return err
	}
	if err := s.wal.rotate(f, s.walSegmentSize(0)); err != nil {
		s.bgErr = err
		return err
	}
	s.imm = append(s.imm, immutableMem{mem: s.mem, logNum: s.memLogNum})
	s.mem = memtable.New(max(s.db.opts.MemtableSize, need))
	s.memLogNum, s.walNum = num, num
	s.publish()
	s.wakeFlusher()
	return nil
}

func (s *shard) flushLoop() {
	defer s.wg.Done()
	for {
		select {
		case <-s.flushCh:
		case <-s.done:
			return
		}
		s.prepareSpare()
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
	s.removeObsoleteLogs()
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

// removeObsoleteLogs deletes WAL files older than the oldest one needed.
func (s *shard) removeObsoleteLogs() {
	s.mu.Lock()
	minLog := s.minLogNum()
	s.mu.Unlock()
	names, err := s.fs.List(s.dir)
	if err != nil {
		return
	}
	for _, name := range names {
		if num, ext, ok := parseFileName(name); ok && ext == ".wal" && num < minLog {
			s.fs.Remove(filepath.Join(s.dir, name))
		}
	}
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
	s.mu.Lock()
	s.closing = true
	s.cond.Broadcast()
	s.mu.Unlock()
	close(s.done)
	s.wg.Wait()
	if werr := s.wal.close(); err == nil && !errors.Is(werr, ErrClosed) {
		err = werr
	}
	if s.spare.f != nil {
		s.spare.f.Close()
		s.fs.Remove(filepath.Join(s.dir, walFileName(s.spare.num)))
		s.spare = spareWAL{}
	}
	if err == nil {
		s.removeObsoleteLogs()
	}
	s.mu.Lock()
	rs := s.rs.Swap(nil)
	lv := s.lv
	s.mu.Unlock()
	rs.release()
	lv.unref()
	return err
}
