// Package memnet is an in-process network of transport.Transport endpoints
// with fault injection, for deterministic tests of many nodes in one
// process.
//
//	n := memnet.New(seed)
//	a, b := n.Transport("a"), n.Transport("b")
//	b.Listen("b", handler)
//	resp, err := a.Call(ctx, "b", &wire.Ping{})
//	n.Partition([]string{"a"}, []string{"b", "c"})
//	n.SetLinkFaults("a", "c", memnet.Faults{Drop: 0.1, Delay: time.Millisecond})
//	n.Heal()
//
// Addresses are plain strings bound by Listen (usually the node's name).
// Faults are expressed between node names: the name given to Transport, and
// for a destination the name of the endpoint listening on the address.
//
// Every call goes through the wire encoding both ways (request and
// response are encoded to a frame and decoded into fresh messages), so
// tests catch encoding bugs and caller and handler never share memory.
// Handlers run in their own goroutine, as over TCP, with a context that is
// cancelled when the serving endpoint closes or its node is stopped.
//
// # Faults
//
// A call is two messages, the request (caller to destination) and the
// response (back), and each is subject to the faults of its direction:
//
//   - Partition, Block and Isolate make a direction unreachable. A message
//     on an unreachable direction is lost: in Blackhole mode (the default,
//     like a real partition) the call waits until its context ends; in
//     FailFast mode it fails at once with ErrUnreachable. A lost response
//     means the handler ran but the caller never hears of it.
//   - SetLinkFaults (or SetDefaultFaults for every link without its own)
//     drops each message with probability Drop, treated like an unreachable
//     direction, and delays it by Delay plus a uniform random part of
//     Jitter.
//   - Stop makes a node's addresses refuse calls (ErrRefused, like a
//     stopped process on a live host) and its own calls fail the same way;
//     calls it was serving fail with transport.ErrConnLost. Start undoes
//     it. A call to an address nobody listens on is refused too.
//   - OnCall runs a hook before each call; an error it returns fails the
//     call without sending anything.
//
// Drops and jitter come from one seeded random source per directed link,
// so a given sequence of calls on a link sees the same faults for the same
// seed whatever other links do. Delays use the real clock.
//
// # Concurrency
//
// Network and its transports are safe for concurrent use. The Network has
// no goroutines of its own; each transport owns the goroutines running its
// handlers, and its Close waits for them.
package memnet

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"net"
	"sync"
	"time"

	"kvstore/node/transport"
	"kvstore/node/wire"
)

// Errors returned by memnet transports besides transport.ErrClosed and
// transport.ErrConnLost. Callers test them with errors.Is.
var (
	// ErrRefused: nothing listens on the address, or its node (or the
	// caller's) is stopped.
	ErrRefused = errors.New("memnet: connection refused")
	// ErrUnreachable: the message was lost to a partition, block or drop,
	// in FailFast mode.
	ErrUnreachable = errors.New("memnet: host unreachable")
	// ErrAddrInUse: Listen on an address another open transport listens on.
	ErrAddrInUse = errors.New("memnet: address already in use")
)

// Mode selects what a call does when one of its messages is lost.
type Mode int

const (
	// Blackhole: the call waits until its context ends, as over a real
	// partition. The default.
	Blackhole Mode = iota
	// FailFast: the call fails at once with ErrUnreachable.
	FailFast
)

