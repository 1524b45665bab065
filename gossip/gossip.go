package gossip

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
)

// Errors returned by this package. Methods list the ones they return; test
// with errors.Is.
var (
	// ErrInvalidConfig: Config.Validate found a problem.
	ErrInvalidConfig = errors.New("gossip: invalid config")
	// ErrInvalidName: a node name is empty, too long or has forbidden
	// characters.
	ErrInvalidName = errors.New("gossip: invalid node name")
	// ErrInvalidEntry: a ledger entry has a bad name, status or meta.
	ErrInvalidEntry = errors.New("gossip: invalid ledger entry")
	// ErrStale: SetEntry lost to the entry the ledger already holds.
	ErrStale = errors.New("gossip: ledger holds a newer entry")
	// ErrLedgerFull: the ledger already holds MaxLedgerEntries names.
	ErrLedgerFull = errors.New("gossip: ledger full")
	// ErrMetaTooLarge: node metadata exceeds MaxMetaSize.
	ErrMetaTooLarge = errors.New("gossip: metadata too large")
	// ErrMalformed: bytes from a peer do not decode.
	ErrMalformed = errors.New("gossip: malformed message")
	// ErrJoin: Join reached none of the given addresses.
	ErrJoin = errors.New("gossip: join failed")
	// ErrTimeout: a broadcast was not confirmed sent within the timeout;
	// the change still applies locally and keeps spreading.
	ErrTimeout = errors.New("gossip: timed out waiting for broadcast")
	// ErrLeft: the node has left the cluster (Leave); it cannot rejoin or
	// change its metadata. Start a new instance instead.
	ErrLeft = errors.New("gossip: node has left")
	// ErrClosed: Shutdown was called.
	ErrClosed = errors.New("gossip: shut down")
)

// State is a member's liveness as seen by this node.
type State uint8

// Liveness states. The zero value is not a state.
const (
	// StateAlive: memberlist counts the member as live and it answers
	// probes.
	StateAlive State = 1
	// StateSuspect: memberlist still counts the member as live, but it has
	// not answered this node's direct probes for Config.SuspectAfter. It
	// becomes dead if it stays unreachable, alive if it answers.
	StateSuspect State = 2
	// StateDead: memberlist's failure detector declared the member failed.
	StateDead State = 3
	// StateLeft: the member left gracefully (Leave).
	StateLeft State = 4
)

// String returns "alive", "suspect", "dead", "left", or "state(N)".
func (s State) String() string {
	switch s {
	case StateAlive:
		return "alive"
	case StateSuspect:
		return "suspect"
	case StateDead:
		return "dead"
	case StateLeft:
		return "left"
	}
	return fmt.Sprintf("state(%d)", uint8(s))
}

// Member is one node of the liveness view. Member values returned by this
// package own their Meta slice.
type Member struct {
	Name  string
	Addr  string // gossip address, host:port
	Meta  []byte // the member's metadata (Config.Meta, UpdateMeta)
	State State
	Since time.Time // when this node saw State begin
}

func (m Member) clone() Member {
	m.Meta = bytes.Clone(m.Meta)
	return m
}

// EventKind says what an Event describes.
type EventKind uint8

// Event kinds.
const (
	// MemberChanged: a member's State, Addr or Meta changed; Event.Member
	// holds its new value.
	MemberChanged EventKind = 1
	// LedgerChanged: a ledger entry changed; Event.Entry holds its new
	// value.
	LedgerChanged EventKind = 2
)

// Event reports a change of one member or one ledger entry.
type Event struct {
	Kind   EventKind
	Member Member // set for MemberChanged
	Entry  Entry  // set for LedgerChanged
}

// eventKey identifies what an event is about, for coalescing.
type eventKey struct {
	kind EventKind
	name string
}

// memberRec is this node's record of one member.
type memberRec struct {
	m           Member    // current view; m.Meta is never mutated in place
	epoch       uint64    // the member's epoch, from its metadata
	live        bool      // memberlist counts it as alive or suspect
	leaving     bool      // a leave intent for epoch was seen
	lastContact time.Time // last direct evidence the member is up
}

