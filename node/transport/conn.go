package transport

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"kvstore/node/wire"
)

var errProtocol = errors.New("transport: protocol violation")

// conn is one authenticated connection. A dialed conn sends requests and
// reads responses (clientReadLoop), and its requests are written by
// writeLoop, so that a caller never waits for a peer's socket. An accepted
// conn reads requests and sends responses (serverReadLoop); a response is
// written by the goroutine that produced it unless another one is writing
// already (respond), which saves a goroutine switch per response.
type conn struct {
	t       *TCP
	nc      net.Conn
	addr    string // the dialed address, or the remote address of an accepted conn
	peer    string // the peer's node name
	version uint16 // negotiated protocol version
	handler Handler
	maxSize int

	br  *bufio.Reader // read loop only
	bw  *bufio.Writer // the writer only (writeLoop, or respond's writer)
	hdr [wire.HeaderSize]byte

	ctx    context.Context // handlers' context; cancelled by fail
	cancel context.CancelFunc

	sem    chan struct{} // in-flight slots
	wake   chan struct{} // dialed conns, capacity 1: the queue is not empty
	done   chan struct{} // closed by fail
	nextID atomic.Uint64

	mu struct {
		sync.Mutex
		closed  bool
		err     error            // why the conn failed
		queue   []outFrame       // frames for the writer
		spare   []outFrame       // the writer's last batch, recycled as the queue
		writing bool             // accepted conns: a goroutine is writing the queue
		pending map[uint64]*call // dialed conns: calls waiting for a response
	}
}

// outFrame is an encoded frame queued for the writer, which returns buf to
// the pool once written. release frees an in-flight slot after the write
// (responses on accepted conns).
type outFrame struct {
	buf     *[]byte
	release bool
}

// call is one request waiting for its response: a caller of roundTrip
// waiting on ch, or a callback (start).
type call struct {
	ch chan result // capacity 1; exactly one result is sent per use
	// done, when set, gets the response instead of ch, from the reader
	// (or from fail, or from the watch of the caller's context, which stop
	// ends; whichever removes the call from pending calls done).
	done func(wire.Message, error)
	stop func() bool
}

type result struct {
	hdr  wire.Header
	body *[]byte
	err  error
}

var callPool = sync.Pool{New: func() any { return &call{ch: make(chan result, 1)} }}

func newConn(t *TCP, nc net.Conn, addr string, hs handshakeResult, h Handler) *conn {
	c := &conn{
		t:       t,
		nc:      nc,
		addr:    addr,
		peer:    hs.peer,
		version: hs.version,
		handler: h,
		maxSize: t.cfg.MaxFrameSize,
		br:      bufio.NewReaderSize(nc, 32<<10),
		bw:      bufio.NewWriterSize(nc, 32<<10),
		sem:     make(chan struct{}, t.cfg.MaxInFlightPerConn),
		wake:    make(chan struct{}, 1),
		done:    make(chan struct{}),
	}
	c.ctx, c.cancel = context.WithCancel(t.ctx)
	if h == nil {
		c.mu.pending = make(map[uint64]*call)
	}
	return c
}

func (c *conn) alive() bool {
	select {
	case <-c.done:
		return false
	default:
		return true
	}
}

// fail closes the connection once: it wakes the loops, cancels handlers
// and fails every pending call.
func (c *conn) fail(err error) {
	c.mu.Lock()
	if c.mu.closed {
		c.mu.Unlock()
		return
	}
	c.mu.closed = true
	c.mu.err = err
	pending := c.mu.pending
	c.mu.pending = nil
	queue := c.mu.queue
	c.mu.queue = nil
	c.mu.Unlock()

	// The socket closes before the handlers' context is cancelled, so a
	// handler woken by the cancellation cannot answer on it: its callers
	// see the connection lost, not a reply made of the cancellation.
	c.nc.Close()
	close(c.done)
	c.cancel()
	c.t.removeConn(c)
	for _, f := range queue {
		putBuf(f.buf)
	}
	callErr := ErrClosed
	if !errors.Is(err, ErrClosed) {
		callErr = fmt.Errorf("%w: %s: %v", ErrConnLost, c.addr, err)
		if c.t.ctx.Err() == nil {
			c.t.log.Debug("transport: connection closed", "addr", c.addr, "peer", c.peer, "err", err)
		}
	}
	for _, cl := range pending {
		if cl.done != nil {
			c.finish(cl, nil, callErr)
			continue
		}
		cl.ch <- result{err: callErr}
	}
}

// writeLoop writes the requests of a dialed conn as they are queued.
func (c *conn) writeLoop() {
	for {
		select {
		case <-c.wake:
		case <-c.done:
			return
		}
		if !c.writeQueued() {
			return
		}
	}
}

