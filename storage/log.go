package storage

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"sync"

	"kvstore/storage/internal/base"
	"kvstore/storage/record"
	"kvstore/storage/vfs"
)

// walDirName is the directory of the store's write-ahead log, shared by all
// shards: one group commit (one fsync) covers the writes of every shard,
// which matters because concurrent fsyncs of several files on one disk cost
// far more than one (measured: 64 synced writers reach 2.6 times the
// throughput with one log as with eight).
const walDirName = "wal"

// dbLog is the store's write-ahead log: a sequence of WAL files, numbered
// in the order they are written, each record holding the writes of one
// shard. A file can go once every shard has flushed the memtables whose
// records it holds (each shard's manifest says which files it still needs).
//
// dbLog is safe for concurrent use. Lock order: shard.mu, then dbLog.mu,
// then the walWriter's.
type dbLog struct {
	db  *DB
	fs  vfs.FS
	dir string
	w   *walWriter

	mu   sync.Mutex // guards num and next
	num  uint64     // the file being written
	next uint64     // the number the next file gets
}

// segmentSize is the size a mapped WAL file is allocated with.
func (l *dbLog) segmentSize(payload int) int64 {
	return int64(max(4*l.db.opts.MemtableSize, payload+record.HeaderSize))
}

// recoverLog replays the WAL into the shards (each skips what its tables
// already hold), cutting torn or corrupt tails, and opens a new WAL file.
func (db *DB) recoverLog() error {
	fs := db.opts.FS
	l := &dbLog{db: db, fs: fs, dir: filepath.Join(db.dir, walDirName)}
	if err := fs.MkdirAll(l.dir, 0o755); err != nil {
		return err
	}
	if err := fs.SyncDir(db.dir); err != nil {
		return err
	}
	names, err := fs.List(l.dir)
	if err != nil {
		return err
	}
	minNeeded := noLog
	for _, s := range db.shards {
		minNeeded = min(minNeeded, s.replayFrom)
		l.next = max(l.next, s.replayFrom)
	}
	var nums []uint64
	for _, name := range names {
		num, ext, ok := parseFileName(name)
		if !ok || ext != ".wal" {
			continue
		}
		l.next = max(l.next, num+1)
		if num < minNeeded {
			if err := fs.Remove(filepath.Join(l.dir, name)); err != nil {
				return err
			}
			continue
		}
		nums = append(nums, num)
	}
	sort.Slice(nums, func(i, j int) bool { return nums[i] < nums[j] })
	// One goroutine reads the files in order; each shard applies its own
	// records in its own goroutine (in file order), so replay uses every
	// core.
	rp := db.startReplay()
	var err2 error
	for _, num := range nums {
		if err2 = db.replayFile(l.dir, num, rp); err2 != nil {
			break
		}
	}
	if err := rp.finish(); err2 == nil {
		err2 = err
	}
	if err2 != nil {
		return err2
	}
	l.num = l.next
	l.next++
	f, err := l.create(l.num)
	if err == nil && db.opts.Sync != SyncAlways {
		// create syncs the directory only in SyncAlways; the first file's
		// name must be durable in every mode, or a machine crash could
		// lose the whole file.
		err = fs.SyncDir(l.dir)
	}
	if err != nil {
		return err
	}
	if l.w, err = newWALWriter(f, db.opts.Sync, l.segmentSize(0), db.opts.GroupCommitWindow); err != nil {
		f.Close()
		return err
	}
	db.log = l
	return nil
}

// replayer applies replayed WAL records to their shards, one goroutine
// per shard.
type replayer struct {
	chans []chan replayItem
	wg    sync.WaitGroup
	mu    sync.Mutex // guards err
	err   error
}

type replayItem struct {
	num  uint64
	ops  []byte
	need int
}

func (db *DB) startReplay() *replayer {
	rp := &replayer{}
	for _, s := range db.shards {
		ch := make(chan replayItem, 256)
		rp.chans = append(rp.chans, ch)
		rp.wg.Add(1)
		go func() {
			defer rp.wg.Done()
			for it := range ch {
				if rp.failed() {
					continue // drain
				}
				if err := s.replayRecord(it.num, it.ops, it.need); err != nil {
					rp.fail(fmt.Errorf("storage: shard %d: %w", s.id, err))
				}
			}
		}()
	}
	return rp
}

