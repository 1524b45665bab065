package storage

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"kvstore/storage/vfs"
)

func mustOpen(t *testing.T, dir string, opts Options) *DB {
	t.Helper()
	db, err := Open(dir, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return db
}

func testKey(i int) []byte   { return []byte(fmt.Sprintf("key%07d", i)) }
func testValue(i int) []byte { return bytes.Repeat([]byte{byte('a' + i%26)}, 20+i%50) }

func nowVersion(i int) Version { return NewVersion(time.Now().UnixMilli(), uint32(i%1000), 1) }

// blockValue is the 300-byte value of key i in the tests that need several
// records per table block.
func blockValue(i int) []byte { return bytes.Repeat([]byte{byte('a' + i%26)}, 300) }

// putFlushed writes keys 0..n-1 with blockValue and flushes them to tables.
func putFlushed(t *testing.T, db *DB, n int) {
	t.Helper()
	for i := range n {
		if err := db.Put(testKey(i), blockValue(i), nowVersion(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Flush(); err != nil {
		t.Fatal(err)
	}
}

// A crash keeps exactly what was synced: with SyncAlways every acknowledged
// write survives a crash at any moment, including across flushes and
// compactions, and torn unsynced tails are cut.
func TestCrashCloneKeepsAcknowledgedWrites(t *testing.T) {
	seed := testSeed(t)
	rng := rand.New(rand.NewPCG(seed, 2))
	fs := vfs.NewMem()
	opts := smallOptions(fs)
	db := mustOpen(t, "db", opts)
	acked := 0
	for round := range 8 {
		n := 200 + rng.IntN(3000)
		for i := acked; i < acked+n; i++ {
			if err := db.Put(testKey(i), testValue(i), nowVersion(i)); err != nil {
				t.Fatal(err)
			}
		}
		acked += n
		crashed := fs.CrashCloneTorn(rng.Uint64())
		db.Close()
		fs = crashed
		opts.FS = fs
		db = mustOpen(t, "db", opts)
		for i := range acked {
			rec, err := db.Get(testKey(i))
			if err != nil || !bytes.Equal(rec.Value, testValue(i)) {
				t.Fatalf("round %d: key %d after crash: %v %q", round, i, err, rec.Value)
			}
		}
	}
	db.Close()
}

// walFiles returns the WAL files of a store, largest first.
func walFiles(t *testing.T, fs vfs.FS, dir string) []string {
	t.Helper()
	var out []string
	var sizes []int64
	wd := filepath.Join(dir, walDirName)
	names, err := fs.List(wd)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if strings.HasSuffix(n, ".wal") {
			st, err := fs.Stat(filepath.Join(wd, n))
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, filepath.Join(wd, n))
			sizes = append(sizes, st.Size())
		}
	}
	for i := range out { // largest first
		for j := i + 1; j < len(out); j++ {
			if sizes[j] > sizes[i] {
				out[i], out[j] = out[j], out[i]
				sizes[i], sizes[j] = sizes[j], sizes[i]
			}
		}
	}
	return out
}

func readAll(t *testing.T, fs vfs.FS, path string) []byte {
	t.Helper()
	f, err := fs.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writeAll(t *testing.T, fs vfs.FS, path string, b []byte) {
	t.Helper()
	f, err := fs.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

// Cutting or flipping bytes at the end of a WAL loses only the damaged
// records: every record before the damage is kept and the cut is reported.
func TestTornAndCorruptWALTail(t *testing.T) {
	const n = 500
	damages := []struct {
		name   string
		damage func(b []byte) []byte
	}{
		{"cut last byte", func(b []byte) []byte { return b[:len(b)-1] }},
		{"cut mid header", func(b []byte) []byte { return b[:len(b)-(len(testValue(n-1))+len(testKey(n-1))+15)] }},
		{"flip last byte", func(b []byte) []byte { b[len(b)-1] ^= 0x40; return b }},
		{"garbage tail", func(b []byte) []byte { return append(b, 0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 5, 6, 7) }},
	}
	for _, tc := range damages {
		t.Run(tc.name, func(t *testing.T) {
			fs := vfs.NewMem()
			opts := Options{FS: fs, Shards: 1}
			db := mustOpen(t, "db", opts)
			for i := range n {
				if err := db.Put(testKey(i), testValue(i), nowVersion(i)); err != nil {
					t.Fatal(err)
				}
			}
			fs = fs.CrashClone()
			db.Close()
			wal := walFiles(t, fs, "db")[0]
			writeAll(t, fs, wal, tc.damage(readAll(t, fs, wal)))

			opts.FS = fs
			db = mustOpen(t, "db", opts)
			defer db.Close()
			if len(db.RecoveryNotes()) == 0 {
				t.Errorf("no recovery note after damaging the WAL tail")
			}
			lost := 0
			for i := range n {
				rec, err := db.Get(testKey(i))
				if err != nil {
					lost++
					if i < n-1 {
						t.Errorf("key %d before the damage is gone: %v", i, err)
					}
					continue
				}
				if !bytes.Equal(rec.Value, testValue(i)) {
					t.Errorf("key %d: wrong value %q", i, rec.Value)
				}
			}
			t.Logf("lost %d records; notes %v", lost, db.RecoveryNotes())
			// The store keeps working after the repair.
			if err := db.Put(testKey(n), testValue(n), nowVersion(n)); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// A flipped byte inside a live table is detected by its checksum: reads of
// the damaged block fail with ErrCorruption, the rest of the store keeps
// answering, and an interrupted flush's partial table is removed on open.
func TestCorruptTable(t *testing.T) {
	fs := vfs.NewMem()
	opts := Options{FS: fs, Shards: 1, BlockSize: 512}
	db := mustOpen(t, "db", opts)
	const n = 2000
	for i := range n {
		if err := db.Put(testKey(i), testValue(i), nowVersion(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join("db", shardDirName(0))
	names, _ := fs.List(dir)
	var sst string
	for _, name := range names {
		if strings.HasSuffix(name, ".sst") {
			sst = filepath.Join(dir, name)
		}
	}
	if sst == "" {
		t.Fatal("no table after Close")
	}
	b := readAll(t, fs, sst)
	b[100] ^= 0xff // inside the first data block
	writeAll(t, fs, sst, b)
	// A partial table no manifest knows: what a crash mid-flush leaves.
	writeAll(t, fs, filepath.Join(dir, tableFileName(999)), b[:len(b)/2])

	db = mustOpen(t, "db", opts)
	defer db.Close()
	if _, err := fs.Stat(filepath.Join(dir, tableFileName(999))); err == nil {
		t.Errorf("orphan partial table survived Open")
	}
	if _, err := db.Get(testKey(0)); !errors.Is(err, ErrCorruption) {
		t.Errorf("Get in the damaged block = %v, want ErrCorruption", err)
	}
	if rec, err := db.Get(testKey(n - 1)); err != nil || !bytes.Equal(rec.Value, testValue(n-1)) {
		t.Errorf("Get outside the damaged block = %q, %v", rec.Value, err)
	}
	it, err := db.NewIter(IterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for ok := it.First(); ok; ok = it.Next() {
	}
	if err := it.Close(); !errors.Is(err, ErrCorruption) {
		t.Errorf("scan over the damaged block ended with %v, want ErrCorruption", err)
	}
}

// After a crash, memtables refilled from the WAL are flushed in the
// background: the WAL files go, so crash after crash does not replay more
// and more, and nothing is lost.
func TestRecoveryFlushesLargeReplay(t *testing.T) {
	fs := vfs.NewMem()
	opts := smallOptions(fs)
	opts.MemtableSize = 1 << 20 // nothing flushes while writing
	db := mustOpen(t, "db", opts)
	const n = 20000
	for i := range n {
		if err := db.Put(testKey(i), testValue(i), nowVersion(i)); err != nil {
			t.Fatal(err)
		}
	}
	if db.Stats().Flushes != 0 {
		t.Fatal("the memtables flushed before the crash; the test needs them full")
	}
	crashed := fs.CrashClone()
	db.Close()
	opts.FS = crashed
	db = mustOpen(t, "db", opts)
	defer db.Close()
	if db.Stats().WALBytesReplayed == 0 {
		t.Fatal("nothing replayed")
	}
	deadline := time.Now().Add(10 * time.Second)
	for db.Stats().Flushes < int64(opts.Shards) {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d replayed memtables flushed", db.Stats().Flushes, opts.Shards)
		}
		time.Sleep(5 * time.Millisecond)
	}
	crashed = crashed.CrashClone()
	db2 := mustOpen(t, "db", Options{FS: crashed, Shards: opts.Shards, MemtableSize: opts.MemtableSize})
	defer db2.Close()
	if got := db2.Stats().WALBytesReplayed; got > 4096 {
		t.Fatalf("second recovery replayed %d WAL bytes; the first one's flush should have retired them", got)
	}
	for i := range n {
		rec, err := db2.Get(testKey(i))
		if err != nil || !bytes.Equal(rec.Value, testValue(i)) {
			t.Fatalf("key %d after two crashes: %v", i, err)
		}
	}
}
