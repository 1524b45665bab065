package wire

import (
	"bytes"
	"errors"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/vmihailenco/msgpack/v5"

	"kvstore/antientropy"
	"kvstore/storage"
)

// aeTypes lists the anti-entropy message types.
var aeTypes = []MsgType{
	TypeAESummaryRequest, TypeAESummaryResponse,
	TypeAENodesRequest, TypeAENodesResponse,
	TypeAEEntriesRequest, TypeAEEntriesResponse,
	TypeAEReadRequest, TypeAEReadResponse,
	TypeAEApplyRequest, TypeAEApplyResponse,
	TypeAERootsRequest, TypeAERootsResponse,
}

// intUpTo returns a random int in [0, max] of varied encoded width.
func (g gen) intUpTo(max int) int {
	v := g.uint() >> 1
	if v > uint64(max) {
		v %= uint64(max) + 1
	}
	return int(v)
}

func (g gen) partition() int { return g.intUpTo(maxAEPartition) }

func (g gen) uints(max int) []uint64 {
	n := min(g.count(), max)
	if n == 0 {
		return nil
	}
	v := make([]uint64, n)
	for i := range v {
		v[i] = g.uint()
	}
	return v
}

func (g gen) byteSlices() [][]byte {
	n := g.count()
	if n == 0 {
		return nil
	}
	v := make([][]byte, n)
	for i := range v {
		v[i] = g.bytes()
	}
	return v
}

func (g gen) aeRecords() []antientropy.Record {
	n := g.count()
	if n == 0 {
		return nil
	}
	rs := make([]antientropy.Record, n)
	for i := range rs {
		rs[i] = antientropy.Record{Key: g.bytes(), Value: g.bytes(), Version: storage.Version(g.uint()), Tombstone: g.r.IntN(2) == 0}
	}
	return rs
}

// aeMessage returns a random valid anti-entropy message of type t, or nil
// if t is not one.
func (g gen) aeMessage(t MsgType) Message {
	switch t {
	case TypeAESummaryRequest:
		return &AESummaryRequest{antientropy.SummaryRequest{Partition: g.partition()}}
	case TypeAESummaryResponse:
		return &AESummaryResponse{antientropy.SummaryResponse{
			TreeID: g.uint(),
			Fanout: g.intUpTo(antientropy.MaxFanout),
			Depth:  g.intUpTo(antientropy.MaxDepth),
			Count:  int64(g.intUpTo(math.MaxInt)),
			Root:   g.uint(),
			Level1: g.uints(antientropy.MaxFanout),
		}}
	case TypeAENodesRequest:
		m := &AENodesRequest{antientropy.NodesRequest{Partition: g.partition(), TreeID: g.uint(), Level: g.intUpTo(antientropy.MaxDepth)}}
		if n := g.count(); n > 0 {
			m.Indexes = make([]uint32, n)
			for i := range m.Indexes {
				m.Indexes[i] = g.r.Uint32() >> g.r.IntN(32)
			}
		}
		return m
	case TypeAENodesResponse:
		return &AENodesResponse{antientropy.NodesResponse{Hashes: g.uints(math.MaxInt)}}
	case TypeAEEntriesRequest:
		return &AEEntriesRequest{antientropy.EntriesRequest{
			Partition: g.partition(),
			Leaves:    g.intUpTo(antientropy.MaxLeaves),
			Buckets:   g.bytes(),
			Start:     g.bytes(),
			Limit:     g.intUpTo(math.MaxInt),
			MaxBytes:  g.intUpTo(math.MaxInt),
			Values:    g.r.IntN(2) == 0,
		}}
	case TypeAEEntriesResponse:
		m := &AEEntriesResponse{antientropy.EntriesResponse{Values: g.byteSlices(), More: g.r.IntN(2) == 0}}
		if n := g.count(); n > 0 {
			m.Entries = make([]antientropy.Entry, n)
			for i := range m.Entries {
				m.Entries[i] = antientropy.Entry{
					Key:       g.bytes(),
					Version:   storage.Version(g.uint()),
					Tombstone: g.r.IntN(2) == 0,
					ValueHash: g.uint(),
					ValueLen:  g.intUpTo(math.MaxInt),
				}
			}
		}
		return m
	case TypeAEReadRequest:
		return &AEReadRequest{antientropy.ReadRequest{Partition: g.partition(), Keys: g.byteSlices(), MaxBytes: g.intUpTo(math.MaxInt)}}
	case TypeAEReadResponse:
		return &AEReadResponse{antientropy.ReadResponse{Records: g.aeRecords(), Next: g.intUpTo(math.MaxInt)}}
	case TypeAEApplyRequest:
		return &AEApplyRequest{antientropy.ApplyRequest{Partition: g.partition(), Records: g.aeRecords()}}
	case TypeAEApplyResponse:
		return &AEApplyResponse{}
	case TypeAERootsRequest:
		m := &AERootsRequest{}
		if n := g.count(); n > 0 {
			m.Partitions = make([]int, n)
			for i := range m.Partitions {
				m.Partitions[i] = g.partition()
			}
		}
		return m
	case TypeAERootsResponse:
		return &AERootsResponse{antientropy.RootsResponse{Roots: g.uints(math.MaxInt), Known: g.bytes()}}
	}
	return nil
}

