package bench

import (
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"kvstore/storage"
)

// StorageEngine runs the engine benchmarks on kvstore's storage engine. Each
// write takes the next version of a clock started at the current time, so
// later writes win, as they do when a node coordinates them.
type StorageEngine struct {
	DB       *storage.DB
	clock    atomic.Uint64
	statsOut io.Writer
}

var _ Engine = (*StorageEngine)(nil)

// OpenStorage returns an OpenFunc that opens the storage engine with opts;
// the benchmarks' sync flag selects storage.SyncAlways or opts.Sync. When
// statsOut is set, the engine's figures are printed there before each Close.
func OpenStorage(opts storage.Options, statsOut io.Writer) OpenFunc {
	return func(dir string, sync bool) (Engine, error) {
		o := opts
		if sync {
			o.Sync = storage.SyncAlways
		}
		db, err := storage.Open(dir, o)
		if err != nil {
			return nil, err
		}
		e := &StorageEngine{DB: db, statsOut: statsOut}
		e.clock.Store(uint64(storage.VersionAt(time.Now())))
		return e, nil
	}
}

func (e *StorageEngine) version() storage.Version { return storage.Version(e.clock.Add(1)) }

// Put implements Engine.
func (e *StorageEngine) Put(key, value []byte) error { return e.DB.Put(key, value, e.version()) }

// Get implements Engine; a tombstone reads as absent.
func (e *StorageEngine) Get(key []byte) ([]byte, bool, error) {
	rec, err := e.DB.Get(key)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return nil, false, nil
	case err != nil:
		return nil, false, err
	}
	return rec.Value, !rec.Tombstone, nil
}

// Delete implements Engine.
func (e *StorageEngine) Delete(key []byte) error { return e.DB.Delete(key, e.version()) }

// Scan implements Engine.
func (e *StorageEngine) Scan(start []byte, n int, fn func(key, value []byte) bool) error {
	it, err := e.DB.NewIter(storage.IterOptions{Start: start})
	if err != nil {
		return err
	}
	for ok := it.First(); ok && n > 0; ok = it.Next() {
		n--
		if !fn(it.Key(), it.Value()) {
			break
		}
	}
	return it.Close()
}

// DiskUsage implements Engine: live tables plus the WAL files being written.
func (e *StorageEngine) DiskUsage() (int64, error) {
	st := e.DB.Stats()
	return st.TableBytes + st.WALBytes, nil
}

// Close implements Engine.
func (e *StorageEngine) Close() error {
	if e.statsOut != nil {
		PrintStorageStats(e.statsOut, e.DB.Stats())
	}
	return e.DB.Close()
}

// PrintStorageStats writes the engine's own figures: levels, write
// amplification, cache hit ratio, stalls.
func PrintStorageStats(w io.Writer, st storage.Stats) {
	fmt.Fprintf(w, "engine: tables %d bytes, wal %d bytes, table memory %d bytes, memtables %d bytes\n",
		st.TableBytes, st.WALBytes, st.TableMemory, st.MemtableBytes)
	for level, l := range st.Levels {
		if l.Tables > 0 {
			fmt.Fprintf(w, "  L%d: %d tables, %s\n", level, l.Tables, FormatMB(l.Bytes))
		}
	}
	fmt.Fprintf(w, "  write amplification %.2f (user %s, wal %s, flush %s, compaction %s written / %s read)\n",
		st.WriteAmplification, FormatMB(st.UserBytesWritten), FormatMB(st.WALBytesWritten),
		FormatMB(st.FlushBytesWritten), FormatMB(st.CompactionBytesWritten), FormatMB(st.CompactionBytesRead))
	fmt.Fprintf(w, "  flushes %d, compactions %d (%d trivial moves), pending compaction %s, stalls %d (%v)\n",
		st.Flushes, st.Compactions, st.TrivialMoves, FormatMB(st.PendingCompactionBytes), st.WriteStalls, st.WriteStallTime)
	fmt.Fprintf(w, "  cache hit ratio %.3f (%d hits, %d misses, %s of %s)\n",
		st.CacheHitRatio, st.CacheHits, st.CacheMisses, FormatMB(st.CacheSize), FormatMB(st.CacheCap))
}
