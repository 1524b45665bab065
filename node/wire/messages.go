package wire

import "fmt"

// Record is one stored record as it travels between nodes: a key with a
// value or a tombstone, and its version (a storage.Version: hybrid logical
// clock timestamp with a node id tiebreak).
type Record struct {
	Key       []byte
	Value     []byte
	Version   uint64
	Tombstone bool
}

// minRecordSize is the smallest encoding of a Record: fixarray(4) and four
// one-byte fields.
const minRecordSize = 5

func (r *Record) encode(e *encoder) {
	e.fields(4)
	e.bytes(r.Key)
	e.bytes(r.Value)
	e.uint(r.Version)
	e.bool(r.Tombstone)
}

func (r *Record) decode(d *decoder) {
	n := d.fields(4)
	r.Key = d.bytes()
	r.Value = d.bytes()
	r.Version = d.uint()
	r.Tombstone = d.bool()
	d.skipFields(n - 4)
}

// ErrorCode classifies an ErrorResponse. Values are append-only.
type ErrorCode uint16

// Error codes.
const (
	// CodeInternal: the handler failed for a reason the caller cannot fix.
	CodeInternal ErrorCode = 1
	// CodeBadRequest: the request is malformed or not understood (including
	// a message type the peer does not know).
	CodeBadRequest ErrorCode = 2
	// CodeUnavailable: the peer cannot serve now (shutting down, storage
	// closed, request cancelled); another replica may.
	CodeUnavailable ErrorCode = 3
	// CodeOverloaded: the peer shed the request; retry later or elsewhere.
	CodeOverloaded ErrorCode = 4
	// CodeNotOwner: the peer does not hold the requested partition.
	CodeNotOwner ErrorCode = 5
	// CodeTooLarge: the request or its response exceeds a size limit.
	CodeTooLarge ErrorCode = 6
)

var codeNames = [...]string{
	CodeInternal:    "internal",
	CodeBadRequest:  "bad request",
	CodeUnavailable: "unavailable",
	CodeOverloaded:  "overloaded",
	CodeNotOwner:    "not owner",
	CodeTooLarge:    "too large",
}

func (c ErrorCode) String() string {
	if int(c) < len(codeNames) && codeNames[c] != "" {
		return codeNames[c]
	}
	return fmt.Sprintf("ErrorCode(%d)", uint16(c))
}

// ErrorResponse answers a request that failed. It travels with FlagError.
type ErrorResponse struct {
	Code    ErrorCode
	Message string
}

// Type implements Message.
func (*ErrorResponse) Type() MsgType { return TypeError }

func (m *ErrorResponse) encodeBody(e *encoder) {
	e.fields(2)
	e.uint(uint64(m.Code))
	e.string(m.Message)
}

func (m *ErrorResponse) decodeBody(d *decoder) {
	n := d.fields(2)
	code := d.uint()
	if code > 0xffff {
		d.fail(malformedf("error code %d out of range", code))
	}
	m.Code = ErrorCode(code)
	m.Message = d.string()
	d.skipFields(n - 2)
}

// Ping asks a peer to answer with a Pong.
type Ping struct{}

// Type implements Message.
func (*Ping) Type() MsgType { return TypePing }

func (m *Ping) encodeBody(e *encoder) { e.fields(0) }

func (m *Ping) decodeBody(d *decoder) { d.skipFields(d.fields(0)) }

// Pong answers a Ping with the responder's node name.
type Pong struct {
	Name string
}

// Type implements Message.
func (*Pong) Type() MsgType { return TypePong }

func (m *Pong) encodeBody(e *encoder) {
	e.fields(1)
	e.string(m.Name)
}

func (m *Pong) decodeBody(d *decoder) {
	n := d.fields(1)
	m.Name = d.string()
	d.skipFields(n - 1)
}

// WriteRequest asks a replica to store records. Hint names the intended
// owner when the receiver is to keep the records as a hint for it (hinted
// handoff); it is empty for a normal replica write. Answered by a
// WriteResponse once the records are durable.
type WriteRequest struct {
	Records []Record
	Hint    string
}

// Type implements Message.
func (*WriteRequest) Type() MsgType { return TypeWriteRequest }

func (m *WriteRequest) encodeBody(e *encoder) {
	e.fields(2)
	e.records(m.Records)
	e.string(m.Hint)
}

func (m *WriteRequest) decodeBody(d *decoder) {
	n := d.fields(2)
	m.Records = d.records()
	m.Hint = d.string()
	d.skipFields(n - 2)
}