// aeSamples are the anti-entropy messages frozen in testdata/frames.golden.
func aeSamples() []struct {
	name  string
	id    uint64
	flags Flags
	m     Message
} {
	rec := antientropy.Record{Key: []byte("key"), Value: []byte("value"), Version: 0x1234567890}
	del := antientropy.Record{Key: []byte("gone"), Version: 7, Tombstone: true}
	return []struct {
		name  string
		id    uint64
		flags Flags
		m     Message
	}{
		{"ae-summary", 20, 0, &AESummaryRequest{antientropy.SummaryRequest{Partition: 17}}},
		{"ae-summary-response", 20, FlagResponse, &AESummaryResponse{antientropy.SummaryResponse{
			TreeID: 0x0102030405060708, Fanout: 2, Depth: 3, Count: 1000,
			Root: 0xdeadbeefcafef00d, Level1: []uint64{1, math.MaxUint64},
		}}},
		{"ae-nodes", 21, 0, &AENodesRequest{antientropy.NodesRequest{
			Partition: 17, TreeID: 0x0102030405060708, Level: 2, Indexes: []uint32{0, 3, 255, 65536},
		}}},
		{"ae-nodes-response", 21, FlagResponse, &AENodesResponse{antientropy.NodesResponse{
			Hashes: []uint64{0, 0x8000000000000001, 42, math.MaxUint64},
		}}},
		{"ae-entries", 22, 0, &AEEntriesRequest{antientropy.EntriesRequest{
			Partition: 17, Leaves: 16, Buckets: []byte{0x05, 0x80}, Start: []byte("k"),
			Limit: 1024, MaxBytes: 1 << 20, Values: true,
		}}},
		{"ae-entries-all", 23, 0, &AEEntriesRequest{antientropy.EntriesRequest{
			Partition: 0, Limit: 1, MaxBytes: 1,
		}}},
		{"ae-entries-response", 22, FlagResponse, &AEEntriesResponse{antientropy.EntriesResponse{
			Entries: []antientropy.Entry{rec.Entry(), del.Entry()},
			Values:  [][]byte{[]byte("value"), nil},
			More:    true,
		}}},
		{"ae-read", 24, 0, &AEReadRequest{antientropy.ReadRequest{
			Partition: 17, Keys: [][]byte{[]byte("key"), []byte("gone")}, MaxBytes: 1 << 20,
		}}},
		{"ae-read-response", 24, FlagResponse, &AEReadResponse{antientropy.ReadResponse{
			Records: []antientropy.Record{rec, del}, Next: 2,
		}}},
		{"ae-apply", 25, 0, &AEApplyRequest{antientropy.ApplyRequest{
			Partition: 1023, Records: []antientropy.Record{rec, del},
		}}},
		{"ae-apply-response", 25, FlagResponse, &AEApplyResponse{}},
		{"ae-roots", 26, 0, &AERootsRequest{antientropy.RootsRequest{Partitions: []int{0, 17, 1023, 65535}}}},
		{"ae-roots-response", 26, FlagResponse, &AERootsResponse{antientropy.RootsResponse{
			Roots: []uint64{0xdeadbeefcafef00d, 0, 42, math.MaxUint64}, Known: []byte{0x0d},
		}}},
	}
}

