package transport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"kvstore/node/wire"
)

// goResult is what one Go call's done received.
type goResult struct {
	resp wire.Message
	err  error
}

// goCall starts req with Go and returns a channel that gets its result. It
// fails the test if done is called more than once.
func goCall(t *testing.T, tr Transport, ctx context.Context, addr string, req wire.Message) <-chan goResult {
	t.Helper()
	ch := make(chan goResult, 1)
	var calls atomic.Int32
	tr.Go(ctx, addr, req, func(resp wire.Message, err error) {
		if calls.Add(1) > 1 {
			t.Errorf("done called twice for %v", req.Type())
			return
		}
		ch <- goResult{resp, err}
	})
	return ch
}

func wait(t *testing.T, ch <-chan goResult) goResult {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("done was not called")
		return goResult{}
	}
}

// callModes are the two ways to make a call: Call, which waits for the
// result, and Go, whose callback gets it. Tests of behaviour both share
// run in each mode.
var callModes = []struct {
	name string
	call func(t *testing.T, tr Transport, ctx context.Context, addr string, req wire.Message) (wire.Message, error)
}{
	{"Call", func(t *testing.T, tr Transport, ctx context.Context, addr string, req wire.Message) (wire.Message, error) {
		return tr.Call(ctx, addr, req)
	}},
	{"Go", func(t *testing.T, tr Transport, ctx context.Context, addr string, req wire.Message) (wire.Message, error) {
		r := wait(t, goCall(t, tr, ctx, addr, req))
		return r.resp, r.err
	}},
}

func TestGoRoundTrip(t *testing.T) {
	server := newTCP(t, "server")
	addr := listen(t, server, echo)
	client := newTCP(t, "client", func(c *Config) { c.ConnsPerPeer = 1 })
	ctx := ctxTimeout(t, 10*time.Second)
	// The first call has no connection to use and dials; the others are
	// queued on it and answered by its reader.
	for i := range 3 {
		r := wait(t, goCall(t, client, ctx, addr, &wire.Ping{}))
		if pong, ok := r.resp.(*wire.Pong); r.err != nil || !ok || pong.Name != "client" {
			t.Fatalf("call %d: got %#v, %v; want Pong from client", i, r.resp, r.err)
		}
	}
	if got := client.Stats().Dials; got != 1 {
		t.Fatalf("dials = %d, want 1", got)
	}

	// Many at once, each answered with its own response.
	n := 2000
	if raceEnabled || testing.Short() {
		n = 200
	}
	chans := make([]<-chan goResult, n)
	for i := range n {
		chans[i] = goCall(t, client, ctx, addr, &wire.ReadRequest{Keys: [][]byte{fmt.Appendf(nil, "k%d", i)}})
	}
	for i, ch := range chans {
		r := wait(t, ch)
		rr, ok := r.resp.(*wire.ReadResponse)
		if r.err != nil || !ok || len(rr.Results) != 1 || string(rr.Results[0].Record.Key) != fmt.Sprintf("k%d", i) {
			t.Fatalf("call %d: got %#v, %v", i, r.resp, r.err)
		}
	}

	// A peer's error response arrives as a *RemoteError.
	r := wait(t, goCall(t, client, ctx, addr, &wire.AEApplyRequest{}))
	var re *RemoteError
	if !errors.As(r.err, &re) || re.Code != wire.CodeBadRequest {
		t.Fatalf("err = %v, want a RemoteError with CodeBadRequest", r.err)
	}
}

// TestGoChained starts each call from the previous one's done, as a
// coordinator sends the writes that queued behind an answered one.
func TestGoChained(t *testing.T) {
	server := newTCP(t, "server")
	addr := listen(t, server, echo)
	client := newTCP(t, "client")
	ctx := ctxTimeout(t, 10*time.Second)
	const n = 100
	finished := make(chan error, 1)
	var next func(i int)
	next = func(i int) {
		client.Go(ctx, addr, &wire.Ping{}, func(resp wire.Message, err error) {
			switch {
			case err != nil:
				finished <- err
			case i+1 == n:
				finished <- nil
			default:
				next(i + 1)
			}
		})
	}
	next(0)
	select {
	case err := <-finished:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the chain of calls stalled")
	}
}