func (m Mode) String() string {
	switch m {
	case Blackhole:
		return "Blackhole"
	case FailFast:
		return "FailFast"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// Faults describe one direction of a link between two nodes.
type Faults struct {
	Drop   float64       // probability in [0, 1] that a message is lost
	Delay  time.Duration // added to every message
	Jitter time.Duration // plus a uniform random duration in [0, Jitter)
}

// Addr is the net.Addr of a memnet listener.
type Addr string

// Network returns "memnet".
func (Addr) Network() string { return "memnet" }

func (a Addr) String() string { return string(a) }

type link struct{ from, to string }

// Network is an in-process network. Create it with New.
type Network struct {
	seed uint64

	mu struct {
		sync.Mutex
		mode          Mode
		maxFrameSize  int
		listeners     map[string]*listener // by address
		nodes         map[string]*node     // by name; created on first use
		groups        map[string]int       // partition group by name; nil when not partitioned
		blocked       map[link]bool
		isolated      map[string]bool
		faults        map[link]Faults
		defaultFaults Faults
		rngs          map[link]*rand.Rand
		hook          func(from, to string, req wire.Message) error
	}
}

// node is the run state of one node name.
type node struct {
	stopped bool
	down    chan struct{}   // closed when the node is stopped
	ctx     context.Context // cancelled when the node is stopped
	cancel  context.CancelFunc
}

func newNode() *node {
	nd := &node{down: make(chan struct{})}
	nd.ctx, nd.cancel = context.WithCancel(context.Background())
	return nd
}

type listener struct {
	addr  string
	owner *endpoint
	h     transport.Handler
}

// New returns an empty network whose random faults derive from seed.
func New(seed uint64) *Network {
	n := &Network{seed: seed}
	n.mu.maxFrameSize = wire.DefaultMaxFrameSize
	n.mu.listeners = make(map[string]*listener)
	n.mu.nodes = make(map[string]*node)
	n.mu.blocked = make(map[link]bool)
	n.mu.isolated = make(map[string]bool)
	n.mu.faults = make(map[link]Faults)
	n.mu.rngs = make(map[link]*rand.Rand)
	return n
}

// Transport returns a new endpoint for the node called name. Its calls
// come from name, and the handlers it registers with Listen see name as
// the caller's identity on the other side. Several endpoints may share a
// name (a node restarted with a fresh transport, for example); faults and
// Stop apply to the name.
func (n *Network) Transport(name string) transport.Transport {
	e := &endpoint{net: n, name: name}
	e.ctx, e.cancel = context.WithCancel(context.Background())
	return e
}

// SetMode sets what calls do when a message is lost.
func (n *Network) SetMode(m Mode) {
	n.mu.Lock()
	n.mu.mode = m
	n.mu.Unlock()
}

// SetMaxFrameSize sets the frame size limit of every call (default
// wire.DefaultMaxFrameSize).
func (n *Network) SetMaxFrameSize(size int) {
	n.mu.Lock()
	n.mu.maxFrameSize = size
	n.mu.Unlock()
}

// Partition splits the nodes into groups that cannot reach each other. Nodes
// not named in any group form one more group together. It replaces any
// previous partition.
func (n *Network) Partition(groups ...[]string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.mu.groups = make(map[string]int)
	for i, g := range groups {
		for _, name := range g {
			n.mu.groups[name] = i
		}
	}
}

// Heal removes the partition, every Block and every Isolate. Link faults
// and stopped nodes stay.
func (n *Network) Heal() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.mu.groups = nil
	clear(n.mu.blocked)
	clear(n.mu.isolated)
}

// Block makes messages from one node to another unreachable (one
// direction: calls from to to from then lose their responses).
func (n *Network) Block(from, to string) {
	n.mu.Lock()
	n.mu.blocked[link{from, to}] = true
	n.mu.Unlock()
}

// Unblock undoes Block(from, to).
func (n *Network) Unblock(from, to string) {
	n.mu.Lock()
	delete(n.mu.blocked, link{from, to})
	n.mu.Unlock()
}

// Isolate cuts a node off from every other node, both directions, until
// Heal. Calls from a node to itself still work.
func (n *Network) Isolate(name string) {
	n.mu.Lock()
	n.mu.isolated[name] = true
	n.mu.Unlock()
}

// SetLinkFaults sets the faults of messages from one node to another. The
// zero Faults removes them (the link then uses the default faults).
func (n *Network) SetLinkFaults(from, to string, f Faults) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if f == (Faults{}) {
		delete(n.mu.faults, link{from, to})
		return
	}
	n.mu.faults[link{from, to}] = f
}

// SetDefaultFaults sets the faults of every link without its own.
func (n *Network) SetDefaultFaults(f Faults) {
	n.mu.Lock()
	n.mu.defaultFaults = f
	n.mu.Unlock()
}

// OnCall installs a hook run before every call, with the caller's name, the
// destination's name (or address, if nothing listens there) and the
// caller's private copy of the request, the one the handler will receive
// (the hook must not modify it). If it returns an error, the call fails with that
// error and nothing is sent. nil removes the hook. The hook runs in the
// caller's goroutine, concurrently with other calls.
func (n *Network) OnCall(hook func(from, to string, req wire.Message) error) {
	n.mu.Lock()
	n.mu.hook = hook
	n.mu.Unlock()
}

// Stop stops a node: calls to its addresses are refused, its own calls
// fail with ErrRefused, calls it is serving fail with
// transport.ErrConnLost and its handlers' contexts are cancelled.
func (n *Network) Stop(name string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	nd := n.nodeLocked(name)
	if nd.stopped {
		return
	}
	nd.stopped = true
	close(nd.down)
	nd.cancel()
}

