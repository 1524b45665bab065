package gossip

import (
	"encoding/hex"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func sampleState() pushState {
	return pushState{
		Sender: "n1",
		Entries: []Entry{
			{Name: "n1", Status: Active, Version: 0x0102030405060708},
			{Name: "n2", Status: Removed, Version: 9, Meta: []byte{0xAA, 0xBB}},
		},
		Intents: []intent{{Name: "n3", Epoch: 0x1122334455667788}},
	}
}

// TestStateGolden freezes the push/pull state format (see doc.go).
func TestStateGolden(t *testing.T) {
	const want = "01" + // format
		"02" + "6e31" + // sender "n1"
		"00000002" + // 2 entries
		"02" + "6e31" + "02" + "0102030405060708" + "0000" + // n1 active
		"02" + "6e32" + "05" + "0000000000000009" + "0002" + "aabb" + // n2 removed
		"00000001" + // 1 intent
		"02" + "6e33" + "1122334455667788"
	got := hex.EncodeToString(encodeState(sampleState()))
	if got != want {
		t.Fatalf("encodeState:\n got %s\nwant %s", got, want)
	}
	s, err := decodeState(mustHex(t, want))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(s, sampleState()) {
		t.Errorf("decodeState = %+v", s)
	}
}

func TestMessageGolden(t *testing.T) {
	tests := []struct {
		name string
		msg  []byte
		want string
	}{
		{"entry", encodeEntryMsg(Entry{Name: "a", Status: Joining, Version: 1, Meta: []byte("m")}),
			"01" + "0161" + "01" + "0000000000000001" + "0001" + "6d"},
		{"intent", encodeIntentMsg(intent{Name: "a", Epoch: 2}), "02" + "0161" + "0000000000000002"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := hex.EncodeToString(tt.msg); got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
			m, err := decodeMessage(tt.msg)
			if err != nil {
				t.Fatal(err)
			}
			var re []byte
			if m.Type == msgEntry {
				re = encodeEntryMsg(m.Entry)
			} else {
				re = encodeIntentMsg(m.Intent)
			}
			if hex.EncodeToString(re) != tt.want {
				t.Errorf("re-encoded %x", re)
			}
		})
	}
}

func TestMetaRoundTrip(t *testing.T) {
	b := encodeMeta(42, []byte("rpc=1.2.3.4:7000"))
	if hex.EncodeToString(b[:metaHeaderLen]) != "01000000000000002a" {
		t.Errorf("meta header %x", b[:metaHeaderLen])
	}
	epoch, user, err := decodeMeta(b)
	if err != nil || epoch != 42 || string(user) != "rpc=1.2.3.4:7000" {
		t.Errorf("decodeMeta = %d, %q, %v", epoch, user, err)
	}
	if _, user, err := decodeMeta(encodeMeta(1, nil)); err != nil || user != nil {
		t.Errorf("empty meta: %q, %v", user, err)
	}
	for _, bad := range []string{"", "01", "0200000000000000000", "010203"} {
		if _, _, err := decodeMeta(mustHex(t, pad(bad))); !errors.Is(err, ErrMalformed) {
			t.Errorf("decodeMeta(%s) = %v, want ErrMalformed", bad, err)
		}
	}
}

func pad(s string) string {
	if len(s)%2 == 1 {
		return s + "0"
	}
	return s
}

func TestDecodeRejects(t *testing.T) {
	good := hex.EncodeToString(encodeState(sampleState()))
	tests := []struct {
		name  string
		state string
	}{
		{"empty", ""},
		{"bad format", "02" + good[2:]},
		{"truncated", good[:len(good)-2]},
		{"trailing", good + "00"},
		{"empty sender", "01" + "00" + "00000000" + "00000000"},
		{"sender with space", "01" + "03" + "612062" + "00000000" + "00000000"},
		{"sender invalid utf8", "01" + "01" + "ff" + "00000000" + "00000000"},
		{"sender too long", "01" + "81" + strings.Repeat("61", 129) + "00000000" + "00000000"},
		{"count over limit", "01" + "0161" + "00001001"},
		{"count over bytes", "01" + "0161" + "00000002" + "01" + "62" + "02" + "0000000000000001" + "0000"},
		{"huge count", "01" + "0161" + "ffffffff"},
		{"zero status", "01" + "0161" + "00000001" + "0162" + "00" + "0000000000000001" + "0000" + "00000000"},
		{"unknown status", "01" + "0161" + "00000001" + "0162" + "06" + "0000000000000001" + "0000" + "00000000"},
		{"meta too large", "01" + "0161" + "00000001" + "0162" + "02" + "0000000000000001" + "0101" + strings.Repeat("00", 257) + "00000000"},
		{"meta truncated", "01" + "0161" + "00000001" + "0162" + "02" + "0000000000000001" + "0005" + "0000" + "00000000"},
		{"intent truncated", "01" + "0161" + "00000000" + "00000001" + "0163" + "00000001"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := decodeState(mustHex(t, tt.state)); !errors.Is(err, ErrMalformed) {
				t.Errorf("decodeState = %v, want ErrMalformed", err)
			}
		})
	}
	msgs := []string{"", "00", "03", "01", "02" + "0161", "01" + "0161" + "02" + "0000000000000001" + "0000" + "00", "02" + "00" + "0000000000000001"}
	for _, m := range msgs {
		if _, err := decodeMessage(mustHex(t, m)); !errors.Is(err, ErrMalformed) {
			t.Errorf("decodeMessage(%s) = %v, want ErrMalformed", m, err)
		}
	}
}

func TestDecodeDoesNotAlias(t *testing.T) {
	b := encodeState(sampleState())
	s, err := decodeState(b)
	if err != nil {
		t.Fatal(err)
	}
	for i := range b {
		b[i] = 0
	}
	if !reflect.DeepEqual(s, sampleState()) {
		t.Errorf("decoded state changed with its input: %+v", s)
	}
}

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}
