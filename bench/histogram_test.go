package bench

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// refPercentile is the nearest-rank percentile of sorted values.
func refPercentile(sorted []time.Duration, p float64) time.Duration {
	if p <= 0 {
		return sorted[0]
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	return sorted[max(rank, 1)-1]
}

func TestHistogramPercentiles(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	logUniform := func(lo, hi float64) time.Duration { // 100ns..100s spread evenly over magnitudes
		return time.Duration(math.Exp(math.Log(lo) + rng.Float64()*(math.Log(hi)-math.Log(lo))))
	}
	tests := []struct {
		name string
		gen  func(i int) time.Duration
		n    int
	}{
		{"single", func(int) time.Duration { return 1234 * time.Nanosecond }, 1},
		{"constant", func(int) time.Duration { return 7 * time.Microsecond }, 1000},
		{"exact small", func(int) time.Duration { return time.Duration(rng.IntN(128)) }, 5000},
		{"ascending", func(i int) time.Duration { return time.Duration(i) * time.Microsecond }, 10000},
		{"log uniform 100ns-100s", func(int) time.Duration { return logUniform(100, 100e9) }, 20000},
		{"bimodal", func(i int) time.Duration {
			if i%100 == 0 {
				return 50*time.Millisecond + time.Duration(rng.IntN(1e6))
			}
			return 2*time.Microsecond + time.Duration(rng.IntN(1000))
		}, 10000},
		{"with zero and negative", func(i int) time.Duration { return time.Duration(i%5 - 2) }, 100},
		{"huge", func(i int) time.Duration { return time.Duration(math.MaxInt64 - int64(i)) }, 10},
	}
	percentiles := []float64{0, 0.1, 1, 10, 50, 90, 99, 99.9, 99.99, 100}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h Histogram
			ref := make([]time.Duration, tt.n)
			for i := range ref {
				d := tt.gen(i)
				h.Record(d)
				ref[i] = max(d, 0)
			}
			slices.Sort(ref)
			if got := h.Count(); got != int64(tt.n) {
				t.Errorf("Count() = %d, want %d", got, tt.n)
			}
			if got, want := h.Min(), ref[0]; got != want {
				t.Errorf("Min() = %v, want %v", got, want)
			}
			if got, want := h.Max(), ref[len(ref)-1]; got != want {
				t.Errorf("Max() = %v, want %v", got, want)
			}
			for _, p := range percentiles {
				got, want := h.Percentile(p), refPercentile(ref, p)
				// 0.4% from bucketing, plus 1ns of rounding.
				if diff := math.Abs(float64(got - want)); diff > float64(want)*0.004+1 {
					t.Errorf("Percentile(%v) = %v, want %v (±0.4%%)", p, got, want)
				}
			}
		})
	}
}

func TestHistogramMean(t *testing.T) {
	var h Histogram
	for _, d := range []time.Duration{1, 2, 3, 1000} {
		h.Record(d)
	}
	if got, want := h.Mean(), time.Duration(1006/4); got != want {
		t.Errorf("Mean() = %v, want %v", got, want)
	}
}

func TestHistogramEmpty(t *testing.T) {
	var h Histogram
	if h.Count() != 0 || h.Min() != 0 || h.Max() != 0 || h.Mean() != 0 || h.Percentile(50) != 0 {
		t.Errorf("empty histogram: count %d min %v max %v mean %v p50 %v",
			h.Count(), h.Min(), h.Max(), h.Mean(), h.Percentile(50))
	}
}

func TestHistogramMerge(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var whole Histogram
	parts := make([]Histogram, 4)
	for i := range 10000 {
		d := time.Duration(rng.ExpFloat64() * 1e5)
		whole.Record(d)
		parts[i%len(parts)].Record(d)
	}
	var merged Histogram
	merged.Merge(&Histogram{}) // merging an empty histogram changes nothing
	for i := range parts {
		merged.Merge(&parts[i])
	}
	if merged != whole {
		t.Errorf("merged parts differ from the whole: count %d/%d min %v/%v max %v/%v",
			merged.Count(), whole.Count(), merged.Min(), whole.Min(), merged.Max(), whole.Max())
	}
	merged.Reset()
	if merged != (Histogram{}) {
		t.Errorf("Reset left data behind")
	}
}

func TestHistogramBuckets(t *testing.T) {
	prev := -1
	check := func(v int64) {
		i := histIndex(v)
		if i < 0 || i >= histNumBuckets {
			t.Fatalf("histIndex(%d) = %d out of [0, %d)", v, i, histNumBuckets)
		}
		lo, width := histBounds(i)
		if v < lo || v-lo >= width {
			t.Fatalf("value %d outside its bucket %d [%d, %d+%d)", v, i, lo, lo, width)
		}
		if width > 1 && float64(width)/float64(lo) > 1.0/histSubCount {
			t.Fatalf("bucket %d [%d, +%d) wider than 1/%d of its value", i, lo, width, histSubCount)
		}
	}
	for v := int64(0); v < 1<<16; v++ {
		i := histIndex(v)
		if i < prev {
			t.Fatalf("histIndex(%d) = %d < histIndex(%d) = %d", v, i, v-1, prev)
		}
		prev = i
		check(v)
	}
	for e := 16; e < 63; e++ {
		for _, off := range []int64{0, 1, 12345} {
			check(1<<e + off)
			check(1<<e - 1)
		}
	}
	check(math.MaxInt64)
	if got := histIndex(math.MaxInt64); got != histNumBuckets-1 {
		t.Errorf("histIndex(MaxInt64) = %d, want the last bucket %d", got, histNumBuckets-1)
	}
}

func TestHistogramRecordDoesNotAllocate(t *testing.T) {
	h := NewHistogram()
	d := time.Duration(0)
	allocs := testing.AllocsPerRun(1000, func() {
		d += 997
		h.Record(d)
	})
	if allocs != 0 {
		t.Errorf("Record allocates %v times per call", allocs)
	}
}

func BenchmarkHistogramRecord(b *testing.B) {
	h := NewHistogram()
	b.ReportAllocs()
	d := time.Duration(0)
	for b.Loop() {
		d = (d + 7919) & (1<<24 - 1)
		h.Record(d)
	}
}

func BenchmarkHistogramPercentile(b *testing.B) {
	h := NewHistogram()
	for i := range 100000 {
		h.Record(time.Duration(i) * time.Microsecond)
	}
	b.ReportAllocs()
	for b.Loop() {
		h.Percentile(99.9)
	}
}
