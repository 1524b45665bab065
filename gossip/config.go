package gossip

import (
	"errors"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/hashicorp/memberlist"
)

// MaxMetaSize is the largest node metadata (Config.Meta, UpdateMeta), in
// bytes: memberlist's MetaMaxSize less the header this package adds.
const MaxMetaSize = memberlist.MetaMaxSize - metaHeaderLen

// Config configures a Gossip instance. Zero values of optional fields are
// replaced by the defaults noted on each field (DefaultConfig returns them
// filled in); Validate lists every problem. A Config is copied by Start and
// not retained.
type Config struct {
	// Name is the node's unique name in the cluster (see ValidateName).
	// Required.
	Name string

	// BindAddr and BindPort are where the default transport listens (UDP
	// and TCP on the same port). BindAddr defaults to "0.0.0.0";
	// DefaultConfig sets BindPort 7946, and port 0 picks a free port (see
	// Gossip.LocalAddr). Ignored when Transport is set.
	BindAddr string
	BindPort int

	// AdvertiseAddr and AdvertisePort are the address peers use to reach
	// this node. Default: the bound address (the first private address
	// when bound to 0.0.0.0) and BindPort.
	AdvertiseAddr string
	AdvertisePort int

	// SecretKey is the cluster secret: a 16, 24 or 32 byte AES key that
	// encrypts and authenticates all gossip. Nodes with another key cannot
	// join or talk to the cluster. Required unless Insecure.
	SecretKey []byte

	// Insecure allows running without SecretKey. For tests only.
	Insecure bool

	// Meta is this node's initial metadata (at most MaxMetaSize bytes),
	// opaque to this package; see UpdateMeta.
	Meta []byte

	// Transport replaces the default UDP/TCP transport, e.g. with a
	// memberlist.MockNetwork transport in tests. Optional.
	Transport memberlist.Transport

	// ProbeInterval is the interval between failure-detector probes of a
	// random peer. Default 1s.
	ProbeInterval time.Duration
	// ProbeTimeout is how long a direct probe waits for an ack before
	// probing indirectly; about the 99th percentile round trip. Must be
	// less than ProbeInterval. Default 500ms, or ProbeInterval/2 if less.
	ProbeTimeout time.Duration
	// GossipInterval is the interval between gossip rounds that spread
	// queued broadcasts (liveness changes, ledger changes). Default 200ms.
	GossipInterval time.Duration
	// GossipNodes is the number of random peers per gossip round.
	// Default 3.
	GossipNodes int
	// PushPullInterval is the interval between full state exchanges
	// (membership and ledger) with a random peer, scaled up by memberlist
	// for large clusters. Default 30s; negative disables the periodic
	// exchange (Join still exchanges state).
	PushPullInterval time.Duration
	// SuspicionMult scales how long a suspected node has to refute before
	// it is declared dead: SuspicionMult * max(1, log10(N)) *
	// ProbeInterval. Default 4.
	SuspicionMult int
	// RetransmitMult scales how many times each broadcast is sent:
	// RetransmitMult * ceil(log10(N+1)). Default 4.
	RetransmitMult int
	// TCPTimeout bounds stream connections (joins, push/pull, fallback
	// probes). Default 10s.
	TCPTimeout time.Duration
	// DeadGossipTime is how long memberlist keeps gossiping to a dead node
	// so it can refute, and keeps it in its own list. Default 30s.
	DeadGossipTime time.Duration

	// SuspectAfter is how long a peer that memberlist still counts as live
	// may go without answering this node's direct probes before Members
	// reports it StateSuspect. Default 0: derived from the probe schedule
	// as (2*(L-1)+1) * ProbeInterval * (1+health) + ProbeTimeout, where L
	// is the number of live members and health memberlist's health score.
	SuspectAfter time.Duration
	// DeadRetention is how long a dead or left member stays in Members
	// before it is forgotten. Default 10m.
	DeadRetention time.Duration

	// EventBuffer is the capacity of the Events channel. Default 64.
	EventBuffer int

	// Logger receives memberlist's and this package's log lines. Default:
	// standard error with the prefix "gossip: ". Memberlist's [DEBUG] lines
	// are dropped unless Debug is set; to silence everything use
	// log.New(io.Discard, "", 0).
	Logger *log.Logger
	// Debug keeps memberlist's [DEBUG] log lines.
	Debug bool
}

// DefaultConfig returns the defaults, based on memberlist's
// DefaultLANConfig, with Name left empty.
func DefaultConfig() Config {
	lan := memberlist.DefaultLANConfig()
	return Config{
		BindAddr:         lan.BindAddr,
		BindPort:         lan.BindPort,
		ProbeInterval:    lan.ProbeInterval,
		ProbeTimeout:     lan.ProbeTimeout,
		GossipInterval:   lan.GossipInterval,
		GossipNodes:      lan.GossipNodes,
		PushPullInterval: lan.PushPullInterval,
		SuspicionMult:    lan.SuspicionMult,
		RetransmitMult:   lan.RetransmitMult,
		TCPTimeout:       lan.TCPTimeout,
		DeadGossipTime:   lan.GossipToTheDeadTime,
		DeadRetention:    10 * time.Minute,
		EventBuffer:      64,
	}
}

