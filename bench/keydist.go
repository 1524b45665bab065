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

// zipfian draws popularity ranks in [0, n): rank i with probability
// proportional to 1/(i+1)^theta, exactly, by rejection-inversion (W.
// Hörmann and G. Derflinger, "Rejection-inversion to generate variates
// from monotone discrete distributions", ACM TOMACS 6(3), 1996), as in
// Apache Commons RNG's RejectionInversionZipfSampler: a few logarithms and
// exponentials per draw and fewer than 1.1 tries on average, with no
// per-n table, so n can grow at no cost. (YCSB's generator, after Gray et
// al., approximates the ranks above 1; rank 2, for one, comes out about
// 18% too often.)
//
// A zipfian is a value; copies are independent. It is not safe for
// concurrent use.
type zipfian struct {
	n     uint64
	theta float64
	hx1   float64 // hIntegral(1.5) - 1
	hn    float64 // hIntegral(n + 0.5)
	s     float64 // 2 - hIntegralInverse(hIntegral(2.5) - h(2))
}

// newZipfian returns a generator over [0, n), n >= 1, theta > 0.
func newZipfian(n uint64, theta float64) zipfian {
	z := zipfian{n: max(n, 1), theta: theta}
	z.hx1 = z.hIntegral(1.5) - 1
	z.hn = z.hIntegral(float64(z.n) + 0.5)
	z.s = 2 - z.hIntegralInverse(z.hIntegral(2.5)-z.h(2))
	return z
}

// grow extends the range to [0, n) if n is larger than the current range.
func (z *zipfian) grow(n uint64) {
	if n <= z.n {
		return
	}
	z.n = n
	z.hn = z.hIntegral(float64(n) + 0.5)
}

// next returns a rank drawn with rng.
func (z *zipfian) next(rng *rand.Rand) uint64 {
	for {
		// u is uniform in (hx1, hn]; its inverse image x is the
		// continuous variate, k its rounding to an element in [1, n].
		u := z.hn + rng.Float64()*(z.hx1-z.hn)
		x := z.hIntegralInverse(u)
		k := x + 0.5
		switch {
		case !(k >= 1): // also NaN
			k = 1
		case k > float64(z.n):
			k = float64(z.n)
		}
		k = math.Floor(k)
		if k-x <= z.s || u >= z.hIntegral(k+0.5)-z.h(k) {
			return uint64(k) - 1
		}
	}
}

// h is the unnormalised density x^-theta.
func (z *zipfian) h(x float64) float64 { return math.Exp(-z.theta * math.Log(x)) }

// hIntegral is an antiderivative of h: (x^(1-theta) - 1) / (1 - theta),
// computed stably for theta near 1 (it is log x at theta = 1).
func (z *zipfian) hIntegral(x float64) float64 {
	lx := math.Log(x)
	return expm1Ratio((1-z.theta)*lx) * lx
}

// hIntegralInverse is the inverse of hIntegral.
func (z *zipfian) hIntegralInverse(x float64) float64 {
	t := x * (1 - z.theta)
	if t < -1 {
		t = -1 // rounding errors near the lower end of the range
	}
	return math.Exp(log1pRatio(t) * x)
}

// log1pRatio returns log(1+x)/x, and its limit 1 at x = 0.
func log1pRatio(x float64) float64 {
	if math.Abs(x) > 1e-8 {
		return math.Log1p(x) / x
	}
	return 1 - x*(0.5-x*(1.0/3-0.25*x))
}

// expm1Ratio returns (exp(x)-1)/x, and its limit 1 at x = 0.
func expm1Ratio(x float64) float64 {
	if math.Abs(x) > 1e-8 {
		return math.Expm1(x) / x
	}
	return 1 + x*0.5*(1+x/3*(1+0.25*x))
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
	r := c.z.next(c.rng)
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
	return limit - 1 - c.z.next(c.rng)
}

// chooserFactory builds the keyChooser of each goroutine of a run. It is
// safe for concurrent use.
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
