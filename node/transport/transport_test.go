package transport

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"kvstore/node/wire"
)

var testSecret = []byte("0123456789abcdef0123456789abcdef")

func newTCP(t testing.TB, name string, mod ...func(*Config)) *TCP {
	t.Helper()
	cfg := Config{Secret: testSecret, Name: name}
	for _, m := range mod {
		m(&cfg)
	}
	tr := NewTCP(cfg)
	t.Cleanup(func() { tr.Close() })
	return tr
}

// echo answers Ping with Pong{from} and ReadRequest with one found result
// per key, carrying the key back.
var echo = HandlerFunc(func(ctx context.Context, from string, req wire.Message) (wire.Message, error) {
	switch r := req.(type) {
	case *wire.Ping:
		return &wire.Pong{Name: from}, nil
	case *wire.ReadRequest:
		resp := &wire.ReadResponse{Results: make([]wire.ReadResult, len(r.Keys))}
		for i, k := range r.Keys {
			resp.Results[i] = wire.ReadResult{Found: true, Record: wire.Record{Key: k}}
		}
		return resp, nil
	case *wire.WriteRequest:
		return &wire.WriteResponse{}, nil
	}
	return nil, NewError(wire.CodeBadRequest, "unexpected %v", req.Type())
})

func listen(t testing.TB, tr *TCP, h Handler) string {
	t.Helper()
	addr, err := tr.Listen("127.0.0.1:0", h)
	if err != nil {
		t.Fatal(err)
	}
	return addr.String()
}

