package antientropy

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"

	"kvstore/storage"
)

// Published XXH64 test vectors (xxHash reference implementation).
func TestHash64Vectors(t *testing.T) {
	tests := []struct {
		in   string
		seed uint64
		want uint64
	}{
		{"", 0, 0xef46db3751d8e999},
		{"", 668718853, 0x04e830582a31a119},
		{"a", 0, 0xd24ec4f1a98c6e5b},
		{"a", 191961062, 0x6e05ba2887c97977},
		{"ab", 0, 7347350983217793633},
		{"abc", 0, 0x44bc2cf5ad770999},
		{"ABC", 0, 0xe66ae7354fcfee98},
		{"xxhash", 0, 0x32dd38952c4bc720},
		{"abcdefghijkl", 0, 0x4b09b7d3a233d4b3},
		{"abcdefghijklmnop", 0, 0x71ce8137ca2dd53d},
		{"abcdefghijklmnopqrstuvwx", 0, 0x0bec95e34669983b},
		{"abcdefghijklmnopqrstuvwxyz12345", 0, 0x467605901b01d6f6},
		{"abcdefghijklmnopqrstuvwxyz12345", 877380273, 0x37b562ec5715e132},
		{"abcdefghijklmnopqrstuvwxyz123456", 0, 0x0022ee3b5a18531b},
		{"abcdefghijklmnopqrstuvwxyz1234567", 0, 0x23bbd16d29353c5f},
	}
	for _, tt := range tests {
		if got := Hash64([]byte(tt.in), tt.seed); got != tt.want {
			t.Errorf("Hash64(%q, %d) = %#x, want %#x", tt.in, tt.seed, got, tt.want)
		}
	}
}

func TestHashWordsMatchesBytes(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for n := range 40 {
		w := make([]uint64, n)
		b := make([]byte, 8*n)
		for i := range w {
			w[i] = rng.Uint64()
			binary.LittleEndian.PutUint64(b[8*i:], w[i])
		}
		seed := rng.Uint64()
		if got, want := hashWords(w, seed), Hash64(b, seed); got != want {
			t.Fatalf("%d words: hashWords = %#x, Hash64 = %#x", n, got, want)
		}
	}
}

// TestGoldenHashes freezes the hashes nodes exchange. If it fails, the
// protocol changed: nodes of different builds would see every partition
// differ. Never update these values; add a protocol version instead.
func TestGoldenHashes(t *testing.T) {
	v := storage.NewVersion(1_700_000_000_000, 3, 7)
	value := EntryOf([]byte("user:42"), []byte("hello"), v, false)
	tomb := EntryOf([]byte("user:42"), nil, v, true)
	tests := []struct {
		name string
		got  uint64
		want uint64
	}{
		{"KeyHash", KeyHash([]byte("user:42")), 0xdc1fea7da8d2d1c2},
		{"ValueHash", ValueHash([]byte("hello")), 0x26c7827d889f6da3},
		{"EntryHash value", EntryHash(value), 0x79aa2be0bfe7621a},
		{"EntryHash tombstone", EntryHash(tomb), 0x7189579c96096140},
		{"EntryHash empty value", EntryHash(EntryOf([]byte("k"), []byte{}, 1, false)), 0x924738a98250c14e},
		{"root empty 16x3", mustTree(t, DefaultTreeConfig()).Root(), 0xc743c4692ac8b9b3},
		{"root 16x3", goldenTree(t, DefaultTreeConfig()).Root(), 0xcef9b4f3462bd76b},
		{"root 4x2", goldenTree(t, TreeConfig{Fanout: 4, Depth: 2}).Root(), 0xd503c160bcdc5e14},
		{"root 256x1", goldenTree(t, TreeConfig{Fanout: 256, Depth: 1}).Root(), 0xd1ea54b47b0fffc7},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s = %#x, want %#x", tt.name, tt.got, tt.want)
		}
	}
	// The record hash from its definition in the package documentation.
	var trailer [17]byte
	binary.LittleEndian.PutUint64(trailer[0:], uint64(v))
	trailer[8] = 1
	binary.LittleEndian.PutUint64(trailer[9:], Hash64([]byte("hello"), 0))
	if got, want := EntryHash(value), Hash64(trailer[:], Hash64([]byte("user:42"), 0)); got != want {
		t.Errorf("EntryHash = %#x, definition gives %#x", got, want)
	}
	if got, want := goldenTree(t, DefaultTreeConfig()).LeafOf([]byte("user:42")), 450; got != want {
		t.Errorf("LeafOf(user:42) = %d, want %d", got, want)
	}
}

func mustTree(t testing.TB, cfg TreeConfig) *Tree {
	t.Helper()
	tr, err := NewTree(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// goldenTree holds 100 fixed records: values, tombstones and an empty value.
func goldenTree(t testing.TB, cfg TreeConfig) *Tree {
	t.Helper()
	var recs []Record
	for i := range 100 {
		r := Record{Key: testKey(i), Version: storage.NewVersion(1_700_000_000_000+int64(i), uint32(i%4), 1)}
		switch i % 10 {
		case 0:
			r.Tombstone = true
		case 1:
			r.Value = []byte{}
		default:
			r.Value = []byte(string(rune('a'+i%26)) + "-value")
		}
		recs = append(recs, r)
	}
	tr, err := BuildTree(cfg, &sliceIter{recs: recs})
	if err != nil {
		t.Fatal(err)
	}
	return tr
}