// Gossip is one node's membership in a cluster: memberlist's liveness view
// and the replicated ring ledger. Create it with Start.
//
// All methods are safe for concurrent use. Memberlist callbacks only update
// in-memory state under a short mutex and never block; notifications are
// delivered by goroutines Gossip owns, and Shutdown waits for them.
type Gossip struct {
	cfg   Config
	name  string
	epoch uint64 // chosen at Start; tells this run apart from earlier ones
	log   *log.Logger
	ml    *memberlist.Memberlist // set in Start before any method can run
	queue *memberlist.TransmitLimitedQueue
	now   func() time.Time

	lifeMu sync.RWMutex // Leave and Shutdown hold it exclusively; Join and UpdateMeta shared
	closed atomic.Bool
	left   atomic.Bool
	// stopping is set when Shutdown starts: memberlist's complaints about
	// its own sockets closing under a probe in flight are not logged.
	stopping atomic.Bool
	numLive  atomic.Int64 // members with live set

	mu struct {
		sync.Mutex
		meta         []byte                // this node's metadata, for NodeMeta
		members      map[string]*memberRec // liveness view by name
		ledger       map[string]Entry      // ring ledger by name
		suspectAfter time.Duration         // current suspicion threshold
		pending      map[eventKey]Event    // undelivered events, latest per key
		order        []eventKey            // delivery order of pending keys
	}

	wake    chan struct{} // capacity 1: events are pending
	changes chan struct{} // capacity 1: something changed
	events  chan Event    // closed after the deliverer exits
	done    chan struct{} // closed by Shutdown

	wg           sync.WaitGroup
	shutdownOnce sync.Once
	shutdownErr  error
}

// Start validates cfg, creates the memberlist (listening, but not joined
// to anyone: see Join) and starts the background goroutines. It returns
// errors wrapping ErrInvalidConfig, or memberlist's error (e.g. the port is
// taken).
func Start(cfg Config) (*Gossip, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	g := &Gossip{
		cfg:     cfg,
		name:    cfg.Name,
		epoch:   uint64(time.Now().UnixNano()),
		log:     cfg.Logger,
		now:     time.Now,
		wake:    make(chan struct{}, 1),
		changes: make(chan struct{}, 1),
		events:  make(chan Event, cfg.EventBuffer),
		done:    make(chan struct{}),
	}
	g.mu.meta = bytes.Clone(cfg.Meta)
	g.mu.members = make(map[string]*memberRec)
	g.mu.ledger = make(map[string]Entry)
	g.mu.pending = make(map[eventKey]Event)
	g.mu.suspectAfter = g.suspectAfter(2, 0)
	g.queue = &memberlist.TransmitLimitedQueue{
		NumNodes:       func() int { return int(max(1, g.numLive.Load())) },
		RetransmitMult: cfg.RetransmitMult,
	}

	mc := memberlist.DefaultLANConfig()
	mc.Name = cfg.Name
	mc.BindAddr = cfg.BindAddr
	mc.BindPort = cfg.BindPort
	mc.AdvertiseAddr = cfg.AdvertiseAddr
	mc.AdvertisePort = cfg.AdvertisePort
	if mc.AdvertisePort == 0 {
		mc.AdvertisePort = cfg.BindPort
	}
	mc.Transport = cfg.Transport
	if len(cfg.SecretKey) > 0 {
		mc.SecretKey = bytes.Clone(cfg.SecretKey)
	}
	mc.ProbeInterval = cfg.ProbeInterval
	mc.ProbeTimeout = cfg.ProbeTimeout
	mc.GossipInterval = cfg.GossipInterval
	mc.GossipNodes = cfg.GossipNodes
	mc.PushPullInterval = max(0, cfg.PushPullInterval)
	mc.SuspicionMult = cfg.SuspicionMult
	mc.RetransmitMult = cfg.RetransmitMult
	mc.TCPTimeout = cfg.TCPTimeout
	mc.GossipToTheDeadTime = cfg.DeadGossipTime
	d := &delegate{g: g}
	mc.Delegate = d
	mc.Events = d
	mc.Ping = d
	mc.DelegateProtocolVersion = delegateProtocol
	mc.DelegateProtocolMin = delegateProtocol
	mc.DelegateProtocolMax = delegateProtocol
	mc.Logger = log.New(memberlistLog{w: cfg.Logger.Writer(), debug: cfg.Debug, stopping: &g.stopping}, cfg.Logger.Prefix(), cfg.Logger.Flags())

	ml, err := memberlist.Create(mc)
	if err != nil {
		return nil, fmt.Errorf("gossip: start %s: %w", cfg.Name, err)
	}
	g.ml = ml
	g.wg.Add(2)
	go g.tickLoop()
	go g.deliverLoop()
	return g, nil
}

