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
// would have queued behind others anyway. Nothing here blocks: the
// response to one request sends the next (Node.send).

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
	ctx     context.Context // the writer's: once it ends, the write is not sent
	records []wire.Record
	done    func(error)
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
// set) and calls done once it acknowledged them or failed, merging them with
// other writes to the same peer when some are already in flight. done is
// called exactly once, possibly before writeReplica returns, and must not
// block.
func (n *Node) writeReplica(ctx context.Context, peer string, records []wire.Record, hint string, done func(error)) {
	if peer == n.cfg.Name { // nothing to merge: no RPC
		n.send(ctx, peer, &wire.WriteRequest{Records: records, Hint: hint}, func(_ wire.Message, err error) { done(err) })
		return
	}
	q := n.writeQueueFor(peer, hint)
	q.mu.Lock()
	if q.inflight < writeSlots {
		// A free slot means nothing waits (a slot is freed only when the
		// queue is empty): send now.
		q.inflight++
		q.mu.Unlock()
		n.send(ctx, peer, &wire.WriteRequest{Records: records, Hint: hint}, func(_ wire.Message, err error) {
			done(err)
			n.sendWaiting(q)
		})
		return
	}
	q.waiting = append(q.waiting, &queuedWrite{ctx: ctx, records: records, done: done})
	q.mu.Unlock()
}

// sendWaiting runs when one of q's requests is answered: it sends the
// writes that queued meanwhile, merged, on the slot that request held, or
// frees the slot when none is left. Writes whose writer stopped waiting are
// failed, not sent: the writer counts them failed (and keeps a hint). Every
// request ends by its deadline (ReplicaTimeout), so behind a replica that
// stalls the queue holds at most the writes of about two deadlines.
func (n *Node) sendWaiting(q *writeQueue) {
	q.mu.Lock()
	batch, expired := q.take()
	if len(batch) == 0 {
		q.inflight--
	}
	q.mu.Unlock()
	for _, w := range expired {
		w.done(fmt.Errorf("replica %s: %w", q.peer, w.ctx.Err()))
	}
	if len(batch) == 0 {
		return
	}
	count := 0
	for _, w := range batch {
		count += len(w.records)
	}
	records := make([]wire.Record, 0, count)
	for _, w := range batch {
		records = append(records, w.records...)
	}
	ctx, cancel := n.replicaCtx()
	n.send(ctx, q.peer, &wire.WriteRequest{Records: records, Hint: q.hint}, func(_ wire.Message, err error) {
		cancel()
		for _, w := range batch {
			w.done(err)
		}
		n.sendWaiting(q)
	})
}

// take removes and returns the oldest waiting writes that fit in one
// merged request (at least one, if any is left), and the writes before
// them whose writer stopped waiting. Called with q.mu held.
func (q *writeQueue) take() (batch, expired []*queuedWrite) {
	count, size, i := 0, 0, 0
	for ; i < len(q.waiting); i++ {
		w := q.waiting[i]
		if w.ctx.Err() != nil {
			expired = append(expired, w)
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
	return batch, expired
}

// recordsSize approximates the encoded size of records.
func recordsSize(records []wire.Record) int {
	s := 0
	for _, r := range records {
		s += len(r.Key) + len(r.Value) + 16
	}
	return s
}
