package wire

import (
	"bytes"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/frames.golden and the fuzz seed corpus")

// gen builds random messages that exercise every encoding width.
type gen struct{ r *rand.Rand }

func (g gen) bytes() []byte {
	switch g.r.IntN(8) {
	case 0:
		return nil
	case 1:
		return []byte{}
	case 2:
		return g.fill(256 + g.r.IntN(300)) // bin16
	case 3:
		if g.r.IntN(20) == 0 {
			return g.fill(1<<16 + g.r.IntN(100)) // bin32
		}
	}
	return g.fill(1 + g.r.IntN(40))
}

func (g gen) fill(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(g.r.Uint32())
	}
	return b
}

func (g gen) string() string {
	switch g.r.IntN(5) {
	case 0:
		return ""
	case 1:
		return strings.Repeat("x", 32+g.r.IntN(300))
	}
	return string(g.fill(1 + g.r.IntN(31)))
}

func (g gen) uint() uint64 {
	return g.r.Uint64() >> g.r.IntN(64)
}

func (g gen) int() int {
	v := int(g.uint() >> 1)
	if g.r.IntN(2) == 0 {
		v = -v
	}
	return v
}

func (g gen) count() int {
	switch g.r.IntN(6) {
	case 0:
		return 0
	case 1:
		return 16 + g.r.IntN(40) // array16
	}
	return 1 + g.r.IntN(15)
}

func (g gen) record() Record {
	return Record{Key: g.bytes(), Value: g.bytes(), Version: g.uint(), Tombstone: g.r.IntN(2) == 0}
}

func (g gen) records() []Record {
	n := g.count()
	if n == 0 {
		return nil // an empty array decodes to nil
	}
	rs := make([]Record, n)
	for i := range rs {
		rs[i] = g.record()
	}
	return rs
}

// message returns a random message of type t, or nil if t has no generator.
func (g gen) message(t MsgType) Message {
	switch t {
	case TypeError:
		return &ErrorResponse{Code: ErrorCode(g.r.IntN(1 << 16)), Message: g.string()}
	case TypePing:
		return &Ping{}
	case TypePong:
		return &Pong{Name: g.string()}
	case TypeWriteRequest:
		return &WriteRequest{Records: g.records(), Hint: g.string()}
	case TypeWriteResponse:
		return &WriteResponse{}
	case TypeReadRequest:
		m := &ReadRequest{}
		if n := g.count(); n > 0 {
			m.Keys = make([][]byte, n)
			for i := range m.Keys {
				m.Keys[i] = g.bytes()
			}
		}
		return m
	case TypeReadResponse:
		m := &ReadResponse{}
		if n := g.count(); n > 0 {
			m.Results = make([]ReadResult, n)
			for i := range m.Results {
				m.Results[i] = ReadResult{Found: g.r.IntN(2) == 0, Record: g.record()}
			}
		}
		return m
	case TypeRangeRequest:
		m := &RangeRequest{Start: g.bytes(), End: g.bytes(), Limit: g.int(), Tombstones: g.r.IntN(2) == 0}
		if n := g.count(); n > 0 {
			m.Partitions = make([]int, n)
			for i := range m.Partitions {
				m.Partitions[i] = g.int()
			}
		}
		return m
	case TypeRangeResponse:
		return &RangeResponse{Records: g.records(), More: g.r.IntN(2) == 0}
	}
	return g.aeMessage(t)
}

func TestRoundTrip(t *testing.T) {
	g := gen{rand.New(rand.NewPCG(1, 2))}
	for _, typ := range Types() {
		t.Run(typ.String(), func(t *testing.T) {
			if g.message(typ) == nil {
				t.Fatalf("no generator for registered type %v: add one to gen.message", typ)
			}
			for i := range 300 {
				m := g.message(typ)
				id := g.r.Uint64()
				var flags Flags
				if typ == TypeError || g.r.IntN(2) == 0 {
					flags = FlagResponse
				}
				frame, err := AppendFrame([]byte("prefix"), id, flags, m)
				if err != nil {
					t.Fatalf("iteration %d: AppendFrame: %v", i, err)
				}
				if !bytes.HasPrefix(frame, []byte("prefix")) {
					t.Fatalf("AppendFrame clobbered dst")
				}
				frame = frame[len("prefix"):]
				h, got, err := DecodeFrame(frame, len(frame))
				if err != nil {
					t.Fatalf("iteration %d: DecodeFrame: %v", i, err)
				}
				wantFlags := flags
				if typ == TypeError {
					wantFlags |= FlagError
				}
				want := Header{Type: typ, Flags: wantFlags, ID: id, BodyLen: len(frame) - HeaderSize}
				if h != want {
					t.Fatalf("iteration %d: header %+v, want %+v", i, h, want)
				}
				if !reflect.DeepEqual(got, m) {
					t.Fatalf("iteration %d: round trip\n got %#v\nwant %#v", i, got, m)
				}
			}
		})
	}
}

