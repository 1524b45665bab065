package ring

import (
	"hash/fnv"
	"math/rand/v2"
	"testing"
)

// The key hash is a frozen format: these values must never change.
func TestHashGolden(t *testing.T) {
	tests := []struct {
		name  string
		key   []byte
		fnv   uint64
		hash  uint64
		p1024 int
		p271  int
	}{
		{"empty", []byte(""), 0xcbf29ce484222325, 0xefd01f60ba992926, 294, 261},
		{"a", []byte("a"), 0xaf63dc4c8601ec8c, 0x82a2a958a9bece5b, 603, 165},
		{"foobar", []byte("foobar"), 0x85944171f73967e8, 0x2c22194922d1672b, 811, 18},
		{"key1", []byte("key1"), 0x5819c5d75cbda787, 0xdde145d7536e77b8, 952, 270},
		{"user:42", []byte("user:42"), 0x6c151ea4dcd221c2, 0x998817bee6718248, 584, 184},
		{"bytes0-15", []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}, 0x7c84dc9477851775, 0xf110b958da43f7e6, 998, 170},
		{"nul", []byte{0}, 0xaf63bd4c8601b7df, 0xb9034ad37056f5fb, 507, 51},
		{"ff*8", []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, 0x8cf51a8bfca3883d, 0x6a92c0228678c02e, 46, 240},
		{"utf8", []byte("日本"), 0x121d7e35a6d3ce91, 0x1230c55089fe4e43, 579, 216},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := fnv1a64(tt.key); got != tt.fnv {
				t.Errorf("fnv1a64 = %#x, want %#x", got, tt.fnv)
			}
			if got := Hash64(tt.key); got != tt.hash {
				t.Errorf("Hash64 = %#x, want %#x", got, tt.hash)
			}
			if got := PartitionOf(tt.key, 1024); got != tt.p1024 {
				t.Errorf("PartitionOf(1024) = %d, want %d", got, tt.p1024)
			}
			if got := PartitionOf(tt.key, 271); got != tt.p271 {
				t.Errorf("PartitionOf(271) = %d, want %d", got, tt.p271)
			}
			if got := PartitionOf(tt.key, 1); got != 0 {
				t.Errorf("PartitionOf(1) = %d, want 0", got)
			}
		})
	}
}

func TestFNVMatchesStdlib(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 1000 {
		key := make([]byte, rng.IntN(100))
		for i := range key {
			key[i] = byte(rng.Uint32())
		}
		h := fnv.New64a()
		h.Write(key)
		if got, want := fnv1a64(key), h.Sum64(); got != want {
			t.Fatalf("fnv1a64(%x) = %#x, hash/fnv says %#x", key, got, want)
		}
	}
}

func TestPartitionOfRangeAndSpread(t *testing.T) {
	const P = 1024
	counts := make([]int, P)
	key := make([]byte, 8)
	const keys = 1 << 18
	for i := range keys {
		// Sequential keys: the finaliser must spread them.
		for j := range key {
			key[j] = byte(i >> (8 * j))
		}
		p := PartitionOf(key, P)
		if p < 0 || p >= P {
			t.Fatalf("PartitionOf = %d, out of [0, %d)", p, P)
		}
		counts[p]++
	}
	lo, hi := keys, 0
	for _, c := range counts {
		lo, hi = min(lo, c), max(hi, c)
	}
	mean := keys / P
	t.Logf("keys per partition: mean %d, min %d, max %d", mean, lo, hi)
	// 256 expected, sd 16: 6 sd either side.
	if lo < mean-96 || hi > mean+96 {
		t.Errorf("uneven spread: min %d max %d, mean %d", lo, hi, mean)
	}
}
