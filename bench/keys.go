package bench

import "math/bits"

// KeyFormat turns a key index into a fixed-size key: the index in decimal,
// zero-padded to Size bytes, as LevelDB's db_bench does with "%016d". Keys
// therefore sort in index order.
//
// MissingKey derives keys guaranteed absent from any set of Key keys: they
// end in '.', which no Key key contains, and they sort among the real keys.
//
// A KeyFormat is a value; its methods are safe for concurrent use and do not
// allocate.
type KeyFormat struct {
	Size int // key length in bytes
}

// MaxIndex returns the largest index that both Key and MissingKey can
// represent in f.Size bytes, or 0 if f.Size < 2.
func (f KeyFormat) MaxIndex() uint64 {
	digits := f.Size - 1
	if digits < 1 {
		return 0
	}
	if digits >= 20 {
		return 1<<64 - 1
	}
	m := uint64(1)
	for range digits {
		m *= 10
	}
	return m - 1
}

// Key writes the key of index i into dst[:f.Size] and returns that slice.
// dst must have room for f.Size bytes. Digits that do not fit are dropped
// from the left; Validate-checked configurations never need that.
func (f KeyFormat) Key(dst []byte, i uint64) []byte {
	k := dst[:f.Size]
	putDecimal(k, i)
	return k
}

// MissingKey writes into dst[:f.Size] a key that Key never produces: index
// i in f.Size-1 digits followed by '.'. It sorts just before the keys of
// i*10 .. i*10+9, so lookups land inside the key range.
func (f KeyFormat) MissingKey(dst []byte, i uint64) []byte {
	k := dst[:f.Size]
	putDecimal(k[:f.Size-1], i)
	k[f.Size-1] = '.'
	return k
}

// putDecimal writes v in decimal, right-aligned and zero-padded, into b,
// dropping digits that do not fit.
func putDecimal(b []byte, v uint64) {
	j := len(b)
	for v >= 10 && j >= 2 {
		d := v % 100 * 2
		v /= 100
		b[j-1], b[j-2] = digitPairs[d+1], digitPairs[d]
		j -= 2
	}
	if v > 0 && j >= 1 {
		b[j-1] = byte('0' + v%10)
		j--
	}
	for k := range b[:j] {
		b[k] = '0'
	}
}

const digitPairs = "00010203040506070809" +
	"10111213141516171819" +
	"20212223242526272829" +
	"30313233343536373839" +
	"40414243444546474849" +
	"50515253545556575859" +
	"60616263646566676869" +
	"70717273747576777879" +
	"80818283848586878889" +
	"90919293949596979899"

// Permutation is a pseudo-random bijection of [0, n), computed in constant
// time and memory: a four-round Feistel network over the smallest even power
// of two >= n, with cycle walking to stay below n. Walking in index order
// visits every key exactly once in a random order, which fill and delete
// workloads use so that every key is written or deleted once.
//
// A Permutation is a value; At is safe for concurrent use and does not
// allocate.
type Permutation struct {
	n        uint64
	halfBits uint
	mask     uint64 // of one half
	keys     [4]uint64
}

// NewPermutation returns the permutation of [0, n) selected by seed.
func NewPermutation(n uint64, seed uint64) Permutation {
	p := Permutation{n: n}
	total := uint(1)
	if n > 1 {
		total = uint(bits.Len64(n - 1))
	}
	p.halfBits = (total + 1) / 2
	p.mask = 1<<p.halfBits - 1
	s := seed
	for r := range p.keys {
		s = splitmix64(s)
		p.keys[r] = s
	}
	return p
}

// N returns the size of the permuted range.
func (p Permutation) N() uint64 { return p.n }

// At returns the image of i, for i < p.N(). The result for other i is
// unspecified.
func (p Permutation) At(i uint64) uint64 {
	if p.n <= 1 {
		return 0
	}
	x := i
	for {
		x = p.feistel(x)
		if x < p.n {
			return x
		}
	}
}

func (p Permutation) feistel(x uint64) uint64 {
	l := x >> p.halfBits
	r := x & p.mask
	for _, k := range p.keys {
		l, r = r, l^(splitmix64(r^k)&p.mask)
	}
	return l<<p.halfBits | r
}

// splitmix64 is the SplitMix64 finaliser: a fast, well-mixing bijection of
// uint64.
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}