func TestDecodeDoesNotAlias(t *testing.T) {
	m := &WriteRequest{Records: []Record{{Key: []byte("k"), Value: []byte("v")}}, Hint: "h"}
	frame, err := AppendFrame(nil, 1, 0, m)
	if err != nil {
		t.Fatal(err)
	}
	_, got, err := DecodeFrame(frame, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i := range frame {
		frame[i] = 0xff
	}
	if !reflect.DeepEqual(got, m) {
		t.Fatalf("decoded message changed with the frame buffer: %#v", got)
	}
}

// samples are fixed messages whose encodings are frozen in
// testdata/frames.golden.
func samples() []struct {
	name  string
	id    uint64
	flags Flags
	m     Message
} {
	rec := Record{Key: []byte("key"), Value: []byte("value"), Version: 0x1234567890, Tombstone: false}
	del := Record{Key: []byte("gone"), Version: 7, Tombstone: true}
	return append([]struct {
		name  string
		id    uint64
		flags Flags
		m     Message
	}{
		{"ping", 7, 0, &Ping{}},
		{"pong", 7, FlagResponse, &Pong{Name: "a"}},
		{"error", 9, FlagResponse, &ErrorResponse{Code: CodeNotOwner, Message: "not mine"}},
		{"write", 1, 0, &WriteRequest{Records: []Record{rec, del}}},
		{"write-hint", 2, 0, &WriteRequest{Records: []Record{rec}, Hint: "node-b"}},
		{"write-response", 2, FlagResponse, &WriteResponse{}},
		{"read", 3, 0, &ReadRequest{Keys: [][]byte{[]byte("a"), nil, {}}}},
		{"read-response", 3, FlagResponse, &ReadResponse{Results: []ReadResult{{Found: true, Record: rec}, {}}}},
		{"range", 4, 0, &RangeRequest{Partitions: []int{0, 17, 1023}, Start: []byte("a"), End: nil, Limit: 100, Tombstones: true}},
		{"range-response", 4, FlagResponse, &RangeResponse{Records: []Record{del}, More: true}},
		{"range-negative-limit", 5, 0, &RangeRequest{Limit: -1}},
		{"large-id-version", math.MaxUint64, 0, &WriteRequest{Records: []Record{{Version: math.MaxUint64}}}},
	}, aeSamples()...)
}

// dump renders a frame for the golden file: the header fields, then the
// body in hex.
func dump(frame []byte) string {
	var b strings.Builder
	h, m, err := DecodeFrame(frame, 0)
	if err != nil {
		return "error: " + err.Error()
	}
	fmt.Fprintf(&b, "header %x | len=%d type=%v flags=%02x id=%d\n",
		frame[:HeaderSize], FrameLen(frame), h.Type, uint8(h.Flags), h.ID)
	fmt.Fprintf(&b, "body   %x\n", frame[HeaderSize:])
	fmt.Fprintf(&b, "value  %+v\n", m)
	return b.String()
}

func TestGolden(t *testing.T) {
	var out strings.Builder
	for _, s := range samples() {
		frame, err := AppendFrame(nil, s.id, s.flags, s.m)
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		fmt.Fprintf(&out, "== %s\n%s\n", s.name, dump(frame))
		if *update {
			writeSeed(t, "FuzzDecodeFrame", s.name, frame)
		}
	}
	path := filepath.Join("testdata", "frames.golden")
	if *update {
		if err := os.WriteFile(path, []byte(out.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if out.String() != string(want) {
		t.Errorf("encodings changed; formats are frozen (new encodings need new types).\n got:\n%s\nwant:\n%s", out.String(), want)
	}
}

func writeSeed(t *testing.T, fuzz, name string, data []byte) {
	t.Helper()
	dir := filepath.Join("testdata", "fuzz", fuzz)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	content := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", data)
	if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestDocExamples(t *testing.T) {
	tests := []struct {
		name  string
		id    uint64
		flags Flags
		m     Message
		want  string
	}{
		{"ping", 7, 0, &Ping{}, "00 00 00 0b  02  00  00 00 00 00 00 00 00 07  90"},
		{"pong", 7, FlagResponse, &Pong{Name: "a"}, "00 00 00 0d  03  01  00 00 00 00 00 00 00 07  91 a1 61"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := AppendFrame(nil, tt.id, tt.flags, tt.m)
			if err != nil {
				t.Fatal(err)
			}
			want, err := hex.DecodeString(strings.ReplaceAll(tt.want, " ", ""))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("got % x, want % x", got, want)
			}
		})
	}
}

func header(length uint32, typ MsgType, flags Flags, id uint64) []byte {
	b := make([]byte, HeaderSize)
	b[0], b[1], b[2], b[3] = byte(length>>24), byte(length>>16), byte(length>>8), byte(length)
	b[4], b[5] = byte(typ), byte(flags)
	SetFrameID(b, id)
	return b
}

func TestParseHeader(t *testing.T) {
	tests := []struct {
		name    string
		hdr     []byte
		max     int
		want    Header
		wantErr error
	}{
		{"ok", header(10, TypePing, 0, 5), 100, Header{Type: TypePing, ID: 5}, nil},
		{"ok body", header(30, TypePong, FlagResponse, 5), 100, Header{Type: TypePong, Flags: FlagResponse, ID: 5, BodyLen: 20}, nil},
		{"unknown type is parsed", header(11, 200, 0, 1), 100, Header{Type: 200, ID: 1, BodyLen: 1}, nil},
		{"error", header(12, TypeError, FlagResponse|FlagError, 1), 100, Header{Type: TypeError, Flags: FlagResponse | FlagError, ID: 1, BodyLen: 2}, nil},
		{"at max", header(100, TypePing, 0, 1), 100, Header{Type: TypePing, ID: 1, BodyLen: 90}, nil},
		{"over max", header(101, TypePing, 0, 1), 100, Header{}, ErrFrameTooLarge},
		{"huge", header(math.MaxUint32, TypePing, 0, 1), 0, Header{}, ErrFrameTooLarge},
		{"short length", header(9, TypePing, 0, 1), 100, Header{}, ErrBadFrame},
		{"short header", header(10, TypePing, 0, 1)[:13], 100, Header{}, ErrBadFrame},
		{"type zero", header(10, 0, 0, 1), 100, Header{}, ErrBadFrame},
		{"reserved flag", header(10, TypePing, 4, 1), 100, Header{}, ErrBadFrame},
		{"error flag on ping", header(10, TypePing, FlagResponse|FlagError, 1), 100, Header{}, ErrBadFrame},
		{"error type without flag", header(10, TypeError, FlagResponse, 1), 100, Header{}, ErrBadFrame},
		{"error as request", header(10, TypeError, FlagError, 1), 100, Header{}, ErrBadFrame},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseHeader(tt.hdr, tt.max)
			if !errors.Is(err, tt.wantErr) || (err != nil) != (tt.wantErr != nil) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestAppendFrameErrors(t *testing.T) {
	type foreign struct{ Ping }
	tests := []struct {
		name    string
		flags   Flags
		m       Message
		wantErr error
	}{
		{"nil", 0, nil, ErrUnknownType},
		{"typed nil", 0, (*Ping)(nil), ErrUnknownType},
		{"foreign type", 0, &foreign{}, ErrUnknownType},
		{"reserved flag", 4, &Ping{}, ErrBadFrame},
		{"error flag on ping", FlagResponse | FlagError, &Ping{}, ErrBadFrame},
		{"error as request", 0, &ErrorResponse{}, ErrBadFrame},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst := []byte("x")
			got, err := AppendFrame(dst, 1, tt.flags, tt.m)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if string(got) != "x" {
				t.Fatalf("dst changed to %q", got)
			}
		})
	}
}

// body builds a raw frame around hand-written msgpack bytes.
func rawFrame(typ MsgType, flags Flags, body ...[]byte) []byte {
	b := bytes.Join(body, nil)
	return append(header(uint32(lengthCovered+len(b)), typ, flags, 1), b...)
}

func TestDecodeLenient(t *testing.T) {
	tests := []struct {
		name  string
		frame []byte
		want  Message
	}{
		{"extra fields skipped", rawFrame(TypePong, FlagResponse,
			[]byte{0x94, 0xa1, 'n'},        // [ "n",
			[]byte{0xcd, 0x01, 0x00},       //   256,
			[]byte{0x92, 0x91, 0x80, 0xc0}, //   [[{}], nil],
			[]byte{0xd6, 0x01, 1, 2, 3, 4}, //   fixext4 ]
		), &Pong{Name: "n"}},
		{"bin as string", rawFrame(TypePong, FlagResponse, []byte{0x91, 0xc4, 1, 'z'}), &Pong{Name: "z"}},
		{"str as bin and nil array", rawFrame(TypeRangeResponse, FlagResponse,
			[]byte{0x92, 0xc0, 0xc3}), &RangeResponse{More: true}},
		{"empty array is nil", rawFrame(TypeReadRequest, 0, []byte{0x91, 0x90}), &ReadRequest{}},
		{"wide ints", rawFrame(TypeRangeRequest, 0,
			[]byte{0x95, 0x91, 0xcd, 0x01, 0x00, 0xa1, 'a', 0xc0, 0xd3, 0, 0, 0, 0, 0, 0, 0, 5, 0xc2}),
			&RangeRequest{Partitions: []int{256}, Start: []byte("a"), Limit: 5}},
		{"record extra field", rawFrame(TypeWriteRequest, 0,
			[]byte{0x92, 0x91, 0x95, 0xc0, 0xc0, 0x01, 0xc2, 0xc0, 0xa0}),
			&WriteRequest{Records: []Record{{Version: 1}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, got, err := DecodeFrame(tt.frame, 0)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestDecodeRejects(t *testing.T) {
	deep := bytes.Repeat([]byte{0x91}, 10000)
	tests := []struct {
		name    string
		frame   []byte
		wantErr error
	}{
		{"too few fields", rawFrame(TypeRangeRequest, 0, []byte{0x94, 0x90, 0xc0, 0xc0, 0x00}), ErrMalformed},
		{"not an array", rawFrame(TypePing, 0, []byte{0x80}), ErrMalformed},
		{"empty body", rawFrame(TypePing, 0), ErrMalformed},
		{"trailing bytes", rawFrame(TypePing, 0, []byte{0x90, 0x00}), ErrMalformed},
		{"truncated frame", rawFrame(TypePing, 0, []byte{0x90})[:HeaderSize], ErrBadFrame},
		{"trailing frame bytes", append(rawFrame(TypePing, 0, []byte{0x90}), 0), ErrBadFrame},
		{"unknown type", rawFrame(200, 0, []byte{0x90}), ErrUnknownType},
		{"wrong field type", rawFrame(TypePong, FlagResponse, []byte{0x91, 0xc3}), ErrMalformed},
		{"error code too big", rawFrame(TypeError, FlagResponse|FlagError, []byte{0x92, 0xce, 0, 1, 0, 0, 0xa0}), ErrMalformed},
		{"deep nesting in skipped field", rawFrame(TypePing, 0, []byte{0x91}, deep, []byte{0x90}), ErrMalformed},
		{"invalid code", rawFrame(TypePing, 0, []byte{0x91, 0xc1}), ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, m, err := DecodeFrame(tt.frame, 0)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v (message %#v), want %v", err, m, tt.wantErr)
			}
		})
	}
}

// TestDecodeBoundsAllocation feeds small frames whose msgpack lengths claim
// huge sizes and checks that decoding fails without allocating them.
func TestDecodeBoundsAllocation(t *testing.T) {
	gib := []byte{0x40, 0, 0, 0} // 1 GiB
	max32 := []byte{0xff, 0xff, 0xff, 0xff}
	pad := bytes.Repeat([]byte{0xc0}, 64)
	tests := []struct {
		name  string
		frame []byte
	}{
		{"bin32 key", rawFrame(TypeReadRequest, 0, []byte{0x91, 0x91, 0xc6}, gib, pad)},
		{"str32 message", rawFrame(TypeError, FlagResponse|FlagError, []byte{0x92, 0x01, 0xdb}, gib, pad)},
		{"str32 name", rawFrame(TypePong, FlagResponse, []byte{0x91, 0xdb}, max32, pad)},
		{"array32 records", rawFrame(TypeWriteRequest, 0, []byte{0x92, 0xdd}, max32, pad)},
		{"array32 keys", rawFrame(TypeReadRequest, 0, []byte{0x91, 0xdd}, gib, pad)},
		{"array32 partitions", rawFrame(TypeRangeRequest, 0, []byte{0x95, 0xdd}, gib, pad)},
		{"array32 results", rawFrame(TypeReadResponse, FlagResponse, []byte{0x91, 0xdd}, gib, pad)},
		{"array32 fields", rawFrame(TypeRangeResponse, FlagResponse, []byte{0xdd}, max32, pad)},
		{"bin32 in skipped field", rawFrame(TypePing, 0, []byte{0x91, 0xc6}, max32, pad)},
		{"ext32 in skipped field", rawFrame(TypePing, 0, []byte{0x91, 0xc9}, max32, []byte{1}, pad)},
		{"map32 in skipped field", rawFrame(TypePing, 0, []byte{0x91, 0xdf}, max32, pad)},
		{"array32 in skipped field", rawFrame(TypePing, 0, []byte{0x91, 0xdd}, max32, pad)},
		{"array16 of records each claiming 1 GiB", rawFrame(TypeRangeResponse, FlagResponse,
			[]byte{0x92, 0x9f}, bytes.Repeat(append([]byte{0x94, 0xc6}, gib...), 15))},
	}
	for _, tt := range tests {
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

// allocated returns the bytes allocated while f runs.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

func TestReadFrame(t *testing.T) {
	var stream []byte
	var want []Message
	for _, s := range samples() {
		var err error
		stream, err = AppendFrame(stream, s.id, s.flags, s.m)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, s.m)
	}
	r := bytes.NewReader(stream)
	buf := make([]byte, 0, 16)
	for i, w := range want {
		h, body, err := ReadFrame(r, buf, 0)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		got, err := DecodeBody(h.Type, body)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if !reflect.DeepEqual(got, w) {
			t.Fatalf("frame %d: got %#v, want %#v", i, got, w)
		}
		buf = body[:0]
	}
	if _, _, err := ReadFrame(r, buf, 0); err != io.EOF {
		t.Fatalf("at end: err = %v, want io.EOF", err)
	}
	// A frame cut short.
	w, err := AppendFrame(nil, 1, 0, &Pong{Name: "abc"})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := ReadFrame(bytes.NewReader(w[:len(w)-1]), nil, 0); err != io.ErrUnexpectedEOF {
		t.Fatalf("truncated: err = %v, want io.ErrUnexpectedEOF", err)
	}
}

func TestReadFrameTooLargeDoesNotAllocate(t *testing.T) {
	hdr := header(1<<30, TypeWriteRequest, 0, 1)
	stream := append(hdr, make([]byte, 100)...)
	buf := make([]byte, 0, 64)
	var err error
	alloc := allocated(func() { _, _, err = ReadFrame(bytes.NewReader(stream), buf, 64<<20) })
	if !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("err = %v, want ErrFrameTooLarge", err)
	}
	if alloc > 4<<10 {
		t.Fatalf("rejecting a 1 GiB frame allocated %d bytes", alloc)
	}
}

// TestCorruptionNeverPanics decodes every prefix and every single-byte
// change of the sample frames.
func TestCorruptionNeverPanics(t *testing.T) {
	for _, s := range samples() {
		frame, err := AppendFrame(nil, s.id, s.flags, s.m)
		if err != nil {
			t.Fatal(err)
		}
		for n := range len(frame) {
			if _, _, err := DecodeFrame(frame[:n], 0); err == nil {
				t.Fatalf("%s: prefix of %d bytes decoded", s.name, n)
			}
		}
		mut := bytes.Clone(frame)
		for i := range mut {
			for _, v := range []byte{0x00, 0xff, mut[i] ^ 0x01, 0xc1, 0xdd, 0x9f} {
				old := mut[i]
				mut[i] = v
				_, _, _ = DecodeFrame(mut, 0)
				mut[i] = old
			}
		}
	}
}

func TestTypes(t *testing.T) {
	for _, typ := range Types() {
		m, err := New(typ)
		if err != nil {
			t.Fatal(err)
		}
		if m.Type() != typ {
			t.Errorf("New(%v).Type() = %v", typ, m.Type())
		}
		if !typ.Known() || strings.HasPrefix(typ.String(), "MsgType(") {
			t.Errorf("%v not known", typ)
		}
	}
	if _, err := New(TypeInvalid); !errors.Is(err, ErrUnknownType) {
		t.Errorf("New(TypeInvalid) err = %v", err)
	}
	if got := MsgType(250).String(); got != "MsgType(250)" {
		t.Errorf("String = %q", got)
	}
	if got := CodeNotOwner.String(); got != "not owner" {
		t.Errorf("String = %q", got)
	}
}
