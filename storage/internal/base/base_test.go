package base

import (
	"testing"
)

func TestNewerIsATotalOrder(t *testing.T) {
	type rec struct {
		v   uint64
		k   Kind
		val string
	}
	recs := []rec{
		{1, KindValue, "a"}, {2, KindTombstone, ""}, {2, KindValue, ""},
		{2, KindValue, "a"}, {2, KindValue, "b"}, {3, KindTombstone, ""},
	}
	// recs is sorted ascending: each is newer than all before it.
	for i, a := range recs {
		for j, b := range recs {
			got := Newer(a.v, a.k, []byte(a.val), b.v, b.k, []byte(b.val))
			if want := i > j; got != want {
				t.Errorf("Newer(%v, %v) = %v, want %v", a, b, got, want)
			}
		}
	}
}

// Hash64 is part of the table format: these values must never change.
func TestHash64Golden(t *testing.T) {
	tests := []struct {
		in   string
		want uint64
	}{
		{"", 0x9ca066f1a4ab2eea},
		{"a", 0xfc4c6ba602089c5f},
		{"key-0000000000001", 0x9131b228fd25b31a},
		{"0123456789abcdef0123456789abcdef", 0x823330a0cca56b86},
	}
	for _, tc := range tests {
		if got := Hash64([]byte(tc.in)); got != tc.want {
			t.Errorf("Hash64(%q) = %#x, want %#x", tc.in, got, tc.want)
		}
	}
}
