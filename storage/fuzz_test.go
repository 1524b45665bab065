package storage

import (
	"bytes"
	"errors"
	"testing"

	"kvstore/storage/internal/base"
	"kvstore/storage/memtable"
)

// FuzzWALPayload decodes arbitrary WAL record payloads: no panic, and
// whatever decodes re-encodes to the same bytes.
func FuzzWALPayload(f *testing.F) {
	var b Batch
	b.Put([]byte("key"), []byte("value"), NewVersion(1700000000000, 1, 2))
	b.Delete([]byte("gone"), NewVersion(1700000000001, 0, 3))
	f.Add(appendWALPayload(nil, 0, b.count, b.data))
	f.Add(appendWALPayload(nil, 3, 1, encodeOp(nil, base.KindValue, []byte("k"), nil, 7)))
	f.Add([]byte{0, 0})
	f.Add([]byte{1, 2, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 'k', 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, p []byte) {
		shard, encoded, need, err := parseWALPayload(p)
		if err != nil {
			return
		}
		var ops []op
		sum := 0
		for rest := encoded; len(rest) > 0; {
			o, next, err := decodeOp(rest)
			if err != nil {
				t.Fatalf("a checked payload does not decode: %v", err)
			}
			ops = append(ops, o)
			sum += memtable.EntrySize(len(o.key), len(o.value))
			rest = next
		}
		if sum != need {
			t.Fatalf("need %d, records take %d", need, sum)
		}
		var re []byte
		for _, o := range ops {
			re = encodeOp(re, o.kind, o.key, o.value, o.version)
		}
		// Non-minimal uvarints decode but re-encode shorter: compare the
		// decoded content.
		s2, enc2, need2, err := parseWALPayload(appendWALPayload(nil, shard, len(ops), re))
		if err != nil || s2 != shard || need2 != need || !bytes.Equal(enc2, re) {
			t.Fatalf("re-encoded payload differs: %v", err)
		}
	})
}

// FuzzManifest decodes arbitrary manifest files: no panic, errors wrap
// ErrCorruption, and a decoded manifest re-encodes to a manifest that
// decodes the same.
func FuzzManifest(f *testing.F) {
	m := &manifest{nextFileNum: 9, minLogNum: 7, tables: []manifestTable{
		{level: 0, meta: tableMeta{fileNum: 5, size: 1000, numEntries: 10, minVersion: 1, maxVersion: 9, smallest: []byte("a"), largest: []byte("m")}},
		{level: 3, meta: tableMeta{fileNum: 6, size: 2000, numEntries: 20, numTombstones: 2, smallest: []byte("b"), largest: []byte("b")}},
	}}
	f.Add(m.encode())
	f.Add((&manifest{nextFileNum: 1}).encode())
	f.Add([]byte(manifestMagic))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodeManifest(b)
		if err != nil {
			if !errors.Is(err, ErrCorruption) {
				t.Fatalf("error does not mark corruption: %v", err)
			}
			return
		}
		m2, err := decodeManifest(m.encode())
		if err != nil {
			t.Fatalf("re-encoded manifest fails: %v", err)
		}
		if len(m2.tables) != len(m.tables) || m2.nextFileNum != m.nextFileNum || m2.minLogNum != m.minLogNum {
			t.Fatalf("round trip changed the manifest")
		}
	})
}

// FuzzEngineFile decodes arbitrary ENGINE files without panicking.
func FuzzEngineFile(f *testing.F) {
	f.Add(engineFile{shards: 8, shardPrefixLen: 2}.encode())
	f.Add([]byte(engineMagic))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := decodeEngineFile(b)
		if err != nil {
			return
		}
		if e2, err := decodeEngineFile(e.encode()); err != nil || e2 != e {
			t.Fatalf("round trip: %v %+v %+v", err, e, e2)
		}
	})
}