// TestAEFieldsCovered fails when a struct of package antientropy gains a
// field that the wire encoding does not carry yet: encoded messages must
// have one array element per field, and the wire types must add nothing.
func TestAEFieldsCovered(t *testing.T) {
	g := gen{rand.New(rand.NewPCG(3, 4))}
	for _, typ := range aeTypes {
		t.Run(typ.String(), func(t *testing.T) {
			m := g.aeMessage(typ)
			rt := reflect.TypeOf(m).Elem()
			fields := 0
			switch rt.NumField() {
			case 0: // AEApplyResponse
			case 1:
				f := rt.Field(0)
				if !f.Anonymous || f.Type.PkgPath() != "kvstore/antientropy" {
					t.Fatalf("%v does not embed an antientropy struct", rt)
				}
				fields = f.Type.NumField()
			default:
				t.Fatalf("%v has %d fields, want the embedded antientropy struct only", rt, rt.NumField())
			}
			frame, err := AppendFrame(nil, 1, 0, m)
			if err != nil {
				t.Fatal(err)
			}
			n, err := msgpack.NewDecoder(bytes.NewReader(frame[HeaderSize:])).DecodeArrayLen()
			if err != nil {
				t.Fatal(err)
			}
			if n != fields {
				t.Fatalf("encoded %d fields, the struct has %d", n, fields)
			}
		})
	}
	for _, st := range []any{antientropy.Entry{}, antientropy.Record{}} {
		want := map[string]int{"Entry": 5, "Record": 4}[reflect.TypeOf(st).Name()]
		if got := reflect.TypeOf(st).NumField(); got != want {
			t.Errorf("%T has %d fields; the wire encodes %d", st, got, want)
		}
	}
}

// TestAERoundTripProperty encodes random anti-entropy messages and checks
// that they decode to equal, unaliased messages and re-encode to the same
// bytes.
func TestAERoundTripProperty(t *testing.T) {
	g := gen{rand.New(rand.NewPCG(5, 6))}
	for _, typ := range aeTypes {
		t.Run(typ.String(), func(t *testing.T) {
			for i := range 300 {
				m := g.aeMessage(typ)
				frame, err := AppendFrame(nil, uint64(i), 0, m)
				if err != nil {
					t.Fatalf("iteration %d: %v", i, err)
				}
				_, got, err := DecodeFrame(frame, len(frame))
				if err != nil {
					t.Fatalf("iteration %d: %v\nmessage %#v", i, err, m)
				}
				if !reflect.DeepEqual(got, m) {
					t.Fatalf("iteration %d: round trip\n got %#v\nwant %#v", i, got, m)
				}
				again, err := AppendFrame(nil, uint64(i), 0, got)
				if err != nil || !bytes.Equal(again, frame) {
					t.Fatalf("iteration %d: re-encoding differs (%v)", i, err)
				}
				clear(frame)
				if !reflect.DeepEqual(got, m) {
					t.Fatalf("iteration %d: decoded message aliases the frame", i)
				}
			}
		})
	}
}

