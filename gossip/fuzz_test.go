package gossip

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

// FuzzDecodeState feeds arbitrary bytes to the push/pull state decoder: it
// must not panic, must fail only with ErrMalformed, and anything it accepts
// must re-encode to exactly the same bytes (the format is canonical).
func FuzzDecodeState(f *testing.F) {
	f.Add(encodeState(sampleState()))
	f.Add(encodeState(pushState{Sender: "a"}))
	f.Add([]byte{})
	f.Add([]byte{stateFormat, 1, 'a', 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := decodeState(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		if re := encodeState(s); !bytes.Equal(re, b) {
			t.Fatalf("re-encoding differs:\n in %x\nout %x", b, re)
		}
		for _, e := range s.Entries {
			if err := validEntry(e); err != nil {
				t.Fatalf("decoded invalid entry %+v: %v", e, err)
			}
		}
	})
}

// FuzzDecodeMessage does the same for broadcast messages.
func FuzzDecodeMessage(f *testing.F) {
	f.Add(encodeEntryMsg(Entry{Name: "n1", Status: Active, Version: 7, Meta: []byte("m")}))
	f.Add(encodeIntentMsg(intent{Name: "n1", Epoch: 99}))
	f.Add([]byte{msgEntry})
	f.Add([]byte{9, 9, 9})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodeMessage(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		var re []byte
		switch m.Type {
		case msgEntry:
			if err := validEntry(m.Entry); err != nil {
				t.Fatalf("decoded invalid entry %+v: %v", m.Entry, err)
			}
			re = encodeEntryMsg(m.Entry)
		case msgIntent:
			re = encodeIntentMsg(m.Intent)
		default:
			t.Fatalf("accepted type %d", m.Type)
		}
		if !bytes.Equal(re, b) {
			t.Fatalf("re-encoding differs:\n in %x\nout %x", b, re)
		}
	})
}

// FuzzDecodeMeta checks the node metadata decoder.
func FuzzDecodeMeta(f *testing.F) {
	f.Add(encodeMeta(1, []byte("rpc=127.0.0.1:7000")))
	f.Add(encodeMeta(0, nil))
	f.Add([]byte{metaFormat})
	f.Fuzz(func(t *testing.T, b []byte) {
		epoch, user, err := decodeMeta(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		if re := encodeMeta(epoch, user); !reflect.DeepEqual(re, b) {
			t.Fatalf("re-encoding differs:\n in %x\nout %x", b, re)
		}
	})
}
