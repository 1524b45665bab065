package node

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"kvstore/antientropy"
	"kvstore/gossip"
	"kvstore/ring"
	"kvstore/storage"
)

// Partition movement. The ring ledger gives each member a status, and the
// node derives two tables from it:
//
//   - the read table (Node.table): Active and Leaving members. Reads, range
//     reads and the W acknowledgements of a write come from its replicas.
//   - the target table (Node.target): Active and Joining members, the ring
//     once the moves in progress are done.
//
// A partition whose replicas differ between the two is moving; each node in
// its target replicas but not its read replicas is pending: it gets every
// write of the partition too, and a write then needs one more
// acknowledgement per live pending node, so that a quorum of the new
// replica set holds every write acknowledged during the move.
//
// A joining node streams each partition it gains from one live read
// replica (a Merkle exchange, which sends everything to an empty replica),
// four partitions at a time; waits for gossip to settle; exchanges each
// partition with every live read replica, which picks up writes sent before
// every coordinator knew it was joining and whatever the first replica
// lacked (only differences move); makes the data durable; and only then
// marks itself Active and starts serving reads. A leaving node pushes its
// partitions to their gaining owners (Leave), then marks itself Left; one
// restarted while Leaving resumes the leave.
//
// Once no member is joining or leaving, a node drops the partitions it no
// longer replicates: after DropDelay, and only after an exchange with every
// current replica of the partition confirmed they hold what it holds. A
// node that gains partitions without a join (an operator removed a failed
// member) exchanges them with their other replicas at once, instead of
// waiting for the next anti-entropy pass.

// joiningFile marks, in the data directory, a node that has not finished
// joining: a restart resumes streaming instead of claiming the partitions.
const joiningFile = "joining"

// Movement defaults.
const (
	defaultJoinSettle = 2 * time.Second
	defaultDropDelay  = time.Minute
	moveInterval      = time.Second
)

// mover is the state of the goroutine that streams, catches up and drops
// partitions (moveLoop). Counters are read by Status and metrics.
type mover struct {
	wake chan struct{} // a ring change (capacity 1)

	joining         atomic.Bool
	leaving         atomic.Bool  // restarted while Leaving: the leave resumes
	joinPartitions  atomic.Int64 // partitions this join streams
	joinStreamed    atomic.Int64 // of those, streamed in the current round
	streamedRecords atomic.Int64 // records received by joins and catch-ups
	catchUpPending  atomic.Int64
	dropped         atomic.Int64 // partitions dropped
	joinedAt        atomic.Int64 // Unix ms when the join completed

	// Owned by moveLoop.
	// ownedTable is the read table of the last catch-up step: partitions
	// this node replicates in a newer table but not in it were gained.
	ownedTable *ring.Table
	catchUp    map[int]bool      // gained partitions to exchange at once
	lostSince  map[int]time.Time // partitions no longer replicated, since
	// scannedTable and scannedAt: the read table and time of the last
	// search for data of partitions not replicated.
	scannedTable    *ring.Table
	scannedAt       time.Time
	postponedLogged time.Time
}

// MoveStatus reports partition movement on this node.
type MoveStatus struct {
	// Joining is set while the node streams the partitions it gains by
	// joining; it serves no reads until then.
	Joining bool `json:"joining"`
	// JoinPartitions is how many partitions the join streams, and
	// JoinStreamed how many of them the current round has streamed.
	JoinPartitions int64 `json:"join_partitions"`
	JoinStreamed   int64 `json:"join_streamed"`
	// JoinedAt is when the join completed (RFC 3339), empty if it did not
	// happen in this process's life.
	JoinedAt string `json:"joined_at,omitempty"`
	// StreamedRecords counts records received by joins and catch-ups.
	StreamedRecords int64 `json:"streamed_records"`
	// CatchUpPending counts gained partitions still to exchange.
	CatchUpPending int64 `json:"catch_up_pending"`
	// HandedOffRecords counts records pushed to new owners while leaving.
	HandedOffRecords int64 `json:"handed_off_records"`
	// DroppedPartitions counts partitions dropped after they moved away.
	DroppedPartitions int64 `json:"dropped_partitions"`
	// MovingPartitions is how many partitions are moving in the ring.
	MovingPartitions int `json:"moving_partitions"`
}

