package transport

import (
	"context"
	"errors"
	"fmt"
	"net"

	"kvstore/node/wire"
)

// Transport sends requests to peers and serves requests from them.
// Implementations are safe for concurrent use.
type Transport interface {
	// Call sends req to the node listening at addr and waits for its
	// response. It returns ctx.Err() as soon as ctx ends; a late response
	// is discarded. An ErrorResponse from the peer is returned as a
	// *RemoteError. Other errors wrap ErrClosed (this transport is closed),
	// ErrConnLost (the connection failed while the request was in flight:
	// it may or may not have been executed), ErrUnauthorized,
	// ErrVersionMismatch, ErrFrameTooLarge, or a dial error. Call does not
	// retain req; the returned message is fresh and owned by the caller.
	Call(ctx context.Context, addr string, req wire.Message) (wire.Message, error)
	// Go sends req like Call without waiting for the response: done gets
	// what Call would return, exactly once: from another goroutine (the
	// transport's, or the one noticing that ctx ended), or before Go
	// returns when the request cannot be sent. done must not block; it may
	// call Go again. A caller waiting for several peers at once needs no
	// goroutine of its own per peer.
	Go(ctx context.Context, addr string, req wire.Message, done func(wire.Message, error))
	// Listen starts serving requests arriving at addr with h and returns
	// the bound address (addr may ask for any port, "127.0.0.1:0"). It may
	// be called more than once. It returns ErrClosed after Close.
	Listen(addr string, h Handler) (net.Addr, error)
	// Close stops listening, fails pending and later calls with ErrClosed,
	// and returns once every goroutine the transport started has exited.
	// It is idempotent.
	Close() error
}

// Handler serves requests from peers.
//
// ServeRPC is called concurrently, once per request, in its own goroutine.
// from is the authenticated node name of the caller. req is a fresh message
// the handler owns. ctx is cancelled when the connection or the transport
// closes; the handler must then return promptly. To answer with an error
// code, return an error implementing CodedError (a *RemoteError does), or
// return a *wire.ErrorResponse as the message; any other error is sent as
// CodeInternal, and a context error as CodeUnavailable.
type Handler interface {
	ServeRPC(ctx context.Context, from string, req wire.Message) (wire.Message, error)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, from string, req wire.Message) (wire.Message, error)

// ServeRPC calls f.
func (f HandlerFunc) ServeRPC(ctx context.Context, from string, req wire.Message) (wire.Message, error) {
	return f(ctx, from, req)
}

// Errors returned by transports. Callers test them with errors.Is.
var (
	// ErrClosed: the transport is closed.
	ErrClosed = errors.New("transport: closed")
	// ErrUnauthorized: the peer failed the handshake's secret check.
	ErrUnauthorized = errors.New("transport: peer failed authentication")
	// ErrVersionMismatch: the peers share no protocol version.
	ErrVersionMismatch = errors.New("transport: no common protocol version")
	// ErrHandshake: the handshake failed for another reason (malformed
	// message, timeout, connection closed).
	ErrHandshake = errors.New("transport: handshake failed")
	// ErrConnLost: the connection failed while the call was in flight; the
	// request may or may not have been executed.
	ErrConnLost = errors.New("transport: connection lost")
	// ErrFrameTooLarge: a request or response exceeds MaxFrameSize. It is
	// wire.ErrFrameTooLarge, so either name matches.
	ErrFrameTooLarge = wire.ErrFrameTooLarge
)

// CodedError is an error that carries a wire error code. Handlers return
// one to choose the code of the ErrorResponse sent back.
type CodedError interface {
	error
	ErrorCode() wire.ErrorCode
}

// RemoteError is a peer's ErrorResponse, as returned by Call. Handlers may
// also return one (Addr empty) to answer with a specific code.
type RemoteError struct {
	Addr    string // address of the peer that answered; empty when built by a handler
	Code    wire.ErrorCode
	Message string
}

// NewError returns a *RemoteError with the given code, for handlers.
func NewError(code wire.ErrorCode, format string, args ...any) *RemoteError {
	return &RemoteError{Code: code, Message: fmt.Sprintf(format, args...)}
}

