package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"kvstore/node/wire"
)

// TCP is the Transport over TCP. It is safe for concurrent use. See the
// package documentation for connections, handshake and shutdown.
type TCP struct {
	cfg    Config
	cfgErr error // from cfg.Validate; returned by Call and Listen
	log    *slog.Logger

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // every goroutine the transport starts

	closeOnce sync.Once

	mu struct {
		sync.Mutex
		closed    bool
		listeners map[net.Listener]struct{}
		peers     map[string]*peer      // by address, for Call
		conns     map[*conn]struct{}    // established connections, both directions
		raw       map[net.Conn]struct{} // connections still in the handshake
	}

	stats struct {
		dials, dialErrors, handshakeFailures, accepted atomic.Uint64
	}
}

var _ Transport = (*TCP)(nil)

// NewTCP returns a TCP transport. It does not fail: if cfg does not pass
// Validate (after defaults are applied to zero fields), Call and Listen
// return the validation error.
func NewTCP(cfg Config) *TCP {
	cfg = cfg.withDefaults()
	t := &TCP{cfg: cfg, cfgErr: cfg.Validate(), log: cfg.Logger}
	t.ctx, t.cancel = context.WithCancel(context.Background())
	t.mu.listeners = make(map[net.Listener]struct{})
	t.mu.peers = make(map[string]*peer)
	t.mu.conns = make(map[*conn]struct{})
	t.mu.raw = make(map[net.Conn]struct{})
	return t
}

// Stats are counters of a TCP transport.
type Stats struct {
	Conns             int    // established connections, both directions
	Dials             uint64 // connection attempts
	DialErrors        uint64 // failed attempts, handshake failures included
	Accepted          uint64 // connections accepted
	HandshakeFailures uint64 // failed handshakes, either side
}

// Stats returns current counters.
func (t *TCP) Stats() Stats {
	t.mu.Lock()
	n := len(t.mu.conns)
	t.mu.Unlock()
	return Stats{
		Conns:             n,
		Dials:             t.stats.dials.Load(),
		DialErrors:        t.stats.dialErrors.Load(),
		Accepted:          t.stats.accepted.Load(),
		HandshakeFailures: t.stats.handshakeFailures.Load(),
	}
}

// goLocked starts f in a goroutine owned by t. The caller holds t.mu and
// has checked that t is not closed.
func (t *TCP) goLocked(f func()) {
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		f()
	}()
}

// Listen implements Transport.
func (t *TCP) Listen(addr string, h Handler) (net.Addr, error) {
	if t.cfgErr != nil {
		return nil, t.cfgErr
	}
	if h == nil {
		return nil, errors.New("transport: Listen with a nil handler")
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("transport: listen: %w", err)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.mu.closed {
		ln.Close()
		return nil, ErrClosed
	}
	t.mu.listeners[ln] = struct{}{}
	t.goLocked(func() { t.acceptLoop(ln, h) })
	return ln.Addr(), nil
}

func (t *TCP) acceptLoop(ln net.Listener, h Handler) {
	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if t.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			// Resource exhaustion (EMFILE and the like): back off and retry.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			t.log.Warn("transport: accept failed", "addr", ln.Addr(), "err", err, "retry_in", backoff)
			select {
			case <-time.After(backoff):
				continue
			case <-t.ctx.Done():
				return
			}
		}
		backoff = 0
		t.stats.accepted.Add(1)
		if !t.trackRaw(nc) {
			nc.Close()
			return
		}
		t.wg.Add(1) // this goroutine holds a count, so Add cannot race Wait
		go func() {
			defer t.wg.Done()
			t.serveConn(nc, h)
		}()
	}
}

// trackRaw registers a connection in the handshake so Close can abort it.
// It returns false if the transport is closed.
func (t *TCP) trackRaw(nc net.Conn) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.mu.closed {
		return false
	}
	t.mu.raw[nc] = struct{}{}
	return true
}

func (t *TCP) untrackRaw(nc net.Conn) {
	t.mu.Lock()
	delete(t.mu.raw, nc)
	t.mu.Unlock()
}

// serveConn authenticates an accepted connection and serves its requests
// until it fails.
func (t *TCP) serveConn(nc net.Conn, h Handler) {
	_ = nc.SetDeadline(time.Now().Add(t.cfg.HandshakeTimeout))
	res, err := serverHandshake(nc, t.cfg.Secret, t.cfg.Name, ourVersions)
	t.untrackRaw(nc)
	if err != nil {
		t.stats.handshakeFailures.Add(1)
		t.log.Warn("transport: rejected connection", "remote", nc.RemoteAddr(), "err", err)
		nc.Close()
		return
	}
	_ = nc.SetDeadline(time.Time{})
	c := newConn(t, nc, nc.RemoteAddr().String(), res, h)
	if !t.startConn(c, false) {
		return
	}
	c.serverReadLoop()
}

