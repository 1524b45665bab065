package node

import (
	"sort"
	"sync/atomic"
	"time"
)

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func frac(a, b int) float64 {
	if b == 0 {
		return 1
	}
	return float64(a) / float64(b)
}

// metrics are the coordinator's counters, exported at /metrics.
type metrics struct {
	writes             atomic.Int64
	writeFailures      atomic.Int64
	reads              atomic.Int64
	readFailures       atomic.Int64
	rangeReads         atomic.Int64
	readRepairs        atomic.Int64
	readRepairFailures atomic.Int64
	replicaWrites      atomic.Int64
	// replicaWriteRequests counts the write requests those records came
	// in: coordinators merge concurrent writes to one replica.
	replicaWriteRequests atomic.Int64
	replicaErrors        atomic.Int64
	replicaDown          atomic.Int64
	ringChanges          atomic.Int64
	hintsRefused         atomic.Int64
	hintsReplayed        atomic.Int64
	aeKeysApplied        atomic.Int64
	handedOff            atomic.Int64
}

// Status implements API.
func (n *Node) Status() Status {
	t := n.table.Load()
	view := n.peers.Load()
	st := Status{
		Node:       n.cfg.Name,
		HTTPAddr:   n.HTTPAddr(),
		RPCAddr:    n.rpcAddr,
		GossipAddr: n.cfg.GossipAddr,
		N:          n.cfg.N,
		R:          n.cfg.R,
		W:          n.cfg.W,
		EffectiveN: t.EffectiveReplicas(),
		Partitions: t.Config().Partitions,
		RingSize:   len(t.Members()),
	}
	st.Clamped = st.EffectiveN < st.N
	st.Owned, st.Primary = partitionsOf(t, n.cfg.Name)
	names := make([]string, 0, len(view.byName))
	for name := range view.byName {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		p := view.byName[name]
		ms := MemberStatus{
			Name: name, State: p.state.String(), HTTPAddr: p.http, RPCAddr: p.rpc, GossipAddr: p.gossipAddr,
		}
		if p.inLedger {
			ms.Ring = p.ring.String()
		}
		ms.Partitions, _ = partitionsOf(t, name)
		st.Members = append(st.Members, ms)
	}
	if n.hints != nil {
		hs := n.hints.Stats()
		st.Hints = HintStatus{Enabled: true, Pending: hs.Pending, Bytes: hs.PendingBytes, Targets: []HintTargetStatus{}}
		for _, ts := range n.hints.Targets() {
			st.Hints.Targets = append(st.Hints.Targets, HintTargetStatus{Node: ts.Name, Pending: ts.Count, Bytes: ts.Bytes})
		}
	}
	if pr, ok := n.AntiEntropyProgress(); ok {
		st.AntiEntropy = AntiEntropyStatus{
			Enabled:            true,
			Passes:             pr.Passes,
			PassItems:          pr.PassItems,
			PassPosition:       pr.PassPosition,
			LastPassSeconds:    pr.LastPassDuration.Seconds(),
			PartitionsCompared: pr.PartitionsCompared,
			RootMatches:        pr.RootMatches,
			KeysRepaired:       pr.KeysRepaired,
			Errors:             pr.Errors,
			Skipped:            pr.Skipped,
		}
		if !pr.LastPassCompleted.IsZero() {
			st.AntiEntropy.LastFullPass = pr.LastPassCompleted.UTC().Format(time.RFC3339)
		}
	}
	st.Movement = n.MoveStatus()
	s := n.db.Stats()
	st.Storage = StorageStatus{
		TableBytes:         s.TableBytes,
		WALBytes:           s.WALBytes,
		WriteAmplification: s.WriteAmplification,
		CacheHitRatio:      s.CacheHitRatio,
		PendingCompaction:  s.PendingCompactionBytes,
		WriteStalls:        s.WriteStalls,
	}
	return st
}

