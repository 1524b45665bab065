package bench

import "math/rand/v2"

// DefaultCompressionRatio is the fraction of a value that stays after
// compression: values are half random printable bytes and half repetition,
// as in LevelDB's db_bench.
const DefaultCompressionRatio = 0.5

// minValueBuffer is the size of the shared value buffer unless values are
// larger: big enough that consecutive values of one goroutine differ.
const minValueBuffer = 1 << 20

// ValueGen hands out pseudo-random, partly compressible values cut from one
// pre-generated buffer, so producing a value neither allocates nor copies.
//
// Values returned by Next are read-only views of the shared buffer: callers
// (and engines receiving them) must not modify them. A ValueGen is not safe
// for concurrent use; give each goroutine its own with Fork, which shares the
// buffer.
type ValueGen struct {
	buf []byte // shared, immutable
	pos int
}

// NewValueGen builds a buffer from seed that can serve values of up to
// maxSize bytes; each chunk of it compresses to about ratio (0 to 1) of its
// size.
func NewValueGen(seed int64, maxSize int, ratio float64) *ValueGen {
	size := max(minValueBuffer, 2*maxSize)
	ratio = min(max(ratio, 0), 1)
	rng := rand.New(rand.NewPCG(uint64(seed), 0x76616c756573)) // "values"
	buf := make([]byte, 0, size+100)
	for len(buf) < size {
		// A 100-byte chunk: ratio*100 random printable bytes, repeated.
		raw := max(int(ratio*100), 1)
		start := len(buf)
		for range raw {
			buf = append(buf, byte(' '+rng.IntN(95)))
		}
		for len(buf)-start < 100 {
			buf = append(buf, buf[start:start+min(raw, 100-(len(buf)-start))]...)
		}
	}
	return &ValueGen{buf: buf[:size]}
}

// Fork returns a generator over the same buffer starting at a position
// derived from stream, so that forks with different streams produce
// different sequences.
func (g *ValueGen) Fork(stream int) *ValueGen {
	pos := int(splitmix64(uint64(stream)) % uint64(len(g.buf)))
	return &ValueGen{buf: g.buf, pos: pos}
}

// Next returns the next value of n bytes, n <= the maxSize given to
// NewValueGen. The slice stays valid (and unchanged) for the life of the
// generator and its forks.
func (g *ValueGen) Next(n int) []byte {
	if g.pos+n > len(g.buf) {
		g.pos = 0
	}
	v := g.buf[g.pos : g.pos+n : g.pos+n]
	g.pos += n
	return v
}
