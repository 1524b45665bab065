package sstable

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"kvstore/storage/cache"
	"kvstore/storage/internal/base"
)

// checkTable reads everything from a possibly damaged table and fails the
// test if it returns wrong data or an error not marked as corruption. It
// reports whether the table read back complete and intact.
func checkTable(t *testing.T, what string, data []byte, recs []rec) (intact bool) {
	t.Helper()
	r, err := Open(bytes.NewReader(data), int64(len(data)), ReaderOptions{Cache: cache.New(1 << 20), CacheID: 1})
	if err != nil {
		if !errors.Is(err, base.ErrCorruption) {
			t.Fatalf("%s: Open: %v, want a corruption error", what, err)
		}
		return false
	}
	intact = true
	for _, want := range recs {
		value, version, kind, found, err := r.Get(want.key)
		switch {
		case err != nil:
			if !errors.Is(err, base.ErrCorruption) {
				t.Fatalf("%s: Get(%q): %v, want a corruption error", what, want.key, err)
			}
			intact = false
		case !found || !bytes.Equal(value, want.value) || version != want.version || kind != want.kind:
			t.Fatalf("%s: Get(%q) silently returned found=%v %q %d %v", what, want.key, found, value, version, kind)
		}
	}
	if _, _, _, found, err := r.Get([]byte("absent")); found {
		t.Fatalf("%s: Get(absent) found a record (err %v)", what, err)
	}
	for _, noCache := range []bool{false, true} {
		it := r.NewIter(IterOptions{NoCache: noCache})
		i := 0
		for ok := it.First(); ok; ok = it.Next() {
			if i >= len(recs) {
				t.Fatalf("%s: iterator returned extra key %q", what, it.Key())
			}
			want := recs[i]
			if !bytes.Equal(it.Key(), want.key) || !bytes.Equal(it.Value(), want.value) || it.Version() != want.version || it.Kind() != want.kind {
				t.Fatalf("%s: iterator record %d = %q, want %q", what, i, it.Key(), want.key)
			}
			i++
		}
		if err := it.Close(); err != nil {
			if !errors.Is(err, base.ErrCorruption) {
				t.Fatalf("%s: iterator: %v, want a corruption error", what, err)
			}
			intact = false
		} else if i != len(recs) {
			t.Fatalf("%s: iterator silently stopped after %d of %d records", what, i, len(recs))
		}
	}
	return intact
}

func smallTable(t *testing.T) ([]byte, []rec) {
	recs := genRecords(rand.New(rand.NewPCG(11, 11)), 24)
	for i := range recs {
		if len(recs[i].value) > 20 {
			recs[i].value = recs[i].value[:20]
		}
	}
	return mustBuild(t, recs, WriterOptions{BlockSize: 200, RestartInterval: 3}), recs
}

// Every single-byte change is detected: CRCs cover every byte of the file.
func TestCorruptionEveryByte(t *testing.T) {
	data, recs := smallTable(t)
	if !checkTable(t, "intact", data, recs) {
		t.Fatal("intact table does not read back")
	}
	t.Logf("table of %d bytes, %d records", len(data), len(recs))
	for _, mask := range []byte{0x01, 0x80, 0xff} {
		for i := range data {
			bad := bytes.Clone(data)
			bad[i] ^= mask
			if checkTable(t, fmt.Sprintf("byte %d ^ %#x", i, mask), bad, recs) {
				t.Fatalf("byte %d ^ %#x: corruption went unnoticed", i, mask)
			}
		}
	}
}

func TestTruncated(t *testing.T) {
	data, recs := smallTable(t)
	for n := 0; n < len(data); n++ {
		if checkTable(t, fmt.Sprintf("truncated to %d", n), data[:n], recs) {
			t.Fatalf("table truncated to %d of %d bytes reads back intact", n, len(data))
		}
	}
	// Appended garbage moves the footer: also detected.
	if checkTable(t, "extended", append(bytes.Clone(data), 0), recs) {
		t.Fatal("table with an extra byte reads back intact")
	}
}

// A reader whose file returns an I/O error passes it on unmarked.
type errReaderAt struct {
	data    []byte
	failOff int64
}

var errIO = errors.New("injected I/O error")

func (e *errReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off <= e.failOff && e.failOff < off+int64(len(p)) {
		return 0, errIO
	}
	return bytes.NewReader(e.data).ReadAt(p, off)
}

func TestReadError(t *testing.T) {
	data, recs := smallTable(t)
	if _, err := Open(&errReaderAt{data, int64(len(data)) - 1}, int64(len(data)), ReaderOptions{}); !errors.Is(err, errIO) {
		t.Errorf("Open with failing footer read = %v, want errIO", err)
	}
	r, err := Open(&errReaderAt{data, 0}, int64(len(data)), ReaderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, _, err := r.Get(recs[0].key); !errors.Is(err, errIO) || errors.Is(err, base.ErrCorruption) {
		t.Errorf("Get with failing block read = %v, want errIO", err)
	}
	it := r.NewIter(IterOptions{NoCache: true})
	if it.First() || !errors.Is(it.Close(), errIO) {
		t.Errorf("iterator with failing block read: err %v, want errIO", it.Err())
	}
}
