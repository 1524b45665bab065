package sstable

import (
	"slices"

	"kvstore/storage/internal/base"
)

// Bloom filter constants; part of the format (see the package documentation).
const (
	filterLineBytes = 64 // one cache line per filter block
	filterLineBits  = filterLineBytes * 8
	filterMaxProbes = 30
	// filterProbeMul advances the probe hash: probe i+1 uses h2*filterProbeMul
	// where probe i used h2.
	filterProbeMul = 0x9e3779b9
)

// filterProbes returns the number of probes for bitsPerKey, about
// bitsPerKey*ln 2, which minimises the false-positive rate.
func filterProbes(bitsPerKey int) int {
	k := (bitsPerKey*69 + 50) / 100
	return min(max(k, 1), filterMaxProbes)
}

// appendFilter appends a filter block body for the given key hashes.
func appendFilter(dst []byte, hashes []uint64, bitsPerKey int) []byte {
	nlines := (len(hashes)*bitsPerKey + filterLineBits - 1) / filterLineBits
	nlines = max(nlines, 1)
	k := filterProbes(bitsPerKey)
	start := len(dst)
	dst = slices.Grow(dst, nlines*filterLineBytes+1)[:start+nlines*filterLineBytes]
	f := dst[start:]
	clear(f)
	for _, h := range hashes {
		line := f[filterLine(h, uint64(nlines))*filterLineBytes:][:filterLineBytes]
		h2 := uint32(h)
		for i := 0; i < k; i++ {
			bit := h2 >> 23
			line[bit>>3] |= 1 << (bit & 7)
			h2 *= filterProbeMul
		}
	}
	return append(dst, byte(k))
}

// filterLine maps a hash to one of nlines cache lines using its high 32 bits.
func filterLine(h, nlines uint64) uint64 {
	return (h >> 32) * nlines >> 32
}

// filter is a decoded filter block. The zero filter (no lines) matches every
// key: it stands for a table written without a filter.
type filter struct {
	bits   []byte // nlines*filterLineBytes bytes
	nlines uint64
	k      int
}

// decodeFilter decodes a filter block body. An empty body means no filter.
func decodeFilter(b []byte) (filter, error) {
	if len(b) == 0 {
		return filter{}, nil
	}
	n := len(b) - 1
	k := int(b[n])
	if n == 0 || n%filterLineBytes != 0 || uint64(n/filterLineBytes) >= 1<<32 {
		return filter{}, base.CorruptionErrorf("sstable: filter block of %d bytes is not a whole number of %d-byte lines plus one", len(b), filterLineBytes)
	}
	if k < 1 || k > filterMaxProbes {
		return filter{}, base.CorruptionErrorf("sstable: filter block has %d probes, want 1 to %d", k, filterMaxProbes)
	}
	return filter{bits: b[:n:n], nlines: uint64(n / filterLineBytes), k: k}, nil
}

// mayContain reports whether the key with hash h may be in the table.
func (f *filter) mayContain(h uint64) bool {
	if f.nlines == 0 {
		return true
	}
	o := filterLine(h, f.nlines) * filterLineBytes
	line := f.bits[o : o+filterLineBytes : o+filterLineBytes]
	h2 := uint32(h)
	for i := 0; i < f.k; i++ {
		bit := h2 >> 23
		if line[(bit>>3)&(filterLineBytes-1)]&(1<<(bit&7)) == 0 {
			return false
		}
		h2 *= filterProbeMul
	}
	return true
}
