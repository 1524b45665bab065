package antientropy

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"slices"
)

// SyncConfig bounds the cost of one exchange.
type SyncConfig struct {
	// MaxRecords caps the entries, keys or records of one message. Default
	// 1024.
	MaxRecords int
	// MaxBytes caps the approximate payload of one message (EntrySize,
	// RecordSize). A single record larger than MaxBytes travels alone, so
	// the transport's frame limit must exceed the largest record. Default
	// 1 MiB.
	MaxBytes int
	// MaxHashes caps the node indexes of one NodesRequest, and the
	// partitions of one RootsRequest a Scheduler sends. Default 4096.
	MaxHashes int
	// StreamFraction: when more than this fraction of the leaves differ,
	// entries are compared without a bucket filter (the filter would save
	// little and cost the responder a hash per key). In (0, 1]. Default 0.9.
	StreamFraction float64
}

// Defaults of SyncConfig.
const (
	DefaultMaxRecords     = 1024
	DefaultMaxBytes       = 1 << 20
	DefaultMaxHashes      = 4096
	DefaultStreamFraction = 0.9
)

// DefaultSyncConfig returns the default SyncConfig.
func DefaultSyncConfig() SyncConfig {
	return SyncConfig{
		MaxRecords:     DefaultMaxRecords,
		MaxBytes:       DefaultMaxBytes,
		MaxHashes:      DefaultMaxHashes,
		StreamFraction: DefaultStreamFraction,
	}
}

func (c SyncConfig) withDefaults() SyncConfig {
	d := DefaultSyncConfig()
	if c.MaxRecords == 0 {
		c.MaxRecords = d.MaxRecords
	}
	if c.MaxBytes == 0 {
		c.MaxBytes = d.MaxBytes
	}
	if c.MaxHashes == 0 {
		c.MaxHashes = d.MaxHashes
	}
	if c.StreamFraction == 0 {
		c.StreamFraction = d.StreamFraction
	}
	return c
}

// Validate reports every problem of c (zero fields count as their
// defaults). The error wraps ErrInvalidConfig.
func (c SyncConfig) Validate() error {
	c = c.withDefaults()
	var errs []error
	if c.MaxRecords < 1 {
		errs = append(errs, fmt.Errorf("MaxRecords %d < 1", c.MaxRecords))
	}
	if c.MaxBytes < 1 {
		errs = append(errs, fmt.Errorf("MaxBytes %d < 1", c.MaxBytes))
	}
	if c.MaxHashes < 1 {
		errs = append(errs, fmt.Errorf("MaxHashes %d < 1", c.MaxHashes))
	}
	if !(c.StreamFraction > 0 && c.StreamFraction <= 1) {
		errs = append(errs, fmt.Errorf("StreamFraction %v not in (0, 1]", c.StreamFraction))
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: sync: %w", ErrInvalidConfig, errors.Join(errs...))
	}
	return nil
}

// Result describes one exchange.
type Result struct {
	// Partition is the partition compared.
	Partition int
	// NodesCompared counts the tree nodes whose hashes were compared, root
	// included.
	NodesCompared int
	// BucketsDiffering counts the leaves the descent found different; 0 if
	// the descent was skipped (one replica empty, or trees of different
	// shapes).
	BucketsDiffering int
	// Streamed is set when entries were compared without a bucket filter:
	// one side was empty, the trees had different shapes, or more than
	// StreamFraction of the leaves differed.
	Streamed bool
	// KeysSent counts records applied to the remote replica; KeysReceived
	// records applied to the local one.
	KeysSent     int
	KeysReceived int
	// BytesSent and BytesReceived approximate the payload of the messages
	// to and from the remote replica (see EntrySize and RecordSize).
	BytesSent     int64
	BytesReceived int64
}

// Side names the replica a Request is for.
type Side uint8

// Sides.
const (
	// Local is the replica running the exchange (a Replica).
	Local Side = 1
	// Remote is the other replica (a Peer).
	Remote Side = 2
)

func (s Side) String() string {
	switch s {
	case Local:
		return "local"
	case Remote:
		return "remote"
	}
	return fmt.Sprintf("Side(%d)", uint8(s))
}

// Op says which operation a Request asks for.
type Op uint8

