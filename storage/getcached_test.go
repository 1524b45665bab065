package storage

import (
	"bytes"
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"kvstore/storage/vfs"
)

// GetCached answers from the memtables and cached blocks and returns
// ErrNotCached, without touching a table file, when it would need one.
func TestGetCached(t *testing.T) {
	var tableIO atomic.Int64
	fs := vfs.NewErrorFS(vfs.NewMem(), func(kind vfs.OpKind, path string) error {
		if (kind == vfs.OpOpen || kind == vfs.OpRead) && strings.HasSuffix(path, ".sst") {
			tableIO.Add(1)
		}
		return nil
	})
	opts := smallOptions(fs)
	opts.Shards = 1
	db := mustOpen(t, "db", opts)
	// 40 keys of 300-byte values: several 512-byte blocks in one table.
	const n = 40
	value := blockValue
	putFlushed(t, db, n)
	db.Close()
	// Reopened, no table is open and no block cached.
	db = mustOpen(t, "db", opts)
	defer db.Close()
	if err := db.Put([]byte("zz-memtable"), []byte("m"), nowVersion(0)); err != nil {
		t.Fatal(err)
	}

	type want struct {
		value     string
		tombstone bool
		err       error
	}
	check := func(step, key string, w want) {
		t.Helper()
		before := tableIO.Load()
		rec, err := db.GetCached([]byte(key))
		if io := tableIO.Load() - before; io != 0 {
			t.Errorf("%s: GetCached(%s) did %d table reads or opens", step, key, io)
		}
		if !errors.Is(err, w.err) || (err == nil && (string(rec.Value) != w.value || rec.Tombstone != w.tombstone)) {
			t.Errorf("%s: GetCached(%s) = %q tombstone %v, %v; want %q tombstone %v, %v",
				step, key, rec.Value, rec.Tombstone, err, w.value, w.tombstone, w.err)
		}
	}
	check("memtable", "zz-memtable", want{value: "m"})
	check("table not open", string(testKey(10)), want{err: ErrNotCached})

	if _, err := db.Get(testKey(10)); err != nil { // opens the table, caches one block
		t.Fatal(err)
	}
	check("block cached", string(testKey(10)), want{value: string(value(10))})
	check("absent key in a cached block", string(testKey(10))+"x", want{err: ErrNotFound})
	check("other block not cached", string(testKey(n-1)), want{err: ErrNotCached})

	if err := db.Delete(testKey(n-1), nowVersion(n)); err != nil {
		t.Fatal(err)
	}
	// The memtable's tombstone is newer than anything the table holds.
	check("tombstone in memtable", string(testKey(n-1)), want{tombstone: true})

	// Get agrees with GetCached whenever GetCached answers.
	for i := range n {
		cached, cerr := db.GetCached(testKey(i))
		if errors.Is(cerr, ErrNotCached) {
			continue
		}
		rec, err := db.Get(testKey(i))
		if !errors.Is(err, cerr) || !bytes.Equal(rec.Value, cached.Value) || rec.Tombstone != cached.Tombstone {
			t.Errorf("key %d: GetCached %q %v, Get %q %v", i, cached.Value, cerr, rec.Value, err)
		}
	}
}
