// Package transport carries wire messages between nodes: request/response
// RPCs over persistent, authenticated TCP connections.
//
// A node uses the Transport interface: Call sends a request to a peer
// address and waits for its response; Go sends one and has a callback
// take the response, so a caller waiting for several peers needs no
// goroutine per peer; Listen serves requests from peers with a Handler. TCP implements it over the network; package memnet
// implements it in process, with fault injection, for tests.
//
//	t := transport.NewTCP(transport.Config{Secret: secret, Name: "node-a"})
//	defer t.Close()
//	addr, err := t.Listen("127.0.0.1:7946", handler)
//	...
//	resp, err := t.Call(ctx, "10.0.0.2:7946", &wire.ReadRequest{Keys: keys})
//	var re *transport.RemoteError
//	if errors.As(err, &re) && re.Code == wire.CodeNotOwner { ... }
//
// # Connections
//
// TCP keeps up to Config.ConnsPerPeer connections to each peer address,
// dialed lazily by the first call that needs one and redialed by a later
// call once it has failed; calls are spread over them round-robin. A
// connection carries requests one way: the dialing side sends requests, the
// accepting side answers. A dialed connection has a writer goroutine,
// which drains the queue of encoded requests into a buffered writer and
// flushes only when the queue is empty, so concurrent calls share write
// system calls (and a caller never waits for a peer's socket), and a
// reader goroutine. Many requests are in flight on one
// connection at once (at most Config.MaxInFlightPerConn); the reader
// matches each response to its waiting call by request id, or, for a
// call started with Go, decodes it and calls the callback itself (a Go call
// that finds no connection up, or its connection at the limit, runs as a
// Call in a goroutine of the transport instead). A call whose context ends
// returns ctx.Err() at once; its response, if it comes, is discarded. When a connection fails every call waiting on it fails with
// ErrConnLost: the request may or may not have been executed.
//
// On the accepting side the reader serves each request in its own goroutine
// with the Handler, bounded by MaxInFlightPerConn per connection (the reader
// stops reading while the limit is reached, so a fast client is held back
// by TCP flow control and memory stays bounded). A Handler that is also an
// InlineHandler is offered each request first, on the reader itself, and
// keeps the goroutine for requests it cannot answer at once. Responses go
// back in completion order: the goroutine that finishes one writes it,
// with every response queued meanwhile, unless another is writing already,
// which then takes it along; there is no writer goroutine to wake. The handler's context is
// cancelled when the connection or the transport closes. A handler error
// becomes an ErrorResponse (see ErrorResponseFor) that the caller receives
// as a *RemoteError.
//
// Frames are the wire package's frames. A frame whose length exceeds
// Config.MaxFrameSize is rejected before anything is allocated for it and
// closes the connection, as does any malformed header. A request body that
// does not decode, or has a type this node does not know, is answered with
// CodeBadRequest and the connection stays up.
//
// # Handshake
//
// Before any frame, the two ends of a new connection prove to each other
// that they know the cluster secret, without sending it, and agree on a
// protocol version. Integers are big-endian.
//
// ClientHello, dialer to acceptor, 41+n bytes:
//
//	offset  size  field
//	0       4     magic "KVTC"
//	4       2     lowest protocol version the dialer speaks
//	6       2     highest protocol version the dialer speaks
//	8       32    nonceC, random
//	40      1     n, length of the dialer's node name
//	41      n     node name
//
// ServerHello, acceptor to dialer, 73+m bytes:
//
//	0       4     magic "KVTS"
//	4       2     lowest protocol version the acceptor speaks
//	6       2     highest protocol version the acceptor speaks
//	8       32    nonceS, random
//	40      1     m, length of the acceptor's node name
//	41      m     node name
//	41+m    32    macS = HMAC-SHA256(secret, "kvstore transport server\x00" |
//	              ClientHello | ServerHello up to macS)
//
// ClientFinish, dialer to acceptor, 32 bytes:
//
//	0       32    macC = HMAC-SHA256(secret, "kvstore transport client\x00" |
//	              ClientHello | ServerHello)
//
// The dialer checks macS and fails with ErrUnauthorized if it does not
// match; the acceptor checks macC (constant-time compare) and closes the
// connection if it does not match, so an unauthenticated peer never gets a
// frame read, let alone a request executed. Both MACs cover both fresh
// nonces (no replay) and the whole transcript (names and version ranges
// cannot be altered), and the labels differ so neither side's MAC can be
// reflected as the other's. Both sides pick the highest version in both
// ranges; if there is none the dialer fails with ErrVersionMismatch and the
// acceptor closes the connection. The dialer sends frames right after
// ClientFinish (1.5 round trips). The whole handshake runs under
// Config.HandshakeTimeout. Protocol version 1 is the frame format of package
// wire.
//
// The handshake authenticates peers when a connection opens; it neither
// encrypts nor integrity-protects the frames that follow. An attacker who
// can intercept and alter traffic between nodes can read it and, by
// hijacking the TCP stream, inject frames. Run node-to-node traffic on a
// trusted network or inside an encrypted tunnel.
//
// # Shutdown
//
// Close stops the listeners, closes every connection, fails pending and
// later calls with ErrClosed, cancels handler contexts and waits for every
// goroutine the transport started, including running handlers (which must
// therefore return once their context is cancelled).
package transport