// Operations. OpSummary and OpNodes go to the Remote side only.
const (
	OpSummary Op = iota + 1
	OpNodes
	OpEntries
	OpRead
	OpApply
)

var opNames = [...]string{OpSummary: "summary", OpNodes: "nodes", OpEntries: "entries", OpRead: "read", OpApply: "apply"}

func (o Op) String() string {
	if int(o) < len(opNames) && opNames[o] != "" {
		return opNames[o]
	}
	return fmt.Sprintf("Op(%d)", uint8(o))
}

// Request is an operation the Exchange asks its driver to perform. Exactly
// the field named by Op is set. The driver performs it on the replica named
// by To and hands the answer back with Exchange.Step.
type Request struct {
	ID      uint64
	To      Side
	Op      Op
	Summary *SummaryRequest
	Nodes   *NodesRequest
	Entries *EntriesRequest
	Read    *ReadRequest
	Apply   *ApplyRequest
}

// Response answers the Request with the same ID: the field matching the
// request's Op is set (an OpApply response carries nothing).
type Response struct {
	ID      uint64
	Summary *SummaryResponse
	Nodes   *NodesResponse
	Entries *EntriesResponse
	Read    *ReadResponse
}

type phase uint8

const (
	phaseSummary phase = iota // waiting for the remote summary
	phaseDescend              // comparing one level's hashes
	phaseScan                 // fetching pages of entries
	phaseRead                 // reading the records to move
	phaseApply                // applying them
	phaseDone
)

// Exchange is the anti-entropy protocol for one partition between a local
// and a remote replica, as a deterministic state machine without I/O (in
// the manner of etcd-io/raft's RawNode): it emits Requests (Ready), its
// driver performs them and feeds the Responses back (Step), until Done.
//
// The exchange compares roots; descends level by level into the children of
// differing nodes only; at the leaves fetches the entries of the differing
// buckets from both replicas, page by page in key order, and merge-joins
// them; then reads the newer records from the side that has them and
// applies them to the other, in batches bounded by SyncConfig. When one
// replica is empty, or the trees differ in shape, or most leaves differ, it
// skips (or stops) the descent and streams every entry instead, asking the
// non-empty side for values directly so that a wiped replica costs one round
// trip per batch.
//
// The Requests of one Ready batch are independent: the driver may perform
// them in any order or concurrently, and Step them in any order. Ready
// returns nothing new until every outstanding Request has been answered.
// Given the same responses the exchange emits the same requests.
//
// An Exchange is not safe for concurrent use.
type Exchange struct {
	cfg       SyncConfig
	partition int
	local     *Tree

	phase   phase
	nextID  uint64
	ready   []Request
	pending map[uint64]Request
	err     error
	res     Result

	// Remote tree.
	treeID      uint64
	remoteCount int64

	// Descent: the level being compared and its differing nodes so far.
	level int
	diffs []uint32

	// Scan.
	filter     []byte // bucket bitmap; nil with leaves == 0 for all
	leaves     int
	side       [2]stream // [0] local, [1] remote
	push, pull batch     // records the remote lacks, and the local lacks
}

// stream is one side's sequence of entries, fetched page by page.
type stream struct {
	values bool     // pages carry values
	buf    []Entry  // unconsumed entries
	vals   [][]byte // their values, when values
	pos    int      // next unconsumed index
	start  []byte   // start of the next page
	done   bool     // no more pages
}

func (s *stream) empty() bool   { return s.pos == len(s.buf) }
func (s *stream) drained() bool { return s.done && s.empty() }

// record returns the current entry as a record, if its value is known.
func (s *stream) record() (Record, bool) {
	if !s.values {
		return Record{}, false
	}
	e := &s.buf[s.pos]
	r := Record{Key: e.Key, Version: e.Version, Tombstone: e.Tombstone}
	if !e.Tombstone {
		r.Value = s.vals[s.pos]
	}
	return r, true
}

// batch collects the records to move one way.
type batch struct {
	keys    [][]byte // keys still to read
	records []Record // records known (read, or streamed with values)
	n       int      // keys + records
	bytes   int
}

func (b *batch) room(cfg *SyncConfig, size int) bool {
	return b.n == 0 || (b.n < cfg.MaxRecords && b.bytes+size <= cfg.MaxBytes)
}

