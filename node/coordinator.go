package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync/atomic"
	"time"

	"kvstore/node/wire"
	"kvstore/ring"
	"kvstore/storage"
)

var _ API = (*Node)(nil)

// call sends req to the named node, or serves it locally when the node is
// this one.
func (n *Node) call(ctx context.Context, name string, req wire.Message) (wire.Message, error) {
	if name == n.cfg.Name {
		return n.ServeRPC(ctx, name, req)
	}
	addr, err := n.peerRPC(name)
	if err != nil {
		return nil, err
	}
	resp, err := n.tr.Call(ctx, addr, req)
	if err != nil {
		return nil, n.replicaFailed(name, err)
	}
	return resp, nil
}

// send is call without waiting: done gets its result, exactly once, from
// another goroutine or before send returns. done must not block. A request
// to this node is served in a goroutine of its own; one to a peer is left
// to the transport, so a coordinator waiting for several replicas has no
// goroutine per replica.
func (n *Node) send(ctx context.Context, name string, req wire.Message, done func(wire.Message, error)) {
	if name == n.cfg.Name {
		n.wg.Go(func() { done(n.ServeRPC(ctx, name, req)) })
		return
	}
	addr, err := n.peerRPC(name)
	if err != nil {
		done(nil, err)
		return
	}
	n.wg.Add(1)
	n.tr.Go(ctx, addr, req, func(resp wire.Message, err error) {
		defer n.wg.Done()
		if err != nil {
			err = n.replicaFailed(name, err)
		}
		done(resp, err)
	})
}

// peerRPC returns the RPC address of the peer name, or an error wrapping
// ErrUnavailable when gossip does not report it up.
func (n *Node) peerRPC(name string) (string, error) {
	p := n.peers.Load().byName[name]
	if p == nil || !p.up() || p.rpc == "" {
		n.metrics.replicaDown.Add(1)
		return "", fmt.Errorf("%w: replica %s is down", ErrUnavailable, name)
	}
	return p.rpc, nil
}

// replicaFailed counts and describes the failed RPC to replica name.
func (n *Node) replicaFailed(name string, err error) error {
	n.metrics.replicaErrors.Add(1)
	return fmt.Errorf("replica %s: %w", name, err)
}

// countUp returns how many of the named nodes gossip reports up (this node
// always is).
func (n *Node) countUp(names []string) int {
	view := n.peers.Load()
	up := 0
	for _, name := range names {
		if p := view.byName[name]; name == n.cfg.Name || (p != nil && p.up()) {
			up++
		}
	}
	return up
}

// replicaCtx returns the context of one replica RPC: bounded by
// ReplicaTimeout and by the node's lifetime, but not by the client's
// request, so writes past the quorum and read repairs finish after the
// client has its answer.
func (n *Node) replicaCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(n.bg, n.cfg.ReplicaTimeout)
}

// required resolves a consistency level against the partition's replica
// count; an explicit count above it is a bad request.
func required(l Level, replicas, def int) (int, error) {
	need := l.resolve(replicas, def)
	if need > replicas {
		return 0, fmt.Errorf("%w: consistency %s needs %d replicas, the partition has %d", ErrBadRequest, l, need, replicas)
	}
	return need, nil
}

// ObserveVersion implements API.
func (n *Node) ObserveVersion(v storage.Version) error {
	return n.clock.ObserveToken(v, MaxVersionLead)
}

// Put implements API.
func (n *Node) Put(ctx context.Context, key, value []byte, w Level) WriteResult {
	return n.writeKey(ctx, wire.Record{Key: key, Value: value}, w)
}

// Delete implements API.
func (n *Node) Delete(ctx context.Context, key []byte, w Level) WriteResult {
	return n.writeKey(ctx, wire.Record{Key: key, Tombstone: true}, w)
}

func (n *Node) writeKey(ctx context.Context, rec wire.Record, w Level) WriteResult {
	res := n.Batch(ctx, []Mutation{{Key: rec.Key, Value: rec.Value, Delete: rec.Tombstone}}, w)
	return res[0]
}

