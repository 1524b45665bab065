package memnet

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"kvstore/node/transport"
	"kvstore/node/wire"
)

var seedFlag = flag.Uint64("seed", 1, "seed for the randomized tests")

var echo = transport.HandlerFunc(func(ctx context.Context, from string, req wire.Message) (wire.Message, error) {
	switch r := req.(type) {
	case *wire.Ping:
		return &wire.Pong{Name: from}, nil
	case *wire.ReadRequest:
		resp := &wire.ReadResponse{}
		for _, k := range r.Keys {
			resp.Results = append(resp.Results, wire.ReadResult{Found: true, Record: wire.Record{Key: k}})
		}
		return resp, nil
	}
	return nil, transport.NewError(wire.CodeBadRequest, "unexpected %v", req.Type())
})

// cluster returns a network with listening endpoints named a, b and c.
func cluster(t *testing.T) (*Network, map[string]transport.Transport) {
	t.Helper()
	n := New(*seedFlag)
	ts := map[string]transport.Transport{}
	for _, name := range []string{"a", "b", "c"} {
		tr := n.Transport(name)
		if _, err := tr.Listen(name, echo); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { tr.Close() })
		ts[name] = tr
	}
	return n, ts
}

func timeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func call(t *testing.T, from transport.Transport, to string, d time.Duration) error {
	t.Helper()
	resp, err := from.Call(timeout(t, d), to, &wire.Ping{})
	if err == nil {
		if _, ok := resp.(*wire.Pong); !ok {
			t.Fatalf("got %#v", resp)
		}
	}
	return err
}

func TestRoundTrip(t *testing.T) {
	_, ts := cluster(t)
	resp, err := ts["a"].Call(timeout(t, time.Second), "b", &wire.Ping{})
	if err != nil {
		t.Fatal(err)
	}
	if p, ok := resp.(*wire.Pong); !ok || p.Name != "a" {
		t.Fatalf("got %#v, want Pong from a", resp)
	}
	_, err = ts["a"].Call(timeout(t, time.Second), "b", &wire.WriteResponse{})
	var re *transport.RemoteError
	if !errors.As(err, &re) || re.Code != wire.CodeBadRequest || re.Addr != "b" {
		t.Fatalf("err = %v, want a RemoteError with CodeBadRequest", err)
	}
}

func TestMessagesAreCopied(t *testing.T) {
	n := New(1)
	var seen *wire.ReadRequest
	b := n.Transport("b")
	defer b.Close()
	b.Listen("b", transport.HandlerFunc(func(ctx context.Context, from string, req wire.Message) (wire.Message, error) {
		seen = req.(*wire.ReadRequest)
		seen.Keys[0][0] = 'X' // the handler owns its copy
		return &wire.ReadResponse{Results: []wire.ReadResult{{Record: wire.Record{Key: seen.Keys[0]}}}}, nil
	}))
	a := n.Transport("a")
	defer a.Close()
	req := &wire.ReadRequest{Keys: [][]byte{[]byte("key")}}
	resp, err := a.Call(timeout(t, time.Second), "b", req)
	if err != nil {
		t.Fatal(err)
	}
	if seen == req || string(req.Keys[0]) != "key" {
		t.Fatalf("handler shared the caller's request: %q", req.Keys[0])
	}
	got := resp.(*wire.ReadResponse).Results[0].Record.Key
	if string(got) != "Xey" {
		t.Fatalf("response key %q", got)
	}
	got[0] = 'Y'
	if string(seen.Keys[0]) != "Xey" {
		t.Fatal("caller shares memory with the handler's response")
	}
}

func TestRefused(t *testing.T) {
	n, ts := cluster(t)
	if err := call(t, ts["a"], "nobody", time.Second); !errors.Is(err, ErrRefused) {
		t.Fatalf("unknown address: err = %v, want ErrRefused", err)
	}
	n.Stop("b")
	if err := call(t, ts["a"], "b", time.Second); !errors.Is(err, ErrRefused) {
		t.Fatalf("stopped node: err = %v, want ErrRefused", err)
	}
	if err := call(t, ts["b"], "a", time.Second); !errors.Is(err, ErrRefused) {
		t.Fatalf("call from a stopped node: err = %v, want ErrRefused", err)
	}
	n.Start("b")
	if err := call(t, ts["a"], "b", time.Second); err != nil {
		t.Fatalf("after Start: %v", err)
	}
}

func TestStopFailsInFlightCalls(t *testing.T) {
	n := New(1)
	entered := make(chan struct{})
	var cancelled atomic.Bool
	b := n.Transport("b")
	defer b.Close()
	b.Listen("b", transport.HandlerFunc(func(ctx context.Context, from string, req wire.Message) (wire.Message, error) {
		close(entered)
		<-ctx.Done()
		cancelled.Store(true)
		return nil, ctx.Err()
	}))
	a := n.Transport("a")
	defer a.Close()
	errc := make(chan error, 1)
	go func() {
		_, err := a.Call(context.Background(), "b", &wire.Ping{})
		errc <- err
	}()
	<-entered
	n.Stop("b")
	if err := <-errc; !errors.Is(err, transport.ErrConnLost) {
		t.Fatalf("err = %v, want ErrConnLost", err)
	}
	b.Close() // waits for the handler, whose context was cancelled
	if !cancelled.Load() {
		t.Fatal("handler context not cancelled")
	}
}