func (e *RemoteError) Error() string {
	if e.Addr == "" {
		return fmt.Sprintf("transport: %v: %s", e.Code, e.Message)
	}
	return fmt.Sprintf("transport: %s answered %v: %s", e.Addr, e.Code, e.Message)
}

// ErrorCode implements CodedError.
func (e *RemoteError) ErrorCode() wire.ErrorCode { return e.Code }

// CodeOf returns the wire error code carried by err (a *RemoteError or any
// CodedError in its chain).
func CodeOf(err error) (wire.ErrorCode, bool) {
	var ce CodedError
	if errors.As(err, &ce) {
		return ce.ErrorCode(), true
	}
	return 0, false
}

// ErrorResponseFor converts a handler error into the ErrorResponse sent to
// the caller: a CodedError keeps its code, a context error becomes
// CodeUnavailable, anything else CodeInternal.
func ErrorResponseFor(err error) *wire.ErrorResponse {
	code := wire.CodeInternal
	msg := err.Error()
	var re *RemoteError
	switch {
	case errors.As(err, &re):
		code, msg = re.Code, re.Message
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		code = wire.CodeUnavailable
	default:
		if c, ok := CodeOf(err); ok {
			code = c
		}
	}
	if len(msg) > maxErrorMessage {
		msg = msg[:maxErrorMessage] + "..."
	}
	return &wire.ErrorResponse{Code: code, Message: msg}
}

// maxErrorMessage bounds the text of an ErrorResponse built from an error.
const maxErrorMessage = 4 << 10

// InlineHandler is a Handler that can answer some requests at once,
// without waiting for a disk, another node or a lock held across either.
// The TCP transport offers each request to ServeInline on the connection's
// reader, and serves it with ServeRPC in a goroutine of its own, as for
// any Handler, when ServeInline returns handled false. Answering inline
// saves a goroutine start and switch per request; a ServeInline that
// blocks stalls every request of the connection behind it.
type InlineHandler interface {
	Handler
	ServeInline(ctx context.Context, from string, req wire.Message) (resp wire.Message, handled bool, err error)
}

// Dispatch serves one request with h and returns the message to send back:
// the handler's response, or an ErrorResponse for its error (see
// ErrorResponseFor) or for a nil response. Transport implementations use it
// so that all of them answer alike.
func Dispatch(ctx context.Context, h Handler, from string, req wire.Message) wire.Message {
	resp, _ := dispatch(req, func() (wire.Message, bool, error) {
		resp, err := h.ServeRPC(ctx, from, req)
		return resp, true, err
	})
	return resp
}

// dispatchInline is Dispatch with h.ServeInline; ok is false, and resp
// nil, when h leaves the request to ServeRPC.
func dispatchInline(ctx context.Context, h InlineHandler, from string, req wire.Message) (resp wire.Message, ok bool) {
	return dispatch(req, func() (wire.Message, bool, error) { return h.ServeInline(ctx, from, req) })
}

func dispatch(req wire.Message, serve func() (wire.Message, bool, error)) (resp wire.Message, handled bool) {
	// A handler's panic (a broken invariant met while serving one request)
	// fails that request, not the node.
	defer func() {
		if r := recover(); r != nil {
			resp, handled = &wire.ErrorResponse{Code: wire.CodeInternal, Message: fmt.Sprintf("panic serving %v: %v", req.Type(), r)}, true
		}
	}()
	resp, handled, err := serve()
	switch {
	case !handled:
		return nil, false
	case err != nil:
		return ErrorResponseFor(err), true
	case resp == nil:
		return &wire.ErrorResponse{Code: wire.CodeInternal, Message: fmt.Sprintf("no response to %v", req.Type())}, true
	}
	return resp, true
}

// ResponseResult converts a decoded response from addr into Call's result:
// an ErrorResponse becomes a *RemoteError, anything else is returned as is.
func ResponseResult(addr string, resp wire.Message) (wire.Message, error) {
	if er, ok := resp.(*wire.ErrorResponse); ok {
		return nil, &RemoteError{Addr: addr, Code: er.Code, Message: er.Message}
	}
	return resp, nil
}