// startConn registers c and, for a dialed connection, starts its writer
// and its reader (an accepted one is served by serveConn's goroutine). It
// returns false, closing c, if the transport is closed.
func (t *TCP) startConn(c *conn, dialed bool) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.mu.closed {
		c.nc.Close()
		return false
	}
	t.mu.conns[c] = struct{}{}
	if dialed {
		t.goLocked(c.writeLoop)
		t.goLocked(c.clientReadLoop)
	}
	return true
}

func (t *TCP) removeConn(c *conn) {
	t.mu.Lock()
	delete(t.mu.conns, c)
	t.mu.Unlock()
}

// peer holds the connection slots for one address.
type peer struct {
	next  atomic.Uint32
	slots []slot
}

// slot is one connection to a peer, dialed on demand.
type slot struct {
	mu      sync.Mutex // guards c and dialing
	c       *conn
	dialing *dialAttempt // non-nil while a dial is in progress
}

type dialAttempt struct {
	done chan struct{} // closed when c and err are set
	c    *conn
	err  error
}

func (t *TCP) peer(addr string) (*peer, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.mu.closed {
		return nil, ErrClosed
	}
	p := t.mu.peers[addr]
	if p == nil {
		p = &peer{slots: make([]slot, t.cfg.ConnsPerPeer)}
		t.mu.peers[addr] = p
	}
	return p, nil
}

// slot returns the connection slot of addr that the next call uses
// (round-robin).
func (t *TCP) slot(addr string) (*slot, error) {
	p, err := t.peer(addr)
	if err != nil {
		return nil, err
	}
	return &p.slots[int(p.next.Add(1))%len(p.slots)], nil
}

// live returns the slot's connection if it is up, else nil.
func (s *slot) live() *conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.c != nil && s.c.alive() {
		return s.c
	}
	return nil
}

// getConn returns a live connection to addr, dialing one if its slot has
// none. Concurrent callers of one slot share a dial.
func (t *TCP) getConn(ctx context.Context, addr string) (*conn, error) {
	s, err := t.slot(addr)
	if err != nil {
		return nil, err
	}
	for {
		s.mu.Lock()
		if s.c != nil && s.c.alive() {
			c := s.c
			s.mu.Unlock()
			return c, nil
		}
		if a := s.dialing; a != nil {
			s.mu.Unlock()
			select {
			case <-a.done:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			if a.err == nil {
				continue
			}
			// A dial cut short by its caller's context says nothing about
			// the peer: try again with ours.
			if errors.Is(a.err, context.Canceled) || errors.Is(a.err, context.DeadlineExceeded) {
				if ctx.Err() != nil {
					return nil, ctx.Err()
				}
				continue
			}
			return nil, a.err
		}
		a := &dialAttempt{done: make(chan struct{})}
		s.dialing = a
		s.mu.Unlock()

		a.c, a.err = t.dial(ctx, addr)
		s.mu.Lock()
		s.dialing = nil
		if a.err == nil {
			s.c = a.c
		}
		s.mu.Unlock()
		close(a.done)
		return a.c, a.err
	}
}

// dial connects to addr and runs the client handshake, within ctx, the
// dial and handshake timeouts, and the transport's lifetime.
func (t *TCP) dial(ctx context.Context, addr string) (*conn, error) {
	t.stats.dials.Add(1)
	c, err := t.dialConn(ctx, addr)
	if err != nil {
		t.stats.dialErrors.Add(1)
		if cerr := ctx.Err(); cerr != nil {
			return nil, cerr
		}
		// The connection deadline is the context's and may fire first.
		if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
			return nil, context.DeadlineExceeded
		}
		if t.ctx.Err() != nil {
			return nil, ErrClosed
		}
	}
	return c, err
}

