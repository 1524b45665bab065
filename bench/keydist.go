package bench

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
)

// Key distributions of the HTTP load generator, as in YCSB's CoreWorkload
// (requestdistribution): which existing record an operation reads, updates
// or starts a scan at.
const (
	// DistUniform picks every record with the same probability.
	DistUniform = "uniform"
	// DistZipfian picks records by a Zipf law over popularity ranks
	// (ZipfianTheta), the ranks scattered over the key space so that the
	// popular records are not neighbours.
	DistZipfian = "zipfian"
	// DistLatest picks by the same Zipf law, with rank 0 the most recently
	// inserted record: recent records are the popular ones.
	DistLatest = "latest"
)

// Distributions returns the names of the key distributions.
func Distributions() []string { return []string{DistUniform, DistZipfian, DistLatest} }

// ZipfianTheta is the skew of the zipfian and latest distributions, YCSB's
// default zipfianconstant: P(rank i) is proportional to 1/(i+1)^0.99.
const ZipfianTheta = 0.99

// zetaExactMax is the largest count of terms summed term by term by
// zetaSum; longer tails use the Euler-Maclaurin formula.
const zetaExactMax = 1 << 20

// zetaSum returns the sum of 1/i^theta for i in (lo, hi], 0 <= lo <= hi,
// 0 < theta < 1. Up to zetaExactMax terms are added one by one; beyond
// that, the terms past lo+zetaExactMax are replaced by the Euler-Maclaurin
// formula with two correction terms, whose error there is below 1e-20.
func zetaSum(lo, hi uint64, theta float64) float64 {
	var sum float64
	m := hi
	if hi-lo > zetaExactMax {
		m = lo + zetaExactMax
	}
	for i := lo + 1; i <= m; i++ {
		sum += math.Pow(float64(i), -theta)
	}
	if m == hi {
		return sum
	}
	// sum over (m, hi] of f(i), f(x) = x^-theta:
	// integral_m^hi f + (f(hi) - f(m))/2 + (f'(hi) - f'(m))/12.
	a, b := float64(m), float64(hi)
	integral := (math.Pow(b, 1-theta) - math.Pow(a, 1-theta)) / (1 - theta)
	f := func(x float64) float64 { return math.Pow(x, -theta) }
	df := func(x float64) float64 { return -theta * math.Pow(x, -theta-1) }
	return sum + integral + (f(b)-f(a))/2 + (df(b)-df(a))/12
}

// zipfian draws popularity ranks in [0, n): rank i with probability
// proportional to 1/(i+1)^theta. It uses the method of Gray et al.
// ("Quickly generating billion-record synthetic databases", SIGMOD 1994),
// as YCSB's ZipfianGenerator does: constant time per draw, exact for ranks
// 0 and 1 and a close continuous approximation for the others. n may grow
// (grow adds the new terms of zeta(n) incrementally), never shrink.
//
// A zipfian is a value; copies are independent. It is not safe for
// concurrent use.
type zipfian struct {
	n     uint64
	theta float64
	alpha float64 // 1 / (1 - theta)
	zeta2 float64 // zeta(2, theta)
	zetan float64 // zeta(n, theta)
	eta   float64
	half  float64 // 1 + 0.5^theta: below it (scaled), rank 1
}

// newZipfian returns a generator over [0, n), n >= 1, 0 < theta < 1. It
// costs O(min(n, zetaExactMax)) to compute zeta(n); build it once and copy
// it into each goroutine.
func newZipfian(n uint64, theta float64) zipfian {
	n = max(n, 1)
	z := zipfian{
		n:     n,
		theta: theta,
		alpha: 1 / (1 - theta),
		zeta2: zetaSum(0, 2, theta),
		zetan: zetaSum(0, n, theta),
		half:  1 + math.Pow(0.5, theta),
	}
	z.setEta()
	return z
}