// ringMembers splits the ledger into the read and target members, each
// sorted.
func ringMembers(ledger []gossip.Entry, self string) (read, target []string) {
	for _, e := range ledger {
		switch e.Status {
		case gossip.Active:
			read = append(read, e.Name)
			target = append(target, e.Name)
		case gossip.Leaving:
			read = append(read, e.Name)
		case gossip.Joining:
			target = append(target, e.Name)
		}
	}
	if len(read) == 0 {
		// A new cluster whose members are all joining: nobody has data to
		// stream, so the joiners form the ring.
		read = target
	}
	if len(read) == 0 {
		read = []string{self} // not yet in the ledger
	}
	if len(target) == 0 {
		target = read
	}
	sort.Strings(read)
	sort.Strings(target)
	return read, target
}

// pendingReplicas returns the live nodes that will replicate partition p once
// the moves in progress are done but are not among its read replicas reps.
func (n *Node) pendingReplicas(target *ring.Table, p int, reps []string) []string {
	var out []string
	view := n.peers.Load()
	for _, r := range target.Replicas(p) {
		if contains(reps, r) {
			continue
		}
		if pr := view.byName[r]; r == n.cfg.Name || (pr != nil && pr.up()) {
			out = append(out, r)
		}
	}
	return out
}

// enterRing records this node in the ring ledger: a node that has data, or
// starts a new cluster, is Active; a new node joining a cluster, one that
// comes back after it left or was removed, one whose data directory was
// wiped while the ring has it Active, and one that had not finished joining
// are Joining until they have streamed their partitions. Otherwise a node
// the ledger has as Active, Joining or Leaving keeps that status (a restart
// is not a join); one that stopped while Leaving resumes its leave
// (resumeLeave).
func (n *Node) enterRing() error {
	marker := filepath.Join(n.cfg.DataDir, joiningFile)
	_, err := os.Stat(marker)
	resuming := err == nil
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	var version uint64
	wasOut := false // left or removed earlier: its data is stale
	for _, e := range n.members.Ledger() {
		if e.Name == n.cfg.Name {
			wasOut = e.Status == gossip.Left || e.Status == gossip.Removed
			switch e.Status {
			case gossip.Joining:
				n.mv.joining.Store(true)
				return nil
			case gossip.Leaving:
				n.mv.leaving.Store(true)
				return nil
			case gossip.Active:
				if resuming {
					return os.Remove(marker) // the join completed; the marker outlived it
				}
				if !n.fresh {
					return nil
				}
				// An empty data directory where the ring expects data (a
				// replaced disk): stream it back before serving reads.
				wasOut = true
			}
			version = e.Version
		}
	}
	status := gossip.Active
	if resuming || wasOut && n.fresh || len(n.cfg.Join) > 0 && (n.fresh || wasOut) {
		status = gossip.Joining
		if err := writeFileAtomic(marker, []byte("joining\n")); err != nil {
			return err
		}
		n.mv.joining.Store(true)
	}
	return n.members.SetEntry(gossip.Entry{Name: n.cfg.Name, Status: status, Version: max(uint64(n.clock.Now()), version+1)})
}

// moveLoop streams, catches up and drops partitions as the ring changes.
func (n *Node) moveLoop() {
	defer n.wg.Done()
	t := time.NewTicker(moveInterval)
	defer t.Stop()
	for {
		if n.mv.joining.Load() {
			if err := n.joinStep(n.bg); err != nil && n.bg.Err() == nil {
				n.log.Printf("join: %v; retrying", err)
			}
		} else {
			n.catchUpStep(n.bg)
			n.dropStep(n.bg)
		}
		select {
		case <-n.bg.Done():
			return
		case <-n.mv.wake:
		case <-t.C:
		}
	}
}

// wakeMover tells moveLoop the ring changed.
func (n *Node) wakeMover() {
	select {
	case n.mv.wake <- struct{}{}:
	default:
	}
}

