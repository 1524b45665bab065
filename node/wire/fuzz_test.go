package wire

import (
	"bytes"
	"reflect"
	"testing"
)

// FuzzDecodeFrame checks that DecodeFrame never panics, that claimed
// lengths never allocate beyond the input (the fuzzer's memory limit
// catches that), and that whatever decodes re-encodes to a frame that
// decodes to the same message, canonically.
func FuzzDecodeFrame(f *testing.F) {
	for _, s := range samples() {
		frame, err := AppendFrame(nil, s.id, s.flags, s.m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(frame)
	}
	f.Add(rawFrame(TypePong, FlagResponse, []byte{0x94, 0xa1, 'n', 0xcd, 1, 0, 0x92, 0x91, 0x80, 0xc0, 0xd6, 1, 1, 2, 3, 4}))
	f.Add(rawFrame(TypeWriteRequest, 0, []byte{0x92, 0xdd, 0xff, 0xff, 0xff, 0xff}))
	f.Add(header(1<<30, TypeWriteRequest, 0, 1))
	for _, tt := range aeHostileFrames() {
		f.Add(tt.frame)
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		const max = 1 << 20
		h, m, err := DecodeFrame(frame, max)
		if err != nil {
			return
		}
		out, err := AppendFrame(nil, h.ID, h.Flags, m)
		if err != nil {
			t.Fatalf("re-encoding %#v: %v", m, err)
		}
		h2, m2, err := DecodeFrame(out, max)
		if err != nil {
			t.Fatalf("decoding re-encoded %#v: %v", m, err)
		}
		if h2.Type != h.Type || h2.Flags != h.Flags || h2.ID != h.ID {
			t.Fatalf("header %+v became %+v", h, h2)
		}
		if !reflect.DeepEqual(m, m2) {
			t.Fatalf("round trip changed message\n got %#v\nwant %#v", m2, m)
		}
		out2, err := AppendFrame(nil, h2.ID, h2.Flags, m2)
		if err != nil || !bytes.Equal(out, out2) {
			t.Fatalf("encoding not canonical: %x vs %x (%v)", out, out2, err)
		}
	})
}