func ctxTimeout(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestCallRoundTrip(t *testing.T) {
	server := newTCP(t, "server")
	addr := listen(t, server, echo)
	client := newTCP(t, "client")
	resp, err := client.Call(ctxTimeout(t, 5*time.Second), addr, &wire.Ping{})
	if err != nil {
		t.Fatal(err)
	}
	if pong, ok := resp.(*wire.Pong); !ok || pong.Name != "client" {
		t.Fatalf("got %#v, want Pong from client", resp)
	}
	// Frames larger than the read chunk size, both ways.
	big := bytes.Repeat([]byte("0123456789abcdef"), (3<<20)/16+5)
	resp, err = client.Call(ctxTimeout(t, 10*time.Second), addr, &wire.ReadRequest{Keys: [][]byte{big}})
	if err != nil {
		t.Fatal(err)
	}
	if rr, ok := resp.(*wire.ReadResponse); !ok || !bytes.Equal(rr.Results[0].Record.Key, big) {
		t.Fatal("large frame corrupted")
	}
}

func TestConcurrentCalls(t *testing.T) {
	server := newTCP(t, "server")
	addr := listen(t, server, echo)
	client := newTCP(t, "client")
	goroutines, calls := 64, 1000
	if raceEnabled || testing.Short() {
		calls = 100
	}
	ctx := ctxTimeout(t, 60*time.Second)
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range calls {
				key := fmt.Appendf(nil, "g%d-c%d", g, i)
				resp, err := client.Call(ctx, addr, &wire.ReadRequest{Keys: [][]byte{key}})
				if err != nil {
					errs <- err
					return
				}
				rr, ok := resp.(*wire.ReadResponse)
				if !ok || len(rr.Results) != 1 || !bytes.Equal(rr.Results[0].Record.Key, key) {
					errs <- fmt.Errorf("call %s: got %#v", key, resp)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if got := client.Stats().Dials; got > 2 {
		t.Errorf("dialed %d connections, want at most ConnsPerPeer=2", got)
	}
}

func TestRemoteErrors(t *testing.T) {
	server := newTCP(t, "server", func(c *Config) { c.MaxFrameSize = 1 << 20 })
	addr := listen(t, server, HandlerFunc(func(ctx context.Context, from string, req wire.Message) (wire.Message, error) {
		switch r := req.(type) {
		case *wire.ReadRequest:
			switch string(r.Keys[0]) {
			case "coded":
				return nil, NewError(wire.CodeNotOwner, "partition %d", 7)
			case "wrapped":
				return nil, fmt.Errorf("outer: %w", NewError(wire.CodeOverloaded, "busy"))
			case "plain":
				return nil, errors.New("disk on fire")
			case "ctx":
				return nil, context.Canceled
			case "message":
				return &wire.ErrorResponse{Code: wire.CodeUnavailable, Message: "draining"}, nil
			case "nil":
				return nil, nil
			case "huge":
				return &wire.RangeResponse{Records: []wire.Record{{Value: make([]byte, 2<<20)}}}, nil
			}
		}
		return &wire.WriteResponse{}, nil
	}))
	client := newTCP(t, "client")
	tests := []struct {
		key      string
		wantCode wire.ErrorCode
		wantMsg  string
	}{
		{"coded", wire.CodeNotOwner, "partition 7"},
		{"wrapped", wire.CodeOverloaded, "busy"},
		{"plain", wire.CodeInternal, "disk on fire"},
		{"ctx", wire.CodeUnavailable, "context canceled"},
		{"message", wire.CodeUnavailable, "draining"},
		{"nil", wire.CodeInternal, "no response"},
		{"huge", wire.CodeTooLarge, "frame too large"},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			_, err := client.Call(ctxTimeout(t, 5*time.Second), addr, &wire.ReadRequest{Keys: [][]byte{[]byte(tt.key)}})
			var re *RemoteError
			if !errors.As(err, &re) {
				t.Fatalf("err = %v, want *RemoteError", err)
			}
			if re.Code != tt.wantCode || !strings.Contains(re.Message, tt.wantMsg) || re.Addr != addr {
				t.Fatalf("got %+v, want code %v with %q from %s", re, tt.wantCode, tt.wantMsg, addr)
			}
			if code, ok := CodeOf(err); !ok || code != tt.wantCode {
				t.Fatalf("CodeOf = %v, %v", code, ok)
			}
		})
	}
}

func TestCallTimeoutDiscardsLateResponse(t *testing.T) {
	for _, mode := range callModes {
		t.Run(mode.name, func(t *testing.T) {
			release := make(chan struct{})
			server := newTCP(t, "server")
			addr := listen(t, server, HandlerFunc(func(ctx context.Context, from string, req wire.Message) (wire.Message, error) {
				if _, ok := req.(*wire.WriteRequest); ok {
					<-release
					return &wire.WriteResponse{}, nil
				}
				return &wire.Pong{Name: "fast"}, nil
			}))
			client := newTCP(t, "client", func(c *Config) { c.ConnsPerPeer = 1 })
			if _, err := mode.call(t, client, ctxTimeout(t, 5*time.Second), addr, &wire.Ping{}); err != nil {
				t.Fatal(err) // connect first so the timeout covers only the slow call
			}
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			defer cancel()
			start := time.Now()
			_, err := mode.call(t, client, ctx, addr, &wire.WriteRequest{})
			if err != context.DeadlineExceeded {
				t.Fatalf("err = %v, want context.DeadlineExceeded", err)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Fatalf("call returned %v after its deadline", d)
			}
			close(release) // the late WriteResponse arrives and must be discarded
			for range 10 {
				resp, err := mode.call(t, client, ctxTimeout(t, 5*time.Second), addr, &wire.Ping{})
				if err != nil {
					t.Fatal(err)
				}
				if _, ok := resp.(*wire.Pong); !ok {
					t.Fatalf("got %#v, want Pong (late response delivered to the wrong call?)", resp)
				}
			}
			if got := client.Stats().Dials; got != 1 {
				t.Errorf("dials = %d, want 1 (the connection survives a timed-out call)", got)
			}
		})
	}
}

func TestCancelledCallBeforeSend(t *testing.T) {
	for _, mode := range callModes {
		t.Run(mode.name, func(t *testing.T) {
			client := newTCP(t, "client")
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			if _, err := mode.call(t, client, ctx, "127.0.0.1:1", &wire.Ping{}); err != context.Canceled {
				t.Fatalf("err = %v, want context.Canceled", err)
			}
		})
	}
}

func TestServerRestartRedial(t *testing.T) {
	server := newTCP(t, "server")
	addr := listen(t, server, echo)
	client := newTCP(t, "client", func(c *Config) { c.ConnsPerPeer = 1 })
	if _, err := client.Call(ctxTimeout(t, 5*time.Second), addr, &wire.Ping{}); err != nil {
		t.Fatal(err)
	}
	server.Close()

	// While the server is down calls fail (and do not hang).
	if _, err := client.Call(ctxTimeout(t, 5*time.Second), addr, &wire.Ping{}); err == nil {
		t.Fatal("call to a stopped server succeeded")
	}

	server2 := newTCP(t, "server2")
	if _, err := server2.Listen(addr, echo); err != nil {
		t.Fatalf("relisten on %s: %v", addr, err)
	}
	var resp wire.Message
	waitFor(t, "a call to the restarted server", func() bool {
		var err error
		resp, err = client.Call(ctxTimeout(t, 5*time.Second), addr, &wire.Ping{})
		return err == nil
	})
	if _, ok := resp.(*wire.Pong); !ok {
		t.Fatalf("got %#v", resp)
	}
	if got := client.Stats().Dials; got < 2 {
		t.Errorf("dials = %d, want a redial", got)
	}
}

func TestWrongSecretRejected(t *testing.T) {
	var invoked atomic.Int64
	server := newTCP(t, "server")
	addr := listen(t, server, HandlerFunc(func(ctx context.Context, from string, req wire.Message) (wire.Message, error) {
		invoked.Add(1)
		return &wire.Pong{}, nil
	}))
	client := newTCP(t, "client", func(c *Config) { c.Secret = []byte("another secret, just as long....") })
	for range 3 {
		_, err := client.Call(ctxTimeout(t, 5*time.Second), addr, &wire.Ping{})
		if !errors.Is(err, ErrUnauthorized) {
			t.Fatalf("err = %v, want ErrUnauthorized", err)
		}
	}
	waitFor(t, "the server to count the failed handshakes", func() bool {
		return server.Stats().HandshakeFailures >= 3
	})
	if n := invoked.Load(); n != 0 {
		t.Fatalf("handler invoked %d times", n)
	}
}

// dialRaw opens a connection to addr and, if secret is not nil, completes
// the client handshake on it, so a test can write frames by hand.
func dialRaw(t *testing.T, addr string, secret []byte, v versionRange) (net.Conn, error) {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
	if secret != nil {
		if _, err := clientHandshake(nc, secret, "raw", v); err != nil {
			return nc, err
		}
	}
	return nc, nil
}

// expectClosed checks that the server closes nc.
func expectClosed(t *testing.T, nc net.Conn) {
	t.Helper()
	_, err := io.Copy(io.Discard, nc)
	if err != nil && !errors.Is(err, net.ErrClosed) && !strings.Contains(err.Error(), "reset") {
		t.Fatalf("reading until close: %v", err)
	}
}

func ping(t *testing.T, id uint64) []byte {
	t.Helper()
	f, err := wire.AppendFrame(nil, id, 0, &wire.Ping{})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestUnauthenticatedRequestNeverServed(t *testing.T) {
	var invoked atomic.Int64
	server := newTCP(t, "server", func(c *Config) { c.HandshakeTimeout = 200 * time.Millisecond })
	addr := listen(t, server, HandlerFunc(func(ctx context.Context, from string, req wire.Message) (wire.Message, error) {
		invoked.Add(1)
		return &wire.Pong{}, nil
	}))
	tests := []struct {
		name  string
		write func(nc net.Conn)
	}{
		{"frame instead of hello", func(nc net.Conn) { nc.Write(ping(t, 1)) }},
		{"hello then frame", func(nc net.Conn) {
			h, _ := appendHello(nil, clientMagic, ourVersions, "intruder")
			nc.Write(h)
			nc.Write(make([]byte, 73+len("server"))) // let the server answer
			nc.Write(ping(t, 1))
		}},
		{"hello, bad finish, frame", func(nc net.Conn) {
			h, _ := appendHello(nil, clientMagic, ourVersions, "intruder")
			nc.Write(h)
			nc.Write(bytes.Repeat([]byte{7}, macSize))
			nc.Write(ping(t, 1))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nc, _ := dialRaw(t, addr, nil, ourVersions)
			tt.write(nc)
			expectClosed(t, nc)
		})
	}
	if n := invoked.Load(); n != 0 {
		t.Fatalf("handler invoked %d times", n)
	}
	// A proper client still works.
	client := newTCP(t, "client")
	if _, err := client.Call(ctxTimeout(t, 5*time.Second), addr, &wire.Ping{}); err != nil {
		t.Fatal(err)
	}
}

func TestVersionMismatch(t *testing.T) {
	server := newTCP(t, "server")
	addr := listen(t, server, echo)
	nc, err := dialRaw(t, addr, testSecret, versionRange{maxVersion + 1, maxVersion + 3})
	if !errors.Is(err, ErrVersionMismatch) {
		t.Fatalf("err = %v, want ErrVersionMismatch", err)
	}
	expectClosed(t, nc)
	// A peer whose range overlaps ours at the top picks our highest version.
	if v := negotiate(ourVersions, versionRange{1, maxVersion + 5}); v != maxVersion {
		t.Fatalf("negotiated %d", v)
	}
}

func TestHandshakeTimeout(t *testing.T) {
	server := newTCP(t, "server", func(c *Config) { c.HandshakeTimeout = 100 * time.Millisecond })
	addr := listen(t, server, echo)
	nc, _ := dialRaw(t, addr, nil, ourVersions)
	start := time.Now()
	expectClosed(t, nc) // we never send a hello
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("server kept a silent connection for %v", d)
	}
}

func TestOversizedFrameRejectedWithoutAllocating(t *testing.T) {
	server := newTCP(t, "server", func(c *Config) { c.MaxFrameSize = 1 << 20 })
	addr := listen(t, server, echo)

	// Client side: a request over the limit is refused before dialing.
	small := newTCP(t, "client", func(c *Config) { c.MaxFrameSize = 4 << 10 })
	_, err := small.Call(ctxTimeout(t, 5*time.Second), addr, &wire.WriteRequest{Records: []wire.Record{{Value: make([]byte, 8<<10)}}})
	if !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("err = %v, want ErrFrameTooLarge", err)
	}
	if small.Stats().Dials != 0 {
		t.Fatal("dialed for an oversized request")
	}

	// Server side: a frame header claiming 1 GiB closes the connection
	// without the server allocating it.
	nc, err := dialRaw(t, addr, testSecret, ourVersions)
	if err != nil {
		t.Fatal(err)
	}
	hdr := make([]byte, wire.HeaderSize)
	binary.BigEndian.PutUint32(hdr, 1<<30)
	hdr[4] = byte(wire.TypeWriteRequest)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	nc.Write(hdr)
	nc.Write(make([]byte, 100))
	expectClosed(t, nc)
	runtime.ReadMemStats(&after)
	if d := after.TotalAlloc - before.TotalAlloc; d > 16<<20 {
		t.Fatalf("allocated %d bytes while rejecting the frame", d)
	}
}

