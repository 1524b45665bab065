package wire

import (
	"math"

	"kvstore/antientropy"
	"kvstore/storage"
)

// This file carries the messages of the anti-entropy protocol (package
// antientropy) between replicas. Each wire type embeds the antientropy
// struct it carries, so the node converts with a field access, and encodes
// it as a msgpack array of the struct's fields in declaration order (see
// the body table in the package documentation and antientropy's "Messages"
// section). Integers that the protocol needs non-negative are checked on
// decoding, and shape parameters are checked against antientropy's limits;
// everything else (a tree id the peer does not know, a level beyond the
// tree's depth, a bitmap of the wrong length) is left to package
// antientropy, which validates every request and response it receives.

// Bounds checked on decoding the anti-entropy messages.
const (
	// maxAEPartition bounds a partition number: partitions are small
	// non-negative integers, and the bound keeps them in an int on every
	// platform.
	maxAEPartition = math.MaxInt32
	// maxAEBuckets is the longest leaf bucket bitmap: one bit per leaf of
	// the largest tree.
	maxAEBuckets = (antientropy.MaxLeaves + 7) / 8
)

// minAEEntrySize is the smallest encoding of an antientropy.Entry:
// fixarray(5) and five one-byte fields.
const minAEEntrySize = 6

// AESummaryRequest carries an antientropy.SummaryRequest: it starts an
// exchange by asking for the summary of the peer's tree of a partition.
// Answered by an AESummaryResponse.
type AESummaryRequest struct {
	antientropy.SummaryRequest
}

// AESummaryResponse carries an antientropy.SummaryResponse.
type AESummaryResponse struct {
	antientropy.SummaryResponse
}

// AENodesRequest carries an antientropy.NodesRequest: hashes of some nodes
// of one level of a tree. Answered by an AENodesResponse.
type AENodesRequest struct {
	antientropy.NodesRequest
}

// AENodesResponse carries an antientropy.NodesResponse.
type AENodesResponse struct {
	antientropy.NodesResponse
}

// AEEntriesRequest carries an antientropy.EntriesRequest: one page of
// record summaries of a partition. Answered by an AEEntriesResponse.
type AEEntriesRequest struct {
	antientropy.EntriesRequest
}

// AEEntriesResponse carries an antientropy.EntriesResponse.
type AEEntriesResponse struct {
	antientropy.EntriesResponse
}

// AEReadRequest carries an antientropy.ReadRequest: the full records of
// some keys of a partition. Answered by an AEReadResponse.
type AEReadRequest struct {
	antientropy.ReadRequest
}

// AEReadResponse carries an antientropy.ReadResponse.
type AEReadResponse struct {
	antientropy.ReadResponse
}

// AEApplyRequest carries an antientropy.ApplyRequest: records for the
// receiver to keep where they are newer than its own. Answered by an
// AEApplyResponse once they are applied.
type AEApplyRequest struct {
	antientropy.ApplyRequest
}

// AEApplyResponse acknowledges an AEApplyRequest. It carries nothing; a
// failed apply is answered by an ErrorResponse.
type AEApplyResponse struct{}

// AERootsRequest carries an antientropy.RootsRequest: the roots of the
// peer's current trees of many partitions, where it has them without a
// scan. Answered by an AERootsResponse.
type AERootsRequest struct {
	antientropy.RootsRequest
}

// AERootsResponse carries an antientropy.RootsResponse.
type AERootsResponse struct {
	antientropy.RootsResponse
}

// Type implements Message.
func (*AERootsRequest) Type() MsgType { return TypeAERootsRequest }

// Type implements Message.
func (*AERootsResponse) Type() MsgType { return TypeAERootsResponse }

// Type implements Message.
func (*AESummaryRequest) Type() MsgType { return TypeAESummaryRequest }

// Type implements Message.
func (*AESummaryResponse) Type() MsgType { return TypeAESummaryResponse }

// Type implements Message.
func (*AENodesRequest) Type() MsgType { return TypeAENodesRequest }

// Type implements Message.
func (*AENodesResponse) Type() MsgType { return TypeAENodesResponse }

// Type implements Message.
func (*AEEntriesRequest) Type() MsgType { return TypeAEEntriesRequest }

// Type implements Message.
func (*AEEntriesResponse) Type() MsgType { return TypeAEEntriesResponse }

// Type implements Message.
func (*AEReadRequest) Type() MsgType { return TypeAEReadRequest }

// Type implements Message.
func (*AEReadResponse) Type() MsgType { return TypeAEReadResponse }

// Type implements Message.
func (*AEApplyRequest) Type() MsgType { return TypeAEApplyRequest }

// Type implements Message.
func (*AEApplyResponse) Type() MsgType { return TypeAEApplyResponse }

// RootsRequest [partitions array of int]

func (m *AERootsRequest) encodeBody(e *encoder) {
	e.fields(1)
	e.arrayLen(len(m.Partitions))
	for _, p := range m.Partitions {
		e.int(int64(p))
	}
}

