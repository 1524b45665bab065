package hintedhandoff

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzDecodeHint decodes arbitrary stored hints (key and value): no panic,
// errors mark corruption, and whatever decodes re-encodes to the same bytes.
func FuzzDecodeHint(f *testing.F) {
	p := targetPrefix("node-1")
	f.Add(appendKey(nil, p, 1700000000000, 1, []byte("key")), appendValue(nil, &Record{Value: []byte("value"), Version: 42}))
	f.Add(appendKey(nil, targetPrefix("x"), 0, 0, []byte{0}), appendValue(nil, &Record{Version: 7, Tombstone: true}))
	f.Add([]byte{0}, []byte{1, 0})
	f.Add([]byte{1, 'a'}, []byte{1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 'x'})
	f.Fuzz(func(t *testing.T, key, value []byte) {
		if hk, err := decodeKey(key); err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("key error does not mark corruption: %v", err)
			}
		} else {
			re := appendKey(nil, targetPrefix(string(hk.target)), hk.ms, hk.seq, hk.key)
			if !bytes.Equal(re, key) {
				t.Fatalf("key re-encodes as % x, was % x", re, key)
			}
		}
		var r Record
		if err := decodeValue(value, &r); err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("value error does not mark corruption: %v", err)
			}
			return
		}
		if re := appendValue(nil, &r); !bytes.Equal(re, value) {
			t.Fatalf("value re-encodes as % x, was % x", re, value)
		}
	})
}