// full reports whether b cannot take another record.
func (b *batch) full(cfg *SyncConfig) bool { return b.n >= cfg.MaxRecords || b.bytes >= cfg.MaxBytes }

func (b *batch) add(key []byte, rec Record, known bool, size int) {
	if known {
		b.records = append(b.records, rec)
	} else {
		b.keys = append(b.keys, key)
	}
	b.n++
	b.bytes += size
}

// NewExchange returns an exchange of partition between the replica whose
// tree is local and a remote one. cfg's zero fields take their defaults; cfg
// should have passed Validate. local must not change until the exchange is
// done. The first Ready holds the remote summary request.
func NewExchange(cfg SyncConfig, partition int, local *Tree) *Exchange {
	x := &Exchange{
		cfg:       cfg.withDefaults(),
		partition: partition,
		local:     local,
		pending:   make(map[uint64]Request),
		res:       Result{Partition: partition},
	}
	x.send(Request{To: Remote, Op: OpSummary, Summary: &SummaryRequest{Partition: partition}})
	return x
}

// Ready returns the requests to perform now and forgets them; the caller
// owns the returned slice.
func (x *Exchange) Ready() []Request {
	r := x.ready
	x.ready = nil
	return r
}

// Done reports whether the exchange is over, successfully or not (Err).
func (x *Exchange) Done() bool { return x.phase == phaseDone || x.err != nil }

// Err returns the error that stopped the exchange, if any.
func (x *Exchange) Err() error { return x.err }

// Result returns the exchange's counters so far.
func (x *Exchange) Result() Result { return x.res }

// Step hands the exchange the response to one of its requests. It returns
// an error wrapping ErrProtocol when the response breaks the protocol; the
// exchange is then over and Err returns the same error.
func (x *Exchange) Step(resp Response) error {
	if x.err != nil {
		return x.err
	}
	req, ok := x.pending[resp.ID]
	if !ok {
		return x.fail(fmt.Errorf("%w: response to unknown request %d", ErrProtocol, resp.ID))
	}
	delete(x.pending, resp.ID)
	var err error
	switch req.Op {
	case OpSummary:
		err = x.onSummary(resp.Summary)
	case OpNodes:
		err = x.onNodes(&req, resp.Nodes)
	case OpEntries:
		err = x.onEntries(&req, resp.Entries)
	case OpRead:
		err = x.onRead(&req, resp.Read)
	case OpApply:
		x.onApply(&req)
	}
	if err != nil {
		return x.fail(fmt.Errorf("%s %s: %w", req.To, req.Op, err))
	}
	if len(x.pending) == 0 {
		x.advance()
	}
	return nil
}

func (x *Exchange) fail(err error) error {
	x.err = err
	x.ready = nil
	return err
}

func (x *Exchange) send(r Request) {
	x.nextID++
	r.ID = x.nextID
	x.pending[r.ID] = r
	x.ready = append(x.ready, r)
	if r.To == Remote {
		x.res.BytesSent += int64(requestSize(&r))
	}
}

// advance moves to the next step once every request of a round is answered.
func (x *Exchange) advance() {
	switch x.phase {
	case phaseDescend:
		x.nextLevel()
	case phaseScan:
		x.merge()
	case phaseRead:
		x.apply()
	case phaseApply:
		x.merge()
	}
}

func (x *Exchange) onSummary(s *SummaryResponse) error {
	if s == nil {
		return fmt.Errorf("%w: no summary", ErrProtocol)
	}
	x.res.BytesReceived += int64(messageOverhead + 40 + hashSize*len(s.Level1))
	shape := TreeConfig{Fanout: s.Fanout, Depth: s.Depth}
	if s.Fanout == 0 || s.Depth == 0 || shape.Validate() != nil || s.Count < 0 {
		return fmt.Errorf("%w: summary of a tree of fan-out %d, depth %d, %d records", ErrProtocol, s.Fanout, s.Depth, s.Count)
	}
	x.treeID = s.TreeID
	x.remoteCount = s.Count
	x.res.NodesCompared++
	switch {
	case s.Root == x.local.Root() && s.Count == x.local.Count() && shape == x.local.Config():
		x.phase = phaseDone
		return nil
	case shape != x.local.Config() || s.Count == 0 || x.local.Count() == 0:
		x.startScan(nil, 0)
		return nil
	}
	if len(s.Level1) != shape.Fanout {
		return fmt.Errorf("%w: summary with %d level-1 hashes, want %d", ErrProtocol, len(s.Level1), shape.Fanout)
	}
	mine := x.local.Level(1)
	for i, h := range s.Level1 {
		if h != mine[i] {
			x.diffs = append(x.diffs, uint32(i))
		}
	}
	x.res.NodesCompared += len(s.Level1)
	x.level = 1
	x.phase = phaseDescend
	return nil
}