// mp encodes vals as one msgpack array: a hand-made body.
func mp(t *testing.T, vals ...any) []byte {
	t.Helper()
	if vals == nil {
		vals = []any{}
	}
	b, err := msgpack.Marshal(vals)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestAEDecodeLimits(t *testing.T) {
	maxBuckets := bytes.Repeat([]byte{0xff}, maxAEBuckets)
	level1 := make([]uint64, antientropy.MaxFanout)
	tests := []struct {
		name string
		typ  MsgType
		body []any
		want Message
	}{
		{"largest partition", TypeAESummaryRequest, []any{math.MaxInt32},
			&AESummaryRequest{antientropy.SummaryRequest{Partition: math.MaxInt32}}},
		{"largest shape", TypeAESummaryResponse, []any{uint64(math.MaxUint64), antientropy.MaxFanout, antientropy.MaxDepth, int64(math.MaxInt64), 1, level1},
			&AESummaryResponse{antientropy.SummaryResponse{TreeID: math.MaxUint64, Fanout: antientropy.MaxFanout, Depth: antientropy.MaxDepth, Count: math.MaxInt64, Root: 1, Level1: level1}}},
		{"largest level and index", TypeAENodesRequest, []any{0, 0, antientropy.MaxDepth, []uint64{math.MaxUint32}},
			&AENodesRequest{antientropy.NodesRequest{Level: antientropy.MaxDepth, Indexes: []uint32{math.MaxUint32}}}},
		{"largest partitions", TypeAERootsRequest, []any{[]int64{0, math.MaxInt32}},
			&AERootsRequest{antientropy.RootsRequest{Partitions: []int{0, math.MaxInt32}}}},
		{"largest leaves and bitmap", TypeAEEntriesRequest, []any{0, antientropy.MaxLeaves, maxBuckets, nil, math.MaxInt32, math.MaxInt32, false},
			&AEEntriesRequest{antientropy.EntriesRequest{Leaves: antientropy.MaxLeaves, Buckets: maxBuckets, Limit: math.MaxInt32, MaxBytes: math.MaxInt32}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeBody(tt.typ, mp(t, tt.body...))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestAEDecodeLenient(t *testing.T) {
	extra := []any{"future", []any{1, 2}, map[string]int{"x": 1}}
	tests := []struct {
		name string
		typ  MsgType
		body []any
		want Message
	}{
		{"summary extra fields", TypeAESummaryRequest, append([]any{5}, extra...),
			&AESummaryRequest{antientropy.SummaryRequest{Partition: 5}}},
		{"summary response nil level 1", TypeAESummaryResponse, []any{1, 16, 3, 0, 2, nil},
			&AESummaryResponse{antientropy.SummaryResponse{TreeID: 1, Fanout: 16, Depth: 3, Root: 2}}},
		{"nodes response extra fields", TypeAENodesResponse, append([]any{[]uint64{7}}, extra...),
			&AENodesResponse{antientropy.NodesResponse{Hashes: []uint64{7}}}},
		{"entry with an extra field", TypeAEEntriesResponse, []any{[]any{[]any{"k", 9, true, 0, 0, "new"}}, nil, false},
			&AEEntriesResponse{antientropy.EntriesResponse{Entries: []antientropy.Entry{{Key: []byte("k"), Version: 9, Tombstone: true}}}}},
		{"record with an extra field", TypeAEApplyRequest, []any{3, []any{[]any{"k", nil, 9, true, 1.5}}, "more"},
			&AEApplyRequest{antientropy.ApplyRequest{Partition: 3, Records: []antientropy.Record{{Key: []byte("k"), Version: 9, Tombstone: true}}}}},
		{"empty arrays are nil", TypeAEReadRequest, []any{1, []any{}, 10},
			&AEReadRequest{antientropy.ReadRequest{Partition: 1, MaxBytes: 10}}},
		{"apply response extra field", TypeAEApplyResponse, []any{true}, &AEApplyResponse{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeBody(tt.typ, mp(t, tt.body...))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestAEDecodeRejects(t *testing.T) {
	tooManyHashes := make([]uint64, antientropy.MaxFanout+1)
	longBitmap := make([]byte, maxAEBuckets+1)
	entry := func(valueLen any) []any { return []any{"k", 1, false, 2, valueLen} }
	record := []any{"k", "v", 1, false}
	tests := []struct {
		name string
		typ  MsgType
		body []any
	}{
		{"summary: no fields", TypeAESummaryRequest, nil},
		{"summary: negative partition", TypeAESummaryRequest, []any{-1}},
		{"summary: partition too large", TypeAESummaryRequest, []any{math.MaxInt32 + 1}},
		{"summary: partition as uint64 wrapping negative", TypeAESummaryRequest, []any{uint64(math.MaxUint64)}},
		{"summary: partition not an int", TypeAESummaryRequest, []any{"1"}},
		{"summary response: five fields", TypeAESummaryResponse, []any{1, 16, 3, 0, 2}},
		{"summary response: fan-out too large", TypeAESummaryResponse, []any{1, antientropy.MaxFanout + 1, 3, 0, 2, nil}},
		{"summary response: negative fan-out", TypeAESummaryResponse, []any{1, -16, 3, 0, 2, nil}},
		{"summary response: depth too large", TypeAESummaryResponse, []any{1, 16, antientropy.MaxDepth + 1, 0, 2, nil}},
		{"summary response: negative count", TypeAESummaryResponse, []any{1, 16, 3, -1, 2, nil}},
		{"summary response: too many level-1 hashes", TypeAESummaryResponse, []any{1, 16, 3, 0, 2, tooManyHashes}},
		{"summary response: hash not a uint", TypeAESummaryResponse, []any{1, 16, 3, 0, 2, []any{"h"}}},
		{"nodes: three fields", TypeAENodesRequest, []any{0, 1, 1}},
		{"nodes: negative partition", TypeAENodesRequest, []any{-5, 1, 1, nil}},
		{"nodes: level too large", TypeAENodesRequest, []any{0, 1, antientropy.MaxDepth + 1, nil}},
		{"nodes: negative level", TypeAENodesRequest, []any{0, 1, -1, nil}},
		{"nodes: index too large", TypeAENodesRequest, []any{0, 1, 1, []uint64{1, math.MaxUint32 + 1}}},
		{"nodes response: no fields", TypeAENodesResponse, nil},
		{"nodes response: hashes not an array", TypeAENodesResponse, []any{true}},
		{"entries: six fields", TypeAEEntriesRequest, []any{0, 0, nil, nil, 1, 1}},
		{"entries: negative partition", TypeAEEntriesRequest, []any{-1, 0, nil, nil, 1, 1, false}},
		{"entries: too many leaves", TypeAEEntriesRequest, []any{0, antientropy.MaxLeaves + 1, nil, nil, 1, 1, false}},
		{"entries: negative leaves", TypeAEEntriesRequest, []any{0, -1, nil, nil, 1, 1, false}},
		{"entries: bitmap too long", TypeAEEntriesRequest, []any{0, 8, longBitmap, nil, 1, 1, false}},
		{"entries: negative limit", TypeAEEntriesRequest, []any{0, 0, nil, nil, -1, 1, false}},
		{"entries: negative max bytes", TypeAEEntriesRequest, []any{0, 0, nil, nil, 1, -1, false}},
		{"entries response: two fields", TypeAEEntriesResponse, []any{nil, nil}},
		{"entries response: negative value length", TypeAEEntriesResponse, []any{[]any{entry(-1)}, nil, false}},
		{"entries response: entry of four fields", TypeAEEntriesResponse, []any{[]any{entry(0)[:4]}, nil, false}},
		{"entries response: value not bin", TypeAEEntriesResponse, []any{nil, []any{1}, false}},
		{"read: two fields", TypeAEReadRequest, []any{0, nil}},
		{"read: negative partition", TypeAEReadRequest, []any{-1, nil, 1}},
		{"read: negative max bytes", TypeAEReadRequest, []any{0, nil, -1}},
		{"read response: one field", TypeAEReadResponse, []any{nil}},
		{"read response: negative next", TypeAEReadResponse, []any{nil, -1}},
		{"read response: record of three fields", TypeAEReadResponse, []any{[]any{record[:3]}, 1}},
		{"apply: one field", TypeAEApplyRequest, []any{0}},
		{"apply: negative partition", TypeAEApplyRequest, []any{-1, []any{record}}},
		{"apply: record version not a uint", TypeAEApplyRequest, []any{0, []any{[]any{"k", "v", "1", false}}}},
		{"roots: no fields", TypeAERootsRequest, nil},
		{"roots: negative partition", TypeAERootsRequest, []any{[]int64{3, -1}}},
		{"roots: partition too large", TypeAERootsRequest, []any{[]int64{math.MaxInt32 + 1}}},
		{"roots: partitions not an array", TypeAERootsRequest, []any{"0"}},
		{"roots response: one field", TypeAERootsResponse, []any{[]uint64{1}}},
		{"roots response: root not a uint", TypeAERootsResponse, []any{[]any{"r"}, []byte{1}}},
		{"roots response: bitmap not bin", TypeAERootsResponse, []any{[]uint64{1}, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := DecodeBody(tt.typ, mp(t, tt.body...))
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("err = %v (message %#v), want ErrMalformed", err, m)
			}
		})
	}
	if _, err := DecodeBody(TypeAEApplyResponse, []byte{0x80}); !errors.Is(err, ErrMalformed) {
		t.Fatalf("apply response of a map: err = %v, want ErrMalformed", err)
	}
}

// aeHostileFrames are small anti-entropy frames whose msgpack lengths
// claim huge sizes. They also seed FuzzDecodeFrame.
func aeHostileFrames() []struct {
	name  string
	frame []byte
} {
	gib := []byte{0x40, 0, 0, 0} // 1 GiB
	max32 := []byte{0xff, 0xff, 0xff, 0xff}
	pad := bytes.Repeat([]byte{0xc0}, 64)
	return []struct {
		name  string
		frame []byte
	}{
		{"array32 fields", rawFrame(TypeAEApplyResponse, FlagResponse, []byte{0xdd}, max32, pad)},
		{"array32 level-1 hashes", rawFrame(TypeAESummaryResponse, FlagResponse, []byte{0x96, 1, 16, 3, 0, 2, 0xdd}, gib, pad)},
		{"array16 level-1 hashes", rawFrame(TypeAESummaryResponse, FlagResponse, []byte{0x96, 1, 16, 3, 0, 2, 0xdc, 0xff, 0xff}, pad)},
		{"array32 indexes", rawFrame(TypeAENodesRequest, 0, []byte{0x94, 0, 1, 1, 0xdd}, max32, pad)},
		{"array32 hashes", rawFrame(TypeAENodesResponse, FlagResponse, []byte{0x91, 0xdd}, gib, pad)},
		{"bin32 buckets", rawFrame(TypeAEEntriesRequest, 0, []byte{0x97, 0, 8, 0xc6}, gib, pad)},
		{"bin32 start", rawFrame(TypeAEEntriesRequest, 0, []byte{0x97, 0, 0, 0xc0, 0xc6}, max32, pad)},
		{"array32 entries", rawFrame(TypeAEEntriesResponse, FlagResponse, []byte{0x93, 0xdd}, gib, pad)},
		{"array32 values", rawFrame(TypeAEEntriesResponse, FlagResponse, []byte{0x93, 0x90, 0xdd}, gib, pad)},
		{"array16 of entries each claiming 1 GiB", rawFrame(TypeAEEntriesResponse, FlagResponse,
			[]byte{0x93, 0x9f}, bytes.Repeat(append([]byte{0x95, 0xc6}, gib...), 15))},
		{"array32 keys", rawFrame(TypeAEReadRequest, 0, []byte{0x93, 0, 0xdd}, gib, pad)},
		{"array32 read records", rawFrame(TypeAEReadResponse, FlagResponse, []byte{0x92, 0xdd}, gib, pad)},
		{"array32 apply records", rawFrame(TypeAEApplyRequest, 0, []byte{0x92, 0, 0xdd}, max32, pad)},
		{"array16 of records each claiming 1 GiB", rawFrame(TypeAEApplyRequest, 0,
			[]byte{0x92, 0, 0x9f}, bytes.Repeat(append([]byte{0x94, 0xc0, 0xc6}, gib...), 15))},
	}
}

// TestAEDecodeBoundsAllocation checks that claimed lengths in small frames
// fail without allocating what they claim.
func TestAEDecodeBoundsAllocation(t *testing.T) {
	for _, tt := range aeHostileFrames() {
		t.Run(tt.name, func(t *testing.T) {
			if len(tt.frame) > 200 {
				t.Fatalf("test frame is %d bytes; keep it small", len(tt.frame))
			}
			var err error
			alloc := allocated(func() { _, _, err = DecodeFrame(tt.frame, 0) })
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("err = %v, want ErrMalformed", err)
			}
			if alloc > 64<<10 {
				t.Fatalf("decoding a %d-byte frame allocated %d bytes", len(tt.frame), alloc)
			}
		})
	}
}

// TestAEDecodeAllocationPerByte decodes the worst shapes that are valid
// (arrays of minimal elements) and checks the package-wide bound of about
// 24 bytes allocated per body byte.
func TestAEDecodeAllocationPerByte(t *testing.T) {
	const n = 4096
	minimal := func(elem []byte) []byte {
		b := []byte{0xdd, 0, 0, n >> 8, n & 0xff}
		return append(b, bytes.Repeat(elem, n)...)
	}
	tests := []struct {
		name  string
		typ   MsgType
		flags Flags
		body  []byte
	}{
		{"nil keys", TypeAEReadRequest, 0, bytes.Join([][]byte{{0x93, 0}, minimal([]byte{0xc0}), {0}}, nil)},
		{"nil values", TypeAEEntriesResponse, FlagResponse, bytes.Join([][]byte{{0x93, 0x90}, minimal([]byte{0xc0}), {0xc2}}, nil)},
		{"minimal entries", TypeAEEntriesResponse, FlagResponse, bytes.Join([][]byte{{0x93}, minimal([]byte{0x95, 0xc0, 0, 0xc2, 0, 0}), {0x90, 0xc2}}, nil)},
		{"minimal records", TypeAEApplyRequest, 0, bytes.Join([][]byte{{0x92, 0}, minimal([]byte{0x94, 0xc0, 0xc0, 0, 0xc2})}, nil)},
		{"hashes", TypeAENodesResponse, FlagResponse, bytes.Join([][]byte{{0x91}, minimal([]byte{0})}, nil)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			frame := rawFrame(tt.typ, tt.flags, tt.body)
			var err error
			alloc := allocated(func() { _, _, err = DecodeFrame(frame, 0) })
			if err != nil {
				t.Fatal(err)
			}
			if limit := uint64(24*len(tt.body) + 4<<10); alloc > limit {
				t.Fatalf("decoding a %d-byte body allocated %d bytes, limit %d", len(tt.body), alloc, limit)
			}
		})
	}
}