// Start restarts a stopped node; its listeners serve again.
func (n *Network) Start(name string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if nd := n.nodeLocked(name); nd.stopped {
		n.mu.nodes[name] = newNode()
	}
}

func (n *Network) nodeLocked(name string) *node {
	nd := n.mu.nodes[name]
	if nd == nil {
		nd = newNode()
		n.mu.nodes[name] = nd
	}
	return nd
}

// reachableLocked reports whether messages from one node reach another.
func (n *Network) reachableLocked(from, to string) bool {
	if from == to {
		return true
	}
	if n.mu.blocked[link{from, to}] || n.mu.isolated[from] || n.mu.isolated[to] {
		return false
	}
	if n.mu.groups != nil {
		gf, ok := n.mu.groups[from]
		if !ok {
			gf = -1
		}
		gt, ok := n.mu.groups[to]
		if !ok {
			gt = -1
		}
		return gf == gt
	}
	return true
}

func (n *Network) rngLocked(l link) *rand.Rand {
	r := n.mu.rngs[l]
	if r == nil {
		h := fnv.New64a()
		h.Write([]byte(l.from))
		h.Write([]byte{0})
		h.Write([]byte(l.to))
		r = rand.New(rand.NewPCG(n.seed, h.Sum64()))
		n.mu.rngs[l] = r
	}
	return r
}

// fate decides what happens to one message from one node to another.
func (n *Network) fate(from, to string) (lost bool, delay time.Duration, mode Mode) {
	n.mu.Lock()
	defer n.mu.Unlock()
	mode = n.mu.mode
	if !n.reachableLocked(from, to) {
		return true, 0, mode
	}
	f, ok := n.mu.faults[link{from, to}]
	if !ok {
		f = n.mu.defaultFaults
	}
	if f.Drop > 0 && n.rngLocked(link{from, to}).Float64() < f.Drop {
		return true, 0, mode
	}
	delay = f.Delay
	if f.Jitter > 0 {
		delay += time.Duration(n.rngLocked(link{from, to}).Int64N(int64(f.Jitter)))
	}
	return false, delay, mode
}

// endpoint is a Transport on a Network.
type endpoint struct {
	net  *Network
	name string

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // handler goroutines and calls started with Go

	mu struct {
		sync.Mutex
		closed bool
		addrs  []string
	}
}

var _ transport.Transport = (*endpoint)(nil)