// nextLevel requests the children of the differing nodes of x.level, or
// starts the scan of the differing leaves.
func (x *Exchange) nextLevel() {
	slices.Sort(x.diffs)
	if len(x.diffs) == 0 {
		x.phase = phaseDone
		return
	}
	cfg := x.local.Config()
	if x.level == cfg.Depth {
		leaves := x.local.Leaves()
		x.res.BucketsDiffering = len(x.diffs)
		if float64(len(x.diffs)) > x.cfg.StreamFraction*float64(leaves) {
			x.startScan(nil, 0)
			return
		}
		bitmap := make([]byte, (leaves+7)/8)
		for _, b := range x.diffs {
			setBit(bitmap, int(b))
		}
		x.startScan(bitmap, leaves)
		return
	}
	parents := x.diffs
	x.diffs = nil
	x.level++
	f := uint32(cfg.Fanout)
	var idx []uint32
	flush := func() {
		if len(idx) > 0 {
			x.send(Request{To: Remote, Op: OpNodes, Nodes: &NodesRequest{
				Partition: x.partition, TreeID: x.treeID, Level: x.level, Indexes: idx}})
			idx = nil
		}
	}
	for _, p := range parents {
		for c := range f {
			idx = append(idx, p*f+c)
			if len(idx) == x.cfg.MaxHashes {
				flush()
			}
		}
	}
	flush()
}

func (x *Exchange) onNodes(req *Request, resp *NodesResponse) error {
	if resp == nil || len(resp.Hashes) != len(req.Nodes.Indexes) {
		return fmt.Errorf("%w: nodes response does not match its request", ErrProtocol)
	}
	x.res.BytesReceived += int64(messageOverhead + hashSize*len(resp.Hashes))
	mine := x.local.Level(req.Nodes.Level)
	for i, j := range req.Nodes.Indexes {
		if mine[j] != resp.Hashes[i] {
			x.diffs = append(x.diffs, j)
		}
	}
	x.res.NodesCompared += len(resp.Hashes)
	return nil
}

// startScan starts comparing entries, of the buckets in bitmap or of all
// buckets when leaves is 0. A side that is empty by its tree's count makes
// the other side send values with its entries.
func (x *Exchange) startScan(bitmap []byte, leaves int) {
	x.phase = phaseScan
	x.filter, x.leaves = bitmap, leaves
	x.res.Streamed = leaves == 0
	x.side[0] = stream{values: x.remoteCount == 0}
	x.side[1] = stream{values: x.local.Count() == 0}
	x.refill()
}

// refill requests the next page of each side whose buffer is used up.
func (x *Exchange) refill() {
	for i := range x.side {
		s := &x.side[i]
		if !s.empty() || s.done {
			continue
		}
		to := Local
		if i == 1 {
			to = Remote
		}
		x.send(Request{To: to, Op: OpEntries, Entries: &EntriesRequest{
			Partition: x.partition,
			Leaves:    x.leaves,
			Buckets:   x.filter,
			Start:     s.start,
			Limit:     x.cfg.MaxRecords,
			MaxBytes:  x.cfg.MaxBytes,
			Values:    s.values,
		}})
	}
}

