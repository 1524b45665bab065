package bench

import (
	"math"
	"math/bits"
	"time"
)

// Histogram layout: log-linear buckets over nanoseconds. Values below
// 2^histSubBits are counted exactly, one bucket per nanosecond. Every power of
// two [2^e, 2^(e+1)) above that is split into 2^histSubBits equal buckets, so
// a bucket is at most 1/128 (0.78%) of its lower bound wide and a reported
// percentile, taken at the bucket's midpoint, is within 0.4% of a recorded
// value. The buckets cover all of int64, from 1ns to 292 years, so nothing is
// clamped.
const (
	histSubBits    = 7
	histSubCount   = 1 << histSubBits
	histNumBuckets = (64 - histSubBits) * histSubCount
)

// Histogram records durations with about 1% relative precision in fixed
// memory (58 KiB), for latency percentiles.
//
// The zero value is an empty histogram ready to use. Record does not allocate.
// A Histogram is not safe for concurrent use: give each goroutine its own and
// Merge them when the run ends.
type Histogram struct {
	count  int64
	sum    int64 // nanoseconds; wraps only after 292 years of recorded time
	min    int64
	max    int64
	counts [histNumBuckets]int64
}

// NewHistogram returns an empty histogram.
func NewHistogram() *Histogram { return new(Histogram) }

// histIndex returns the bucket of v, v >= 0.
func histIndex(v int64) int {
	if v < histSubCount {
		return int(v)
	}
	e := bits.Len64(uint64(v)) - 1 // e >= histSubBits
	sub := int(uint64(v)>>(e-histSubBits)) & (histSubCount - 1)
	return (e-histSubBits+1)<<histSubBits | sub
}

// histBounds returns the smallest value of bucket i and the bucket's width.
func histBounds(i int) (lo, width int64) {
	if i < histSubCount {
		return int64(i), 1
	}
	group := i >> histSubBits // >= 1
	sub := int64(i & (histSubCount - 1))
	shift := group - 1
	return (histSubCount + sub) << shift, 1 << shift
}

// Record adds one duration. Negative durations count as zero.
func (h *Histogram) Record(d time.Duration) {
	v := int64(d)
	if v < 0 {
		v = 0
	}
	if h.count == 0 || v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
	h.count++
	h.sum += v
	h.counts[histIndex(v)]++
}

// Merge adds every value recorded in o to h. o is not modified.
func (h *Histogram) Merge(o *Histogram) {
	if o.count == 0 {
		return
	}
	if h.count == 0 || o.min < h.min {
		h.min = o.min
	}
	if o.max > h.max {
		h.max = o.max
	}
	h.count += o.count
	h.sum += o.sum
	for i, c := range o.counts {
		h.counts[i] += c
	}
}

// Reset empties the histogram.
func (h *Histogram) Reset() { *h = Histogram{} }

// Count returns the number of recorded values.
func (h *Histogram) Count() int64 { return h.count }

// Min returns the smallest recorded value, or 0 if the histogram is empty.
func (h *Histogram) Min() time.Duration { return time.Duration(h.min) }

// Max returns the largest recorded value, exactly, or 0 if the histogram is
// empty.
func (h *Histogram) Max() time.Duration { return time.Duration(h.max) }

// Mean returns the exact mean of the recorded values, or 0 if the histogram
// is empty.
func (h *Histogram) Mean() time.Duration {
	if h.count == 0 {
		return 0
	}
	return time.Duration(h.sum / h.count)
}

// Percentile returns the value at percentile p (0 to 100) by the nearest-rank
// method: the smallest recorded value v such that at least p% of the values
// are <= v, within the histogram's precision (0.4%). Percentile(0) is Min and
// Percentile(100) is Max. It returns 0 if the histogram is empty.
func (h *Histogram) Percentile(p float64) time.Duration {
	if h.count == 0 {
		return 0
	}
	if !(p > 0) { // also catches NaN
		return time.Duration(h.min)
	}
	if p >= 100 {
		return time.Duration(h.max)
	}
	rank := int64(math.Ceil(p / 100 * float64(h.count)))
	if rank < 1 {
		rank = 1
	}
	var cum int64
	for i, c := range h.counts {
		cum += c
		if cum < rank {
			continue
		}
		lo, width := histBounds(i)
		v := lo + (width-1)/2
		v = max(v, h.min)
		v = min(v, h.max)
		return time.Duration(v)
	}
	return time.Duration(h.max) // unreachable: counts sum to count
}
