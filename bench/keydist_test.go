package bench

import (
	"math"
	"math/rand/v2"
	"strconv"
	"testing"
)

// zipfPMF returns the exact probabilities of ranks [0, n) of a Zipf law
// with exponent theta.
func zipfPMF(n int, theta float64) []float64 {
	p := make([]float64, n)
	var sum float64
	for i := range p {
		p[i] = math.Pow(float64(i+1), -theta)
		sum += p[i]
	}
	for i := range p {
		p[i] /= sum
	}
	return p
}

// checkFreq fails t unless count of draws out of total is within 5
// standard deviations (plus a small absolute slack) of probability p.
func checkFreq(t *testing.T, what string, count, total int, p float64) {
	t.Helper()
	got := float64(count) / float64(total)
	sd := math.Sqrt(p * (1 - p) / float64(total))
	if math.Abs(got-p) > 5*sd+1e-4 {
		t.Errorf("%s: frequency %.5f, want %.5f (±%.5f)", what, got, p, 5*sd)
	}
}

func TestZipfianFrequencies(t *testing.T) {
	const draws = 200_000
	tests := []struct {
		n     int
		theta float64
		ranks []int // ranks whose frequency is checked
		cdfAt []int // ranks at which the cumulative frequency is checked
	}{
		{n: 1, theta: 0.99, ranks: []int{0}},
		{n: 2, theta: 0.99, ranks: []int{0, 1}},
		{n: 10, theta: 0.99, ranks: []int{0, 1, 2, 3, 5, 9}, cdfAt: []int{1, 4}},
		{n: 1000, theta: 0.99, ranks: []int{0, 1, 2, 3, 9, 99}, cdfAt: []int{9, 99, 499}},
		{n: 100_000, theta: 0.99, ranks: []int{0, 1, 2, 9}, cdfAt: []int{99, 9999}},
		{n: 1000, theta: 0.5, ranks: []int{0, 1, 2, 10}, cdfAt: []int{99, 499}},
		{n: 1000, theta: 1.2, ranks: []int{0, 1, 2, 10}, cdfAt: []int{9, 99}},
	}
	for _, tc := range tests {
		t.Run("", func(t *testing.T) {
			z := newZipfian(uint64(tc.n), tc.theta)
			rng := rand.New(rand.NewPCG(1, uint64(tc.n)))
			counts := make([]int, tc.n)
			for range draws {
				r := z.next(rng)
				if r >= uint64(tc.n) {
					t.Fatalf("rank %d out of [0, %d)", r, tc.n)
				}
				counts[r]++
			}
			pmf := zipfPMF(tc.n, tc.theta)
			for _, r := range tc.ranks {
				checkFreq(t, "rank "+strconv.Itoa(r), counts[r], draws, pmf[r])
			}
			var got int
			var want float64
			next := 0
			for i := range tc.n {
				got += counts[i]
				want += pmf[i]
				if next < len(tc.cdfAt) && i == tc.cdfAt[next] {
					checkFreq(t, "ranks <= "+strconv.Itoa(i), got, draws, want)
					next++
				}
			}
		})
	}
}

func TestZipfianGrow(t *testing.T) {
	// A generator grown from 10 to 1000 draws as one built for 1000.
	const draws = 200_000
	z := newZipfian(10, ZipfianTheta)
	z.grow(5) // never shrinks
	if z.n != 10 {
		t.Fatalf("grow(5) changed n to %d", z.n)
	}
	z.grow(1000)
	rng := rand.New(rand.NewPCG(2, 3))
	counts := make([]int, 1000)
	for range draws {
		counts[z.next(rng)]++
	}
	pmf := zipfPMF(1000, ZipfianTheta)
	for _, r := range []int{0, 1, 5, 50, 500} {
		checkFreq(t, "rank "+strconv.Itoa(r), counts[r], draws, pmf[r])
	}
}