func (z *zipfian) setEta() {
	if z.n < 2 {
		z.eta = 0
		return
	}
	z.eta = (1 - math.Pow(2/float64(z.n), 1-z.theta)) / (1 - z.zeta2/z.zetan)
}

// grow extends the range to [0, n) if n is larger than the current range.
func (z *zipfian) grow(n uint64) {
	if n <= z.n {
		return
	}
	z.zetan += zetaSum(z.n, n, z.theta)
	z.n = n
	z.setEta()
}

// next returns the rank for u, a uniform random number in [0, 1).
func (z *zipfian) next(u float64) uint64 {
	uz := u * z.zetan
	if uz < 1 {
		return 0
	}
	if uz < z.half {
		return min(1, z.n-1)
	}
	r := float64(z.n) * math.Pow(z.eta*u-z.eta+1, z.alpha)
	if !(r >= 0) { // NaN from rounding at the edges
		return 0
	}
	return min(uint64(r), z.n-1)
}

// keyChooser picks the index of an existing record, in [0, limit), where
// limit is the number of records known to exist (loaded plus
// acknowledged inserts); limit never decreases between calls. A
// keyChooser belongs to one goroutine.
type keyChooser interface {
	next(limit uint64) uint64
}

// uniformChooser picks every record in [0, limit) alike.
type uniformChooser struct{ rng *rand.Rand }

func (c *uniformChooser) next(limit uint64) uint64 {
	if limit == 0 {
		return 0
	}
	return c.rng.Uint64N(limit)
}

// zipfianChooser maps zipfian ranks to records: the ranks of the records
// present when the run started ([0, base)) are scattered over them by a
// fixed Permutation, and later records keep their index as their rank, so
// the mapping stays a bijection of [0, limit) that never changes as limit
// grows, and the popular records stay the same throughout a run.
type zipfianChooser struct {
	rng  *rand.Rand
	z    zipfian
	base uint64
	perm Permutation // of [0, base)
}

func (c *zipfianChooser) next(limit uint64) uint64 {
	if limit == 0 {
		return 0
	}
	c.z.grow(limit)
	r := c.z.next(c.rng.Float64())
	if r < c.base {
		return c.perm.At(r)
	}
	return r
}

// latestChooser picks by zipfian rank counted back from the newest record.
type latestChooser struct {
	rng *rand.Rand
	z   zipfian
}

func (c *latestChooser) next(limit uint64) uint64 {
	if limit == 0 {
		return 0
	}
	c.z.grow(limit)
	return limit - 1 - c.z.next(c.rng.Float64())
}

// chooserFactory builds the keyChooser of each goroutine of a run from
// state computed once (zeta of the initial record count, the scattering
// permutation). It is safe for concurrent use.
type chooserFactory struct {
	dist string
	z    zipfian // zipfian and latest: over the initial record count
	base uint64
	perm Permutation
}

// newChooserFactory prepares the distribution dist over records initial
// records; seed selects the scattering of the zipfian ranks.
func newChooserFactory(dist string, records uint64, seed uint64) (*chooserFactory, error) {
	f := &chooserFactory{dist: dist, base: records}
	switch dist {
	case DistUniform:
	case DistZipfian:
		f.z = newZipfian(records, ZipfianTheta)
		f.perm = NewPermutation(records, splitmix64(seed^0x7a697066)) // "zipf"
	case DistLatest:
		f.z = newZipfian(records, ZipfianTheta)
	default:
		return nil, fmt.Errorf("%w: unknown distribution %q (known: %s)",
			ErrInvalidConfig, dist, strings.Join(Distributions(), ","))
	}
	return f, nil
}

// chooser returns a new keyChooser drawing from rng.
func (f *chooserFactory) chooser(rng *rand.Rand) keyChooser {
	switch f.dist {
	case DistZipfian:
		return &zipfianChooser{rng: rng, z: f.z, base: f.base, perm: f.perm}
	case DistLatest:
		return &latestChooser{rng: rng, z: f.z}
	}
	return &uniformChooser{rng: rng}
}