// Batch implements API. Records are grouped by destination, so each node
// gets one RPC with all its records; each key's acknowledgements are counted
// separately, by distinct node.
//
// With hinted handoff (the default), a replica that gossip reports down is
// replaced by the next live node of the partition's ring order that is not
// a replica, which keeps the record as a hint for it; when there is none (a
// ring of N nodes), the coordinator keeps the hint. A replica whose RPC
// fails gets a hint kept by the coordinator, whether or not the write had
// already met its level (the client may have its answer). A hint counts
// toward W when it
// is kept on a node that has not already acknowledged the key (sloppy
// quorum).
//
// While partitions move (see move.go), a write also goes to the live nodes
// that are gaining its partition, and needs one more acknowledgement for
// each of them.
func (n *Node) Batch(ctx context.Context, muts []Mutation, w Level) []WriteResult {
	target := n.target.Load()
	t := n.table.Load()
	results := make([]WriteResult, len(muts))
	// dest is one RPC: the records a node stores, as a replica (hintFor "")
	// or as hints for another node.
	type dest struct {
		node, hintFor string
		records       []wire.Record
		keys          []int // indexes into muts
	}
	dests := map[[2]string]*dest{}
	records := make([]wire.Record, len(muts))
	// acked and pending hold, per key, the distinct nodes that acknowledged
	// it and the destinations still to answer.
	acked := make([][]string, len(muts))
	pending := make([][]string, len(muts))
	for i, m := range muts {
		results[i].Key = m.Key
		if err := checkRecord(wire.Record{Key: m.Key, Value: m.Value, Version: 1}); err != nil {
			results[i].Err = err
			continue
		}
		p := t.Partition(m.Key)
		reps := t.Replicas(p)
		need, err := required(w, len(reps), n.cfg.W)
		if err != nil {
			results[i].Err = err
			continue
		}
		plan := n.planWrite(t, p, reps)
		if target != t {
			for _, r := range n.pendingReplicas(target, p, reps) {
				plan = append(plan, writeDest{node: r})
				need++
			}
		}
		results[i].Required = need
		if distinct := countDistinct(plan); distinct < need {
			// Refuse at once, writing nothing: too few nodes are up to
			// ever meet the level.
			results[i].Err = fmt.Errorf("%w: %d nodes are up to take the write, %d required", ErrUnavailable, distinct, need)
			continue
		}
		v := n.clock.Now()
		records[i] = wire.Record{Key: m.Key, Value: m.Value, Tombstone: m.Delete, Version: uint64(v)}
		results[i].Version = v
		for _, d := range plan {
			k := [2]string{d.node, d.hintFor}
			ds := dests[k]
			if ds == nil {
				ds = &dest{node: d.node, hintFor: d.hintFor}
				dests[k] = ds
			}
			ds.records = append(ds.records, records[i])
			ds.keys = append(ds.keys, i)
			pending[i] = append(pending[i], d.node)
		}
	}
	if len(dests) == 0 {
		return results
	}

	type reply struct {
		d          *dest
		err        error
		hintedHere bool // d failed and this node keeps its records as hints
	}
	replies := make(chan reply, len(dests))
	// One deadline for all the destinations (a timer and a context per
	// write otherwise); the last write to finish releases it.
	rctx, cancel := n.replicaCtx()
	var running atomic.Int32
	running.Store(int32(len(dests)))
	finish := func(r reply) {
		if running.Add(-1) == 0 {
			cancel()
		}
		replies <- r
	}
	for _, d := range dests {
		n.writeReplica(rctx, d.node, d.records, d.hintFor, func(err error) {
			if err == nil || n.hints == nil || d.node == n.cfg.Name {
				finish(reply{d: d, err: err})
				return
			}
			// A failed destination's records become hints kept here, also
			// when the client has its answer already. Writing them takes
			// a disk write: not in the transport's goroutine.
			n.wg.Go(func() {
				hintFor := d.hintFor
				if hintFor == "" {
					hintFor = d.node
				}
				finish(reply{d: d, err: err, hintedHere: n.keepHints(hintFor, d.records) == nil})
			})
		})
	}
	decided := func(i int) bool {
		res := &results[i]
		if res.Err != nil || len(acked[i]) >= res.Required {
			return true
		}
		possible := len(acked[i])
		for _, p := range pending[i] {
			if !contains(acked[i], p) {
				possible++
			}
		}
		return possible < res.Required
	}
	undecided := 0
	for i := range results {
		if !decided(i) {
			undecided++
		}
	}
	lastErr := make([]error, len(muts))
	for got := 0; got < len(dests) && undecided > 0; got++ {
		var r reply
		select {
		case r = <-replies:
		case <-ctx.Done():
			for i := range results {
				res := &results[i]
				res.Acks = len(acked[i])
				if res.Err == nil && res.Acks < res.Required {
					res.Err = fmt.Errorf("%w: %d of %d replicas acknowledged before the deadline (%v)",
						ErrUnavailable, res.Acks, res.Required, ctx.Err())
				}
			}
			n.countWrites(results)
			return results
		}
		for _, k := range r.d.keys {
			was := decided(k)
			pending[k] = removeOne(pending[k], r.d.node)
			switch {
			case r.err == nil:
				if !contains(acked[k], r.d.node) {
					acked[k] = append(acked[k], r.d.node)
				}
			case r.hintedHere:
				if !contains(acked[k], n.cfg.Name) {
					acked[k] = append(acked[k], n.cfg.Name)
				}
			default:
				lastErr[k] = r.err
			}
			if !was && decided(k) {
				undecided--
			}
		}
	}
	for i := range results {
		res := &results[i]
		res.Acks = len(acked[i])
		if res.Err == nil && res.Acks < res.Required {
			res.Err = fmt.Errorf("%w: %d of %d replicas acknowledged: %v", ErrUnavailable, res.Acks, res.Required, lastErr[i])
		}
	}
	n.countWrites(results)
	return results
}