// joinStep tries to finish the join: stream every gained partition from its
// read replicas, wait for gossip to settle, exchange again, make the data
// durable and mark this node Active. It returns nil without finishing when
// the node has not met the cluster yet or the ring changed meanwhile (the
// next step starts over; exchanges of streamed partitions are cheap).
func (n *Node) joinStep(ctx context.Context) error {
	var others, active bool
	for _, e := range n.members.Ledger() {
		if e.Name != n.cfg.Name && (e.Status == gossip.Joining || e.Status == gossip.Active || e.Status == gossip.Leaving) {
			others = true
			active = active || e.Status != gossip.Joining
		}
	}
	if !others {
		return nil // gossip has not reached the cluster yet
	}
	if active {
		read, target := n.table.Load(), n.target.Load()
		var parts []int
		for _, p := range target.PartitionsOf(n.cfg.Name) {
			if !read.Owns(n.cfg.Name, p) {
				parts = append(parts, p)
			}
		}
		n.mv.joinPartitions.Store(int64(len(parts)))
		for round := range 2 {
			if round == 1 {
				// Coordinators that had not yet seen this node joining sent
				// their writes to the read replicas only: let gossip settle,
				// then pick those writes up.
				if err := sleepCtx(ctx, n.cfg.JoinSettle); err != nil {
					return err
				}
			}
			n.mv.joinStreamed.Store(0)
			// The first round streams each partition from one live replica;
			// the second exchanges with all of them, which also picks up
			// what that one replica missed.
			mode := exchangeFirst
			if round == 1 {
				mode = exchangeEvery
			}
			err := forEachParallel(ctx, parts, joinParallelism, func(p int) error {
				if err := n.exchange(ctx, read, p, mode); err != nil {
					return err
				}
				n.mv.joinStreamed.Add(1)
				return nil
			})
			if err != nil {
				return err
			}
		}
		if n.table.Load() != read || n.target.Load() != target {
			return nil // the ring changed while streaming; go again
		}
	}
	if err := n.db.Flush(); err != nil {
		return fmt.Errorf("make streamed data durable: %w", err)
	}
	if err := n.setOwnEntry(gossip.Active); err != nil {
		return err
	}
	if err := os.Remove(filepath.Join(n.cfg.DataDir, joiningFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	n.mv.joining.Store(false)
	n.mv.joinedAt.Store(time.Now().UnixMilli())
	n.mv.ownedTable = n.target.Load() // what it streamed is no gain to catch up on
	n.log.Printf("joined: streamed %d partitions, %d records", n.mv.joinPartitions.Load(), n.mv.streamedRecords.Load())
	return nil
}

// exchangeMode says which replicas exchange visits.
type exchangeMode uint8

const (
	exchangeFirst  exchangeMode = iota // the first live replica that answers
	exchangeEvery                      // every live replica; at least one
	exchangeStrict                     // every replica: fail if one is down
)

// exchange runs Merkle exchanges of partition p with the replicas of p in t
// other than this node, as mode says.
func (n *Node) exchange(ctx context.Context, t *ring.Table, p int, mode exchangeMode) error {
	view := n.peers.Load()
	done := 0
	var lastErr error
	for _, r := range t.Replicas(p) {
		if r == n.cfg.Name {
			continue
		}
		if pr := view.byName[r]; pr == nil || !pr.up() {
			if mode == exchangeStrict {
				return fmt.Errorf("replica %s of partition %d is down", r, p)
			}
			continue
		}
		res, err := antientropy.Sync(ctx, n.aeLocal, aePeer{n: n, name: r}, p)
		if err != nil {
			lastErr = fmt.Errorf("exchange of partition %d with %s: %w", p, r, err)
			if mode == exchangeFirst {
				continue // try the next replica
			}
			return lastErr
		}
		n.mv.streamedRecords.Add(int64(res.KeysReceived))
		done++
		if mode == exchangeFirst {
			return nil
		}
	}
	if done == 0 && mode != exchangeStrict {
		if lastErr != nil {
			return lastErr
		}
		return fmt.Errorf("no live replica of partition %d", p)
	}
	return nil
}

// joinParallelism is how many partitions a join streams at once: enough to
// overlap round trips and tree builds, few enough to leave the foreground
// most of the machine.
const joinParallelism = 4

// forEachParallel calls f for every item with at most par calls at once,
// and returns the first error (the remaining items are skipped).
func forEachParallel(ctx context.Context, items []int, par int, f func(int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	next := make(chan int)
	errs := make(chan error, par)
	var wg sync.WaitGroup
	for range par {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for it := range next {
				if err := f(it); err != nil {
					errs <- err
					cancel()
					return
				}
			}
		}()
	}
	for _, it := range items {
		select {
		case next <- it:
			continue
		case <-ctx.Done():
		}
		break
	}
	close(next)
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
		return ctx.Err()
	}
}

// catchUpStep exchanges the partitions this node gained since the last step
// (other than by joining) with their other replicas.
func (n *Node) catchUpStep(ctx context.Context) {
	t := n.table.Load()
	if prev := n.mv.ownedTable; prev != nil && prev != t {
		for _, p := range t.PartitionsOf(n.cfg.Name) {
			if !prev.Owns(n.cfg.Name, p) {
				n.mv.catchUp[p] = true
			}
		}
	}
	n.mv.ownedTable = t
	for p := range n.mv.catchUp {
		if !t.Owns(n.cfg.Name, p) {
			delete(n.mv.catchUp, p)
			continue
		}
		if err := n.exchange(ctx, t, p, exchangeEvery); err != nil {
			if ctx.Err() == nil {
				n.log.Printf("catch-up: %v", err)
			}
			break
		}
		delete(n.mv.catchUp, p)
	}
	n.mv.catchUpPending.Store(int64(len(n.mv.catchUp)))
}

// dropStep drops the partitions this node no longer replicates once the
// ring is settled, they have been lost for DropDelay, and every current
// replica confirmed by an exchange that it holds what this node holds.
func (n *Node) dropStep(ctx context.Context) {
	read, target := n.table.Load(), n.target.Load()
	if read != target || !read.Has(n.cfg.Name) {
		// Moves in progress: start over once settled.
		n.mv.lostSince, n.mv.scannedTable = map[int]time.Time{}, nil
		return
	}
	now := time.Now()
	// Look for data in partitions this node does not replicate when the
	// ring changed, and otherwise once per DropDelay (a write from a
	// coordinator with an old ring can land after a drop).
	if read != n.mv.scannedTable || now.Sub(n.mv.scannedAt) >= n.cfg.DropDelay {
		for p := range n.cfg.Partitions {
			if _, ok := n.mv.lostSince[p]; !ok && !read.Owns(n.cfg.Name, p) && n.holdsData(p) {
				n.mv.lostSince[p] = now
			}
		}
		n.mv.scannedTable, n.mv.scannedAt = read, now
	}
	var drop []storage.KeyRange
	var dropped []int
	var postponed int
	var lastErr error
	for p, since := range n.mv.lostSince {
		if read.Owns(n.cfg.Name, p) {
			delete(n.mv.lostSince, p)
			continue
		}
		if now.Sub(since) < n.cfg.DropDelay {
			continue
		}
		if err := n.exchange(ctx, read, p, exchangeStrict); err != nil {
			postponed++
			lastErr = err
			continue
		}
		start, end := partitionBounds(p, nil, nil)
		drop = append(drop, storage.KeyRange{Start: start, End: end})
		dropped = append(dropped, p)
	}
	if postponed > 0 && ctx.Err() == nil && now.Sub(n.mv.postponedLogged) >= time.Minute {
		n.log.Printf("drop of %d partitions postponed: %v", postponed, lastErr)
		n.mv.postponedLogged = now
	}
	if len(drop) == 0 {
		return
	}
	if n.table.Load() != read || n.target.Load() != target {
		return // the ring changed during the exchanges; decide again
	}
	if err := n.db.DropRanges(drop); err != nil {
		n.log.Printf("drop partitions: %v", err)
		return
	}
	for _, p := range dropped {
		n.rep.changed(p)
		delete(n.mv.lostSince, p)
	}
	n.mv.dropped.Add(int64(len(dropped)))
	n.log.Printf("dropped %d partitions this node no longer replicates", len(dropped))
}

// holdsData reports whether the engine holds any record of partition p.
func (n *Node) holdsData(p int) bool {
	start, end := partitionBounds(p, nil, nil)
	it, err := n.db.NewIter(storage.IterOptions{Start: start, End: end, Tombstones: true})
	if err != nil {
		return false
	}
	defer it.Close()
	return it.First()
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// MoveStatus reports partition movement on this node.
func (n *Node) MoveStatus() MoveStatus {
	read, target := n.table.Load(), n.target.Load()
	st := MoveStatus{
		Joining:           n.mv.joining.Load(),
		JoinPartitions:    n.mv.joinPartitions.Load(),
		JoinStreamed:      n.mv.joinStreamed.Load(),
		StreamedRecords:   n.mv.streamedRecords.Load(),
		CatchUpPending:    n.mv.catchUpPending.Load(),
		HandedOffRecords:  n.metrics.handedOff.Load(),
		DroppedPartitions: n.mv.dropped.Load(),
	}
	if ms := n.mv.joinedAt.Load(); ms != 0 {
		st.JoinedAt = time.UnixMilli(ms).UTC().Format(time.RFC3339)
	}
	if read != target {
		st.MovingPartitions = len(read.Moves(target))
	}
	return st
}

// resumeLeave finishes the leave of a node that stopped while leaving (the
// operator asked it to go; a restart does not take that back): it hands its
// partitions off again, retrying until it succeeds or the node closes, and
// the process stops once Left is closed.
func (n *Node) resumeLeave() {
	defer n.wg.Done()
	n.log.Printf("this node was leaving the ring when it stopped; resuming the leave")
	for {
		rep, err := n.Leave(n.bg)
		if err == nil {
			n.log.Printf("left the ring: handed off %d partitions, %d records", rep.Partitions, rep.Records)
			return
		}
		if n.bg.Err() != nil {
			return
		}
		n.log.Printf("resumed leave: %v; retrying", err)
		if sleepCtx(n.bg, 5*time.Second) != nil {
			return
		}
	}
}