func TestGarbageClosesOnlyThatConnection(t *testing.T) {
	server := newTCP(t, "server")
	addr := listen(t, server, echo)
	client := newTCP(t, "client")
	ctx := ctxTimeout(t, 10*time.Second)
	if _, err := client.Call(ctx, addr, &wire.Ping{}); err != nil {
		t.Fatal(err)
	}
	garbage := []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n\x00\xff\x13\x37 definitely not a frame")
	tests := []struct {
		name   string
		secret []byte
	}{
		{"before handshake", nil},
		{"after handshake", testSecret},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nc, err := dialRaw(t, addr, tt.secret, ourVersions)
			if err != nil {
				t.Fatal(err)
			}
			nc.Write(garbage)
			expectClosed(t, nc)
			if _, err := client.Call(ctx, addr, &wire.Ping{}); err != nil {
				t.Fatalf("healthy connection affected: %v", err)
			}
		})
	}
	if got := client.Stats().Dials; got > 2 {
		t.Errorf("client redialed (%d dials): its connections were disturbed", got)
	}
}

func TestBadRequestKeepsConnection(t *testing.T) {
	server := newTCP(t, "server")
	addr := listen(t, server, echo)
	nc, err := dialRaw(t, addr, testSecret, ourVersions)
	if err != nil {
		t.Fatal(err)
	}
	unknown := make([]byte, wire.HeaderSize+1)
	binary.BigEndian.PutUint32(unknown, wire.HeaderSize-4+1)
	unknown[4] = 200 // a type from the future
	wire.SetFrameID(unknown, 41)
	unknown[wire.HeaderSize] = 0x90
	badBody := ping(t, 42)
	badBody[wire.HeaderSize] = 0xc3 // not an array
	nc.Write(append(append(unknown, badBody...), ping(t, 43)...))
	for _, want := range []struct {
		id   uint64
		code wire.ErrorCode
	}{{41, wire.CodeBadRequest}, {42, wire.CodeBadRequest}, {43, 0}} {
		h, body, err := wire.ReadFrame(nc, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		m, err := wire.DecodeBody(h.Type, body)
		if err != nil {
			t.Fatal(err)
		}
		// Responses come in completion order; requests 41 and 42 fail
		// before their handler, so they are sent first in practice, but
		// only the id matters.
		_ = want
		switch m := m.(type) {
		case *wire.ErrorResponse:
			if h.ID != 41 && h.ID != 42 || m.Code != wire.CodeBadRequest {
				t.Fatalf("id %d: %+v", h.ID, m)
			}
		case *wire.Pong:
			if h.ID != 43 || m.Name != "raw" {
				t.Fatalf("id %d: %+v", h.ID, m)
			}
		default:
			t.Fatalf("id %d: unexpected %#v", h.ID, m)
		}
	}
}

func TestInFlightLimit(t *testing.T) {
	const limit = 4
	var running, peak atomic.Int64
	release := make(chan struct{})
	server := newTCP(t, "server", func(c *Config) { c.MaxInFlightPerConn = limit })
	addr := listen(t, server, HandlerFunc(func(ctx context.Context, from string, req wire.Message) (wire.Message, error) {
		n := running.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		<-release
		running.Add(-1)
		return &wire.Pong{}, nil
	}))
	client := newTCP(t, "client", func(c *Config) { c.ConnsPerPeer = 1; c.MaxInFlightPerConn = 100 })
	ctx := ctxTimeout(t, 10*time.Second)
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := client.Call(ctx, addr, &wire.Ping{}); err != nil {
				t.Error(err)
			}
		}()
	}
	waitFor(t, "handlers to fill the limit", func() bool { return running.Load() == limit })
	for range 20 {
		release <- struct{}{}
	}
	wg.Wait()
	if p := peak.Load(); p > limit {
		t.Fatalf("%d requests served at once, limit %d", p, limit)
	}
}