// writeDest is where one copy of a write goes: a node, storing it as a
// replica or as a hint for hintFor.
type writeDest struct{ node, hintFor string }

// planWrite chooses the destinations of a write to partition p: every
// replica that is up; for each replica that is down, with hinted handoff,
// the next live node of the ring order outside the preference list (each
// used once), else the coordinator itself.
func (n *Node) planWrite(t *ring.Table, p int, reps []string) []writeDest {
	view := n.peers.Load()
	up := func(name string) bool {
		pr := view.byName[name]
		return name == n.cfg.Name || (pr != nil && pr.up())
	}
	plan := make([]writeDest, 0, len(reps))
	var down []string
	for _, r := range reps {
		if up(r) {
			plan = append(plan, writeDest{node: r})
		} else {
			down = append(down, r)
		}
	}
	if len(down) == 0 || n.hints == nil {
		return plan
	}
	order := t.Order(p)
	next := len(reps)
	for _, r := range down {
		for next < len(order) && !up(order[next]) {
			next++
		}
		if next < len(order) {
			plan = append(plan, writeDest{node: order[next], hintFor: r})
			next++
		} else {
			plan = append(plan, writeDest{node: n.cfg.Name, hintFor: r})
		}
	}
	return plan
}

func countDistinct(plan []writeDest) int {
	var seen []string
	for _, d := range plan {
		if !contains(seen, d.node) {
			seen = append(seen, d.node)
		}
	}
	return len(seen)
}

func removeOne(list []string, s string) []string {
	for i, x := range list {
		if x == s {
			return append(list[:i], list[i+1:]...)
		}
	}
	return list
}

func (n *Node) countWrites(results []WriteResult) {
	for _, r := range results {
		if r.Err != nil {
			n.metrics.writeFailures.Add(1)
		} else {
			n.metrics.writes.Add(1)
		}
	}
}