// Listen implements transport.Transport. An empty addr means the
// endpoint's name.
func (e *endpoint) Listen(addr string, h transport.Handler) (net.Addr, error) {
	if h == nil {
		return nil, errors.New("memnet: Listen with a nil handler")
	}
	if addr == "" {
		addr = e.name
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.mu.closed {
		return nil, transport.ErrClosed
	}
	n := e.net
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, ok := n.mu.listeners[addr]; ok {
		return nil, fmt.Errorf("%w: %s", ErrAddrInUse, addr)
	}
	n.mu.listeners[addr] = &listener{addr: addr, owner: e, h: h}
	e.mu.addrs = append(e.mu.addrs, addr)
	return Addr(addr), nil
}

// Close implements transport.Transport.
func (e *endpoint) Close() error {
	e.mu.Lock()
	if e.mu.closed {
		e.mu.Unlock()
		return nil
	}
	e.mu.closed = true
	n := e.net
	n.mu.Lock()
	for _, a := range e.mu.addrs {
		delete(n.mu.listeners, a)
	}
	n.mu.Unlock()
	e.mu.Unlock()
	e.cancel()
	e.wg.Wait()
	return nil
}

// copyMessage passes m through the wire encoding.
func copyMessage(m wire.Message, flags wire.Flags, maxFrameSize int) (wire.Message, error) {
	frame, err := wire.AppendFrame(nil, 1, flags, m)
	if err != nil {
		return nil, err
	}
	if wire.FrameLen(frame) > maxFrameSize {
		return nil, fmt.Errorf("%w: %v of %d bytes, limit %d", transport.ErrFrameTooLarge, m.Type(), wire.FrameLen(frame), maxFrameSize)
	}
	_, out, err := wire.DecodeFrame(frame, maxFrameSize)
	return out, err
}

// Go implements transport.Transport: Call in a goroutine of the endpoint.
func (e *endpoint) Go(ctx context.Context, addr string, req wire.Message, done func(wire.Message, error)) {
	e.mu.Lock()
	closed := e.mu.closed
	if !closed {
		e.wg.Add(1)
	}
	e.mu.Unlock()
	if closed {
		done(nil, transport.ErrClosed)
		return
	}
	go func() {
		defer e.wg.Done()
		done(e.Call(ctx, addr, req))
	}()
}

// Call implements transport.Transport.
func (e *endpoint) Call(ctx context.Context, addr string, req wire.Message) (wire.Message, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if e.ctx.Err() != nil {
		return nil, transport.ErrClosed
	}
	n := e.net
	n.mu.Lock()
	maxSize := n.mu.maxFrameSize
	hook := n.mu.hook
	to := addr
	if l := n.mu.listeners[addr]; l != nil {
		to = l.owner.name
	}
	caller := n.nodeLocked(e.name)
	callerStopped := caller.stopped
	n.mu.Unlock()

	if callerStopped {
		return nil, fmt.Errorf("%w: %s is stopped", ErrRefused, e.name)
	}
	in, err := copyMessage(req, 0, maxSize)
	if err != nil {
		return nil, fmt.Errorf("memnet: call %s: %w", addr, err)
	}
	if hook != nil {
		if err := hook(e.name, to, in); err != nil {
			return nil, err
		}
	}

	// The request travels.
	if err := e.travel(ctx, e.name, to); err != nil {
		return nil, err
	}

	// It arrives, if something is listening and running.
	n.mu.Lock()
	l := n.mu.listeners[addr]
	var dest *node
	stopped := true
	if l != nil {
		dest = n.nodeLocked(l.owner.name)
		stopped = dest.stopped
	}
	n.mu.Unlock()
	if stopped {
		return nil, fmt.Errorf("%w: %s", ErrRefused, addr)
	}
	done, ok := l.owner.serve(dest, l.h, e.name, in)
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrRefused, addr)
	}
	var resp wire.Message
	select {
	case resp = <-done:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-e.ctx.Done():
		return nil, transport.ErrClosed
	case <-dest.down:
		return nil, fmt.Errorf("%w: %s stopped", transport.ErrConnLost, to)
	case <-caller.down:
		return nil, fmt.Errorf("%w: %s stopped", transport.ErrConnLost, e.name)
	case <-l.owner.ctx.Done():
		return nil, fmt.Errorf("%w: %s closed", transport.ErrConnLost, to)
	}
	// A reply that raced a stop is not sent: Stop closes down before it
	// cancels the handlers, so a handler ended by the stop is seen here.
	select {
	case <-dest.down:
		return nil, fmt.Errorf("%w: %s stopped", transport.ErrConnLost, to)
	case <-caller.down:
		return nil, fmt.Errorf("%w: %s stopped", transport.ErrConnLost, e.name)
	default:
	}
	out, err := copyMessage(resp, wire.FlagResponse, maxSize)
	if err != nil {
		code := wire.CodeInternal
		if errors.Is(err, transport.ErrFrameTooLarge) {
			code = wire.CodeTooLarge
		}
		out = &wire.ErrorResponse{Code: code, Message: err.Error()}
	}

	// The response travels back.
	if err := e.travel(ctx, to, e.name); err != nil {
		return nil, err
	}
	return transport.ResponseResult(addr, out)
}

// travel subjects one message from one node to another to the network's
// faults: it returns once the message is delivered, or an error if it is
// lost (at once in FailFast mode, when ctx ends in Blackhole mode) or the
// caller's transport closes.
func (e *endpoint) travel(ctx context.Context, from, to string) error {
	lost, delay, mode := e.net.fate(from, to)
	if lost {
		if mode == FailFast {
			return fmt.Errorf("%w: %s -> %s", ErrUnreachable, from, to)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-e.ctx.Done():
			return transport.ErrClosed
		}
	}
	if delay > 0 {
		timer := time.NewTimer(delay)
		defer timer.Stop()
		select {
		case <-timer.C:
		case <-ctx.Done():
			return ctx.Err()
		case <-e.ctx.Done():
			return transport.ErrClosed
		}
	}
	return nil
}

// serve runs h for one request in a goroutine owned by e, with a context
// cancelled when e closes or the node stops. The response (an
// ErrorResponse for a handler error) arrives on the returned channel. It
// returns false if e is closed.
func (e *endpoint) serve(nd *node, h transport.Handler, from string, req wire.Message) (<-chan wire.Message, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.mu.closed {
		return nil, false
	}
	done := make(chan wire.Message, 1)
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		ctx, cancel := context.WithCancel(e.ctx)
		defer cancel()
		stop := context.AfterFunc(nd.ctx, cancel)
		defer stop()
		done <- transport.Dispatch(ctx, h, from, req)
	}()
	return done, true
}