// respond queues a response frame of an accepted conn and, unless another
// goroutine is writing already, writes the queue until it is empty: that
// writer also sends the responses finished while it writes.
func (c *conn) respond(fb *[]byte) {
	c.mu.Lock()
	if c.mu.closed {
		c.mu.Unlock()
		putBuf(fb)
		<-c.sem
		return
	}
	c.mu.queue = append(c.mu.queue, outFrame{buf: fb, release: true})
	if c.mu.writing {
		c.mu.Unlock()
		return
	}
	c.mu.writing = true
	c.mu.Unlock()
	c.writeQueued()
}

// writeQueued writes queued frames until the queue is empty, batching
// whatever is queued into the buffered writer and flushing when nothing
// more is queued. Only one goroutine at a time calls it on a conn (the
// writer); finding the queue empty, it clears mu.writing in the same
// critical section, so a frame queued later finds no writer and its
// goroutine becomes the next one. It returns false if the connection
// failed.
func (c *conn) writeQueued() bool {
	for {
		c.mu.Lock()
		batch := c.mu.queue
		c.mu.queue = c.mu.spare[:0]
		if len(batch) == 0 {
			c.mu.spare = batch
			c.mu.writing = false
			c.mu.Unlock()
			return true
		}
		c.mu.Unlock()
		if c.t.cfg.WriteTimeout > 0 {
			_ = c.nc.SetWriteDeadline(time.Now().Add(c.t.cfg.WriteTimeout))
		}
		for i, f := range batch {
			_, err := c.bw.Write(*f.buf)
			putBuf(f.buf)
			batch[i] = outFrame{}
			if f.release {
				<-c.sem
			}
			if err != nil {
				for _, f := range batch[i+1:] {
					putBuf(f.buf)
				}
				c.fail(fmt.Errorf("write: %w", err))
				return false
			}
		}
		c.mu.Lock()
		c.mu.spare = batch
		more := len(c.mu.queue) > 0
		c.mu.Unlock()
		if !more {
			// Give goroutines that are about to queue a frame a chance to
			// join this write.
			runtime.Gosched()
			c.mu.Lock()
			more = len(c.mu.queue) > 0
			c.mu.Unlock()
		}
		if !more {
			if err := c.bw.Flush(); err != nil {
				c.fail(fmt.Errorf("write: %w", err))
				return false
			}
		}
	}
}

// readFrame reads one frame header and body. The body is a pooled buffer
// the caller must release.
func (c *conn) readFrame() (wire.Header, *[]byte, error) {
	if _, err := io.ReadFull(c.br, c.hdr[:]); err != nil {
		return wire.Header{}, nil, err
	}
	h, err := wire.ParseHeader(c.hdr[:], c.maxSize)
	if err != nil {
		return wire.Header{}, nil, err
	}
	body, err := readBody(c.br, h.BodyLen)
	if err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return wire.Header{}, nil, err
	}
	return h, body, nil
}

// roundTrip sends the encoded request fb and waits for its response. It
// takes ownership of fb unless it returns done == false, which means the
// connection closed before the request was queued (nothing was sent).
func (c *conn) roundTrip(ctx context.Context, fb *[]byte) (resp wire.Message, err error, done bool) {
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		putBuf(fb)
		return nil, ctx.Err(), true
	case <-c.done:
		return nil, nil, false
	}
	defer func() { <-c.sem }()

	cl := callPool.Get().(*call)
	id := c.nextID.Add(1)
	wire.SetFrameID(*fb, id)
	c.mu.Lock()
	if c.mu.closed {
		c.mu.Unlock()
		callPool.Put(cl)
		return nil, nil, false
	}
	c.mu.pending[id] = cl
	c.mu.queue = append(c.mu.queue, outFrame{buf: fb})
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}

	var res result
	select {
	case res = <-cl.ch:
	case <-ctx.Done():
		c.mu.Lock()
		_, waiting := c.mu.pending[id]
		delete(c.mu.pending, id)
		c.mu.Unlock()
		if !waiting {
			// The reader or fail took the call and is sending its result
			// (a send that cannot block): drain it so the call is reusable.
			res = <-cl.ch
			putBuf(res.body)
		}
		callPool.Put(cl)
		return nil, ctx.Err(), true
	}
	callPool.Put(cl)
	if res.err != nil {
		return nil, res.err, true
	}
	resp, err = c.response(res.hdr, res.body)
	return resp, err, true
}

// response decodes a response frame's body, which it releases.
func (c *conn) response(h wire.Header, body *[]byte) (wire.Message, error) {
	m, err := wire.DecodeBody(h.Type, *body)
	putBuf(body)
	if err != nil {
		return nil, fmt.Errorf("transport: bad response from %s: %w", c.addr, err)
	}
	return ResponseResult(c.addr, m)
}

