package node

import (
	"fmt"
	"hash/fnv"
	"sync"
	"time"

	"kvstore/storage"
)

// Clock is a hybrid logical clock issuing storage.Versions: the physical
// part follows the wall clock in milliseconds, the logical counter orders
// versions issued within one millisecond, and the node id makes versions of
// different coordinators distinct. Versions it issues strictly increase, and
// Observe keeps them above every version the node has seen, so a write
// coordinated here after it saw a write elsewhere wins over that write even
// if this node's wall clock lags.
//
// Clock is safe for concurrent use.
type Clock struct {
	node uint32
	now  func() time.Time

	mu   sync.Mutex // guards last
	last storage.Version
}

// NewClock returns a clock for the named node; now defaults to time.Now.
func NewClock(name string, now func() time.Time) *Clock {
	if now == nil {
		now = time.Now
	}
	return &Clock{node: NodeID(name), now: now}
}

// NodeID is the 10-bit coordinator id carried in the versions a node
// issues: FNV-1a of its name. Two nodes may share an id; versions stay
// totally ordered (storage breaks exact ties), ids only make ties rare.
func NodeID(name string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(name))
	return h.Sum32() & storage.MaxVersionNode
}

// Now returns a new version, greater than every version issued or observed.
func (c *Clock) Now() storage.Version {
	ms := c.now().UnixMilli()
	c.mu.Lock()
	defer c.mu.Unlock()
	last := c.last
	switch {
	case ms > last.Millis():
		c.last = storage.NewVersion(ms, 0, c.node)
	case last.Logical() < storage.MaxVersionLogical:
		c.last = storage.NewVersion(last.Millis(), last.Logical()+1, c.node)
	default:
		// The counter is exhausted: borrow the next millisecond.
		c.last = storage.NewVersion(last.Millis()+1, 0, c.node)
	}
	return c.last
}

// MaxVersionLead is how far ahead of a node's wall clock a version a client
// presents (HeaderAfter) may be. Real clock skew is far below it; a token
// beyond it is garbage, and accepting it would push the cluster's clocks
// into the future.
const MaxVersionLead = 10 * time.Minute

// ObserveToken is Observe for a version a client presents: one more than
// lead ahead of the wall clock is refused with an error wrapping
// ErrBadRequest, and the clock does not move.
func (c *Clock) ObserveToken(v storage.Version, lead time.Duration) error {
	// Compare milliseconds: a token centuries ahead overflows a Duration.
	if ahead := v.Millis() - c.now().UnixMilli(); ahead > lead.Milliseconds() {
		return fmt.Errorf("%w: version %d is %.0fs ahead of this node's clock (at most %v allowed): check the clocks of the nodes and the client's token",
			ErrBadRequest, uint64(v), float64(ahead)/1000, lead)
	}
	c.Observe(v)
	return nil
}

// Observe moves the clock past v, a version seen from another node.
func (c *Clock) Observe(v storage.Version) {
	c.mu.Lock()
	if v > c.last {
		c.last = v
	}
	c.mu.Unlock()
}
