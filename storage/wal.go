package storage

import (
	"errors"
	iofs "io/fs"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"kvstore/storage/record"
	"kvstore/storage/vfs"
)

func isNotExistErr(err error) bool { return errors.Is(err, iofs.ErrNotExist) }

// walWriter appends records to the store's current WAL file (shared by all
// shards) with group commit.
//
// When the file can be memory-mapped (vfs.Mapper), the file is allocated up
// front and a record is copied straight into the mapping: it is in the
// operating system's page cache, safe from a process crash, without a system
// call. Otherwise writers append encoded records to an in-memory buffer and
// whichever writer first needs its record written becomes the leader and
// writes everything buffered so far. Either way, in SyncAlways the first
// writer waiting for durability leads an fdatasync that covers every record
// appended before it started, and wakes the others; writers arriving
// meanwhile share the next one. When the log is busy, that next one starts
// no sooner than the group-commit window after the previous one did.
//
// walWriter is safe for concurrent use.
type walWriter struct {
	mode    SyncMode
	segSize int64         // size a mapped file is allocated with
	window  time.Duration // Options.GroupCommitWindow

	mu    sync.Mutex // guards the fields below
	cond  sync.Cond  // on mu: broadcast when written, synced or err change
	f     vfs.File
	buf   []byte // records appended but not yet handed to a leader
	spare []byte // the buffer the current leader is writing, recycled
	// Offsets count bytes of the whole log across files, so a waiter's
	// offset stays meaningful when the log moves to a new file.
	appended  int64 // bytes appended, including buf
	written   int64 // bytes written to the OS
	synced    int64 // bytes durable
	fileStart int64 // offset at which the current file begins
	busy      bool  // a leader is writing
	err       error // sticky: a failed write or sync poisons the log

	// mapped is the current file's mapping when it is written through one;
	// records are copied to mapped[appended-fileStart:].
	mapped []byte

	retiring sync.WaitGroup // files the log moved past, being finished
	syncs    atomic.Int64   // fsyncs done
	// Group-commit window state, guarded by mu: when the last fsync's
	// leader started it, how many records the log had then, and how many
	// that fsync covered since the one before.
	syncStart    time.Time
	startRecords int64
	lastGroup    int64
	records      int64 // records appended
}

// minGroupToGather is the size of the last fsync's group from which the
// next fsync waits for the group-commit window: a writer alone, or a few
// writers taking turns, never wait for it.
const minGroupToGather = 4

// walReleaseChunk is how much of a mapped WAL file is written before its
// pages are dropped from the process (a multiple of the page size).
const walReleaseChunk = 1 << 20

// errWALFull is returned by append when a mapped file has no room for the
// record; the caller moves the log to a new file and appends again.
var errWALFull = errors.New("storage: WAL file full")

// newWALWriter starts writing f. A file that can be mapped is allocated
// segSize bytes and written through the mapping.
func newWALWriter(f vfs.File, mode SyncMode, segSize int64, window time.Duration) (*walWriter, error) {
	w := &walWriter{f: f, mode: mode, segSize: segSize, window: window}
	w.cond.L = &w.mu
	if err := w.mapFile(f, segSize); err != nil {
		return nil, err
	}
	return w, nil
}

// mapFile maps f if it supports it. Called with mu held or before w is
// shared.
func (w *walWriter) mapFile(f vfs.File, size int64) error {
	m, ok := f.(vfs.Mapper)
	if !ok || size <= 0 {
		w.mapped = nil
		return nil
	}
	b, err := m.MapWrite(size)
	if err != nil {
		return err
	}
	w.mapped = b
	return nil
}

// append adds one record with the given payload and returns the log offset
// its durability is measured against.
func (w *walWriter) append(payload []byte) (int64, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return 0, w.err
	}
	if w.mapped != nil {
		off := w.appended - w.fileStart
		if off+int64(record.HeaderSize+len(payload)) > int64(len(w.mapped)) {
			return 0, errWALFull
		}
		n := int64(len(record.Append(w.mapped[off:off], payload)))
		w.appended += n
		w.records++
		w.written = w.appended // in the page cache now
		// Written pages stay in the page cache, not in this process: keep
		// the mapping's resident size small.
		if done := (off + n) &^ (walReleaseChunk - 1); done > off&^(walReleaseChunk-1) {
			w.f.(vfs.Mapper).Release(w.mapped[done-walReleaseChunk : done])
		}
		return w.appended, nil
	}
	n := len(w.buf)
	w.buf = record.Append(w.buf, payload)
	w.appended += int64(len(w.buf) - n)
	w.records++
	return w.appended, nil
}