// delegateProtocol is the version of this package's gossip formats
// announced to memberlist; peers outside [min, max] are refused.
const delegateProtocol = 1

// Join contacts the given gossip addresses ("host:port", or
// "name/host:port") and exchanges full state with each. It returns how
// many it reached; the error (wrapping ErrJoin) is non-nil only if none
// was reached. Also ErrClosed, ErrLeft.
func (g *Gossip) Join(addrs []string) (int, error) {
	if len(addrs) == 0 {
		return 0, fmt.Errorf("%w: no addresses", ErrJoin)
	}
	g.lifeMu.RLock()
	defer g.lifeMu.RUnlock()
	if err := g.usable(); err != nil {
		return 0, err
	}
	n, err := g.ml.Join(addrs)
	if err != nil {
		return n, fmt.Errorf("%w: %v", ErrJoin, err)
	}
	return n, nil
}

func (g *Gossip) usable() error {
	if g.closed.Load() {
		return ErrClosed
	}
	if g.left.Load() {
		return ErrLeft
	}
	return nil
}

// LocalName returns this node's name.
func (g *Gossip) LocalName() string { return g.name }

// LocalAddr returns this node's advertised gossip address (host:port), the
// address peers pass to Join.
func (g *Gossip) LocalAddr() string { return g.ml.LocalNode().Address() }

