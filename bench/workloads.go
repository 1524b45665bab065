package bench

import (
	"sync"
	"sync/atomic"
)

// opKind is one operation type of the HTTP load generator.
type opKind uint8

const (
	opRead   opKind = iota // GET of an existing record
	opUpdate               // PUT of a new value to an existing record
	opInsert               // PUT of a new record
	opScan                 // range read of 1..MaxScanLength records from an existing record
	opRMW                  // GET then PUT of the same existing record, timed as one
	numOpKinds
)

// opNames are the names of the operations in reports, by opKind.
var opNames = [numOpKinds]string{"read", "update", "insert", "scan", "rmw"}

// workloadSpec is one workload of RunLoad.
type workloadSpec struct {
	name string
	doc  string
	mix  [numOpKinds]float64 // proportion of each operation; they add up to 1
	dist string              // default key distribution
	load bool                // default of the load phase
	// scatter: inserts write random new keys spread over the whole key
	// space, rather than the next index after the existing records.
	scatter bool
}

// workloadSpecs lists the workloads in the order Workloads reports them:
// YCSB's core workloads A to F (with their default request distributions
// and a maximum scan length of MaxScanLength), and a write-only stream. It
// is never modified.
var workloadSpecs = [...]workloadSpec{
	{name: "a", dist: DistZipfian, load: true, mix: [numOpKinds]float64{opRead: 0.5, opUpdate: 0.5},
		doc: "update heavy: 50% reads, 50% updates (YCSB A)"},
	{name: "b", dist: DistZipfian, load: true, mix: [numOpKinds]float64{opRead: 0.95, opUpdate: 0.05},
		doc: "read mostly: 95% reads, 5% updates (YCSB B)"},
	{name: "c", dist: DistZipfian, load: true, mix: [numOpKinds]float64{opRead: 1},
		doc: "read only: 100% reads (YCSB C)"},
	{name: "d", dist: DistLatest, load: true, mix: [numOpKinds]float64{opRead: 0.95, opInsert: 0.05},
		doc: "read latest: 95% reads of recent records, 5% inserts (YCSB D)"},
	{name: "e", dist: DistZipfian, load: true, mix: [numOpKinds]float64{opScan: 0.95, opInsert: 0.05},
		doc: "short ranges: 95% scans of 1..max-scan records, 5% inserts (YCSB E)"},
	{name: "f", dist: DistZipfian, load: true, mix: [numOpKinds]float64{opRead: 0.5, opRMW: 0.5},
		doc: "read-modify-write: 50% reads, 50% read-modify-writes (YCSB F)"},
	{name: "write", dist: DistUniform, load: false, scatter: true, mix: [numOpKinds]float64{opInsert: 1},
		doc: "write only: a stream of new records with random keys"},
}

// Workloads returns the names of the workloads RunLoad knows.
func Workloads() []string {
	names := make([]string, len(workloadSpecs))
	for i := range workloadSpecs {
		names[i] = workloadSpecs[i].name
	}
	return names
}

// WorkloadDoc returns a one-line description of the named workload, or ""
// if there is none.
func WorkloadDoc(name string) string {
	if w := lookupWorkload(name); w != nil {
		return w.doc
	}
	return ""
}

func lookupWorkload(name string) *workloadSpec {
	for i := range workloadSpecs {
		if workloadSpecs[i].name == name {
			return &workloadSpecs[i]
		}
	}
	return nil
}

// opPicker draws operations in the proportions of a mix.
type opPicker struct {
	cum  [numOpKinds]float64 // cumulative proportions
	last opKind              // the last operation with a nonzero share
}

func newOpPicker(m [numOpKinds]float64) opPicker {
	var p opPicker
	var sum float64
	for op, share := range m {
		sum += share
		p.cum[op] = sum
		if share > 0 {
			p.last = opKind(op)
		}
	}
	return p
}

// pick returns the operation for u, uniform in [0, 1).
func (p *opPicker) pick(u float64) opKind {
	for op, c := range p.cum {
		if u < c {
			return opKind(op)
		}
	}
	return p.last // rounding: the shares add up to slightly less than 1
}

// ackCounter hands out the indices of inserted records in order and
// tracks how many of them are known to exist: Limit is the first index
// whose insert has not been acknowledged, so every record below it was
// written (or failed) before any read chooses it. This is YCSB's
// AcknowledgedCounterGenerator: reads never target a record still being
// inserted.
//
// An ackCounter is safe for concurrent use. Every index returned by take
// must be passed to ack exactly once, whether the insert succeeded or not.
type ackCounter struct {
	next  atomic.Uint64 // next index to hand out
	limit atomic.Uint64 // all indices below it are acknowledged

	mu struct {
		sync.Mutex
		done []bool // done[i % len] for acknowledged i >= limit; len is a power of two
	}
}

// newAckCounter returns a counter whose first index is start, with all
// indices below start acknowledged.
func newAckCounter(start uint64) *ackCounter {
	c := new(ackCounter)
	c.next.Store(start)
	c.limit.Store(start)
	c.mu.done = make([]bool, 1024)
	return c
}

// take returns the next index to insert.
func (c *ackCounter) take() uint64 { return c.next.Add(1) - 1 }

// ack records that the insert of index i (from take) finished.
func (c *ackCounter) ack(i uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	limit := c.limit.Load()
	if i < limit {
		return // a duplicate; take never returns one
	}
	for i-limit >= uint64(len(c.mu.done)) {
		// More inserts outstanding than the window holds: double it.
		grown := make([]bool, 2*len(c.mu.done))
		oldMask := uint64(len(c.mu.done) - 1)
		newMask := uint64(len(grown) - 1)
		for j := limit; j < limit+uint64(len(c.mu.done)); j++ {
			grown[j&newMask] = c.mu.done[j&oldMask]
		}
		c.mu.done = grown
	}
	mask := uint64(len(c.mu.done) - 1)
	c.mu.done[i&mask] = true
	for c.mu.done[limit&mask] {
		c.mu.done[limit&mask] = false
		limit++
	}
	c.limit.Store(limit)
}

// Limit returns the number of leading indices acknowledged.
func (c *ackCounter) Limit() uint64 { return c.limit.Load() }