// FastConfig returns DefaultConfig with intervals shortened for tests on
// loopback or an in-process network: failures are detected within about a
// second and broadcasts spread within tens of milliseconds. Not for real
// networks.
func FastConfig() Config {
	c := DefaultConfig()
	c.ProbeInterval = 100 * time.Millisecond
	c.ProbeTimeout = 50 * time.Millisecond
	c.GossipInterval = 20 * time.Millisecond
	c.PushPullInterval = time.Second
	c.TCPTimeout = 2 * time.Second
	c.DeadGossipTime = 2 * time.Second
	c.DeadRetention = time.Minute
	return c
}

// withDefaults returns c with every zero optional field set to its
// default. It is the only place defaults are filled in.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.BindAddr == "" {
		c.BindAddr = d.BindAddr
	}
	if c.ProbeInterval == 0 {
		c.ProbeInterval = d.ProbeInterval
	}
	if c.ProbeTimeout == 0 {
		c.ProbeTimeout = min(d.ProbeTimeout, c.ProbeInterval/2)
	}
	if c.GossipInterval == 0 {
		c.GossipInterval = d.GossipInterval
	}
	if c.GossipNodes == 0 {
		c.GossipNodes = d.GossipNodes
	}
	if c.PushPullInterval == 0 {
		c.PushPullInterval = d.PushPullInterval
	}
	if c.SuspicionMult == 0 {
		c.SuspicionMult = d.SuspicionMult
	}
	if c.RetransmitMult == 0 {
		c.RetransmitMult = d.RetransmitMult
	}
	if c.TCPTimeout == 0 {
		c.TCPTimeout = d.TCPTimeout
	}
	if c.DeadGossipTime == 0 {
		c.DeadGossipTime = d.DeadGossipTime
	}
	if c.DeadRetention == 0 {
		c.DeadRetention = d.DeadRetention
	}
	if c.EventBuffer == 0 {
		c.EventBuffer = d.EventBuffer
	}
	if c.Logger == nil {
		c.Logger = log.New(os.Stderr, "gossip: ", log.LstdFlags)
	}
	return c
}

// Validate reports every problem with c (after defaults are applied) as
// errors joined together, each wrapping ErrInvalidConfig.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...)))
	}
	if err := ValidateName(c.Name); err != nil {
		bad("Name: %v", err)
	}
	switch len(c.SecretKey) {
	case 16, 24, 32:
	case 0:
		if !c.Insecure {
			bad("SecretKey is required unless Insecure is set")
		}
	default:
		bad("SecretKey must be 16, 24 or 32 bytes, got %d", len(c.SecretKey))
	}
	if c.BindPort < 0 || c.BindPort > 65535 {
		bad("BindPort %d out of range", c.BindPort)
	}
	if c.AdvertisePort < 0 || c.AdvertisePort > 65535 {
		bad("AdvertisePort %d out of range", c.AdvertisePort)
	}
	if len(c.Meta) > MaxMetaSize {
		bad("Meta of %d bytes exceeds %d", len(c.Meta), MaxMetaSize)
	}
	if c.ProbeInterval < 0 {
		bad("ProbeInterval %v is negative", c.ProbeInterval)
	}
	if c.ProbeTimeout < 0 || c.ProbeTimeout >= c.ProbeInterval {
		bad("ProbeTimeout %v must be positive and less than ProbeInterval %v", c.ProbeTimeout, c.ProbeInterval)
	}
	if c.GossipInterval < 0 {
		bad("GossipInterval %v is negative", c.GossipInterval)
	}
	if c.GossipNodes < 0 {
		bad("GossipNodes %d is negative", c.GossipNodes)
	}
	if c.SuspicionMult < 0 {
		bad("SuspicionMult %d is negative", c.SuspicionMult)
	}
	if c.RetransmitMult < 0 {
		bad("RetransmitMult %d is negative", c.RetransmitMult)
	}
	if c.TCPTimeout < 0 {
		bad("TCPTimeout %v is negative", c.TCPTimeout)
	}
	if c.DeadGossipTime < 0 {
		bad("DeadGossipTime %v is negative", c.DeadGossipTime)
	}
	if c.SuspectAfter < 0 {
		bad("SuspectAfter %v is negative", c.SuspectAfter)
	}
	if c.DeadRetention < 0 {
		bad("DeadRetention %v is negative", c.DeadRetention)
	}
	if c.EventBuffer < 0 {
		bad("EventBuffer %d is negative", c.EventBuffer)
	}
	return errors.Join(errs...)
}