func TestClose(t *testing.T) {
	entered := make(chan struct{})
	server := newTCP(t, "server")
	addr := listen(t, server, HandlerFunc(func(ctx context.Context, from string, req wire.Message) (wire.Message, error) {
		entered <- struct{}{}
		<-ctx.Done() // released only by the connection closing
		return nil, ctx.Err()
	}))
	client := newTCP(t, "client")
	errc := make(chan error, 1)
	go func() {
		_, err := client.Call(context.Background(), addr, &wire.Ping{})
		errc <- err
	}()
	<-entered
	if err := client.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; !errors.Is(err, ErrClosed) {
		t.Fatalf("pending call: err = %v, want ErrClosed", err)
	}
	if _, err := client.Call(context.Background(), addr, &wire.Ping{}); !errors.Is(err, ErrClosed) {
		t.Fatalf("call after Close: err = %v, want ErrClosed", err)
	}
	if _, err := client.Listen("127.0.0.1:0", echo); !errors.Is(err, ErrClosed) {
		t.Fatalf("Listen after Close: err = %v, want ErrClosed", err)
	}
	if err := client.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	// The server's handler saw its context cancelled when the client's
	// connection went away; the server closes cleanly.
	waitFor(t, "the server to drop the connection", func() bool { return server.Stats().Conns == 0 })
	if err := server.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestCloseCancelsHandlers(t *testing.T) {
	entered := make(chan struct{})
	server := newTCP(t, "server")
	addr := listen(t, server, HandlerFunc(func(ctx context.Context, from string, req wire.Message) (wire.Message, error) {
		close(entered)
		<-ctx.Done()
		return nil, ctx.Err()
	}))
	client := newTCP(t, "client")
	errc := make(chan error, 1)
	go func() {
		_, err := client.Call(context.Background(), addr, &wire.Ping{})
		errc <- err
	}()
	<-entered
	server.Close() // returns only after the handler has returned
	if err := <-errc; !errors.Is(err, ErrConnLost) {
		t.Fatalf("err = %v, want ErrConnLost", err)
	}
}

func TestDialErrors(t *testing.T) {
	client := newTCP(t, "client", func(c *Config) { c.DialTimeout = time.Second })
	// A port nothing listens on: refused at once.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	if _, err := client.Call(ctxTimeout(t, 5*time.Second), addr, &wire.Ping{}); err == nil || errors.Is(err, ErrClosed) {
		t.Fatalf("err = %v, want a dial error", err)
	}
	// A listener that accepts but never answers the hello: the call's
	// deadline bounds the handshake.
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := client.Call(ctx, silent.Addr().String(), &wire.Ping{}); err != context.DeadlineExceeded {
		t.Fatalf("err = %v, want context.DeadlineExceeded", err)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr []string
	}{
		{"ok", Config{Secret: testSecret, Name: "a"}, nil},
		{"defaults ok", func() Config { c := DefaultConfig(); c.Secret, c.Name = testSecret, "a"; return c }(), nil},
		{"missing", Config{}, []string{"Secret", "Name"}},
		{"negative", Config{Secret: testSecret, Name: "a", DialTimeout: -1, ConnsPerPeer: -1, MaxInFlightPerConn: -1, MaxFrameSize: -1},
			[]string{"DialTimeout", "ConnsPerPeer", "MaxInFlightPerConn", "MaxFrameSize"}},
		{"tiny frames", Config{Secret: testSecret, Name: "a", MaxFrameSize: 10}, []string{"MaxFrameSize"}},
		{"long name", Config{Secret: testSecret, Name: strings.Repeat("n", 256)}, []string{"Name"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if (err == nil) != (tt.wantErr == nil) {
				t.Fatalf("err = %v, want errors about %v", err, tt.wantErr)
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("err = %v, want it to mention %s", err, w)
				}
			}
		})
	}
	tr := NewTCP(Config{})
	defer tr.Close()
	if _, err := tr.Call(context.Background(), "127.0.0.1:1", &wire.Ping{}); err == nil || !strings.Contains(err.Error(), "Secret") {
		t.Fatalf("Call with invalid config: %v", err)
	}
}

