package node

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"kvstore/gossip"
)

// ErrMemberAlive is returned by RemoveMember for a member gossip reports up:
// a live node leaves with "kvstore leave", it is not removed.
var ErrMemberAlive = errors.New("node: member is alive")

// RemoveMember takes a failed node out of the ring: its partitions move to
// the next nodes of the ring. It refuses a node that gossip reports up, this
// node itself, and a name that is not a ring member.
func (n *Node) RemoveMember(name string) error {
	if name == n.cfg.Name {
		return fmt.Errorf("%w: a node cannot remove itself; stop it and remove it from another node", ErrBadRequest)
	}
	member := false
	var version uint64
	for _, e := range n.members.Ledger() {
		if e.Name == name && (e.Status == gossip.Active || e.Status == gossip.Joining || e.Status == gossip.Leaving) {
			member, version = true, e.Version
		}
	}
	if !member {
		return fmt.Errorf("%w: %q is not a ring member", ErrNotFound, name)
	}
	for _, m := range n.members.Members() {
		if m.Name == name && (m.State == gossip.StateAlive || m.State == gossip.StateSuspect) {
			return fmt.Errorf("%w: %s is %s; stop it first, or make it leave", ErrMemberAlive, name, m.State)
		}
	}
	// The entry must supersede the member's own, whatever the clocks say.
	return n.members.SetEntry(gossip.Entry{Name: name, Status: gossip.Removed, Version: max(uint64(n.clock.Now()), version+1)})
}

// adminHandler serves operator actions under /admin/:
//
//	POST /admin/remove?node=NAME   remove a failed node from the ring
//	POST /admin/leave              hand this node's partitions off and leave the ring
func (n *Node) adminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /admin/remove", func(w http.ResponseWriter, r *http.Request) {
		name := r.URL.Query().Get("node")
		if name == "" {
			adminError(w, http.StatusBadRequest, errors.New("missing node parameter"))
			return
		}
		err := n.RemoveMember(name)
		switch {
		case err == nil:
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(map[string]string{"removed": name})
		case errors.Is(err, ErrNotFound):
			adminError(w, http.StatusNotFound, err)
		case errors.Is(err, ErrMemberAlive):
			adminError(w, http.StatusConflict, err)
		case errors.Is(err, ErrBadRequest):
			adminError(w, http.StatusBadRequest, err)
		default:
			adminError(w, http.StatusInternalServerError, err)
		}
	})
	mux.HandleFunc("POST /admin/leave", func(w http.ResponseWriter, r *http.Request) {
		rep, err := n.Leave(r.Context())
		if err != nil {
			code := http.StatusInternalServerError
			if errors.Is(err, ErrBadRequest) {
				code = http.StatusBadRequest
			}
			adminError(w, code, err)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"left": n.cfg.Name, "partitions": rep.Partitions, "records": rep.Records})
		// The operator stops the process next; kvstore leave does.
	})
	return mux
}

func adminError(w http.ResponseWriter, code int, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
}