// WriteMetrics implements API.
func (n *Node) WriteMetrics(w MetricsWriter) {
	m := &n.metrics
	w.Counter("kvstore_writes_total", "Keys written at their requested consistency.", float64(m.writes.Load()))
	w.Counter("kvstore_write_failures_total", "Keys whose write missed its quorum.", float64(m.writeFailures.Load()))
	w.Counter("kvstore_reads_total", "Single-key reads answered.", float64(m.reads.Load()))
	w.Counter("kvstore_read_failures_total", "Reads that missed their quorum.", float64(m.readFailures.Load()))
	w.Counter("kvstore_range_reads_total", "Range pages answered.", float64(m.rangeReads.Load()))
	w.Counter("kvstore_read_repairs_total", "Records sent to stale replicas by read repair.", float64(m.readRepairs.Load()))
	w.Counter("kvstore_read_repair_failures_total", "Read repairs that failed.", float64(m.readRepairFailures.Load()))
	w.Counter("kvstore_replica_records_written_total", "Records applied on this node as a replica.", float64(m.replicaWrites.Load()))
	w.Counter("kvstore_replica_write_requests_total", "Write requests applied on this node as a replica (each carries one or more records).", float64(m.replicaWriteRequests.Load()))
	w.Counter("kvstore_replica_rpc_errors_total", "Replica RPCs that failed or timed out.", float64(m.replicaErrors.Load()))
	w.Counter("kvstore_replica_down_skips_total", "Replica RPCs not sent because gossip reports the replica down.", float64(m.replicaDown.Load()))
	w.Counter("kvstore_ring_changes_total", "Ring tables built after membership changes.", float64(m.ringChanges.Load()))
	w.Counter("kvstore_leave_records_handed_off_total", "Records streamed to new owners while leaving the ring.", float64(m.handedOff.Load()))
	mv := n.MoveStatus()
	w.Gauge("kvstore_join_in_progress", "1 while this node streams the partitions it gains by joining.", b2f(mv.Joining))
	w.Gauge("kvstore_join_partitions", "Partitions this node's join streams.", float64(mv.JoinPartitions))
	w.Gauge("kvstore_join_partitions_streamed", "Partitions the current round of this node's join has streamed.", float64(mv.JoinStreamed))
	w.Counter("kvstore_stream_records_received_total", "Records received by joins and catch-ups of gained partitions.", float64(mv.StreamedRecords))
	w.Gauge("kvstore_catch_up_partitions_pending", "Gained partitions still to exchange with their other replicas.", float64(mv.CatchUpPending))
	w.Counter("kvstore_partitions_dropped_total", "Partitions dropped after they moved to other nodes.", float64(mv.DroppedPartitions))
	w.Gauge("kvstore_ring_moving_partitions", "Partitions whose replicas change with the joins and leaves in progress.", float64(mv.MovingPartitions))

	if n.hints != nil {
		hs := n.hints.Stats()
		w.Gauge("kvstore_hints_pending", "Hints kept for other nodes, not yet delivered.", float64(hs.Pending))
		w.Gauge("kvstore_hints_pending_bytes", "Bytes of hints kept for other nodes.", float64(hs.PendingBytes))
		for _, ts := range n.hints.Targets() {
			w.Gauge("kvstore_hints_pending", "Hints kept for other nodes, not yet delivered.", float64(ts.Count), "target", ts.Name)
		}
		w.Counter("kvstore_hints_added_total", "Hints stored for other nodes.", float64(hs.Added))
		w.Counter("kvstore_hints_replayed_total", "Hints delivered to their node.", float64(hs.Replayed))
		w.Counter("kvstore_hints_dropped_total", "Hints not stored because the hint store was full (left to anti-entropy).", float64(hs.Dropped))
		w.Counter("kvstore_hints_expired_total", "Hints dropped for age (left to anti-entropy).", float64(hs.Expired))
	}
	if pr, ok := n.AntiEntropyProgress(); ok {
		w.Counter("kvstore_antientropy_keys_repaired_total", "Records anti-entropy sent to or received from another replica.", float64(pr.KeysRepaired))
		w.Counter("kvstore_antientropy_partitions_compared_total", "Partitions anti-entropy compared with another replica: exchanges completed, and partitions whose Merkle roots matched.", float64(pr.PartitionsCompared))
		w.Counter("kvstore_antientropy_root_matches_total", "Partitions anti-entropy found equal by comparing Merkle roots alone, without an exchange.", float64(pr.RootMatches))
		w.Counter("kvstore_antientropy_errors_total", "Anti-entropy exchanges that failed.", float64(pr.Errors))
		w.Counter("kvstore_antientropy_passes_total", "Full anti-entropy passes completed.", float64(pr.Passes))
		w.Gauge("kvstore_antientropy_pass_progress", "Items of the current pass done, as a fraction.", frac(pr.PassPosition, pr.PassItems))
		if !pr.LastPassCompleted.IsZero() {
			w.Gauge("kvstore_antientropy_last_full_pass_timestamp_seconds", "When the last full pass completed.", float64(pr.LastPassCompleted.Unix()))
		}
	}
	t := n.table.Load()
	w.Gauge("kvstore_ring_members", "Members of the ring.", float64(len(t.Members())))
	owned, primary := partitionsOf(t, n.cfg.Name)
	w.Gauge("kvstore_partitions_owned", "Partitions this node replicates.", float64(owned))
	w.Gauge("kvstore_partitions_primary", "Partitions this node is first replica of.", float64(primary))
	alive := 0
	for _, p := range n.peers.Load().byName {
		if p.up() {
			alive++
		}
	}
	w.Gauge("kvstore_members_up", "Members gossip reports alive or suspect.", float64(alive))

	s := n.db.Stats()
	w.Gauge("kvstore_storage_table_bytes", "Bytes of live tables on disk.", float64(s.TableBytes))
	w.Gauge("kvstore_storage_wal_bytes", "Bytes of WAL being written.", float64(s.WALBytes))
	w.Gauge("kvstore_storage_memtable_bytes", "Bytes in memtables.", float64(s.MemtableBytes))
	w.Gauge("kvstore_storage_table_memory_bytes", "Memory held by table indexes and filters.", float64(s.TableMemory))
	w.Gauge("kvstore_storage_pending_compaction_bytes", "Bytes above the levels' targets.", float64(s.PendingCompactionBytes))
	w.Gauge("kvstore_storage_write_amplification", "Disk bytes written per user byte.", s.WriteAmplification)
	w.Gauge("kvstore_storage_cache_hit_ratio", "Block cache hit ratio since the node started.", s.CacheHitRatio)
	w.Counter("kvstore_storage_cache_hits_total", "Block cache lookups that found their block.", float64(s.CacheHits))
	w.Counter("kvstore_storage_cache_misses_total", "Block cache lookups that read the block from its table file.", float64(s.CacheMisses))
	w.Counter("kvstore_storage_write_stalls_total", "Writes that waited for flush or compaction.", float64(s.WriteStalls))
	w.Counter("kvstore_storage_wal_syncs_total", "fsyncs of the write-ahead log (each covers a group of writes).", float64(s.WALSyncs))
	w.Counter("kvstore_storage_wal_bytes_written_total", "Bytes appended to the write-ahead log.", float64(s.WALBytesWritten))
	w.Counter("kvstore_storage_compactions_total", "Compactions run.", float64(s.Compactions))
	w.Counter("kvstore_storage_flushes_total", "Memtable flushes.", float64(s.Flushes))
	for level, l := range s.Levels {
		lv := string(rune('0' + level))
		w.Gauge("kvstore_storage_level_tables", "Tables per level.", float64(l.Tables), "level", lv)
		w.Gauge("kvstore_storage_level_bytes", "Bytes per level.", float64(l.Bytes), "level", lv)
	}
}