func (rp *replayer) failed() bool {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	return rp.err != nil
}

func (rp *replayer) fail(err error) {
	rp.mu.Lock()
	if rp.err == nil {
		rp.err = err
	}
	rp.mu.Unlock()
}

// finish waits for the shards to apply everything sent and returns the
// first error.
func (rp *replayer) finish() error {
	for _, ch := range rp.chans {
		close(ch)
	}
	rp.wg.Wait()
	return rp.err
}

// replayFile sends the records of WAL file num to their shards and
// truncates a torn or corrupt tail. A record is checked (checksum, shard
// id, encoding) before it is sent, so damage is cut where it starts.
func (db *DB) replayFile(dir string, num uint64, rp *replayer) error {
	path := filepath.Join(dir, walFileName(num))
	f, err := db.opts.FS.OpenReadWrite(path)
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
			var (
				id   int
				ops  []byte
				need int
			)
			if id, ops, need, err = parseWALPayload(payload); err == nil && id >= len(db.shards) {
				err = base.CorruptionErrorf("WAL record of shard %d in a store of %d", id, len(db.shards))
			}
			// Records a shard's tables already hold are skipped.
			if err == nil && num >= db.shards[id].replayFrom {
				rp.chans[id] <- replayItem{num: num, ops: bytes.Clone(ops), need: need}
			}
		}
		if errors.Is(err, record.ErrTornTail) || errors.Is(err, base.ErrCorruption) {
			// Keep every record before the damage and cut the rest.
			end := r.Offset()
			if !errors.Is(err, record.ErrTornTail) {
				end -= int64(record.HeaderSize + len(payload))
			}
			db.stats.walBytesDropped.Add(size - end)
			db.recovery.note(fmt.Sprintf("%s: dropped %d bytes at offset %d: %v", path, size-end, end, err))
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
	db.stats.walBytesReplayed.Add(r.Offset())
	return nil
}

// create makes WAL file num. In SyncAlways its name is durable before it is
// returned, so writes acknowledged from it survive a crash; otherwise the
// directory is synced when the file is finished, in the background.
func (l *dbLog) create(num uint64) (vfs.File, error) {
	f, err := l.fs.Create(filepath.Join(l.dir, walFileName(num)))
	if err != nil {
		return nil, err
	}
	if l.db.opts.Sync == SyncAlways {
		if err := l.fs.SyncDir(l.dir); err != nil {
			f.Close()
			return nil, err
		}
	}
	return f, nil
}

// append adds a record, moving to a new file when the current one is full,
// and returns the log offset its durability is measured against.
func (l *dbLog) append(payload []byte) (int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	end, err := l.w.append(payload)
	if err != errWALFull {
		return end, err
	}
	num := l.next
	f, err := l.create(num)
	if err != nil {
		return 0, err
	}
	l.next++
	if err := l.w.rotate(f, l.segmentSize(len(payload)), func() error { return l.fs.SyncDir(l.dir) }); err != nil {
		return 0, err
	}
	l.num = num
	return l.w.append(payload)
}

// wait blocks until the record ending at end is as durable as the sync mode
// promises.
func (l *dbLog) wait(end int64) error { return l.w.wait(end) }

// current returns the number of the WAL file being written.
func (l *dbLog) current() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.num
}

// nextNum returns the number the next WAL file will get: no record is in a
// file numbered at or above it yet.
func (l *dbLog) nextNum() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.next
}

// removeObsolete deletes the WAL files no shard needs any more.
func (l *dbLog) removeObsolete() {
	if l == nil {
		return // still recovering
	}
	need := l.current()
	for _, s := range l.db.shards {
		s.mu.Lock()
		need = min(need, s.minLogNum())
		s.mu.Unlock()
	}
	names, err := l.fs.List(l.dir)
	if err != nil {
		return
	}
	for _, name := range names {
		if num, ext, ok := parseFileName(name); ok && ext == ".wal" && num < need {
			l.fs.Remove(filepath.Join(l.dir, name))
		}
	}
}

// size returns the bytes of the WAL file being written.
func (l *dbLog) size() int64 { return l.w.size() }

func (l *dbLog) close() error {
	err := l.w.close()
	if errors.Is(err, ErrClosed) {
		err = nil
	}
	l.removeObsolete()
	return err
}