func (m *AERootsRequest) decodeBody(d *decoder) {
	n := d.fields(1)
	if k := d.arrayLen(1); k > 0 {
		m.Partitions = make([]int, k)
		for i := range m.Partitions {
			m.Partitions[i] = d.intIn("partition", maxAEPartition)
			if d.err != nil {
				return
			}
		}
	}
	d.skipFields(n - 1)
}

// RootsResponse [roots array of uint, known bin]

func (m *AERootsResponse) encodeBody(e *encoder) {
	e.fields(2)
	e.uints(m.Roots)
	e.bytes(m.Known)
}

func (m *AERootsResponse) decodeBody(d *decoder) {
	n := d.fields(2)
	m.Roots = d.uints(math.MaxInt)
	m.Known = d.bytes()
	d.skipFields(n - 2)
}

// SummaryRequest [partition int]

func (m *AESummaryRequest) encodeBody(e *encoder) {
	e.fields(1)
	e.int(int64(m.Partition))
}

func (m *AESummaryRequest) decodeBody(d *decoder) {
	n := d.fields(1)
	m.Partition = d.intIn("partition", maxAEPartition)
	d.skipFields(n - 1)
}

// SummaryResponse [tree id uint, fan-out int, depth int, count int,
// root uint, level-1 hashes array of uint]

func (m *AESummaryResponse) encodeBody(e *encoder) {
	e.fields(6)
	e.uint(m.TreeID)
	e.int(int64(m.Fanout))
	e.int(int64(m.Depth))
	e.int(m.Count)
	e.uint(m.Root)
	e.uints(m.Level1)
}

func (m *AESummaryResponse) decodeBody(d *decoder) {
	n := d.fields(6)
	m.TreeID = d.uint()
	m.Fanout = d.intIn("fan-out", antientropy.MaxFanout)
	m.Depth = d.intIn("depth", antientropy.MaxDepth)
	if m.Count = d.int(); m.Count < 0 {
		d.fail(malformedf("record count %d is negative", m.Count))
	}
	m.Root = d.uint()
	m.Level1 = d.uints(antientropy.MaxFanout)
	d.skipFields(n - 6)
}

// NodesRequest [partition int, tree id uint, level int, indexes array of uint]

func (m *AENodesRequest) encodeBody(e *encoder) {
	e.fields(4)
	e.int(int64(m.Partition))
	e.uint(m.TreeID)
	e.int(int64(m.Level))
	e.arrayLen(len(m.Indexes))
	for _, i := range m.Indexes {
		e.uint(uint64(i))
	}
}

func (m *AENodesRequest) decodeBody(d *decoder) {
	n := d.fields(4)
	m.Partition = d.intIn("partition", maxAEPartition)
	m.TreeID = d.uint()
	m.Level = d.intIn("level", antientropy.MaxDepth)
	if k := d.arrayLen(1); k > 0 {
		m.Indexes = make([]uint32, k)
		for i := range m.Indexes {
			v := d.uint()
			if v > math.MaxUint32 {
				d.fail(malformedf("node index %d out of range", v))
			}
			if d.err != nil {
				return
			}
			m.Indexes[i] = uint32(v)
		}
	}
	d.skipFields(n - 4)
}

// NodesResponse [hashes array of uint]

func (m *AENodesResponse) encodeBody(e *encoder) {
	e.fields(1)
	e.uints(m.Hashes)
}

func (m *AENodesResponse) decodeBody(d *decoder) {
	n := d.fields(1)
	m.Hashes = d.uints(math.MaxInt)
	d.skipFields(n - 1)
}

// EntriesRequest [partition int, leaves int, buckets bin, start bin,
// limit int, max bytes int, values bool]

func (m *AEEntriesRequest) encodeBody(e *encoder) {
	e.fields(7)
	e.int(int64(m.Partition))
	e.int(int64(m.Leaves))
	e.bytes(m.Buckets)
	e.bytes(m.Start)
	e.int(int64(m.Limit))
	e.int(int64(m.MaxBytes))
	e.bool(m.Values)
}

func (m *AEEntriesRequest) decodeBody(d *decoder) {
	n := d.fields(7)
	m.Partition = d.intIn("partition", maxAEPartition)
	m.Leaves = d.intIn("leaves", antientropy.MaxLeaves)
	m.Buckets = d.bytes()
	if len(m.Buckets) > maxAEBuckets {
		d.fail(malformedf("bucket bitmap of %d bytes exceeds %d", len(m.Buckets), maxAEBuckets))
	}
	m.Start = d.bytes()
	m.Limit = d.intIn("limit", math.MaxInt)
	m.MaxBytes = d.intIn("max bytes", math.MaxInt)
	m.Values = d.bool()
	d.skipFields(n - 7)
}

// EntriesResponse [entries array of Entry, values array of bin, more bool]
// Entry [key bin, version uint, tombstone bool, value hash uint,
// value length int]

func (m *AEEntriesResponse) encodeBody(e *encoder) {
	e.fields(3)
	e.arrayLen(len(m.Entries))
	for i := range m.Entries {
		en := &m.Entries[i]
		e.fields(5)
		e.bytes(en.Key)
		e.uint(uint64(en.Version))
		e.bool(en.Tombstone)
		e.uint(en.ValueHash)
		e.int(int64(en.ValueLen))
	}
	e.arrayLen(len(m.Values))
	for _, v := range m.Values {
		e.bytes(v)
	}
	e.bool(m.More)
}