func (x *Exchange) onEntries(req *Request, resp *EntriesResponse) error {
	r := req.Entries
	switch {
	case resp == nil:
		return fmt.Errorf("%w: no entries response", ErrProtocol)
	case len(resp.Entries) > r.Limit:
		return fmt.Errorf("%w: %d entries, limit %d", ErrProtocol, len(resp.Entries), r.Limit)
	case resp.More && len(resp.Entries) == 0:
		return fmt.Errorf("%w: empty page with more to come", ErrProtocol)
	case r.Values && len(resp.Values) != len(resp.Entries):
		return fmt.Errorf("%w: %d values for %d entries", ErrProtocol, len(resp.Values), len(resp.Entries))
	case !r.Values && len(resp.Values) != 0:
		return fmt.Errorf("%w: values not asked for", ErrProtocol)
	}
	size := messageOverhead
	for i := range resp.Entries {
		e := &resp.Entries[i]
		if (i == 0 && bytes.Compare(e.Key, r.Start) < 0) ||
			(i > 0 && bytes.Compare(e.Key, resp.Entries[i-1].Key) <= 0) {
			return fmt.Errorf("%w: entry keys out of order", ErrProtocol)
		}
		if e.ValueLen < 0 || e.ValueLen > math.MaxInt32 {
			return fmt.Errorf("%w: value length %d", ErrProtocol, e.ValueLen)
		}
		if r.Values && !e.Tombstone {
			e.ValueLen = len(resp.Values[i])
		}
		if e.Tombstone {
			e.ValueLen, e.ValueHash = 0, 0
		}
		size += EntrySize(e)
		if r.Values {
			size += len(resp.Values[i])
		}
	}
	if req.To == Remote {
		x.res.BytesReceived += int64(size)
	}
	s := &x.side[0]
	if req.To == Remote {
		s = &x.side[1]
	}
	s.buf, s.vals, s.pos = resp.Entries, resp.Values, 0
	s.done = !resp.More
	if n := len(resp.Entries); n > 0 {
		last := resp.Entries[n-1].Key
		s.start = append(bytes.Clone(last), 0) // the smallest key after last
	}
	return nil
}

// decide compares the entries of one key on both replicas and says which way
// the record must move; both ways when the versions and kinds tie but the
// values differ, in which case each side keeps the greater value (Newer).
func decide(l, r *Entry) (push, pull bool) {
	switch {
	case l.Version != r.Version:
		return l.Version > r.Version, r.Version > l.Version
	case l.Tombstone != r.Tombstone:
		return r.Tombstone, l.Tombstone
	case l.Tombstone || l.ValueHash == r.ValueHash:
		return false, false
	}
	return true, true
}

func moveSize(e *Entry) int { return len(e.Key) + e.ValueLen + recordOverhead }

// merge merge-joins the buffered entries of both sides into the batches,
// then reads and applies full batches, asks for more entries, or ends.
func (x *Exchange) merge() {
	l, r := &x.side[0], &x.side[1]
	blocked := false
	for !blocked {
		if (l.empty() && !l.done) || (r.empty() && !r.done) || (l.empty() && r.empty()) {
			break // a side needs its next page, or both are drained
		}
		var le, re *Entry
		if !l.empty() {
			le = &l.buf[l.pos]
		}
		if !r.empty() {
			re = &r.buf[r.pos]
		}
		c := 0
		switch {
		case re == nil:
			c = -1
		case le == nil:
			c = 1
		default:
			c = bytes.Compare(le.Key, re.Key)
		}
		switch {
		case c < 0: // only the local replica has the key
			if blocked = !x.push.room(&x.cfg, moveSize(le)); !blocked {
				rec, ok := l.record()
				x.push.add(le.Key, rec, ok, moveSize(le))
				l.pos++
			}
		case c > 0: // only the remote replica has the key
			if blocked = !x.pull.room(&x.cfg, moveSize(re)); !blocked {
				rec, ok := r.record()
				x.pull.add(re.Key, rec, ok, moveSize(re))
				r.pos++
			}
		default:
			push, pull := decide(le, re)
			if blocked = (push && !x.push.room(&x.cfg, moveSize(le))) || (pull && !x.pull.room(&x.cfg, moveSize(re))); blocked {
				break
			}
			if push {
				rec, ok := l.record()
				x.push.add(le.Key, rec, ok, moveSize(le))
			}
			if pull {
				rec, ok := r.record()
				x.pull.add(re.Key, rec, ok, moveSize(re))
			}
			l.pos++
			r.pos++
		}
	}
	drained := l.drained() && r.drained()
	switch {
	case blocked || x.push.full(&x.cfg) || x.pull.full(&x.cfg) || (drained && x.push.n+x.pull.n > 0):
		x.read()
	case drained:
		x.phase = phaseDone
	default:
		x.refill()
	}
}

