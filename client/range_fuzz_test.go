package client

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// encodeRange writes records and a last line as the node does.
func encodeRange(kvs []KV, next string) []byte {
	var b bytes.Buffer
	for _, kv := range kvs {
		fmt.Fprintf(&b, `{"key":"%s","value":"%s","version":%d}`+"\n",
			base64.StdEncoding.EncodeToString(kv.Key), base64.StdEncoding.EncodeToString(kv.Value), kv.Version)
	}
	n, _ := json.Marshal(next)
	fmt.Fprintf(&b, `{"next":%s,"repair":false}`+"\n", n)
	return b.Bytes()
}

func TestDecodeRange(t *testing.T) {
	kvs := []KV{{Key: []byte{0, 0xff}, Value: []byte{}, Version: 1}, {Key: []byte("b"), Value: []byte("v"), Version: 1 << 63}}
	tests := []struct {
		name, body string
		records    int
		next       string
		err        error
	}{
		{"complete", string(encodeRange(kvs, "Yg")), 2, "Yg", nil},
		{"done", `{"next":"","repair":true}` + "\n", 0, "", nil},
		{"truncated", string(encodeRange(kvs, "Yg"))[:50], 1, "", ErrProtocol},
		{"no last line", `{"key":"YQ==","value":"","version":1}` + "\n", 1, "", ErrProtocol},
		{"empty", ``, 0, "", ErrProtocol},
		{"interrupted", `{"key":"YQ==","value":"","version":1}` + "\n" + `{"error":"node: partition 3","next":"YQ"}` + "\n", 1, "YQ", ErrRangeInterrupted},
		{"record without key", `{"value":"YQ=="}` + "\n", 0, "", ErrProtocol},
		{"data after the end", `{"next":""}` + "\n" + `{"next":""}`, 0, "", ErrProtocol},
		{"bad base64", `{"key":"!"}`, 0, "", ErrProtocol},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []KV
			next, err := decodeRange(strings.NewReader(tt.body), func(kv KV) error {
				got = append(got, kv)
				return nil
			})
			if !errors.Is(err, tt.err) || (err == nil) != (tt.err == nil) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if len(got) != tt.records || next != tt.next {
				t.Errorf("got %d records, next %q; want %d, %q", len(got), next, tt.records, tt.next)
			}
		})
	}
	t.Run("values", func(t *testing.T) {
		var got []KV
		if _, err := decodeRange(bytes.NewReader(encodeRange(kvs, "")), func(kv KV) error { got = append(got, kv); return nil }); err != nil {
			t.Fatal(err)
		}
		for i := range kvs {
			if !bytes.Equal(got[i].Key, kvs[i].Key) || !bytes.Equal(got[i].Value, kvs[i].Value) || got[i].Value == nil || got[i].Version != kvs[i].Version {
				t.Errorf("record %d = %+v, want %+v", i, got[i], kvs[i])
			}
		}
	})
}

// FuzzDecodeRange feeds arbitrary bytes to the range stream decoder: no
// panics, and whatever decodes cleanly re-encodes to a stream that decodes
// to the same records.
func FuzzDecodeRange(f *testing.F) {
	f.Add(encodeRange([]KV{{Key: []byte("a"), Value: []byte("1"), Version: 7}}, "YQ"))
	f.Add([]byte(`{"key":"YQ==","value":"","version":1}` + "\n" + `{"error":"x","next":"YQ"}` + "\n"))
	f.Add([]byte(`{"next":"","repair":true}`))
	f.Add([]byte(`{"key":null,"next":null}`))
	f.Add([]byte(`[1,2]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var got []KV
		next, err := decodeRange(bytes.NewReader(body), func(kv KV) error {
			if kv.Key == nil || kv.Value == nil {
				t.Fatalf("record with a nil key or value: %+v", kv)
			}
			got = append(got, kv)
			return nil
		})
		if err != nil {
			if !errors.Is(err, ErrProtocol) && !errors.Is(err, ErrRangeInterrupted) {
				t.Fatalf("error %v is neither ErrProtocol nor ErrRangeInterrupted", err)
			}
			return
		}
		var again []KV
		next2, err := decodeRange(bytes.NewReader(encodeRange(got, next)), func(kv KV) error {
			again = append(again, kv)
			return nil
		})
		if err != nil || next2 != next || len(again) != len(got) {
			t.Fatalf("re-encoded: %d records, next %q, %v; want %d, %q", len(again), next2, err, len(got), next)
		}
		for i := range got {
			if !bytes.Equal(got[i].Key, again[i].Key) || !bytes.Equal(got[i].Value, again[i].Value) || got[i].Version != again[i].Version {
				t.Fatalf("record %d: %+v != %+v", i, got[i], again[i])
			}
		}
	})
}
