package memtable

import (
	"testing"

	"kvstore/storage/internal/base"
)

// FuzzOps reads a sequence of operations from the input, applies them to a
// small memtable and to a map, and compares every answer (see runOps for the
// encoding).
func FuzzOps(f *testing.F) {
	f.Add([]byte{0})
	f.Add([]byte{4, 0, 2, 'a', 'b', 5, 1, 'x', 1, 1, 'a', 2, 'a', 'b'})
	f.Add([]byte{0, 0, 1, 'k', 9, 0, 0, 0, 1, 'k', 9, 1, 3, 'a', 'b', 'c', 3, 0, 4})
	f.Add([]byte{1, 0, 0, 1, 0, 0, 0, 1, 'a', 1, 3, 0, 0, 1, 'b', 2, 1, 7, 'v', 'v', 'v', 'v', 'v', 'v', 'v', 4})
	f.Fuzz(func(t *testing.T, data []byte) {
		runOps(t, data)
	})
}

// runOps decodes data as: capacity byte c (capacity 64*c), then operations,
// each an op byte o followed by arguments:
//
//	o%5 == 0, 1  Set: keyLen byte, key, version byte, kind byte (low bit),
//	             valueLen byte (mod 16), value
//	o%5 == 2     Get: keyLen byte, key
//	o%5 == 3     SeekGE + up to o/5%4 Next: keyLen byte, key
//	o%5 == 4     full scan
//
// Key lengths are taken mod 4; missing bytes read as zero.
func runOps(t *testing.T, data []byte) {
	next := func() byte {
		if len(data) == 0 {
			return 0
		}
		b := data[0]
		data = data[1:]
		return b
	}
	bytesN := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = next()
		}
		return string(b)
	}
	m := New(64 * int(next()))
	mod := model{recs: map[string]rec{}}
	for len(data) > 0 {
		o := next()
		switch o % 5 {
		case 0, 1:
			key := bytesN(int(next() % 4))
			r := rec{version: uint64(next()), kind: base.Kind(next() & 1)}
			r.value = bytesN(int(next() % 16))
			checkSet(t, m, &mod, key, r)
		case 2:
			key := bytesN(int(next() % 4))
			got, gotOK := getRec(t, m, key)
			if want, wantOK := mod.recs[key]; gotOK != wantOK || got != want {
				t.Fatalf("Get(%q) = %v, %v; want %v, %v", key, got, gotOK, want, wantOK)
			}
		case 3:
			checkSeek(t, m, &mod, bytesN(int(next()%4)), int(o/5%4))
		case 4:
			checkAll(t, m, &mod)
		}
	}
	checkAll(t, m, &mod)
}
