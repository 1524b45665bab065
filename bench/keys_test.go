package bench

import (
	"bytes"
	"compress/flate"
	"fmt"
	"math"
	"testing"
)

func TestKeyFormat(t *testing.T) {
	tests := []struct {
		size        int
		i           uint64
		key, absent string
	}{
		{16, 0, "0000000000000000", "000000000000000."},
		{16, 42, "0000000000000042", "000000000000042."},
		{4, 999, "0999", "999."},
		{2, 7, "07", "7."},
		{24, math.MaxUint64, "000018446744073709551615", "00018446744073709551615."},
	}
	for _, tt := range tests {
		f := KeyFormat{Size: tt.size}
		buf := make([]byte, tt.size)
		if got := string(f.Key(buf, tt.i)); got != tt.key {
			t.Errorf("KeyFormat{%d}.Key(%d) = %q, want %q", tt.size, tt.i, got, tt.key)
		}
		if got := string(f.MissingKey(buf, tt.i)); got != tt.absent {
			t.Errorf("KeyFormat{%d}.MissingKey(%d) = %q, want %q", tt.size, tt.i, got, tt.absent)
		}
	}
}

func TestKeyFormatMaxIndex(t *testing.T) {
	tests := []struct {
		size int
		want uint64
	}{
		{0, 0}, {1, 0}, {2, 9}, {4, 999}, {16, 999_999_999_999_999},
		{20, 9_999_999_999_999_999_999}, {21, math.MaxUint64}, {64, math.MaxUint64},
	}
	for _, tt := range tests {
		if got := (KeyFormat{Size: tt.size}).MaxIndex(); got != tt.want {
			t.Errorf("KeyFormat{%d}.MaxIndex() = %d, want %d", tt.size, got, tt.want)
		}
	}
}

func TestKeysSortByIndex(t *testing.T) {
	f := KeyFormat{Size: 8}
	prev := make([]byte, 8)
	cur := make([]byte, 8)
	f.Key(prev, 0)
	for i := uint64(1); i < 5000; i += 7 {
		f.Key(cur, i)
		if bytes.Compare(prev, cur) >= 0 {
			t.Fatalf("key %q of %d does not sort after %q", cur, i, prev)
		}
		copy(prev, cur)
	}
}

func TestKeyFormatDoesNotAllocate(t *testing.T) {
	f := KeyFormat{Size: 16}
	buf := make([]byte, 16)
	i := uint64(0)
	if allocs := testing.AllocsPerRun(100, func() { i++; f.Key(buf, i); f.MissingKey(buf, i) }); allocs != 0 {
		t.Errorf("Key and MissingKey allocate %v times", allocs)
	}
}

func TestPermutationIsBijection(t *testing.T) {
	for _, n := range []uint64{1, 2, 3, 7, 64, 1000, 4097} {
		for _, seed := range []uint64{0, 1, 99} {
			p := NewPermutation(n, seed)
			seen := make([]bool, n)
			fixed := 0
			for i := range n {
				v := p.At(i)
				if v >= n {
					t.Fatalf("n=%d seed=%d: At(%d) = %d out of range", n, seed, i, v)
				}
				if seen[v] {
					t.Fatalf("n=%d seed=%d: At(%d) = %d repeats", n, seed, i, v)
				}
				seen[v] = true
				if v == i {
					fixed++
				}
			}
			if n >= 1000 && fixed > int(n/50) {
				t.Errorf("n=%d seed=%d: %d fixed points: not shuffled", n, seed, fixed)
			}
		}
	}
	if a, b := NewPermutation(1000, 1), NewPermutation(1000, 2); a.At(1) == b.At(1) && a.At(2) == b.At(2) && a.At(3) == b.At(3) {
		t.Errorf("seeds 1 and 2 give the same permutation")
	}
}

