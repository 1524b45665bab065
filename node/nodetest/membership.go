package nodetest

import (
	"bytes"
	"sort"
	"sync"
	"time"

	"kvstore/gossip"
	"kvstore/node"
)

// Hub is scripted membership shared by the nodes of an in-process cluster:
// the ring ledger and each member's liveness and metadata live here, and a
// test changes liveness directly (SetState) instead of waiting for a
// failure detector. Every change is visible to every node at once.
//
// Hub is safe for concurrent use.
type Hub struct {
	mu      sync.Mutex // guards the fields below
	ledger  map[string]gossip.Entry
	members map[string]*gossip.Member
	views   map[string]*View
}

// NewHub returns an empty hub.
func NewHub() *Hub {
	return &Hub{
		ledger:  map[string]gossip.Entry{},
		members: map[string]*gossip.Member{},
		views:   map[string]*View{},
	}
}

// View returns the membership a named node sees (creating it).
func (h *Hub) View(name string) *View {
	h.mu.Lock()
	defer h.mu.Unlock()
	v := h.views[name]
	if v == nil || v.closed {
		v = &View{hub: h, name: name, changes: make(chan struct{}, 1)}
		h.views[name] = v
	}
	if h.members[name] == nil {
		h.members[name] = &gossip.Member{Name: name, Addr: name, State: gossip.StateAlive}
	}
	return v
}

// SetState sets a member's liveness as every node sees it.
func (h *Hub) SetState(name string, st gossip.State) {
	h.mu.Lock()
	if m := h.members[name]; m != nil {
		m.State = st
	}
	h.mu.Unlock()
	h.notify()
}

// SetEntry writes a ledger entry as an operator action would (for example
// a remove), newest version winning.
func (h *Hub) SetEntry(e gossip.Entry) {
	h.mu.Lock()
	if old, ok := h.ledger[e.Name]; !ok || e.Newer(old) {
		h.ledger[e.Name] = e
	}
	h.mu.Unlock()
	h.notify()
}

func (h *Hub) notify() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, v := range h.views {
		select {
		case v.changes <- struct{}{}:
		default:
		}
	}
}

// View is one node's membership; it implements node.Membership.
type View struct {
	hub     *Hub
	name    string
	changes chan struct{}
	closed  bool // guarded by hub.mu
}

var _ node.Membership = (*View)(nil)

// Members implements node.Membership.
func (v *View) Members() []gossip.Member {
	v.hub.mu.Lock()
	defer v.hub.mu.Unlock()
	out := make([]gossip.Member, 0, len(v.hub.members))
	for _, m := range v.hub.members {
		c := *m
		c.Meta = bytes.Clone(m.Meta)
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Ledger implements node.Membership.
func (v *View) Ledger() []gossip.Entry {
	v.hub.mu.Lock()
	defer v.hub.mu.Unlock()
	out := make([]gossip.Entry, 0, len(v.hub.ledger))
	for _, e := range v.hub.ledger {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// SetEntry implements node.Membership.
func (v *View) SetEntry(e gossip.Entry) error {
	v.hub.SetEntry(e)
	return nil
}

// Changes implements node.Membership.
func (v *View) Changes() <-chan struct{} { return v.changes }

// UpdateMeta implements node.Membership; it also marks the node alive (a
// node publishes its metadata when it starts).
func (v *View) UpdateMeta(meta []byte, _ time.Duration) error {
	v.hub.mu.Lock()
	m := v.hub.members[v.name]
	m.Meta = bytes.Clone(meta)
	m.State = gossip.StateAlive
	v.hub.mu.Unlock()
	v.hub.notify()
	return nil
}

// Leave implements node.Membership: the node is seen as left.
func (v *View) Leave(time.Duration) error {
	v.hub.SetState(v.name, gossip.StateLeft)
	return nil
}

// Shutdown implements node.Membership. A node that shut down without
// leaving is seen as dead.
func (v *View) Shutdown() error {
	v.hub.mu.Lock()
	v.closed = true
	if m := v.hub.members[v.name]; m != nil && m.State != gossip.StateLeft {
		m.State = gossip.StateDead
	}
	v.hub.mu.Unlock()
	v.hub.notify()
	return nil
}