func TestCloseLeavesNoGoroutines(t *testing.T) {
	base := runtime.NumGoroutine()
	server := NewTCP(Config{Secret: testSecret, Name: "server"})
	addr := listen(t, server, echo)
	client := NewTCP(Config{Secret: testSecret, Name: "client"})
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20 {
				if _, err := client.Call(ctxTimeout(t, 5*time.Second), addr, &wire.Ping{}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	client.Close()
	server.Close()
	waitFor(t, "goroutines to exit", func() bool { return runtime.NumGoroutine() <= base })
}

// A handler that panics fails its request with an internal error; the
// server and its connection keep serving.
func TestHandlerPanicFailsOnlyThatRequest(t *testing.T) {
	h := HandlerFunc(func(ctx context.Context, from string, req wire.Message) (wire.Message, error) {
		if _, ok := req.(*wire.Ping); ok {
			panic("broken invariant")
		}
		return &wire.WriteResponse{}, nil
	})
	resp := Dispatch(context.Background(), h, "peer", &wire.Ping{})
	er, ok := resp.(*wire.ErrorResponse)
	if !ok || er.Code != wire.CodeInternal {
		t.Fatalf("panicking handler answered %#v", resp)
	}
	if _, ok := Dispatch(context.Background(), h, "peer", &wire.WriteRequest{}).(*wire.WriteResponse); !ok {
		t.Fatal("the next request failed")
	}
}

// inlineEcho is echo as an InlineHandler: it answers reads of keys that
// start with "mem" inline (like a node reading from memory), panics inline
// on the key "mem-panic", and leaves everything else to ServeRPC, where a
// read of "slow" waits for release.
type inlineEcho struct {
	inline, rpc atomic.Int64
	release     chan struct{}
}

func (h *inlineEcho) ServeRPC(ctx context.Context, from string, req wire.Message) (wire.Message, error) {
	h.rpc.Add(1)
	if r, ok := req.(*wire.ReadRequest); ok && string(r.Keys[0]) == "slow" {
		<-h.release
	}
	return echo(ctx, from, req)
}

func (h *inlineEcho) ServeInline(ctx context.Context, from string, req wire.Message) (wire.Message, bool, error) {
	r, ok := req.(*wire.ReadRequest)
	if !ok || !bytes.HasPrefix(r.Keys[0], []byte("mem")) {
		return nil, false, nil
	}
	if string(r.Keys[0]) == "mem-panic" {
		panic("broken invariant")
	}
	h.inline.Add(1)
	resp, err := echo(ctx, from, req)
	return resp, true, err
}

// An InlineHandler answers on the connection's reader what it can, and
// ServeRPC the rest; both kinds of answers reach their callers, an inline
// one does not wait for a slow ServeRPC, and an inline panic fails only
// its request.
func TestInlineHandler(t *testing.T) {
	h := &inlineEcho{release: make(chan struct{})}
	server := newTCP(t, "server", func(c *Config) { c.ConnsPerPeer = 1 })
	addr := listen(t, server, h)
	client := newTCP(t, "client", func(c *Config) { c.ConnsPerPeer = 1 })
	ctx := ctxTimeout(t, 30*time.Second)
	read := func(key string) error {
		resp, err := client.Call(ctx, addr, &wire.ReadRequest{Keys: [][]byte{[]byte(key)}})
		if err != nil {
			return err
		}
		if rr, ok := resp.(*wire.ReadResponse); !ok || len(rr.Results) != 1 || string(rr.Results[0].Record.Key) != key {
			return fmt.Errorf("read %s: got %#v", key, resp)
		}
		return nil
	}

	slow := make(chan error, 1)
	go func() { slow <- read("slow") }()
	waitFor(t, "the slow read to reach ServeRPC", func() bool { return h.rpc.Load() == 1 })

	const goroutines, calls = 8, 50
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for g := range goroutines {
		wg.Go(func() {
			for i := range calls {
				key := fmt.Sprintf("mem-%d-%d", g, i)
				if i%2 == 1 {
					key = fmt.Sprintf("disk-%d-%d", g, i)
				}
				if err := read(key); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if got, want := h.inline.Load(), int64(goroutines*calls/2); got != want {
		t.Errorf("%d reads served inline, want %d", got, want)
	}
	if got, want := h.rpc.Load(), int64(1+goroutines*calls/2); got != want {
		t.Errorf("%d requests served by ServeRPC, want %d", got, want)
	}
	select {
	case err := <-slow:
		t.Fatalf("the slow read finished before its release: %v", err)
	default:
	}
	close(h.release)
	if err := <-slow; err != nil {
		t.Fatal(err)
	}

	var re *RemoteError
	if err := read("mem-panic"); !errors.As(err, &re) || re.Code != wire.CodeInternal {
		t.Fatalf("inline panic: got %v, want a remote internal error", err)
	}
	if err := read("mem-after"); err != nil {
		t.Fatalf("after an inline panic: %v", err)
	}
	if got := client.Stats().Dials; got != 1 {
		t.Errorf("dialed %d connections, want 1", got)
	}
}