// Get implements API: it asks r replicas (more when one fails or is slow),
// answers with the newest record, and repairs replicas that answered with an
// older one (including those answering after the client has its reply).
func (n *Node) Get(ctx context.Context, key []byte, r Level) (ReadResult, error) {
	if err := checkRecord(wire.Record{Key: key, Version: 1}); err != nil {
		return ReadResult{}, err
	}
	t := n.table.Load()
	reps := t.Replicas(t.Partition(key))
	need, err := required(r, len(reps), n.cfg.R)
	if err != nil {
		return ReadResult{}, err
	}
	// Ask the first need replicas (this node first, then live ones); ask
	// one more when a reply fails or none came within ReadSpeculation.
	order := chooseReplicas(reps, len(reps), 0, n.cfg.Name, n.peers.Load())
	// This node's own read is answered inline when memory holds the
	// answer, after the remote requests are on their way; one that needs
	// the disk runs in a goroutine like a remote one, so that a slow disk
	// cannot hold a read the other replicas can answer.
	if order[0] == n.cfg.Name {
		copy(order, order[1:need])
		order[need-1] = n.cfg.Name
	}
	replies := make(chan readReply, len(order))
	launched := 0
	launch := func() {
		name := order[launched]
		launched++
		if name == n.cfg.Name {
			if res, err := n.rep.readCached([][]byte{key}); !errors.Is(err, storage.ErrNotCached) {
				var rr wire.ReadResult
				if err == nil {
					rr = res[0]
				}
				replies <- readReply{name, rr, err}
				return
			}
		}
		rctx, cancel := n.replicaCtx()
		n.send(rctx, name, &wire.ReadRequest{Keys: [][]byte{key}}, func(resp wire.Message, err error) {
			cancel()
			var res wire.ReadResult
			if err == nil {
				rr, ok := resp.(*wire.ReadResponse)
				if !ok || len(rr.Results) != 1 {
					err = fmt.Errorf("replica %s: malformed read response", name)
				} else {
					res = rr.Results[0]
				}
			}
			replies <- readReply{name, res, err}
		})
	}
	for launched < need {
		launch()
	}
	spec := time.NewTimer(n.cfg.ReadSpeculation)
	defer spec.Stop()

	var answered []readReply
	failed := 0
	var lastErr error
wait:
	for len(answered) < need {
		outstanding := launched - failed - len(answered)
		if len(answered)+outstanding+len(order)-launched < need {
			break // the level can no longer be met
		}
		select {
		case rp := <-replies:
			if rp.err != nil {
				failed++
				lastErr = rp.err
				if launched < len(order) {
					launch()
				}
				continue
			}
			answered = append(answered, rp)
		case <-spec.C:
			if launched < len(order) {
				launch()
				spec.Reset(n.cfg.ReadSpeculation)
			}
		case <-ctx.Done():
			lastErr = ctx.Err()
			break wait
		}
	}
	if len(answered) < need {
		n.metrics.readFailures.Add(1)
		n.drainReads(replies, launched-len(answered)-failed, nil)
		return ReadResult{Replies: len(answered), Required: need}, fmt.Errorf("%w: %d of %d replicas answered: %v",
			ErrUnavailable, len(answered), need, lastErr)
	}

	newest, found := newestOf(answered, func(r readReply) (wire.Record, bool) { return r.res.Record, r.res.Found })
	res := ReadResult{Replies: len(answered), Required: need}
	if found {
		res.Version = storage.Version(newest.Version)
		if !newest.Tombstone {
			res.Found, res.Value = true, newest.Value
		}
		for _, a := range answered {
			if isStale(a.res.Record, a.res.Found, newest) {
				res.RepairSent = true
				n.repair(a.name, newest)
			}
		}
	}
	n.metrics.reads.Add(1)
	// Late replies are compared with the newest record too.
	var repairWith *wire.Record
	if found {
		repairWith = &newest
	}
	n.drainReads(replies, launched-len(answered)-failed, repairWith)
	return res, nil
}

// newestOf returns the newest record among replies that found one.
func newestOf[T any](replies []T, rec func(T) (wire.Record, bool)) (wire.Record, bool) {
	var best wire.Record
	found := false
	for _, r := range replies {
		x, ok := rec(r)
		if ok && (!found || newer(x, best)) {
			best, found = x, true
		}
	}
	return best, found
}

// newer orders records of one key the way the storage engine does.
func newer(a, b wire.Record) bool {
	if a.Version != b.Version {
		return a.Version > b.Version
	}
	if a.Tombstone != b.Tombstone {
		return !a.Tombstone
	}
	return bytes.Compare(a.Value, b.Value) > 0
}

// isStale reports whether a replica's answer is older than newest.
func isStale(have wire.Record, found bool, newest wire.Record) bool {
	return !found || newer(newest, have)
}

