package storage

import (
	"errors"
	iofs "io/fs"
	"sync"

	"kvstore/storage/record"
	"kvstore/storage/vfs"
)

func isNotExistErr(err error) bool { return errors.Is(err, iofs.ErrNotExist) }

// walWriter appends records to a shard's current WAL file with group commit:
// writers append encoded records to an in-memory buffer, and whichever writer
// first needs its record on disk becomes the leader, writes (and, in
// SyncAlways, fsyncs) everything buffered so far and wakes the others. Writers
// that arrive while a leader works queue in the other buffer and share the
// next write.
//
// walWriter is safe for concurrent use.
type walWriter struct {
	mode SyncMode

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
}

func newWALWriter(f vfs.File, mode SyncMode) *walWriter {
	w := &walWriter{f: f, mode: mode}
	w.cond.L = &w.mu
	return w
}

// append adds one record with the given payload and returns the log offset
// its durability is measured against.
func (w *walWriter) append(payload []byte) (int64, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return 0, w.err
	}
	n := len(w.buf)
	w.buf = record.Append(w.buf, payload)
	w.appended += int64(len(w.buf) - n)
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
		w.lead(w.mode == SyncAlways)
	}
}

// lead writes everything buffered, fsyncing if sync is set. It is called with
// mu held and !busy, and returns with mu held.
func (w *walWriter) lead(sync bool) {
	w.busy = true
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
		}
	}
	w.cond.Broadcast()
}

// sync writes and fsyncs everything appended so far (the periodic syncer and
// rotation use it).
func (w *walWriter) sync() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	for w.err == nil && (w.busy || w.synced < w.appended) {
		if w.busy {
			w.cond.Wait()
			continue
		}
		w.lead(true)
	}
	return w.err
}

// rotate makes everything appended so far durable in the current file, closes
// it, and continues in next. The caller serializes rotate with append (the
// shard holds its mutex across both).
func (w *walWriter) rotate(next vfs.File) error {
	if err := w.sync(); err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	old := w.f
	w.f, w.fileStart = next, w.appended
	return old.Close()
}

// close makes everything durable and closes the file.
func (w *walWriter) close() error {
	err := w.sync()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return err
	}
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	w.f = nil
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