// Members returns the liveness view, this node included, sorted by name:
// live members and dead or left ones seen within Config.DeadRetention.
func (g *Gossip) Members() []Member {
	g.mu.Lock()
	out := make([]Member, 0, len(g.mu.members))
	for _, r := range g.mu.members {
		out = append(out, r.m.clone())
	}
	g.mu.Unlock()
	slices.SortFunc(out, func(a, b Member) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Member returns the named member, if the view holds it.
func (g *Gossip) Member(name string) (Member, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	r, ok := g.mu.members[name]
	if !ok {
		return Member{}, false
	}
	return r.m.clone(), true
}

// NumAlive returns the number of members memberlist counts as live
// (StateAlive or StateSuspect), this node included while it has not left.
func (g *Gossip) NumAlive() int { return int(g.numLive.Load()) }

// Ledger returns the ring ledger sorted by name.
func (g *Gossip) Ledger() []Entry {
	g.mu.Lock()
	out := make([]Entry, 0, len(g.mu.ledger))
	for _, e := range g.mu.ledger {
		out = append(out, e.clone())
	}
	g.mu.Unlock()
	slices.SortFunc(out, func(a, b Entry) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Entry returns the ledger entry for name, if any.
func (g *Gossip) Entry(name string) (Entry, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	e, ok := g.mu.ledger[name]
	return e.clone(), ok
}

// SetEntry records a local change to the ledger: e is stored if it is
// Newer than the entry held for e.Name (or there is none) and then
// broadcast to the cluster. Setting an entry identical to the one held is
// a no-op. SetEntry does not wait for the broadcast. It returns errors
// wrapping ErrInvalidEntry, ErrStale (e lost; the ledger is unchanged),
// ErrLedgerFull, or ErrClosed. e.Meta is copied.
func (g *Gossip) SetEntry(e Entry) error {
	e = e.clone()
	if err := validEntry(e); err != nil {
		return err
	}
	if g.closed.Load() {
		return ErrClosed
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if cur, ok := g.mu.ledger[e.Name]; ok {
		if cur.equal(e) {
			return nil
		}
		if !e.Newer(cur) {
			return fmt.Errorf("%w: %s is %s at version %d", ErrStale, cur.Name, cur.Status, cur.Version)
		}
	}
	_, err := g.applyEntryLocked(e)
	return err
}

// applyEntryLocked stores e if it is newer than the held entry, emits an
// event and queues a broadcast. e must be valid and owned by the caller.
func (g *Gossip) applyEntryLocked(e Entry) (bool, error) {
	cur, ok := g.mu.ledger[e.Name]
	if ok && !e.Newer(cur) {
		return false, nil
	}
	if !ok && len(g.mu.ledger) >= MaxLedgerEntries {
		return false, fmt.Errorf("%w: %d entries, cannot add %s", ErrLedgerFull, len(g.mu.ledger), e.Name)
	}
	g.mu.ledger[e.Name] = e
	g.emitLocked(Event{Kind: LedgerChanged, Entry: e.clone()})
	g.queue.QueueBroadcast(entryBroadcast(e))
	return true, nil
}

// Events returns the channel of change events (capacity
// Config.EventBuffer). Events never block memberlist: they wait in an
// internal queue that holds only the latest event per member and per
// ledger name, so a slow consumer sees fewer, coalesced events ending in
// the current state, never stale ones, and the queue never grows beyond
// the number of names. Members forgotten after DeadRetention produce no
// event. The channel is closed by Shutdown. Consumers that only need to
// know "something changed" should use Changes instead.
func (g *Gossip) Events() <-chan Event { return g.events }

// Changes returns a channel of capacity 1 that receives a value after any
// change to Members or Ledger; several changes may collapse into one
// value, so a receiver re-reads Members and Ledger. It is never closed.
func (g *Gossip) Changes() <-chan struct{} { return g.changes }

// UpdateMeta replaces this node's metadata (at most MaxMetaSize bytes; it
// is copied) and broadcasts it, waiting up to timeout (<= 0: no limit) for
// the broadcast to go out. It returns errors wrapping ErrMetaTooLarge,
// ErrTimeout (the new metadata is in effect and keeps spreading), ErrLeft
// or ErrClosed.
func (g *Gossip) UpdateMeta(meta []byte, timeout time.Duration) error {
	if len(meta) > MaxMetaSize {
		return fmt.Errorf("%w: %d bytes exceeds %d", ErrMetaTooLarge, len(meta), MaxMetaSize)
	}
	g.lifeMu.RLock()
	defer g.lifeMu.RUnlock()
	if err := g.usable(); err != nil {
		return err
	}
	g.mu.Lock()
	g.mu.meta = bytes.Clone(meta)
	g.mu.Unlock()
	if err := g.ml.UpdateNode(timeout); err != nil {
		return fmt.Errorf("%w: metadata update: %v", ErrTimeout, err)
	}
	return nil
}

// Leave leaves the cluster gracefully: it broadcasts a leave intent, so
// peers report this node StateLeft rather than StateDead, then memberlist's
// leave message, waiting up to timeout in total (<= 0: no limit) for both
// to go out. The node keeps gossiping until Shutdown, which should follow.
// Leave does not change the ring ledger. Calling it again is a no-op. It
// returns ErrTimeout (the messages keep spreading until Shutdown) or
// ErrClosed. Shutdown waits for a Leave in progress.
func (g *Gossip) Leave(timeout time.Duration) error {
	g.lifeMu.Lock()
	defer g.lifeMu.Unlock()
	if g.closed.Load() {
		return ErrClosed
	}
	if g.left.Swap(true) {
		return nil
	}
	var deadline <-chan time.Time
	start := time.Now()
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		deadline = t.C
	}

	sent := make(chan struct{})
	g.mu.Lock()
	if r := g.mu.members[g.name]; r != nil {
		r.leaving = true
	}
	g.queue.QueueBroadcast(intentBroadcast(intent{Name: g.name, Epoch: g.epoch}, sent))
	g.mu.Unlock()

	timedOut := false
	if g.ml.NumMembers() > 1 {
		select {
		case <-sent:
		case <-deadline:
			timedOut = true
		}
	}
	rest := time.Duration(0)
	if timeout > 0 {
		rest = max(time.Nanosecond, timeout-time.Since(start))
	}
	if err := g.ml.Leave(rest); err != nil || timedOut {
		return fmt.Errorf("%w: leave", ErrTimeout)
	}
	return nil
}

// Shutdown stops gossiping without telling peers (they will detect the
// failure; call Leave first for a graceful exit), stops the background
// goroutines and waits for them, and closes the Events channel. It is
// idempotent; every call returns the first call's result.
func (g *Gossip) Shutdown() error {
	g.shutdownOnce.Do(func() {
		g.stopping.Store(true)
		close(g.done)
		g.lifeMu.Lock()
		g.closed.Store(true)
		err := g.ml.Shutdown()
		g.lifeMu.Unlock()
		g.wg.Wait()
		close(g.events)
		if err != nil {
			g.shutdownErr = fmt.Errorf("gossip: shutdown %s: %w", g.name, err)
		}
	})
	return g.shutdownErr
}

// tickLoop refreshes the suspicion threshold and the derived member
// states, and forgets long-dead members.
func (g *Gossip) tickLoop() {
	defer g.wg.Done()
	t := time.NewTicker(max(time.Millisecond, g.cfg.ProbeInterval/2))
	defer t.Stop()
	for {
		select {
		case <-g.done:
			return
		case <-t.C:
			g.tick()
		}
	}
}

func (g *Gossip) tick() {
	health := g.ml.GetHealthScore()
	now := g.now()
	pruned := false
	g.mu.Lock()
	g.mu.suspectAfter = g.suspectAfter(int(g.numLive.Load()), health)
	for name, r := range g.mu.members {
		if !r.live && now.Sub(r.m.Since) > g.cfg.DeadRetention {
			delete(g.mu.members, name)
			pruned = true
			continue
		}
		g.setStateLocked(r, now, false)
	}
	g.mu.Unlock()
	if pruned {
		signal(g.changes)
	}
}

// suspectAfter returns the suspicion threshold for live members and a
// memberlist health score. Memberlist probes the live peers round-robin
// in a freshly shuffled order each round, one per ProbeInterval (stretched
// by 1+health when degraded), so a live peer answers a direct probe at
// least once every 2*(live-1) intervals; one more interval and the probe
// timeout absorb jitter.
func (g *Gossip) suspectAfter(live, health int) time.Duration {
	if g.cfg.SuspectAfter > 0 {
		return g.cfg.SuspectAfter
	}
	rounds := 2*max(1, live-1) + 1
	return time.Duration(rounds*(1+health))*g.cfg.ProbeInterval + g.cfg.ProbeTimeout
}

// deliverLoop moves pending events to the Events channel.
func (g *Gossip) deliverLoop() {
	defer g.wg.Done()
	for {
		ev, ok := g.popEvent()
		if !ok {
			select {
			case <-g.wake:
				continue
			case <-g.done:
				return
			}
		}
		select {
		case g.events <- ev:
		case <-g.done:
			return
		}
	}
}

func (g *Gossip) popEvent() (Event, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.mu.order) == 0 {
		return Event{}, false
	}
	k := g.mu.order[0]
	g.mu.order = g.mu.order[1:]
	if len(g.mu.order) == 0 {
		g.mu.order = nil
	}
	ev := g.mu.pending[k]
	delete(g.mu.pending, k)
	return ev, true
}

// emitLocked queues ev, replacing a pending event about the same subject.
func (g *Gossip) emitLocked(ev Event) {
	k := eventKey{kind: ev.Kind, name: ev.Member.Name}
	if ev.Kind == LedgerChanged {
		k.name = ev.Entry.Name
	}
	if _, ok := g.mu.pending[k]; !ok {
		g.mu.order = append(g.mu.order, k)
	}
	g.mu.pending[k] = ev
	signal(g.wake)
	signal(g.changes)
}

// signal does a non-blocking send on a capacity-1 channel.
func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// deriveLocked computes a member's state from memberlist's verdict, leave
// intents and the time since the last direct contact.
func (g *Gossip) deriveLocked(r *memberRec, now time.Time) State {
	switch {
	case !r.live && r.leaving:
		return StateLeft
	case !r.live:
		return StateDead
	case r.m.Name == g.name:
		return StateAlive
	case now.Sub(r.lastContact) > g.mu.suspectAfter:
		return StateSuspect
	}
	return StateAlive
}

// setStateLocked re-derives r's state and emits an event if it changed or
// if force is set (address or metadata changed).
func (g *Gossip) setStateLocked(r *memberRec, now time.Time, force bool) {
	st := g.deriveLocked(r, now)
	if st == r.m.State && !force {
		return
	}
	if st != r.m.State {
		r.m.State = st
		r.m.Since = now
	}
	g.emitLocked(Event{Kind: MemberChanged, Member: r.m.clone()})
}

// observeAlive records that memberlist counts n as live with the given
// address and metadata (a join or an update).
func (g *Gossip) observeAlive(n *memberlist.Node) {
	epoch, meta, err := decodeMeta(n.Meta)
	if err != nil {
		g.log.Printf("[WARN] gossip: member %s: %v", n.Name, err)
	}
	addr := n.Address()
	now := g.now()
	g.mu.Lock()
	defer g.mu.Unlock()
	r := g.mu.members[n.Name]
	if r == nil {
		r = &memberRec{m: Member{Name: n.Name}}
		g.mu.members[n.Name] = r
	}
	if r.epoch != epoch {
		r.epoch = epoch
		r.leaving = false
	}
	changed := r.m.Addr != addr || !bytes.Equal(r.m.Meta, meta)
	if !r.live {
		r.live = true
		g.numLive.Add(1)
	}
	r.m.Addr = addr
	r.m.Meta = meta
	r.lastContact = now
	g.setStateLocked(r, now, changed)
}

// observeGone records that memberlist declared n dead or left.
func (g *Gossip) observeGone(n *memberlist.Node) {
	now := g.now()
	g.mu.Lock()
	defer g.mu.Unlock()
	r := g.mu.members[n.Name]
	if r == nil || !r.live {
		return
	}
	r.live = false
	g.numLive.Add(-1)
	g.setStateLocked(r, now, false)
}

// contactLocked records direct evidence that the named member is up.
func (g *Gossip) contactLocked(name string, now time.Time) {
	if r := g.mu.members[name]; r != nil && r.live {
		r.lastContact = now
		g.setStateLocked(r, now, false)
	}
}

// applyIntentLocked records a leave intent and passes it on if it is new
// and matches the member's current epoch.
func (g *Gossip) applyIntentLocked(in intent, now time.Time) {
	r := g.mu.members[in.Name]
	if r == nil || in.Name == g.name || r.epoch != in.Epoch || r.leaving {
		return
	}
	r.leaving = true
	g.setStateLocked(r, now, false)
	g.queue.QueueBroadcast(intentBroadcast(in, nil))
}

// delegate receives memberlist's callbacks. Its methods never block: they
// decode, update state under Gossip.mu and return.
type delegate struct{ g *Gossip }

var (
	_ memberlist.Delegate      = (*delegate)(nil)
	_ memberlist.EventDelegate = (*delegate)(nil)
	_ memberlist.PingDelegate  = (*delegate)(nil)
)

// NodeMeta implements memberlist.Delegate.
func (d *delegate) NodeMeta(limit int) []byte {
	g := d.g
	g.mu.Lock()
	defer g.mu.Unlock()
	b := encodeMeta(g.epoch, g.mu.meta)
	if len(b) > limit { // cannot happen: UpdateMeta and Validate check sizes
		g.log.Printf("[ERR] gossip: metadata of %d bytes exceeds %d; sending none", len(b), limit)
		return encodeMeta(g.epoch, nil)
	}
	return b
}

// NotifyMsg implements memberlist.Delegate: one broadcast message.
func (d *delegate) NotifyMsg(b []byte) {
	g := d.g
	m, err := decodeMessage(b)
	if err != nil {
		g.log.Printf("[WARN] gossip: dropping broadcast: %v", err)
		return
	}
	now := g.now()
	g.mu.Lock()
	defer g.mu.Unlock()
	switch m.Type {
	case msgEntry:
		if _, err := g.applyEntryLocked(m.Entry); err != nil {
			g.log.Printf("[WARN] gossip: dropping ledger entry: %v", err)
		}
	case msgIntent:
		g.applyIntentLocked(m.Intent, now)
	}
}

// GetBroadcasts implements memberlist.Delegate.
func (d *delegate) GetBroadcasts(overhead, limit int) [][]byte {
	return d.g.queue.GetBroadcasts(overhead, limit)
}

// LocalState implements memberlist.Delegate: the whole ledger and the
// known leave intents.
func (d *delegate) LocalState(join bool) []byte {
	g := d.g
	g.mu.Lock()
	s := pushState{Sender: g.name, Entries: make([]Entry, 0, len(g.mu.ledger))}
	for _, e := range g.mu.ledger {
		s.Entries = append(s.Entries, e)
	}
	for name, r := range g.mu.members {
		if r.leaving && len(s.Intents) < maxIntents {
			s.Intents = append(s.Intents, intent{Name: name, Epoch: r.epoch})
		}
	}
	b := encodeState(s)
	g.mu.Unlock()
	return b
}

// MergeRemoteState implements memberlist.Delegate.
func (d *delegate) MergeRemoteState(buf []byte, join bool) {
	g := d.g
	s, err := decodeState(buf)
	if err != nil {
		g.log.Printf("[WARN] gossip: dropping push/pull state: %v", err)
		return
	}
	now := g.now()
	g.mu.Lock()
	defer g.mu.Unlock()
	g.contactLocked(s.Sender, now)
	dropped := 0
	for _, e := range s.Entries {
		if _, err := g.applyEntryLocked(e); err != nil {
			dropped++
		}
	}
	if dropped > 0 {
		g.log.Printf("[WARN] gossip: push/pull from %s: dropped %d entries: %v", s.Sender, dropped, ErrLedgerFull)
	}
	for _, in := range s.Intents {
		g.applyIntentLocked(in, now)
	}
}

// NotifyJoin implements memberlist.EventDelegate.
func (d *delegate) NotifyJoin(n *memberlist.Node) { d.g.observeAlive(n) }

// NotifyUpdate implements memberlist.EventDelegate.
func (d *delegate) NotifyUpdate(n *memberlist.Node) { d.g.observeAlive(n) }

// NotifyLeave implements memberlist.EventDelegate.
func (d *delegate) NotifyLeave(n *memberlist.Node) { d.g.observeGone(n) }

// AckPayload implements memberlist.PingDelegate.
func (d *delegate) AckPayload() []byte { return nil }

// NotifyPingComplete implements memberlist.PingDelegate: a direct probe of
// other was answered.
func (d *delegate) NotifyPingComplete(other *memberlist.Node, _ time.Duration, _ []byte) {
	g := d.g
	now := g.now()
	g.mu.Lock()
	g.contactLocked(other.Name, now)
	g.mu.Unlock()
}

// memberlistLog is memberlist's log output: it drops the [DEBUG] lines
// unless debug is set, and every line once stopping is set (a node shutting
// down closes its sockets under probes in flight, and memberlist reports
// those as failed pings and a misconfigured network). A log.Logger writes
// each line with one Write call.
type memberlistLog struct {
	w        io.Writer
	debug    bool
	stopping *atomic.Bool
}

func (f memberlistLog) Write(p []byte) (int, error) {
	if f.stopping.Load() || (!f.debug && bytes.Contains(p, []byte("[DEBUG]"))) {
		return len(p), nil
	}
	return f.w.Write(p)
}