// readReply is one replica's answer to a single-key read.
type readReply struct {
	name string
	res  wire.ReadResult
	err  error
}

// drainReads compares, in the background, the count replies still to come
// with newest (when set) and repairs the stale ones. The channel is buffered
// for every reply, so without a record to compare nothing waits for them.
func (n *Node) drainReads(replies chan readReply, count int, newest *wire.Record) {
	if count <= 0 || newest == nil {
		return
	}
	rec := *newest
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		for range count {
			select {
			case r := <-replies:
				if r.err == nil && isStale(r.res.Record, r.res.Found, rec) {
					n.repair(r.name, rec)
				}
			case <-n.bg.Done():
				return
			}
		}
	}()
}

// repair sends rec to a replica that answered with an older record.
func (n *Node) repair(name string, rec wire.Record) {
	n.metrics.readRepairs.Add(1)
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		ctx, cancel := n.replicaCtx()
		defer cancel()
		if _, err := n.call(ctx, name, &wire.WriteRequest{Records: []wire.Record{rec}}); err != nil {
			n.metrics.readRepairFailures.Add(1)
		}
	}()
}

// Range implements API: for every partition it reads enough replicas to
// meet the level, one RPC per node covering all the partitions asked of it,
// merges in key order resolving versions, and repairs stale replicas.
func (n *Node) Range(ctx context.Context, req RangeRequest) (RangePage, error) {
	t := n.table.Load()
	from := req.Start
	if req.Cursor != nil {
		from = append(bytes.Clone(req.Cursor), 0) // strictly after the cursor
	}
	if req.End != nil && bytes.Compare(from, req.End) > 0 {
		return RangePage{}, nil
	}
	limit := req.Limit
	if limit <= 0 || limit > maxRangePage {
		limit = maxRangePage
	}

	// Choose, per partition, which replicas to ask: the live ones first,
	// starting at a partition-dependent offset to spread the load.
	view := n.peers.Load()
	plan := map[string][]int{}
	needOf := make([]int, t.Config().Partitions)
	asked := make([][]string, t.Config().Partitions)
	for p := range needOf {
		reps := t.Replicas(p)
		need, err := required(req.Level, len(reps), n.cfg.R)
		if err != nil {
			return RangePage{}, err
		}
		needOf[p] = need
		chosen := chooseReplicas(reps, need, p, n.cfg.Name, view)
		asked[p] = chosen
		for _, name := range chosen {
			plan[name] = append(plan[name], p)
		}
	}

	type reply struct {
		name string
		recs []wire.Record
		more bool
		err  error
	}
	ask := func(plan map[string][]int) (got []reply, failed []string) {
		replies := make(chan reply, len(plan))
		rctx, cancel := context.WithTimeout(ctx, n.cfg.ReplicaTimeout)
		defer cancel()
		for name, parts := range plan {
			go func() {
				resp, err := n.call(rctx, name, &wire.RangeRequest{
					Partitions: parts, Start: from, End: req.End, Limit: limit, Tombstones: true,
				})
				r := reply{name: name, err: err}
				if err == nil {
					rr, ok := resp.(*wire.RangeResponse)
					if !ok {
						r.err = fmt.Errorf("replica %s: malformed range response", name)
					} else {
						r.recs, r.more = rr.Records, rr.More
					}
				}
				replies <- r
			}()
		}
		for range plan {
			r := <-replies
			if r.err != nil {
				failed = append(failed, r.name)
				continue
			}
			got = append(got, r)
		}
		return got, failed
	}
	answers, failed := ask(plan)
	if len(failed) > 0 {
		// Ask a replica not asked yet for each partition of a node that
		// failed or was late (R of N replicas leaves N-R spares).
		retry := map[string][]int{}
		var unavailable []string
		for _, name := range failed {
			for _, p := range plan[name] {
				alt := n.spareReplica(t.Replicas(p), asked[p], p, view)
				if alt == "" {
					unavailable = append(unavailable, name)
					break
				}
				asked[p][slices.Index(asked[p], name)] = alt
				retry[alt] = append(retry[alt], p)
			}
		}
		if len(unavailable) == 0 {
			got, again := ask(retry)
			answers = append(answers, got...)
			unavailable = again
		}
		if len(unavailable) > 0 {
			sort.Strings(unavailable)
			n.metrics.readFailures.Add(1)
			return RangePage{}, fmt.Errorf("%w: range read failed on %v", ErrUnavailable, unavailable)
		}
	}

	// A node that hit the limit only covered keys up to its last one: the
	// page is complete up to the smallest such key.
	var cut []byte
	for _, r := range answers {
		if r.more && len(r.recs) > 0 {
			last := r.recs[len(r.recs)-1].Key
			if cut == nil || bytes.Compare(last, cut) < 0 {
				cut = last
			}
		}
	}
	type seen struct {
		rec   wire.Record
		nodes []string // replicas that returned rec's key, with their record
		recs  []wire.Record
	}
	merged := map[string]*seen{}
	for _, r := range answers {
		name := r.name
		for _, rec := range r.recs {
			if cut != nil && bytes.Compare(rec.Key, cut) > 0 {
				break
			}
			s := merged[string(rec.Key)]
			if s == nil {
				s = &seen{rec: rec}
				merged[string(rec.Key)] = s
			} else if newer(rec, s.rec) {
				s.rec = rec
			}
			s.nodes = append(s.nodes, name)
			s.recs = append(s.recs, rec)
		}
	}
	keys := make([]string, 0, len(merged))
	for k := range merged {
		keys = append(keys, k)
	}
	sort.Strings(keys)

	var page RangePage
	for _, k := range keys {
		s := merged[k]
		// Repair replicas that were asked for this key's partition and
		// returned an older record or none.
		p := t.Partition(s.rec.Key)
		for _, name := range asked[p] {
			stale := true
			for i, nn := range s.nodes {
				if nn == name && !newer(s.rec, s.recs[i]) {
					stale = false
				}
			}
			if stale {
				page.RepairSent = true
				n.repair(name, s.rec)
			}
		}
		if s.rec.Tombstone {
			continue
		}
		if len(page.Records) == limit {
			page.Next = page.Records[len(page.Records)-1].Key
			return page, nil
		}
		page.Records = append(page.Records, KV{Key: s.rec.Key, Value: s.rec.Value, Version: storage.Version(s.rec.Version)})
	}
	if cut != nil {
		page.Next = cut
	}
	n.metrics.rangeReads.Add(1)
	return page, nil
}