func (t *TCP) dialConn(ctx context.Context, addr string) (*conn, error) {
	dctx, cancel := context.WithTimeout(ctx, t.cfg.DialTimeout)
	defer cancel()
	stop := context.AfterFunc(t.ctx, cancel)
	defer stop()
	var d net.Dialer
	nc, err := d.DialContext(dctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("transport: dial %s: %w", addr, err)
	}
	if !t.trackRaw(nc) {
		nc.Close()
		return nil, ErrClosed
	}
	deadline := time.Now().Add(t.cfg.HandshakeTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	_ = nc.SetDeadline(deadline)
	// Cancelling ctx aborts the handshake by expiring the deadline.
	stopAbort := context.AfterFunc(ctx, func() { _ = nc.SetDeadline(time.Unix(1, 0)) })
	res, err := clientHandshake(nc, t.cfg.Secret, t.cfg.Name, ourVersions)
	aborted := !stopAbort()
	t.untrackRaw(nc)
	if err == nil && aborted {
		err = ctx.Err()
	}
	if err != nil {
		t.stats.handshakeFailures.Add(1)
		nc.Close()
		return nil, fmt.Errorf("transport: connecting to %s: %w", addr, err)
	}
	_ = nc.SetDeadline(time.Time{})
	c := newConn(t, nc, addr, res, nil)
	if !t.startConn(c, true) {
		return nil, ErrClosed
	}
	return c, nil
}

// Call implements Transport.
func (t *TCP) Call(ctx context.Context, addr string, req wire.Message) (wire.Message, error) {
	fb, err := t.encode(ctx, addr, req)
	if err != nil {
		return nil, err
	}
	return t.send(ctx, addr, fb)
}

// Go implements Transport. When the slot's connection is up and below its
// limit of requests in flight, the request is queued to its writer and the
// connection's reader calls done; otherwise (dialing, or waiting for a free
// slot) a goroutine does what Call does.
func (t *TCP) Go(ctx context.Context, addr string, req wire.Message, done func(wire.Message, error)) {
	fb, err := t.encode(ctx, addr, req)
	if err != nil {
		done(nil, err)
		return
	}
	if s, err := t.slot(addr); err == nil {
		if c := s.live(); c != nil && c.start(ctx, fb, done) {
			return
		}
	}
	t.mu.Lock()
	closed := t.mu.closed
	if !closed {
		t.goLocked(func() { done(t.send(ctx, addr, fb)) })
	}
	t.mu.Unlock()
	if closed {
		putBuf(fb)
		done(nil, ErrClosed)
	}
}

// encode checks that a call can start and returns req's frame, in a pooled
// buffer.
func (t *TCP) encode(ctx context.Context, addr string, req wire.Message) (*[]byte, error) {
	if t.cfgErr != nil {
		return nil, t.cfgErr
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	fb := getBuf(0)
	frame, err := wire.AppendFrame(*fb, 0, 0, req)
	if err != nil {
		putBuf(fb)
		return nil, fmt.Errorf("transport: call %s: %w", addr, err)
	}
	*fb = frame
	if n := wire.FrameLen(frame); n > t.cfg.MaxFrameSize {
		putBuf(fb)
		return nil, fmt.Errorf("transport: call %s: %w: %v request of %d bytes, limit %d",
			addr, ErrFrameTooLarge, req.Type(), n, t.cfg.MaxFrameSize)
	}
	return fb, nil
}

// send sends the encoded request fb, which it takes, and waits for the
// response.
func (t *TCP) send(ctx context.Context, addr string, fb *[]byte) (wire.Message, error) {
	for {
		c, err := t.getConn(ctx, addr)
		if err != nil {
			putBuf(fb)
			return nil, err
		}
		resp, err, sent := c.roundTrip(ctx, fb)
		if sent {
			return resp, err
		}
		// The connection closed before the request was queued: nothing
		// was sent, so another connection may carry it.
		if err := ctx.Err(); err != nil {
			putBuf(fb)
			return nil, err
		}
	}
}

// Close implements Transport.
func (t *TCP) Close() error {
	t.closeOnce.Do(func() {
		t.mu.Lock()
		t.mu.closed = true
		var conns []*conn
		for c := range t.mu.conns {
			conns = append(conns, c)
		}
		for ln := range t.mu.listeners {
			ln.Close()
		}
		for nc := range t.mu.raw {
			nc.Close()
		}
		t.mu.Unlock()
		// Connections close before the handlers' context is cancelled,
		// as in conn.fail.
		for _, c := range conns {
			c.fail(ErrClosed)
		}
		t.cancel()
		t.wg.Wait()
	})
	return nil
}

// readBody reads an n-byte frame body into a pooled buffer. Large bodies
// are read in growing chunks, so a peer that announces a large frame and
// stalls does not make us allocate all of it up front.
func readBody(r io.Reader, n int) (*[]byte, error) {
	const chunk = 1 << 20
	if n <= chunk {
		bp := getBuf(n)
		if _, err := io.ReadFull(r, *bp); err != nil {
			putBuf(bp)
			return nil, err
		}
		return bp, nil
	}
	b := make([]byte, 0, chunk)
	for len(b) < n {
		if len(b) == cap(b) {
			b = append(b, make([]byte, min(cap(b), n-len(b)))...)[:len(b)]
		}
		m, err := io.ReadFull(r, b[len(b):min(cap(b), n)])
		b = b[:len(b)+m]
		if err != nil {
			return nil, err
		}
	}
	return &b, nil
}