// TestGoInFlightLimit: calls beyond the connection's limit of requests in
// flight wait for a free slot instead of failing.
func TestGoInFlightLimit(t *testing.T) {
	release := make(chan struct{})
	var running atomic.Int64
	server := newTCP(t, "server")
	addr := listen(t, server, HandlerFunc(func(ctx context.Context, from string, req wire.Message) (wire.Message, error) {
		running.Add(1)
		<-release
		return &wire.Pong{}, nil
	}))
	client := newTCP(t, "client", func(c *Config) { c.ConnsPerPeer = 1; c.MaxInFlightPerConn = 2 })
	ctx := ctxTimeout(t, 10*time.Second)
	chans := make([]<-chan goResult, 10)
	for i := range chans {
		chans[i] = goCall(t, client, ctx, addr, &wire.Ping{})
	}
	waitFor(t, "two requests to reach the server", func() bool { return running.Load() == 2 })
	time.Sleep(20 * time.Millisecond)
	if got := running.Load(); got != 2 {
		t.Fatalf("%d requests reached the server, limit 2", got)
	}
	close(release)
	for i, ch := range chans {
		if r := wait(t, ch); r.err != nil {
			t.Fatalf("call %d: %v", i, r.err)
		}
	}
}

func TestGoFailures(t *testing.T) {
	blocking := HandlerFunc(func(ctx context.Context, from string, req wire.Message) (wire.Message, error) {
		if _, ok := req.(*wire.Ping); ok {
			return &wire.Pong{}, nil
		}
		<-ctx.Done()
		return nil, ctx.Err()
	})
	tests := []struct {
		name string
		// fail ends the pending call's connection or transport.
		fail    func(t *testing.T, server, client *TCP)
		wantErr error
	}{
		{"server closes", func(t *testing.T, server, client *TCP) { server.Close() }, ErrConnLost},
		{"client closes", func(t *testing.T, server, client *TCP) { client.Close() }, ErrClosed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			server := newTCP(t, "server")
			addr := listen(t, server, blocking)
			client := newTCP(t, "client", func(c *Config) { c.ConnsPerPeer = 1 })
			ctx := ctxTimeout(t, 10*time.Second)
			if r := wait(t, goCall(t, client, ctx, addr, &wire.Ping{})); r.err != nil {
				t.Fatal(r.err)
			}
			pending := goCall(t, client, ctx, addr, &wire.WriteRequest{})
			time.Sleep(20 * time.Millisecond) // let it reach the server
			tt.fail(t, server, client)
			if r := wait(t, pending); !errors.Is(r.err, tt.wantErr) {
				t.Fatalf("pending call: err = %v, want %v", r.err, tt.wantErr)
			}
		})
	}

	t.Run("after close", func(t *testing.T) {
		client := newTCP(t, "client")
		client.Close()
		var got error
		called := false
		client.Go(context.Background(), "127.0.0.1:1", &wire.Ping{}, func(_ wire.Message, err error) { called, got = true, err })
		if !called || !errors.Is(got, ErrClosed) {
			t.Fatalf("called %v, err = %v; want ErrClosed before Go returns", called, got)
		}
	})
	t.Run("oversized request", func(t *testing.T) {
		client := newTCP(t, "client", func(c *Config) { c.MaxFrameSize = 1 << 10 })
		req := &wire.WriteRequest{Records: []wire.Record{{Key: []byte("k"), Value: bytes.Repeat([]byte("v"), 2<<10), Version: 1}}}
		if r := wait(t, goCall(t, client, context.Background(), "127.0.0.1:1", req)); !errors.Is(r.err, ErrFrameTooLarge) {
			t.Fatalf("err = %v, want ErrFrameTooLarge", r.err)
		}
	})
}

// TestGoCloseWaitsForCallbacks: Close returns only once every started
// call's done has returned.
func TestGoCloseWaitsForCallbacks(t *testing.T) {
	server := newTCP(t, "server")
	addr := listen(t, server, HandlerFunc(func(ctx context.Context, from string, req wire.Message) (wire.Message, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	}))
	client := newTCP(t, "client")
	var wg sync.WaitGroup
	var finished atomic.Int32
	for range 8 {
		wg.Add(1)
		client.Go(context.Background(), addr, &wire.Ping{}, func(wire.Message, error) {
			defer wg.Done()
			time.Sleep(10 * time.Millisecond)
			finished.Add(1)
		})
	}
	time.Sleep(50 * time.Millisecond)
	client.Close()
	if got := finished.Load(); got != 8 {
		t.Fatalf("Close returned with %d of 8 callbacks done", got)
	}
	wg.Wait()
}
