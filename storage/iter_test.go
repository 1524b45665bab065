package storage

import (
	"bytes"
	"testing"

	"kvstore/storage/vfs"
)

// A NoCache scan of a data set several times the block cache's size does
// not touch the cache. A cached scan of the same data goes through it, and
// the blocks that point reads use stay there too: the cache keeps blocks
// read more than once ahead of the scan's, read once (storage/cache).
func TestNoCacheScanKeepsBlockCache(t *testing.T) {
	opts := smallOptions(vfs.NewMem())
	opts.Shards = 1
	opts.MemtableSize = 4 << 20 // one flush, one table: no compaction renames blocks
	db := mustOpen(t, "db", opts)
	defer db.Close()
	const n = 4000 // 300-byte values: about 1.3 MB of tables, 5 times the cache
	value := blockValue
	putFlushed(t, db, n)
	hot := func() (misses int64) {
		t.Helper()
		before := db.Stats().CacheMisses
		for i := 0; i < n; i += 80 { // 50 keys, one block each
			rec, err := db.Get(testKey(i))
			if err != nil || !bytes.Equal(rec.Value, value(i)) {
				t.Fatalf("Get(%s) = %q, %v", testKey(i), rec.Value, err)
			}
		}
		return db.Stats().CacheMisses - before
	}
	scan := func(noCache bool) {
		t.Helper()
		it, err := db.NewIter(IterOptions{NoCache: noCache})
		if err != nil {
			t.Fatal(err)
		}
		i := 0
		for ok := it.First(); ok; ok = it.Next() {
			if !bytes.Equal(it.Key(), testKey(i)) || !bytes.Equal(it.Value(), value(i)) {
				t.Fatalf("scan: record %d is %s", i, it.Key())
			}
			i++
		}
		if err := it.Close(); err != nil || i != n {
			t.Fatalf("scan returned %d of %d records: %v", i, n, err)
		}
	}

	hot()
	if m := hot(); m != 0 {
		t.Fatalf("%d misses reading the hot keys a second time", m)
	}
	before := db.Stats()
	scan(true)
	after := db.Stats()
	if after.CacheHits != before.CacheHits || after.CacheMisses != before.CacheMisses || after.CacheSize != before.CacheSize {
		t.Errorf("NoCache scan used the block cache: hits %d->%d, misses %d->%d, size %d->%d",
			before.CacheHits, after.CacheHits, before.CacheMisses, after.CacheMisses, before.CacheSize, after.CacheSize)
	}
	if m := hot(); m != 0 {
		t.Errorf("hot keys missed %d times after a NoCache scan", m)
	}
	before = db.Stats()
	scan(false)
	after = db.Stats()
	if scanned := after.CacheMisses - before.CacheMisses; scanned < 200 {
		t.Errorf("a cached scan of about 300 blocks missed the cache %d times; want it to read through the cache", scanned)
	}
	if m := hot(); m != 0 {
		t.Errorf("hot keys missed %d of 50 times after a cached scan", m)
	}
}