func TestPartitionAndHeal(t *testing.T) {
	for _, mode := range []Mode{Blackhole, FailFast} {
		t.Run(fmt.Sprint(mode), func(t *testing.T) {
			n, ts := cluster(t)
			n.SetMode(mode)
			n.Partition([]string{"a"}, []string{"b", "c"})
			wantLost := func(err error) {
				t.Helper()
				switch mode {
				case Blackhole:
					if err != context.DeadlineExceeded {
						t.Fatalf("err = %v, want DeadlineExceeded", err)
					}
				case FailFast:
					if !errors.Is(err, ErrUnreachable) {
						t.Fatalf("err = %v, want ErrUnreachable", err)
					}
				}
			}
			wantLost(call(t, ts["a"], "b", 30*time.Millisecond))
			wantLost(call(t, ts["c"], "a", 30*time.Millisecond))
			if err := call(t, ts["b"], "c", time.Second); err != nil {
				t.Fatalf("same side: %v", err)
			}
			if err := call(t, ts["a"], "a", time.Second); err != nil {
				t.Fatalf("self: %v", err)
			}
			n.Heal()
			if err := call(t, ts["a"], "b", time.Second); err != nil {
				t.Fatalf("after Heal: %v", err)
			}
		})
	}
}

func TestUnlistedNodesShareAGroup(t *testing.T) {
	n, ts := cluster(t)
	n.SetMode(FailFast)
	n.Partition([]string{"a"})
	if err := call(t, ts["b"], "c", time.Second); err != nil {
		t.Fatalf("b and c are both unlisted: %v", err)
	}
	if err := call(t, ts["b"], "a", time.Second); !errors.Is(err, ErrUnreachable) {
		t.Fatalf("err = %v", err)
	}
}

func TestBlockAndIsolate(t *testing.T) {
	n, ts := cluster(t)
	n.SetMode(FailFast)
	n.Block("a", "b")
	if err := call(t, ts["a"], "b", time.Second); !errors.Is(err, ErrUnreachable) {
		t.Fatalf("a->b blocked: err = %v", err)
	}
	// b's request reaches a but the response a->b is lost.
	if err := call(t, ts["b"], "a", time.Second); !errors.Is(err, ErrUnreachable) {
		t.Fatalf("b->a response blocked: err = %v", err)
	}
	if err := call(t, ts["a"], "c", time.Second); err != nil {
		t.Fatalf("a->c: %v", err)
	}
	n.Unblock("a", "b")
	if err := call(t, ts["a"], "b", time.Second); err != nil {
		t.Fatalf("after Unblock: %v", err)
	}
	n.Isolate("c")
	for _, from := range []string{"a", "b"} {
		if err := call(t, ts[from], "c", time.Second); !errors.Is(err, ErrUnreachable) {
			t.Fatalf("%s->c isolated: err = %v", from, err)
		}
	}
	if err := call(t, ts["c"], "a", time.Second); !errors.Is(err, ErrUnreachable) {
		t.Fatalf("c->a isolated: err = %v", err)
	}
	n.Heal()
	if err := call(t, ts["c"], "a", time.Second); err != nil {
		t.Fatalf("after Heal: %v", err)
	}
}

// outcomes runs calls a->b one after another on a fresh network and
// records which succeed.
func outcomes(t *testing.T, seed uint64, faults Faults, calls int) []bool {
	t.Helper()
	n := New(seed)
	n.SetMode(FailFast)
	a, b := n.Transport("a"), n.Transport("b")
	defer a.Close()
	defer b.Close()
	b.Listen("b", echo)
	n.SetLinkFaults("a", "b", faults)
	// Noise on another link must not change a->b's faults.
	c := n.Transport("c")
	defer c.Close()
	n.SetLinkFaults("c", "b", Faults{Drop: 0.5})
	var out []bool
	for i := range calls {
		if i%3 == 0 {
			c.Call(timeout(t, time.Second), "b", &wire.Ping{})
		}
		err := call(t, a, "b", time.Second)
		if err != nil && !errors.Is(err, ErrUnreachable) {
			t.Fatal(err)
		}
		out = append(out, err == nil)
	}
	return out
}

func TestDropIsSeededAndDeterministic(t *testing.T) {
	const calls = 400
	faults := Faults{Drop: 0.3}
	first := outcomes(t, *seedFlag, faults, calls)
	ok := 0
	for _, o := range first {
		if o {
			ok++
		}
	}
	if ok < calls*55/100 || ok > calls*85/100 {
		t.Fatalf("%d of %d calls succeeded with 30%% drop (seed %d)", ok, calls, *seedFlag)
	}
	again := outcomes(t, *seedFlag, faults, calls)
	if fmt.Sprint(first) != fmt.Sprint(again) {
		t.Fatalf("same seed %d, different drops", *seedFlag)
	}
	other := outcomes(t, *seedFlag+1, faults, calls)
	if fmt.Sprint(first) == fmt.Sprint(other) {
		t.Fatalf("seeds %d and %d dropped the same calls", *seedFlag, *seedFlag+1)
	}
	for _, o := range outcomes(t, *seedFlag, Faults{Drop: 1}, 20) {
		if o {
			t.Fatal("a call survived Drop: 1")
		}
	}
}