// wait blocks until the record ending at log offset end is written to the OS and,
// in SyncAlways, durable.
func (w *walWriter) wait(end int64) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	for {
		if w.err != nil {
			return w.err
		}
		done := w.written
		if w.mode == SyncAlways {
			done = w.synced
		}
		if done >= end {
			return nil
		}
		if w.busy {
			w.cond.Wait()
			continue
		}
		w.lead(w.mode == SyncAlways, w.mode == SyncAlways)
	}
}

// lead writes everything buffered, fsyncing if sync is set, after the
// group-commit window if gather is set. It is called with mu held and !busy,
// and returns with mu held.
func (w *walWriter) lead(sync, gather bool) {
	w.busy = true
	if sync {
		// Let writers that are ready to append do so before the fsync
		// starts, so it covers them too: an fsync costs the same for one
		// record as for a hundred.
		w.mu.Unlock()
		runtime.Gosched()
		w.mu.Lock()
		if gather && w.window > 0 && w.lastGroup >= minGroupToGather {
			w.gather()
		}
		w.syncStart = time.Now()
		w.lastGroup = w.records - w.startRecords
		w.startRecords = w.records
	}
	buf, end, f := w.buf, w.appended, w.f
	w.buf = w.spare[:0]
	w.mu.Unlock()

	var err error
	if len(buf) > 0 {
		_, err = f.Write(buf)
	}
	if err == nil && sync {
		err = vfs.SyncData(f)
	}

	w.mu.Lock()
	w.spare = buf
	w.busy = false
	if err != nil {
		w.err = err
	} else {
		w.written = end
		if sync {
			w.synced = end
			w.syncs.Add(1)
		}
	}
	w.cond.Broadcast()
}

// gather lets writers append until the group-commit window that began
// when the previous fsync started ends. Called with mu held and busy set;
// returns with mu held.
func (w *walWriter) gather() {
	if d := time.Until(w.syncStart.Add(w.window)); d > 0 {
		w.mu.Unlock()
		time.Sleep(d)
		w.mu.Lock()
	}
}

// sync writes and fsyncs everything appended so far (the periodic syncer and
// rotation use it).
func (w *walWriter) sync() error { return w.drain(true) }

// drain writes everything appended so far to the OS, and fsyncs it if sync
// is set.
func (w *walWriter) drain(sync bool) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	for w.err == nil {
		done := w.written
		if sync {
			done = w.synced
		}
		if !w.busy && done >= w.appended {
			break
		}
		if w.busy {
			w.cond.Wait()
			continue
		}
		w.lead(sync, false)
	}
	return w.err
}

// rotate continues the log in next. In SyncAlways the old file is fsynced
// first (its writers wait for that); otherwise nobody waits for it, so it is
// finished in the background (fsynced too in SyncInterval, whose promise
// covers it) and the shard is not held up by an fsync behind heavy disk
// traffic. The caller serializes rotate with append (the shard holds its
// mutex across both).
func (w *walWriter) rotate(next vfs.File, size int64, afterSwitch func() error) error {
	if err := w.drain(w.mode == SyncAlways); err != nil {
		return err
	}
	w.mu.Lock()
	old, mapped, used := w.f, w.mapped, w.appended-w.fileStart
	w.mapped = nil
	w.f, w.fileStart = next, w.appended
	err := w.mapFile(next, max(size, w.segSize))
	if err != nil {
		w.err = err
	}
	w.mu.Unlock()
	if w.mode == SyncAlways {
		if ferr := finishFile(old, mapped, used, false); err == nil {
			err = ferr
		}
		return err
	}
	w.retiring.Add(1)
	go func() {
		defer w.retiring.Done()
		ferr := finishFile(old, mapped, used, w.mode == SyncInterval)
		if ferr == nil && afterSwitch != nil {
			ferr = afterSwitch()
		}
		if ferr != nil {
			w.mu.Lock()
			if w.err == nil {
				w.err = ferr
			}
			w.mu.Unlock()
		}
	}()
	return err
}

// finishFile releases a WAL file the log has moved past: it unmaps it, cuts
// its unused preallocated tail, fsyncs it if asked, and closes it.
func finishFile(f vfs.File, mapped []byte, used int64, sync bool) error {
	var err error
	if mapped != nil {
		err = f.(vfs.Mapper).Unmap(mapped)
		if terr := f.Truncate(used); err == nil {
			err = terr
		}
	}
	if sync && err == nil {
		err = vfs.SyncData(f)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// close makes everything durable and closes the file, after the files
// being finished in the background.
func (w *walWriter) close() error {
	err := w.sync()
	w.retiring.Wait()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return err
	}
	if ferr := finishFile(w.f, w.mapped, w.appended-w.fileStart, false); err == nil {
		err = ferr
	}
	w.f, w.mapped = nil, nil
	if w.err == nil {
		w.err = ErrClosed
	}
	return err
}

// size returns the bytes appended to the current file.
func (w *walWriter) size() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.appended - w.fileStart
}