func (m *AEEntriesResponse) decodeBody(d *decoder) {
	n := d.fields(3)
	if k := d.arrayLen(minAEEntrySize); k > 0 {
		m.Entries = make([]antientropy.Entry, k)
		for i := range m.Entries {
			en := &m.Entries[i]
			f := d.fields(5)
			en.Key = d.bytes()
			en.Version = storage.Version(d.uint())
			en.Tombstone = d.bool()
			en.ValueHash = d.uint()
			en.ValueLen = d.intIn("value length", math.MaxInt)
			d.skipFields(f - 5)
			if d.err != nil {
				return
			}
		}
	}
	if k := d.arrayLen(1); k > 0 {
		m.Values = make([][]byte, k)
		for i := range m.Values {
			m.Values[i] = d.bytes()
			if d.err != nil {
				return
			}
		}
	}
	m.More = d.bool()
	d.skipFields(n - 3)
}

// ReadRequest [partition int, keys array of bin, max bytes int]

func (m *AEReadRequest) encodeBody(e *encoder) {
	e.fields(3)
	e.int(int64(m.Partition))
	e.arrayLen(len(m.Keys))
	for _, k := range m.Keys {
		e.bytes(k)
	}
	e.int(int64(m.MaxBytes))
}

func (m *AEReadRequest) decodeBody(d *decoder) {
	n := d.fields(3)
	m.Partition = d.intIn("partition", maxAEPartition)
	if k := d.arrayLen(1); k > 0 {
		m.Keys = make([][]byte, k)
		for i := range m.Keys {
			m.Keys[i] = d.bytes()
			if d.err != nil {
				return
			}
		}
	}
	m.MaxBytes = d.intIn("max bytes", math.MaxInt)
	d.skipFields(n - 3)
}

// ReadResponse [records array of Record, next int]

func (m *AEReadResponse) encodeBody(e *encoder) {
	e.fields(2)
	e.aeRecords(m.Records)
	e.int(int64(m.Next))
}

func (m *AEReadResponse) decodeBody(d *decoder) {
	n := d.fields(2)
	m.Records = d.aeRecords()
	m.Next = d.intIn("next", math.MaxInt)
	d.skipFields(n - 2)
}

// ApplyRequest [partition int, records array of Record]

func (m *AEApplyRequest) encodeBody(e *encoder) {
	e.fields(2)
	e.int(int64(m.Partition))
	e.aeRecords(m.Records)
}

func (m *AEApplyRequest) decodeBody(d *decoder) {
	n := d.fields(2)
	m.Partition = d.intIn("partition", maxAEPartition)
	m.Records = d.aeRecords()
	d.skipFields(n - 2)
}

// ApplyResponse []

func (m *AEApplyResponse) encodeBody(e *encoder) { e.fields(0) }

func (m *AEApplyResponse) decodeBody(d *decoder) { d.skipFields(d.fields(0)) }

// uints writes an array of uints.
func (e *encoder) uints(v []uint64) {
	e.arrayLen(len(v))
	for _, x := range v {
		e.uint(x)
	}
}

// aeRecords writes an array of antientropy Records, each encoded like a
// Record: [key bin, value bin, version uint, tombstone bool].
func (e *encoder) aeRecords(rs []antientropy.Record) {
	e.arrayLen(len(rs))
	for i := range rs {
		r := &rs[i]
		e.fields(4)
		e.bytes(r.Key)
		e.bytes(r.Value)
		e.uint(uint64(r.Version))
		e.bool(r.Tombstone)
	}
}

// intIn reads an int that must lie in [0, max].
func (d *decoder) intIn(what string, max int64) int {
	v := d.int()
	if d.err != nil {
		return 0
	}
	if v < 0 || v > max {
		d.fail(malformedf("%s %d not in [0, %d]", what, v, max))
		return 0
	}
	return int(v)
}

// uints reads an array of at most max uints (nil for an empty array).
func (d *decoder) uints(max int) []uint64 {
	k := d.arrayLen(1)
	if k > max {
		d.fail(malformedf("array of %d integers exceeds %d", k, max))
		return nil
	}
	if k == 0 {
		return nil
	}
	v := make([]uint64, k)
	for i := range v {
		v[i] = d.uint()
		if d.err != nil {
			return nil
		}
	}
	return v
}

// aeRecords reads an array of antientropy Records (nil for an empty array).
func (d *decoder) aeRecords() []antientropy.Record {
	k := d.arrayLen(minRecordSize)
	if k == 0 {
		return nil
	}
	rs := make([]antientropy.Record, k)
	for i := range rs {
		r := &rs[i]
		f := d.fields(4)
		r.Key = d.bytes()
		r.Value = d.bytes()
		r.Version = storage.Version(d.uint())
		r.Tombstone = d.bool()
		d.skipFields(f - 4)
		if d.err != nil {
			return nil
		}
	}
	return rs
}
