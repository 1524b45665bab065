package node

import (
	"context"
	"fmt"
	"sync"

	"kvstore/node/wire"
)

// Replica write batching. Under load a coordinator sends many client
// writes to the same replicas at once. A write goes out at once while fewer
// than writeSlots WriteRequests to that peer are in flight; otherwise it
// waits, and everything that waited goes out as one WriteRequest when a
// slot frees: one frame each way, and on the replica one apply (one WAL
// append per shard, one group-commit wait) for all of them. An idle
// coordinator never waits, so batching costs latency only where a write
// would have queued behind others anyway.

const (
	// writeSlots is how many WriteRequests to one peer (and hint target)
	// are in flight at once.
	writeSlots = 2
	// maxBatchRecords and maxBatchBytes bound one merged WriteRequest; a
	// single write larger than that still goes out whole.
	maxBatchRecords = 512
	maxBatchBytes   = 1 << 20
)

// writeQueue is the writes waiting for one peer and hint target.
type writeQueue struct {
	peer, hint string
	mu         sync.Mutex
	inflight   int // slots taken, at most writeSlots
	waiting    []*queuedWrite
}

type queuedWrite struct {
	ctx     context.Context // the writer's: once it ends, nobody waits
	records []wire.Record
	done    chan error // capacity 1
}

type writeQueueKey struct{ peer, hint string }

// writeQueueFor returns the queue of writes to peer with hint.
func (n *Node) writeQueueFor(peer, hint string) *writeQueue {
	k := writeQueueKey{peer, hint}
	if q, ok := n.writeQueues.Load(k); ok {
		return q.(*writeQueue)
	}
	q, _ := n.writeQueues.LoadOrStore(k, &writeQueue{peer: peer, hint: hint})
	return q.(*writeQueue)
}

// writeReplica stores records on the replica peer (as hints for hint, when
// set) and returns once it acknowledged them, merging them with other
// writes to the same peer when some are already in flight.
func (n *Node) writeReplica(ctx context.Context, peer string, records []wire.Record, hint string) error {
	if peer == n.cfg.Name { // nothing to merge: no RPC
		_, err := n.call(ctx, peer, &wire.WriteRequest{Records: records, Hint: hint})
		return err
	}
	q := n.writeQueueFor(peer, hint)
	q.mu.Lock()
	if q.inflight < writeSlots {
		// A free slot means nothing waits (slots are released only when
		// the queue is empty): send now, from this goroutine.
		q.inflight++
		q.mu.Unlock()
		_, err := n.call(ctx, peer, &wire.WriteRequest{Records: records, Hint: hint})
		n.releaseWriteSlot(q)
		return err
	}
	w := &queuedWrite{ctx: ctx, records: records, done: make(chan error, 1)}
	q.waiting = append(q.waiting, w)
	q.mu.Unlock()
	select {
	case err := <-w.done:
		return err
	case <-ctx.Done():
		// The write is not sent once it is taken from the queue: the
		// caller counts it failed (and keeps a hint), and a replica that
		// stalls cannot make the queue grow past what its callers wait for.
		return fmt.Errorf("replica %s: %w", peer, ctx.Err())
	}
}

// releaseWriteSlot frees a slot of q, or hands it to a goroutine that sends
// the writes that queued meanwhile.
func (n *Node) releaseWriteSlot(q *writeQueue) {
	q.mu.Lock()
	if len(q.waiting) == 0 {
		q.inflight--
		q.mu.Unlock()
		return
	}
	q.mu.Unlock()
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		n.drainWrites(q)
	}()
}

// drainWrites sends q's waiting writes in merged WriteRequests until none
// is left, then frees its slot.
func (n *Node) drainWrites(q *writeQueue) {
	var records []wire.Record
	for {
		q.mu.Lock()
		batch := q.take()
		if len(batch) == 0 {
			q.inflight--
			q.mu.Unlock()
			return
		}
		q.mu.Unlock()
		records = records[:0]
		for _, w := range batch {
			records = append(records, w.records...)
		}
		ctx, cancel := n.replicaCtx()
		_, err := n.call(ctx, q.peer, &wire.WriteRequest{Records: records, Hint: q.hint})
		cancel()
		for _, w := range batch {
			w.done <- err
		}
		clear(records) // drop references to the values
	}
}

// take removes and returns the oldest waiting writes that fit in one
// merged request (at least one, if any is left), dropping those whose
// writer stopped waiting. Called with q.mu held.
func (q *writeQueue) take() []*queuedWrite {
	var batch []*queuedWrite
	count, size, i := 0, 0, 0
	for ; i < len(q.waiting); i++ {
		w := q.waiting[i]
		if w.ctx.Err() != nil {
			continue
		}
		s := recordsSize(w.records)
		if len(batch) > 0 && (count+len(w.records) > maxBatchRecords || size+s > maxBatchBytes) {
			break
		}
		batch = append(batch, w)
		count += len(w.records)
		size += s
	}
	q.waiting = append([]*queuedWrite(nil), q.waiting[i:]...)
	return batch
}

// recordsSize approximates the encoded size of records.
func recordsSize(records []wire.Record) int {
	s := 0
	for _, r := range records {
		s += len(r.Key) + len(r.Value) + 16
	}
	return s
}
