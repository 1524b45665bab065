package antientropy

import "errors"

var (
	// ErrInvalidConfig marks a configuration that fails Validate.
	ErrInvalidConfig = errors.New("antientropy: invalid config")
	// ErrBadRequest marks a request, received from a peer, that is out of
	// range or malformed (Server methods, Tree.Nodes).
	ErrBadRequest = errors.New("antientropy: bad request")
	// ErrUnknownTree is returned by Server.Nodes when the tree named by the
	// request expired or was evicted; the requester starts a new exchange.
	ErrUnknownTree = errors.New("antientropy: unknown tree")
	// ErrProtocol marks a response that breaks the protocol (wrong count,
	// keys out of order, a page that makes no progress); the exchange
	// stops with it.
	ErrProtocol = errors.New("antientropy: protocol violation")
	// ErrStarted is returned by Scheduler.Start on a running scheduler.
	ErrStarted = errors.New("antientropy: scheduler already started")
	// ErrStopped is returned by Scheduler.Start after Stop.
	ErrStopped = errors.New("antientropy: scheduler stopped")
)
