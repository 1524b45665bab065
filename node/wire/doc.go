// Package wire defines the messages nodes exchange and their encoding into
// frames: a fixed binary header followed by a msgpack body.
//
// # Frame
//
// Every message travels in one frame. All integers in the header are
// big-endian.
//
//	offset  size  field
//	0       4     length: number of bytes after this field
//	              (HeaderSize-4 + len(body)); 10 <= length <= MaxFrameSize
//	4       1     type: MsgType of the body (0 is invalid)
//	5       1     flags: bit 0 FlagResponse, bit 1 FlagError, bits 2-7 zero
//	6       8     request id: chosen by the requester, echoed by the response
//	14      ...   body: msgpack encoding of the message (length-10 bytes)
//
// A frame with FlagResponse answers the request with the same id on the same
// connection. FlagError is set exactly when the type is TypeError, and only
// together with FlagResponse. Readers check the length against their
// MaxFrameSize before allocating anything for the frame (ParseHeader,
// ReadFrame), and reject unknown flag bits. Frames are not checksummed: TCP
// protects them in transit.
//
// # Bodies
//
// A body is exactly one msgpack array holding the message's fields in
// declaration order; nothing may follow it. The encodings, with msgpack
// types (bin is bin8/16/32 or nil for a nil slice; str is fixstr/str8/16/32;
// uint and int use the smallest msgpack integer that holds the value):
//
//	Record         [key bin, value bin, version uint, tombstone bool]
//	ReadResult     [found bool, record Record]
//
//	ErrorResponse  [code uint, message str]
//	Ping           []
//	Pong           [name str]
//	WriteRequest   [records array of Record, hint str]
//	WriteResponse  []
//	ReadRequest    [keys array of bin]
//	ReadResponse   [results array of ReadResult]
//	RangeRequest   [partitions array of int, start bin, end bin, limit int,
//	                tombstones bool]
//	RangeResponse  [records array of Record, more bool]
//
// The anti-entropy messages embed the structs of package antientropy and
// follow its field order; an anti-entropy Record is encoded like Record
// above, with its storage.Version as the uint:
//
//	AESummaryRequest   [partition int]
//	AESummaryResponse  [tree id uint, fan-out int, depth int, count int,
//	                    root uint, level-1 hashes array of uint]
//	AENodesRequest     [partition int, tree id uint, level int,
//	                    indexes array of uint]
//	AENodesResponse    [hashes array of uint]
//	AEEntriesRequest   [partition int, leaves int, buckets bin, start bin,
//	                    limit int, max bytes int, values bool]
//	AEEntriesResponse  [entries array of Entry, values array of bin,
//	                    more bool]
//	  Entry            [key bin, version uint, tombstone bool,
//	                    value hash uint, value length int]
//	AEReadRequest      [partition int, keys array of bin, max bytes int]
//	AEReadResponse     [records array of Record, next int]
//	AEApplyRequest     [partition int, records array of Record]
//	AEApplyResponse    []
//	AERootsRequest     [partitions array of int]
//	AERootsResponse    [roots array of uint, known bin]
//
// Their decoders reject, as malformed, a negative int field, a partition
// above 2^31-1, a fan-out above antientropy.MaxFanout (and more level-1
// hashes than that), a depth or level above antientropy.MaxDepth, leaves
// above antientropy.MaxLeaves (and a bucket bitmap longer than one bit per
// leaf of that), and a node index above 2^32-1. Whether the values fit the
// exchange in progress (tree id, shape, bitmap length, limits > 0) is
// checked by package antientropy.
//
// For example a Ping with request id 7 is the 15 bytes
//
//	00 00 00 0b  02  00  00 00 00 00 00 00 00 07  90
//
// and Pong{Name: "a"} answering it is
//
//	00 00 00 0d  03  01  00 00 00 00 00 00 00 07  91 a1 61
//
// Decoders are lenient where it helps evolution and strict where it bounds
// cost: a struct array may carry more fields than the reader knows (the
// extra ones are skipped) but never fewer than the message had when it was
// introduced; bin and str are interchangeable; nil reads as an empty array,
// zero or false. A nil bin decodes to a nil slice and an empty bin to an
// empty non-nil slice, so a round trip preserves the difference. An empty
// array decodes to a nil slice.
//
// # Allocation bounds
//
// msgpack/v5 trusts the lengths it reads: DecodeBytes allocates the claimed
// length of a bin before reading it, and reflection-based slice decoding
// pre-allocates the claimed element count (its alloc-limit flag test is
// inverted in v5.4.1). This package therefore decodes every message by hand
// with the Decoder's primitive methods and checks each claimed length against
// the bytes actually left in the body before allocating: a bin of n bytes
// needs n more bytes, an array of n elements needs n times the element's
// minimum encoded size. Decoding a body of B bytes allocates at most about
// 24·B bytes in total (the worst case is a ReadRequest or AEReadRequest of nil keys), and a
// large claim in a small frame fails without allocating. Skipping unknown
// fields is iterative and depth-limited. Decoders never panic on any input
// (FuzzDecodeFrame).
//
// # Memory
//
// Decoding always produces fresh structs and fresh byte slices; nothing
// aliases the frame, so callers may reuse frame buffers at once and keep the
// decoded message as long as they like. Encoders and decoders are pooled
// (msgpack Encoder and Decoder reuse through sync.Pool); AppendFrame appends
// to a caller-supplied buffer.
//
// # Adding a message
//
// Message types are append-only: a type value, once released, keeps its
// meaning forever, and a field, once added, keeps its position. To add a
// message:
//
//  1. Append a MsgType constant after the last one (never reuse a value).
//  2. Declare the struct with a pointer-receiver Type method.
//  3. Write its encodeBody and decodeBody methods with the encoder and
//     decoder helpers in messages.go (fields as one array, in order; decode
//     with d.fields(min) where min is the field count now, then
//     d.skipFields for the rest). Every slice must go through d.arrayLen with
//     the element's minimum encoded size.
//  4. Add it to the registry table in wire.go.
//  5. Add a case to the random generator in wire_test.go (TestRoundTrip
//     fails for a registered type without one), a sample to the golden test,
//     and a line to the body table above; then run the tests with -update to
//     extend testdata/frames.golden.
//
// To add a field to an existing message, append it to the struct and to both
// codec methods after the existing fields, leave the min passed to d.fields
// unchanged, and document it above; old readers skip it and new readers see
// its zero value when talking to old writers. Changes that cannot be
// expressed this way need a new message type or a new protocol version
// (negotiated by package transport).
//
// # Concurrency
//
// All functions are safe for concurrent use. Messages are plain values with
// no internal synchronisation.
package wire