func TestDropBlackholesUntilDeadline(t *testing.T) {
	n, ts := cluster(t)
	n.SetLinkFaults("b", "a", Faults{Drop: 1}) // responses to a are lost
	start := time.Now()
	if err := call(t, ts["a"], "b", 30*time.Millisecond); err != context.DeadlineExceeded {
		t.Fatalf("err = %v, want DeadlineExceeded", err)
	}
	if time.Since(start) < 30*time.Millisecond {
		t.Fatal("returned before the deadline")
	}
}

func TestDelay(t *testing.T) {
	n, ts := cluster(t)
	n.SetLinkFaults("a", "b", Faults{Delay: 20 * time.Millisecond, Jitter: 10 * time.Millisecond})
	n.SetLinkFaults("b", "a", Faults{Delay: 20 * time.Millisecond})
	start := time.Now()
	if err := call(t, ts["a"], "b", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 40*time.Millisecond {
		t.Fatalf("round trip took %v, want at least 40ms of delay", d)
	}
	// A deadline shorter than the delay ends the call.
	if err := call(t, ts["a"], "b", 5*time.Millisecond); err != context.DeadlineExceeded {
		t.Fatalf("err = %v, want DeadlineExceeded", err)
	}
	// Other links are unaffected; SetDefaultFaults covers them.
	n.SetDefaultFaults(Faults{Delay: 15 * time.Millisecond})
	start = time.Now()
	if err := call(t, ts["c"], "b", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 30*time.Millisecond {
		t.Fatalf("default faults: round trip took %v", d)
	}
}

func TestOnCall(t *testing.T) {
	n, ts := cluster(t)
	errInjected := errors.New("injected")
	var seen atomic.Int64
	n.OnCall(func(from, to string, req wire.Message) error {
		seen.Add(1)
		if r, ok := req.(*wire.ReadRequest); ok && to == "b" && bytes.Equal(r.Keys[0], []byte("fail")) {
			return errInjected
		}
		return nil
	})
	_, err := ts["a"].Call(timeout(t, time.Second), "b", &wire.ReadRequest{Keys: [][]byte{[]byte("fail")}})
	if err != errInjected {
		t.Fatalf("err = %v, want the hook's error", err)
	}
	if _, err := ts["a"].Call(timeout(t, time.Second), "c", &wire.ReadRequest{Keys: [][]byte{[]byte("fail")}}); err != nil {
		t.Fatal(err)
	}
	if err := call(t, ts["a"], "b", time.Second); err != nil {
		t.Fatal(err)
	}
	n.OnCall(nil)
	if _, err := ts["a"].Call(timeout(t, time.Second), "b", &wire.ReadRequest{Keys: [][]byte{[]byte("fail")}}); err != nil {
		t.Fatalf("after removing the hook: %v", err)
	}
	if seen.Load() != 3 {
		t.Fatalf("hook saw %d calls, want 3", seen.Load())
	}
}

func TestClose(t *testing.T) {
	n, ts := cluster(t)
	n.Partition([]string{"a"}, []string{"b"})
	errc := make(chan error, 1)
	go func() {
		_, err := ts["a"].Call(context.Background(), "b", &wire.Ping{}) // blackholed, no deadline
		errc <- err
	}()
	// Close must release the blackholed call, whenever it got there.
	ts["a"].Close()
	if err := <-errc; !errors.Is(err, transport.ErrClosed) {
		t.Fatalf("err = %v, want ErrClosed", err)
	}
	if err := call(t, ts["a"], "b", time.Second); !errors.Is(err, transport.ErrClosed) {
		t.Fatalf("after Close: err = %v", err)
	}
	if _, err := ts["a"].Listen("x", echo); !errors.Is(err, transport.ErrClosed) {
		t.Fatalf("Listen after Close: err = %v", err)
	}
	if err := ts["a"].Close(); err != nil {
		t.Fatal(err)
	}
	// The closed endpoint's address is free again.
	n.Heal()
	a2 := n.Transport("a")
	defer a2.Close()
	if _, err := a2.Listen("a", echo); err != nil {
		t.Fatal(err)
	}
	if err := call(t, ts["b"], "a", time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := a2.Listen("b", echo); !errors.Is(err, ErrAddrInUse) {
		t.Fatalf("err = %v, want ErrAddrInUse", err)
	}
}

func TestFrameTooLarge(t *testing.T) {
	n, ts := cluster(t)
	n.SetMaxFrameSize(1 << 10)
	_, err := ts["a"].Call(timeout(t, time.Second), "b", &wire.ReadRequest{Keys: [][]byte{make([]byte, 2<<10)}})
	if !errors.Is(err, transport.ErrFrameTooLarge) {
		t.Fatalf("err = %v, want ErrFrameTooLarge", err)
	}
}