// read requests the records of the batches whose values are not known yet.
func (x *Exchange) read() {
	x.phase = phaseRead
	if len(x.push.keys) > 0 {
		x.send(Request{To: Local, Op: OpRead, Read: &ReadRequest{Partition: x.partition, Keys: x.push.keys, MaxBytes: x.cfg.MaxBytes}})
	}
	if len(x.pull.keys) > 0 {
		x.send(Request{To: Remote, Op: OpRead, Read: &ReadRequest{Partition: x.partition, Keys: x.pull.keys, MaxBytes: x.cfg.MaxBytes}})
	}
	x.push.keys, x.pull.keys = nil, nil
	if len(x.pending) == 0 {
		x.apply()
	}
}

func (x *Exchange) onRead(req *Request, resp *ReadResponse) error {
	keys := req.Read.Keys
	if resp == nil || resp.Next < 1 || resp.Next > len(keys) || len(resp.Records) > resp.Next {
		return fmt.Errorf("%w: read response does not match its request", ErrProtocol)
	}
	size := messageOverhead
	k := 0
	for i := range resp.Records {
		rec := &resp.Records[i]
		for k < resp.Next && !bytes.Equal(keys[k], rec.Key) {
			k++
		}
		if k == resp.Next {
			return fmt.Errorf("%w: read returned a key not asked for, or out of order", ErrProtocol)
		}
		k++
		if rec.Tombstone {
			rec.Value = nil
		}
		size += RecordSize(rec)
	}
	b := &x.push
	if req.To == Remote {
		b = &x.pull
		x.res.BytesReceived += int64(size)
	}
	b.records = append(b.records, resp.Records...)
	if resp.Next < len(keys) {
		x.send(Request{To: req.To, Op: OpRead, Read: &ReadRequest{Partition: x.partition, Keys: keys[resp.Next:], MaxBytes: x.cfg.MaxBytes}})
	}
	return nil
}

// apply sends the batches' records to the replicas that lack them.
func (x *Exchange) apply() {
	x.phase = phaseApply
	for _, chunk := range chunkRecords(x.pull.records, x.cfg.MaxRecords, x.cfg.MaxBytes) {
		x.send(Request{To: Local, Op: OpApply, Apply: &ApplyRequest{Partition: x.partition, Records: chunk}})
	}
	for _, chunk := range chunkRecords(x.push.records, x.cfg.MaxRecords, x.cfg.MaxBytes) {
		x.send(Request{To: Remote, Op: OpApply, Apply: &ApplyRequest{Partition: x.partition, Records: chunk}})
	}
	x.push, x.pull = batch{}, batch{}
	if len(x.pending) == 0 {
		x.merge()
	}
}

func (x *Exchange) onApply(req *Request) {
	if req.To == Local {
		x.res.KeysReceived += len(req.Apply.Records)
		return
	}
	x.res.KeysSent += len(req.Apply.Records)
	x.res.BytesReceived += messageOverhead
}

// chunkRecords splits recs into runs of at most maxRecords records and
// maxBytes bytes (a larger record alone).
func chunkRecords(recs []Record, maxRecords, maxBytes int) [][]Record {
	var out [][]Record
	start, size := 0, 0
	for i := range recs {
		s := RecordSize(&recs[i])
		if i > start && (i-start == maxRecords || size+s > maxBytes) {
			out = append(out, recs[start:i])
			start, size = i, 0
		}
		size += s
	}
	if start < len(recs) {
		out = append(out, recs[start:])
	}
	return out
}

// requestSize approximates the payload of r.
func requestSize(r *Request) int {
	n := messageOverhead
	switch r.Op {
	case OpNodes:
		n += 12 + indexSize*len(r.Nodes.Indexes)
	case OpEntries:
		n += 16 + len(r.Entries.Buckets) + len(r.Entries.Start)
	case OpRead:
		for _, k := range r.Read.Keys {
			n += len(k) + 2
		}
	case OpApply:
		for i := range r.Apply.Records {
			n += RecordSize(&r.Apply.Records[i])
		}
	}
	return n
}