func TestValueGen(t *testing.T) {
	g := NewValueGen(1, 100, DefaultCompressionRatio)
	f1, f2 := g.Fork(1), g.Fork(2)
	a, b := f1.Next(100), f2.Next(100)
	if len(a) != 100 || len(b) != 100 {
		t.Fatalf("Next(100) returned %d and %d bytes", len(a), len(b))
	}
	if bytes.Equal(a, b) {
		t.Errorf("forks 1 and 2 start with the same value")
	}
	if allocs := testing.AllocsPerRun(1000, func() { f1.Next(100) }); allocs != 0 {
		t.Errorf("Next allocates %v times", allocs)
	}
	// The buffer compresses to about the ratio, as db_bench's values do.
	var out bytes.Buffer
	w, _ := flate.NewWriter(&out, flate.BestSpeed)
	w.Write(g.buf)
	w.Close()
	if ratio := float64(out.Len()) / float64(len(g.buf)); ratio < 0.3 || ratio > 0.7 {
		t.Errorf("value buffer compresses to %.2f of its size, want about %.2f", ratio, DefaultCompressionRatio)
	}
	// Large values wrap around the buffer without running off its end.
	big := NewValueGen(2, 3<<20, 0.5)
	for range 5 {
		if v := big.Next(3 << 20); len(v) != 3<<20 {
			t.Fatalf("Next(3 MiB) returned %d bytes", len(v))
		}
	}
}

func TestParseProcStatus(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		rss, hwm int64
	}{
		{"linux", "Name:\tbench\nVmPeak:\t  9000 kB\nVmHWM:\t    1928 kB\nVmRSS:\t    1024 kB\nThreads:\t3\n", 1024 << 10, 1928 << 10},
		{"no trailing newline", "VmRSS:\t 5 kB", 5 << 10, 0},
		{"missing", "Name:\tx\n", 0, 0},
		{"malformed", "VmRSS: lots kB\nVmHWM: 12 MB\nVmRSS:\n", 0, 0},
		{"empty", "", 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rss, hwm := parseProcStatus([]byte(tt.in))
			if rss != tt.rss || hwm != tt.hwm {
				t.Errorf("parseProcStatus = %d, %d, want %d, %d", rss, hwm, tt.rss, tt.hwm)
			}
		})
	}
}

func TestReadRSS(t *testing.T) {
	rss, peak := ReadRSS()
	if rss < 0 || peak < 0 || (peak > 0 && peak < rss) {
		t.Errorf("ReadRSS() = %d, %d: want 0 <= rss <= peak", rss, peak)
	}
}

func BenchmarkKeyFormat(b *testing.B) {
	f := KeyFormat{Size: 16}
	buf := make([]byte, 16)
	b.ReportAllocs()
	i := uint64(0)
	for b.Loop() {
		i++
		f.Key(buf, i)
	}
}

func BenchmarkPermutationAt(b *testing.B) {
	p := NewPermutation(1_000_000, 1)
	b.ReportAllocs()
	i := uint64(0)
	for b.Loop() {
		i = (i + 1) % 1_000_000
		p.At(i)
	}
}

func BenchmarkValueGenNext(b *testing.B) {
	g := NewValueGen(1, 100, DefaultCompressionRatio)
	b.ReportAllocs()
	for b.Loop() {
		g.Next(100)
	}
}

func TestPutDecimalMatchesFmt(t *testing.T) {
	values := []uint64{0, 1, 9, 10, 11, 99, 100, 101, 999, 1000, 123456789, math.MaxUint64}
	for v := uint64(1); v < math.MaxUint64/7; v = v*7 + 3 {
		values = append(values, v)
	}
	for _, size := range []int{1, 2, 3, 5, 16, 20, 25} {
		for _, v := range values {
			want := fmt.Sprintf("%0*d", size, v)
			want = want[len(want)-size:] // digits that do not fit are dropped from the left
			b := make([]byte, size)
			putDecimal(b, v)
			if string(b) != want {
				t.Errorf("putDecimal(%d bytes, %d) = %q, want %q", size, v, b, want)
			}
		}
	}
}
