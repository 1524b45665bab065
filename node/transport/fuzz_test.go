package transport

import (
	"bytes"
	"io"
	"testing"
)

type fuzzRW struct {
	io.Reader
	io.Writer
}

// FuzzHandshake feeds arbitrary bytes to both sides of the handshake: they
// must never panic, and never succeed, since a peer that does not know the
// secret cannot produce a MAC over our fresh nonce.
func FuzzHandshake(f *testing.F) {
	h, _ := appendHello(nil, clientMagic, ourVersions, "peer")
	f.Add(h)
	f.Add(append(h, bytes.Repeat([]byte{1}, macSize)...))
	s, _ := appendHello(nil, serverMagic, ourVersions, "peer")
	f.Add(append(s, bytes.Repeat([]byte{2}, macSize)...))
	f.Add([]byte("KVTC\x00\x01\x00\x01"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, in []byte) {
		if _, err := serverHandshake(fuzzRW{bytes.NewReader(in), io.Discard}, testSecret, "server", ourVersions); err == nil {
			t.Fatal("server handshake succeeded against fuzz input")
		}
		if _, err := clientHandshake(fuzzRW{bytes.NewReader(in), io.Discard}, testSecret, "client", ourVersions); err == nil {
			t.Fatal("client handshake succeeded against fuzz input")
		}
	})
}
