// Package gossiptest provides an in-process network for running real
// memberlist (and so gossip) clusters in tests.
//
// It is built on memberlist.MockNetwork and fixes two problems that make a
// bare MockNetwork hang in clusters that run for more than a moment:
//
//   - MockNetwork's channels are unbuffered, so a send blocks until the
//     receiver reads. Memberlist answers pings on its packet-reading
//     goroutine, so two nodes acking each other's pings at the same moment
//     deadlock, and once a node shuts down every peer sending to it blocks
//     forever. Network gives each transport an inbound buffer that drops
//     packets when full, like a UDP socket, and a shut-down transport
//     discards packets and closes streams, as a dead host would.
//   - MockNetwork's address maps are not synchronized. Create every
//     transport (Transport) before starting any node; a name cannot be
//     reused (no restarts under the same name).
//
// Usage:
//
//	nw := gossiptest.NewNetwork()
//	defer nw.Close() // after every node has shut down
//	t1, t2 := nw.Transport("n1"), nw.Transport("n2")
//	cfg.Transport = t1 // gossip.Config or memberlist.Config
package gossiptest

import (
	"net"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/memberlist"
)

// Inbound buffers of each transport: packets beyond packetBuffer are
// dropped and streams beyond streamBacklog refused.
const (
	packetBuffer  = 1024
	streamBacklog = 64
)

// Network is an in-process network of memberlist transports. Transport is
// not safe to call once a node using the network runs; Close is safe for
// concurrent use and idempotent.
type Network struct {
	mn   memberlist.MockNetwork
	stop chan struct{}
	once sync.Once
	wg   sync.WaitGroup
}

// NewNetwork returns an empty network.
func NewNetwork() *Network {
	return &Network{stop: make(chan struct{})}
}

// Transport returns a new transport for the node called name, with a
// unique 127.0.0.1:N address. Names must be unique within the network, and
// all transports must be created before any node starts.
func (n *Network) Transport(name string) memberlist.NodeAwareTransport {
	t := &transport{
		MockTransport: n.mn.NewTransport(name),
		packets:       make(chan *memberlist.Packet, packetBuffer),
		streams:       make(chan net.Conn, streamBacklog),
		stop:          n.stop,
	}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		t.pump()
	}()
	return t
}

// Close stops the network's goroutines and waits for them. Call it after
// every node using the network has shut down.
func (n *Network) Close() {
	n.once.Do(func() { close(n.stop) })
	n.wg.Wait()
}

// transport is a MockTransport with a dropping inbound buffer.
type transport struct {
	*memberlist.MockTransport
	packets chan *memberlist.Packet
	streams chan net.Conn
	stop    <-chan struct{}
	dead    atomic.Bool
}

var _ memberlist.NodeAwareTransport = (*transport)(nil)

// pump moves inbound packets and streams from the MockTransport's
// unbuffered channels to the node, never blocking a sender for long.
func (t *transport) pump() {
	for {
		select {
		case p := <-t.MockTransport.PacketCh():
			if t.dead.Load() {
				continue
			}
			select {
			case t.packets <- p:
			default: // buffer full: dropped, as UDP would
			}
		case c := <-t.MockTransport.StreamCh():
			if t.dead.Load() {
				_ = c.Close()
				continue
			}
			select {
			case t.streams <- c:
			default: // backlog full: refused
				_ = c.Close()
			}
		case <-t.stop:
			return
		}
	}
}

// PacketCh implements memberlist.Transport.
func (t *transport) PacketCh() <-chan *memberlist.Packet { return t.packets }

// StreamCh implements memberlist.Transport.
func (t *transport) StreamCh() <-chan net.Conn { return t.streams }

// Shutdown implements memberlist.Transport: from now on the transport
// discards what is sent to it.
func (t *transport) Shutdown() error {
	t.dead.Store(true)
	return nil
}
