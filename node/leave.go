package node

import (
	"context"
	"fmt"
	"sort"

	"kvstore/gossip"
	"kvstore/node/wire"
	"kvstore/storage"
)

// leaveBatch is how many records one hand-off RPC carries.
const leaveBatch = 512

// Leave decommissions this node: it marks itself leaving in the ring
// ledger, which takes it out of the target table (see move.go), so writes
// of its partitions also reach the nodes that gain them; streams every
// partition it replicates to those nodes (each batch acknowledged durably
// by its receiver); then marks itself left, so the ring moves on without
// it. It keeps serving as a replica until then, so no acknowledged write
// is lost. The caller then stops the node (Close).
func (n *Node) Leave(ctx context.Context) (LeaveReport, error) {
	var rep LeaveReport
	if len(n.table.Load().Members()) < 2 {
		return rep, fmt.Errorf("%w: %s is the only ring member", ErrBadRequest, n.cfg.Name)
	}
	if err := n.setOwnEntry(gossip.Leaving); err != nil {
		return rep, err
	}
	n.refresh() // the tables now see this node leaving
	cur, next := n.table.Load(), n.target.Load()
	if next.Has(n.cfg.Name) {
		return rep, fmt.Errorf("node: %s is still a target ring member after marking itself leaving", n.cfg.Name)
	}
	for _, mv := range cur.Moves(next) {
		if !contains(mv.Old, n.cfg.Name) || len(mv.Added) == 0 {
			continue
		}
		gaining := append([]string(nil), mv.Added...)
		sort.Strings(gaining)
		for _, target := range gaining {
			sent, err := n.handOff(ctx, mv.Partition, target)
			rep.Records += sent
			if err != nil {
				return rep, fmt.Errorf("node: hand-off of partition %d to %s: %w", mv.Partition, target, err)
			}
		}
		rep.Partitions++
	}
	if err := n.setOwnEntry(gossip.Left); err != nil {
		return rep, err
	}
	n.leftOnce.Do(func() { close(n.left) })
	return rep, nil
}

// Left is closed once the node has left the ring (Leave succeeded); the
// process serving it stops then.
func (n *Node) Left() <-chan struct{} { return n.left }

// LeaveReport says what a Leave handed off.
type LeaveReport struct {
	Partitions int // partitions streamed to a new owner
	Records    int // records sent (a record sent to two new owners counts twice)
}

// handOff streams partition p's records, tombstones included, to target.
func (n *Node) handOff(ctx context.Context, p int, target string) (int, error) {
	start, end := partitionBounds(p, nil, nil)
	it, err := n.db.NewIter(storage.IterOptions{Start: start, End: end, Tombstones: true, NoCache: true})
	if err != nil {
		return 0, err
	}
	defer it.Close()
	sent := 0
	var batch []wire.Record
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		rctx, cancel := context.WithTimeout(ctx, n.cfg.ReplicaTimeout)
		defer cancel()
		if _, err := n.call(rctx, target, &wire.WriteRequest{Records: batch}); err != nil {
			return err
		}
		sent += len(batch)
		n.metrics.handedOff.Add(int64(len(batch)))
		batch = batch[:0]
		return nil
	}
	for ok := it.First(); ok; ok = it.Next() {
		batch = append(batch, wire.Record{
			Key:       append([]byte(nil), it.Key()[partitionPrefixLen:]...),
			Value:     append([]byte(nil), it.Value()...),
			Version:   uint64(it.Version()),
			Tombstone: it.Tombstone(),
		})
		if len(batch) == leaveBatch {
			if err := flush(); err != nil {
				return sent, err
			}
		}
	}
	if err := it.Err(); err != nil {
		return sent, err
	}
	return sent, flush()
}

// setOwnEntry records this node's ring status, superseding its entry.
func (n *Node) setOwnEntry(st gossip.Status) error {
	var version uint64
	for _, e := range n.members.Ledger() {
		if e.Name == n.cfg.Name {
			version = e.Version
		}
	}
	return n.members.SetEntry(gossip.Entry{Name: n.cfg.Name, Status: st, Version: max(uint64(n.clock.Now()), version+1)})
}
