package transport

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"kvstore/node/wire"
)

// Config configures a TCP transport. Zero fields take the defaults of
// DefaultConfig; Secret and Name must be set.
type Config struct {
	// Secret is the cluster secret both ends of a connection must share.
	// At least MinSecretLen bytes; use 32 random bytes. Required.
	Secret []byte
	// Name is this node's name, sent in the handshake and passed to the
	// peer's handler as from. 1 to 255 bytes. Required.
	Name string
	// DialTimeout bounds establishing a TCP connection. Default 2s.
	DialTimeout time.Duration
	// HandshakeTimeout bounds the handshake on a new connection, on both
	// sides. Default 2s.
	HandshakeTimeout time.Duration
	// WriteTimeout bounds one batched write to a connection; a peer that
	// stops reading for longer loses the connection. Default 10s.
	WriteTimeout time.Duration
	// MaxFrameSize limits the length field of frames sent and received, in
	// bytes. Default wire.DefaultMaxFrameSize (64 MiB); at most
	// wire.MaxFrameSizeLimit.
	MaxFrameSize int
	// ConnsPerPeer is the number of connections kept to each peer address.
	// Default 2.
	ConnsPerPeer int
	// MaxInFlightPerConn bounds the requests in flight on one connection:
	// calls waiting for a response on the dialing side, requests being
	// served (until their response is written) on the accepting side.
	// Default 256.
	MaxInFlightPerConn int
	// Logger receives connection and handshake failures. Default: discard.
	Logger *slog.Logger
}

// MinSecretLen is the shortest accepted Config.Secret, in bytes.
const MinSecretLen = 16

// DefaultConfig returns the default configuration, without Secret and
// Name.
func DefaultConfig() Config {
	return Config{
		DialTimeout:        2 * time.Second,
		HandshakeTimeout:   2 * time.Second,
		WriteTimeout:       10 * time.Second,
		MaxFrameSize:       wire.DefaultMaxFrameSize,
		ConnsPerPeer:       2,
		MaxInFlightPerConn: 256,
		Logger:             slog.New(slog.DiscardHandler),
	}
}

// withDefaults returns c with zero fields set to their defaults.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.DialTimeout == 0 {
		c.DialTimeout = d.DialTimeout
	}
	if c.HandshakeTimeout == 0 {
		c.HandshakeTimeout = d.HandshakeTimeout
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = d.WriteTimeout
	}
	if c.MaxFrameSize == 0 {
		c.MaxFrameSize = d.MaxFrameSize
	}
	if c.ConnsPerPeer == 0 {
		c.ConnsPerPeer = d.ConnsPerPeer
	}
	if c.MaxInFlightPerConn == 0 {
		c.MaxInFlightPerConn = d.MaxInFlightPerConn
	}
	if c.Logger == nil {
		c.Logger = d.Logger
	}
	return c
}

// Validate reports every problem with c. Zero fields are valid (they take
// defaults) except Secret and Name.
func (c Config) Validate() error {
	var errs []error
	if len(c.Secret) < MinSecretLen {
		errs = append(errs, fmt.Errorf("Secret is %d bytes, want at least %d", len(c.Secret), MinSecretLen))
	}
	if len(c.Name) == 0 || len(c.Name) > 255 {
		errs = append(errs, fmt.Errorf("Name is %d bytes, want 1 to 255", len(c.Name)))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"DialTimeout", c.DialTimeout}, {"HandshakeTimeout", c.HandshakeTimeout}, {"WriteTimeout", c.WriteTimeout}} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("%s is negative (%v)", d.name, d.v))
		}
	}
	if c.MaxFrameSize < 0 || uint64(c.MaxFrameSize) > wire.MaxFrameSizeLimit {
		errs = append(errs, fmt.Errorf("MaxFrameSize %d out of range [0, %d]", c.MaxFrameSize, uint64(wire.MaxFrameSizeLimit)))
	} else if c.MaxFrameSize > 0 && c.MaxFrameSize < 1024 {
		errs = append(errs, fmt.Errorf("MaxFrameSize %d below 1024", c.MaxFrameSize))
	}
	if c.ConnsPerPeer < 0 {
		errs = append(errs, fmt.Errorf("ConnsPerPeer is negative (%d)", c.ConnsPerPeer))
	}
	if c.MaxInFlightPerConn < 0 {
		errs = append(errs, fmt.Errorf("MaxInFlightPerConn is negative (%d)", c.MaxInFlightPerConn))
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("transport: invalid config: %w", errors.Join(errs...))
}