// start sends the encoded request fb and calls done with its response
// (roundTrip without waiting). It takes ownership of fb unless it returns
// false, having sent nothing: the connection is closed or at its limit of
// requests in flight.
func (c *conn) start(ctx context.Context, fb *[]byte, done func(wire.Message, error)) bool {
	select {
	case c.sem <- struct{}{}:
	default:
		return false
	}
	cl := &call{done: done}
	id := c.nextID.Add(1)
	wire.SetFrameID(*fb, id)
	c.mu.Lock()
	if c.mu.closed {
		c.mu.Unlock()
		<-c.sem
		return false
	}
	c.mu.pending[id] = cl
	// Set before anyone can take the call from pending. AfterFunc runs
	// abandon in a goroutine of its own, so it cannot deadlock on c.mu.
	cl.stop = context.AfterFunc(ctx, func() { c.abandon(id, ctx.Err()) })
	c.mu.queue = append(c.mu.queue, outFrame{buf: fb})
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
	return true
}

// abandon fails the started call id with err (its context ended) unless
// its response or the connection's failure got to it first.
func (c *conn) abandon(id uint64, err error) {
	c.mu.Lock()
	cl := c.mu.pending[id]
	delete(c.mu.pending, id)
	c.mu.Unlock()
	if cl != nil {
		c.finish(cl, nil, err)
	}
}

// finish completes a started call that its caller took from pending:
// it stops the context watch, frees the in-flight slot and calls done.
func (c *conn) finish(cl *call, resp wire.Message, err error) {
	cl.stop()
	<-c.sem
	cl.done(resp, err)
}

// clientReadLoop reads responses and hands each to its waiting call.
func (c *conn) clientReadLoop() {
	for {
		h, body, err := c.readFrame()
		if err != nil {
			c.fail(err)
			return
		}
		if !h.Response() {
			putBuf(body)
			c.fail(fmt.Errorf("%w: request %v on a dialed connection", errProtocol, h.Type))
			return
		}
		c.mu.Lock()
		cl := c.mu.pending[h.ID]
		delete(c.mu.pending, h.ID)
		c.mu.Unlock()
		if cl == nil { // the caller gave up
			putBuf(body)
			continue
		}
		if cl.done != nil {
			resp, err := c.response(h, body)
			c.finish(cl, resp, err)
			continue
		}
		cl.ch <- result{hdr: h, body: body}
	}
}

// serverReadLoop reads requests and serves each in its own goroutine, at
// most MaxInFlightPerConn at a time, except those an InlineHandler answers
// at once: those it serves itself.
func (c *conn) serverReadLoop() {
	inline, _ := c.handler.(InlineHandler)
	for {
		select {
		case c.sem <- struct{}{}:
		case <-c.done:
			return
		}
		h, body, err := c.readFrame()
		if err != nil {
			c.fail(err)
			return
		}
		if h.Response() {
			putBuf(body)
			c.fail(fmt.Errorf("%w: response %v on an accepted connection", errProtocol, h.Type))
			return
		}
		req, err := wire.DecodeBody(h.Type, *body)
		putBuf(body)
		if err != nil {
			c.send(h, &wire.ErrorResponse{Code: wire.CodeBadRequest, Message: err.Error()})
			continue
		}
		if inline != nil {
			if resp, ok := dispatchInline(c.ctx, inline, c.peer, req); ok {
				c.send(h, resp)
				continue
			}
		}
		c.t.wg.Add(1) // this goroutine holds a count, so Add cannot race Wait
		go func() {
			defer c.t.wg.Done()
			c.send(h, Dispatch(c.ctx, c.handler, c.peer, req))
		}()
	}
}

// send encodes the response to the request with header h and sends it; the
// writer frees the request's in-flight slot once it is written.
func (c *conn) send(h wire.Header, resp wire.Message) {
	fb := getBuf(0)
	frame, err := wire.AppendFrame(*fb, h.ID, wire.FlagResponse, resp)
	if err == nil && wire.FrameLen(frame) > c.maxSize {
		err = fmt.Errorf("%w: %v response of %d bytes, limit %d", ErrFrameTooLarge, resp.Type(), wire.FrameLen(frame), c.maxSize)
	}
	if err != nil {
		code := wire.CodeInternal
		if errors.Is(err, ErrFrameTooLarge) {
			code = wire.CodeTooLarge
		}
		frame, err = wire.AppendFrame((*fb)[:0], h.ID, wire.FlagResponse,
			&wire.ErrorResponse{Code: code, Message: err.Error()})
		if err != nil { // cannot happen: an ErrorResponse always encodes
			panic(fmt.Sprintf("transport: encoding an error response: %v", err))
		}
	}
	*fb = frame
	c.respond(fb)
}
