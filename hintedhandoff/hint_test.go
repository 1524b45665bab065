package hintedhandoff

import (
	"bytes"
	"errors"
	"go/build"
	"strings"
	"testing"
	"time"
)

func TestKeyRoundTrip(t *testing.T) {
	tests := []struct {
		name, target string
		ms, seq      uint64
		key          string
	}{
		{"simple", "node-1", 1700000000000, 1, "k"},
		{"zero", "a", 0, 0, "\x00"},
		{"max", strings.Repeat("\xff", MaxTargetLen), ^uint64(0), ^uint64(0), "\xff\xff"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := appendKey(nil, targetPrefix(tt.target), tt.ms, tt.seq, []byte(tt.key))
			if want := 1 + len(tt.target) + 16 + len(tt.key); len(k) != want {
				t.Fatalf("key length %d, want %d", len(k), want)
			}
			hk, err := decodeKey(k)
			if err != nil {
				t.Fatal(err)
			}
			if string(hk.target) != tt.target || hk.ms != tt.ms || hk.seq != tt.seq || string(hk.key) != tt.key {
				t.Fatalf("got %q %d %d %q", hk.target, hk.ms, hk.seq, hk.key)
			}
		})
	}
}

func TestKeyLayout(t *testing.T) {
	got := appendKey(nil, targetPrefix("ab"), 0x0102030405060708, 0x1112131415161718, []byte("k"))
	want := []byte{2, 'a', 'b', 1, 2, 3, 4, 5, 6, 7, 8, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 'k'}
	if !bytes.Equal(got, want) {
		t.Fatalf("got % x\nwant % x", got, want)
	}
}

func TestValueLayout(t *testing.T) {
	got := appendValue(nil, &Record{Value: []byte("v"), Version: 0x0102030405060708})
	want := []byte{1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 0, 'v'}
	// Bytes 10..13 are the checksum; compare the rest.
	if len(got) != len(want) || !bytes.Equal(got[:10], want[:10]) || !bytes.Equal(got[14:], want[14:]) {
		t.Fatalf("got % x\nwant % x (checksum aside)", got, want)
	}
	tomb := appendValue(nil, &Record{Value: []byte("ignored"), Version: 9, Tombstone: true})
	if len(tomb) != valueHeaderLen || tomb[1] != flagTombstone {
		t.Fatalf("tombstone encodes as % x", tomb)
	}
}

func TestDecodeKeyErrors(t *testing.T) {
	tests := []struct {
		name string
		key  []byte
	}{
		{"empty", nil},
		{"zero target length", append([]byte{0}, make([]byte, 20)...)},
		{"short target", []byte{5, 'a', 'b'}},
		{"no time", []byte{1, 'a', 0, 0}},
		{"no record key", append([]byte{1, 'a'}, make([]byte, 16)...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := decodeKey(tt.key); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("got %v, want ErrCorrupt", err)
			}
		})
	}
}

func TestValueRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		rec  Record
	}{
		{"value", Record{Value: []byte("hello"), Version: 42}},
		{"empty value", Record{Value: []byte{}, Version: 1}},
		{"tombstone", Record{Version: ^uint64(0), Tombstone: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := appendValue([]byte("prefix"), &tt.rec)[len("prefix"):]
			if len(b) != valueLen(&tt.rec) {
				t.Fatalf("length %d, valueLen %d", len(b), valueLen(&tt.rec))
			}
			var got Record
			if err := decodeValue(b, &got); err != nil {
				t.Fatal(err)
			}
			if got.Version != tt.rec.Version || got.Tombstone != tt.rec.Tombstone || !bytes.Equal(got.Value, tt.rec.Value) {
				t.Fatalf("got %+v, want %+v", got, tt.rec)
			}
		})
	}
}

func TestDecodeValueErrors(t *testing.T) {
	good := appendValue(nil, &Record{Value: []byte("value"), Version: 7})
	mod := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	tests := []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"short header", good[:valueHeaderLen-1]},
		{"bad format", mod(func(b []byte) []byte { b[0] = 2; return b })},
		{"unknown flag", mod(func(b []byte) []byte { b[1] = 2; return b })},
		{"flipped version bit", mod(func(b []byte) []byte { b[5] ^= 1; return b })},
		{"flipped value bit", mod(func(b []byte) []byte { b[len(b)-1] ^= 1; return b })},
		{"truncated value", good[:len(good)-1]},
		{"tombstone with value", func() []byte {
			b := appendValue(nil, &Record{Version: 1, Tombstone: true})
			b = append(b, 'x')
			return b
		}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r Record
			if err := decodeValue(tt.b, &r); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("got %v, want ErrCorrupt", err)
			}
		})
	}
}

func TestPrefixEnd(t *testing.T) {
	tests := []struct {
		name     string
		in, want []byte
	}{
		{"plain", []byte{1, 'a'}, []byte{1, 'b'}},
		{"carry", []byte{2, 'a', 0xff}, []byte{2, 'b'}},
		{"all ff", []byte{0xff, 0xff}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := prefixEnd(tt.in); !bytes.Equal(got, tt.want) || (got == nil) != (tt.want == nil) {
				t.Fatalf("prefixEnd(% x) = % x, want % x", tt.in, got, tt.want)
			}
		})
	}
	// Every key of a target sorts inside its range and outside the range of
	// any other target, including one whose name extends it.
	for _, pair := range [][2]string{{"a", "ab"}, {"ab", "a"}, {"a", "b"}, {"\xff", "\xff\xff"}} {
		k := appendKey(nil, targetPrefix(pair[0]), ^uint64(0), ^uint64(0), []byte("\xff"))
		p := targetPrefix(pair[1])
		if bytes.Compare(k, p) >= 0 && (prefixEnd(p) == nil || bytes.Compare(k, prefixEnd(p)) < 0) {
			t.Errorf("key of %q falls in the range of %q", pair[0], pair[1])
		}
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"zero", Config{}, true},
		{"default", DefaultConfig(), true},
		{"negative MaxBytes", Config{MaxBytes: -1}, false},
		{"negative MaxAge", Config{MaxAge: -time.Second}, false},
		{"tiny MaxAge", Config{MaxAge: time.Microsecond}, false},
		{"negative ReplayRate", Config{ReplayRate: -1}, false},
		{"huge ReplayBatch", Config{ReplayBatch: 1 << 20}, false},
		{"negative ReplayBatchBytes", Config{ReplayBatchBytes: -1}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if (err == nil) != tt.ok {
				t.Fatalf("Validate() = %v, want ok=%v", err, tt.ok)
			}
			if err != nil && !strings.HasPrefix(err.Error(), "hintedhandoff: ") {
				t.Fatalf("error %q lacks the package prefix", err)
			}
		})
	}
	d := DefaultConfig()
	if d.MaxBytes != 1<<30 || d.MaxAge != 3*time.Hour || d.ReplayRate != 5000 || d.ReplayBatch != 256 {
		t.Fatalf("defaults changed: %+v", d)
	}
}

// TestImports keeps the package a leaf: the standard library and
// kvstore/storage only.
func TestImports(t *testing.T) {
	pkg, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, imp := range pkg.Imports {
		first, _, _ := strings.Cut(imp, "/")
		if imp != "kvstore/storage" && (first == "kvstore" || strings.Contains(first, ".")) {
			t.Errorf("forbidden import %q", imp)
		}
	}
}
