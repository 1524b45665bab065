package transport

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
)

// Protocol versions this package speaks. Version 1 is the frame format of
// package wire. A future incompatible change raises maxVersion and keeps
// speaking the old versions while peers may still use them.
const (
	minVersion uint16 = 1
	maxVersion uint16 = 1
)

const (
	nonceSize     = 32
	macSize       = sha256.Size
	helloFixedLen = 4 + 2 + 2 + nonceSize + 1 // magic, versions, nonce, name length
)

var (
	clientMagic = [4]byte{'K', 'V', 'T', 'C'}
	serverMagic = [4]byte{'K', 'V', 'T', 'S'}
	serverLabel = []byte("kvstore transport server\x00")
	clientLabel = []byte("kvstore transport client\x00")
)

// hello is a parsed ClientHello or ServerHello (see the package
// documentation for the layout).
type hello struct {
	raw        []byte // the encoded message, without any MAC
	minV, maxV uint16
	name       string
}

// handshakeResult is what a successful handshake establishes.
type handshakeResult struct {
	peer    string // the peer's node name
	version uint16
}

// versionRange lets tests pose as peers of other versions.
type versionRange struct{ min, max uint16 }

var ourVersions = versionRange{minVersion, maxVersion}

func appendHello(dst []byte, magic [4]byte, v versionRange, name string) ([]byte, error) {
	var nonce [nonceSize]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return nil, err
	}
	dst = append(dst, magic[:]...)
	dst = binary.BigEndian.AppendUint16(dst, v.min)
	dst = binary.BigEndian.AppendUint16(dst, v.max)
	dst = append(dst, nonce[:]...)
	dst = append(dst, byte(len(name)))
	return append(dst, name...), nil
}

func readHello(r io.Reader, magic [4]byte) (hello, error) {
	buf := make([]byte, helloFixedLen, helloFixedLen+255)
	if _, err := io.ReadFull(r, buf); err != nil {
		return hello{}, err
	}
	if [4]byte(buf[:4]) != magic {
		return hello{}, fmt.Errorf("bad magic %q", buf[:4])
	}
	n := int(buf[helloFixedLen-1])
	buf = buf[:helloFixedLen+n]
	if _, err := io.ReadFull(r, buf[helloFixedLen:]); err != nil {
		return hello{}, err
	}
	return hello{
		raw:  buf,
		minV: binary.BigEndian.Uint16(buf[4:6]),
		maxV: binary.BigEndian.Uint16(buf[6:8]),
		name: string(buf[helloFixedLen:]),
	}, nil
}

func mac(secret, label []byte, parts ...[]byte) []byte {
	h := hmac.New(sha256.New, secret)
	h.Write(label)
	for _, p := range parts {
		h.Write(p)
	}
	return h.Sum(nil)
}

// negotiate returns the highest version in both ranges, or 0.
func negotiate(a, b versionRange) uint16 {
	hi := min(a.max, b.max)
	lo := max(a.min, b.min)
	if hi < lo || hi == 0 {
		return 0
	}
	return hi
}

// clientHandshake runs the dialer's side on rw. The caller sets deadlines.
// Errors wrap ErrUnauthorized, ErrVersionMismatch or ErrHandshake.
func clientHandshake(rw io.ReadWriter, secret []byte, name string, ours versionRange) (handshakeResult, error) {
	ch, err := appendHello(make([]byte, 0, helloFixedLen+len(name)), clientMagic, ours, name)
	if err != nil {
		return handshakeResult{}, fmt.Errorf("%w: %v", ErrHandshake, err)
	}
	if _, err := rw.Write(ch); err != nil {
		return handshakeResult{}, fmt.Errorf("%w: sending hello: %v", ErrHandshake, err)
	}
	sh, err := readHello(rw, serverMagic)
	if err != nil {
		return handshakeResult{}, fmt.Errorf("%w: reading server hello: %v", ErrHandshake, err)
	}
	var macS [macSize]byte
	if _, err := io.ReadFull(rw, macS[:]); err != nil {
		return handshakeResult{}, fmt.Errorf("%w: reading server hello: %v", ErrHandshake, err)
	}
	if !hmac.Equal(macS[:], mac(secret, serverLabel, ch, sh.raw)) {
		return handshakeResult{}, fmt.Errorf("%w: server %q does not know the cluster secret", ErrUnauthorized, sh.name)
	}
	v := negotiate(ours, versionRange{sh.minV, sh.maxV})
	if v == 0 {
		return handshakeResult{}, fmt.Errorf("%w: we speak %d-%d, server %q speaks %d-%d",
			ErrVersionMismatch, ours.min, ours.max, sh.name, sh.minV, sh.maxV)
	}
	if _, err := rw.Write(mac(secret, clientLabel, ch, sh.raw, macS[:])); err != nil {
		return handshakeResult{}, fmt.Errorf("%w: sending finish: %v", ErrHandshake, err)
	}
	return handshakeResult{peer: sh.name, version: v}, nil
}

// serverHandshake runs the acceptor's side on rw. The caller sets
// deadlines and closes the connection on error. Errors wrap
// ErrUnauthorized, ErrVersionMismatch or ErrHandshake.
func serverHandshake(rw io.ReadWriter, secret []byte, name string, ours versionRange) (handshakeResult, error) {
	ch, err := readHello(rw, clientMagic)
	if err != nil {
		return handshakeResult{}, fmt.Errorf("%w: reading client hello: %v", ErrHandshake, err)
	}
	sh, err := appendHello(make([]byte, 0, helloFixedLen+len(name)+macSize), serverMagic, ours, name)
	if err != nil {
		return handshakeResult{}, fmt.Errorf("%w: %v", ErrHandshake, err)
	}
	macS := mac(secret, serverLabel, ch.raw, sh)
	if _, err := rw.Write(append(sh, macS...)); err != nil {
		return handshakeResult{}, fmt.Errorf("%w: sending hello: %v", ErrHandshake, err)
	}
	v := negotiate(ours, versionRange{ch.minV, ch.maxV})
	if v == 0 {
		return handshakeResult{}, fmt.Errorf("%w: we speak %d-%d, client %q speaks %d-%d",
			ErrVersionMismatch, ours.min, ours.max, ch.name, ch.minV, ch.maxV)
	}
	var macC [macSize]byte
	if _, err := io.ReadFull(rw, macC[:]); err != nil {
		return handshakeResult{}, fmt.Errorf("%w: reading finish from %q: %v", ErrHandshake, ch.name, err)
	}
	if !hmac.Equal(macC[:], mac(secret, clientLabel, ch.raw, sh, macS)) {
		return handshakeResult{}, fmt.Errorf("%w: client %q does not know the cluster secret", ErrUnauthorized, ch.name)
	}
	return handshakeResult{peer: ch.name, version: v}, nil
}