// WriteResponse acknowledges a WriteRequest.
type WriteResponse struct{}

// Type implements Message.
func (*WriteResponse) Type() MsgType { return TypeWriteResponse }

func (m *WriteResponse) encodeBody(e *encoder) { e.fields(0) }

func (m *WriteResponse) decodeBody(d *decoder) { d.skipFields(d.fields(0)) }

// ReadRequest asks a replica for the newest record of each key.
type ReadRequest struct {
	Keys [][]byte
}

// Type implements Message.
func (*ReadRequest) Type() MsgType { return TypeReadRequest }

func (m *ReadRequest) encodeBody(e *encoder) {
	e.fields(1)
	e.arrayLen(len(m.Keys))
	for _, k := range m.Keys {
		e.bytes(k)
	}
}

func (m *ReadRequest) decodeBody(d *decoder) {
	n := d.fields(1)
	if k := d.arrayLen(1); k > 0 {
		m.Keys = make([][]byte, k)
		for i := range m.Keys {
			m.Keys[i] = d.bytes()
		}
	}
	d.skipFields(n - 1)
}

// ReadResult is the answer for one key of a ReadRequest. Found is false when
// the replica holds no record at all for the key; a tombstone is found.
type ReadResult struct {
	Found  bool
	Record Record
}

// minReadResultSize is the smallest encoding of a ReadResult: fixarray(2),
// a bool and a minimal Record.
const minReadResultSize = 2 + minRecordSize

// ReadResponse answers a ReadRequest: one result per requested key, in
// request order.
type ReadResponse struct {
	Results []ReadResult
}

// Type implements Message.
func (*ReadResponse) Type() MsgType { return TypeReadResponse }

func (m *ReadResponse) encodeBody(e *encoder) {
	e.fields(1)
	e.arrayLen(len(m.Results))
	for i := range m.Results {
		r := &m.Results[i]
		e.fields(2)
		e.bool(r.Found)
		r.Record.encode(e)
	}
}

func (m *ReadResponse) decodeBody(d *decoder) {
	n := d.fields(1)
	if k := d.arrayLen(minReadResultSize); k > 0 {
		m.Results = make([]ReadResult, k)
		for i := range m.Results {
			r := &m.Results[i]
			f := d.fields(2)
			r.Found = d.bool()
			r.Record.decode(d)
			d.skipFields(f - 2)
			if d.err != nil {
				m.Results = nil
				return
			}
		}
	}
	d.skipFields(n - 1)
}

// RangeRequest asks a replica for the records of the listed partitions
// whose keys lie between Start and End, merged in key order, at most Limit
// of them (Limit <= 0: no limit beyond the replica's own). An empty End
// means no upper bound; whether End itself is included is the node's range
// contract. Tombstones selects whether tombstones are included.
type RangeRequest struct {
	Partitions []int
	Start      []byte
	End        []byte
	Limit      int
	Tombstones bool
}

// Type implements Message.
func (*RangeRequest) Type() MsgType { return TypeRangeRequest }

func (m *RangeRequest) encodeBody(e *encoder) {
	e.fields(5)
	e.arrayLen(len(m.Partitions))
	for _, p := range m.Partitions {
		e.int(int64(p))
	}
	e.bytes(m.Start)
	e.bytes(m.End)
	e.int(int64(m.Limit))
	e.bool(m.Tombstones)
}

func (m *RangeRequest) decodeBody(d *decoder) {
	n := d.fields(5)
	if k := d.arrayLen(1); k > 0 {
		m.Partitions = make([]int, k)
		for i := range m.Partitions {
			m.Partitions[i] = int(d.int())
		}
	}
	m.Start = d.bytes()
	m.End = d.bytes()
	m.Limit = int(d.int())
	m.Tombstones = d.bool()
	d.skipFields(n - 5)
}

// RangeResponse answers a RangeRequest. More reports that records beyond
// the last one returned remain in the range; the caller continues from just
// after the last key.
type RangeResponse struct {
	Records []Record
	More    bool
}

// Type implements Message.
func (*RangeResponse) Type() MsgType { return TypeRangeResponse }

func (m *RangeResponse) encodeBody(e *encoder) {
	e.fields(2)
	e.records(m.Records)
	e.bool(m.More)
}

func (m *RangeResponse) decodeBody(d *decoder) {
	n := d.fields(2)
	m.Records = d.records()
	m.More = d.bool()
	d.skipFields(n - 2)
}