func TestChoosers(t *testing.T) {
	const (
		records = 1000
		draws   = 100_000
	)
	pmf := zipfPMF(records, ZipfianTheta)
	tests := []struct {
		dist string
		// want is the probability of record i for limit == records.
		want func(f *chooserFactory, i uint64) float64
	}{
		{DistUniform, func(*chooserFactory, uint64) float64 { return 1.0 / records }},
		{DistZipfian, func(f *chooserFactory, i uint64) float64 {
			// Record i has the rank r with perm.At(r) == i.
			for r := range uint64(records) {
				if f.perm.At(r) == i {
					return pmf[r]
				}
			}
			return 0
		}},
		{DistLatest, func(_ *chooserFactory, i uint64) float64 { return pmf[records-1-i] }},
	}
	for _, tc := range tests {
		t.Run(tc.dist, func(t *testing.T) {
			f, err := newChooserFactory(tc.dist, records, 7)
			if err != nil {
				t.Fatal(err)
			}
			c := f.chooser(rand.New(rand.NewPCG(4, 5)))
			counts := make([]int, records)
			for range draws {
				i := c.next(records)
				if i >= records {
					t.Fatalf("record %d out of [0, %d)", i, records)
				}
				counts[i]++
			}
			// The most popular records and a few others.
			hot := []uint64{0, records / 2, records - 1}
			if tc.dist == DistZipfian {
				hot = append(hot, f.perm.At(0), f.perm.At(1), f.perm.At(2))
			}
			for _, i := range hot {
				checkFreq(t, "record "+strconv.Itoa(int(i)), counts[i], draws, tc.want(f, i))
			}
			// Growing the limit: results stay below it, and latest
			// follows the newest record.
			for _, limit := range []uint64{records + 1, 2 * records, 10 * records} {
				for range 1000 {
					if i := c.next(limit); i >= limit {
						t.Fatalf("limit %d: record %d", limit, i)
					}
				}
			}
			if tc.dist == DistLatest {
				n := 0
				for range draws {
					if c.next(10*records) == 10*records-1 {
						n++
					}
				}
				checkFreq(t, "newest record", n, draws, zipfPMF(10*records, ZipfianTheta)[0])
			}
			if got := c.next(0); got != 0 {
				t.Errorf("next(0) = %d, want 0", got)
			}
		})
	}
	if _, err := newChooserFactory("pareto", 10, 0); err == nil {
		t.Error("newChooserFactory accepted an unknown distribution")
	}
}

func TestZipfianChooserStable(t *testing.T) {
	// The popular records stay the same as the limit grows.
	f, err := newChooserFactory(DistZipfian, 100, 1)
	if err != nil {
		t.Fatal(err)
	}
	c := f.chooser(rand.New(rand.NewPCG(1, 1)))
	hot := f.perm.At(0)
	for _, limit := range []uint64{100, 1000, 100_000} {
		n := 0
		for range 20_000 {
			if c.next(limit) == hot {
				n++
			}
		}
		checkFreq(t, "hottest record at limit "+strconv.Itoa(int(limit)), n, 20_000, zipfPMF(int(limit), ZipfianTheta)[0])
	}
}

func TestAckCounter(t *testing.T) {
	c := newAckCounter(10)
	if got := c.Limit(); got != 10 {
		t.Fatalf("Limit = %d, want 10", got)
	}
	a, b, d := c.take(), c.take(), c.take()
	if a != 10 || b != 11 || d != 12 {
		t.Fatalf("take = %d, %d, %d, want 10, 11, 12", a, b, d)
	}
	c.ack(b)
	c.ack(d)
	if got := c.Limit(); got != 10 {
		t.Fatalf("Limit = %d after acks of 11 and 12, want 10", got)
	}
	c.ack(a)
	if got := c.Limit(); got != 13 {
		t.Fatalf("Limit = %d after ack of 10, want 13", got)
	}
	// Far more outstanding acks than the initial window.
	first := c.take()
	var rest []uint64
	for range 5000 {
		rest = append(rest, c.take())
	}
	for _, i := range rest {
		c.ack(i)
	}
	if got := c.Limit(); got != first {
		t.Fatalf("Limit = %d with %d still outstanding, want it", got, first)
	}
	c.ack(first)
	if got, want := c.Limit(), rest[len(rest)-1]+1; got != want {
		t.Fatalf("Limit = %d, want %d", got, want)
	}
}

func TestOpPicker(t *testing.T) {
	for _, w := range workloadSpecs {
		var sum float64
		for _, s := range w.mix {
			sum += s
		}
		if math.Abs(sum-1) > 1e-9 {
			t.Errorf("workload %s: shares add up to %v", w.name, sum)
		}
		p := newOpPicker(w.mix)
		if op := p.pick(0.9999999999999999); w.mix[op] == 0 {
			t.Errorf("workload %s: pick near 1 gave %s, not in the mix", w.name, opNames[op])
		}
		if op := p.pick(0); w.mix[op] == 0 {
			t.Errorf("workload %s: pick(0) gave %s, not in the mix", w.name, opNames[op])
		}
	}
}