// maxRangePage bounds the records one range page holds (and asks of each
// replica).
const maxRangePage = 10000

// spareReplica returns a live replica of partition p, among reps, that is
// not in asked, in chooseReplicas order; "" if there is none.
func (n *Node) spareReplica(reps, asked []string, p int, view *peerView) string {
	for _, r := range chooseReplicas(reps, len(reps), p, n.cfg.Name, view) {
		if pr := view.byName[r]; !contains(asked, r) && (r == n.cfg.Name || pr != nil && pr.up()) {
			return r
		}
	}
	return ""
}

// chooseReplicas picks need replicas of a partition to read from: the
// coordinator itself if it is one, then live replicas starting at offset p
// (range reads pass the partition, so they spread over the cluster; Get
// passes 0 and all replicas, the order it asks them in), then down ones
// (which fail and make the read unavailable).
func chooseReplicas(reps []string, need, p int, self string, view *peerView) []string {
	out := make([]string, 0, need)
	add := func(ok func(string) bool) {
		for i := range reps {
			name := reps[(p+i)%len(reps)]
			if len(out) < need && ok(name) && !contains(out, name) {
				out = append(out, name)
			}
		}
	}
	add(func(name string) bool { return name == self })
	add(func(name string) bool { pr := view.byName[name]; return pr != nil && pr.up() })
	add(func(string) bool { return true })
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// partitionsOf counts the partitions a node replicates and leads.
func partitionsOf(t *ring.Table, name string) (owned, primary int) {
	for p := 0; p < t.Config().Partitions; p++ {
		reps := t.Replicas(p)
		for i, r := range reps {
			if r == name {
				owned++
				if i == 0 {
					primary++
				}
			}
		}
	}
	return owned, primary
}
