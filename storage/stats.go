package storage

import (
	"sync/atomic"
	"time"
)

// dbStats holds the engine's counters.
type dbStats struct {
	userBytes              atomic.Int64
	walBytes               atomic.Int64
	flushBytes             atomic.Int64
	compactionBytesRead    atomic.Int64
	compactionBytesWritten atomic.Int64
	flushes                atomic.Int64
	compactions            atomic.Int64
	trivialMoves           atomic.Int64
	tombstonesPurged       atomic.Int64
	stalls                 atomic.Int64
	stallNanos             atomic.Int64
	tableMemory            atomic.Int64
	recoveryNanos          atomic.Int64
	walBytesReplayed       atomic.Int64
	walBytesDropped        atomic.Int64
}

// LevelStats describes the tables of one level.
type LevelStats struct {
	Tables int
	Bytes  int64
}

// ShardStats describes one shard.
type ShardStats struct {
	Levels                 [numLevels]LevelStats
	MemtableBytes          int64 // bytes used in the active and immutable memtables
	ImmutableMemtables     int   // full memtables waiting for their flush
	PendingCompactionBytes int64 // bytes above the levels' targets
}

// Stats is a snapshot of the engine's state and counters.
type Stats struct {
	Shards []ShardStats
	// Levels sums the shards' levels.
	Levels [numLevels]LevelStats

	TableBytes    int64 // bytes of live tables on disk
	WALBytes      int64 // bytes of the WAL file being written
	MemtableBytes int64
	// TableMemory is the memory held by open tables' indexes and filters.
	TableMemory int64

	CacheHits, CacheMisses int64
	CacheHitRatio          float64
	CacheSize, CacheCap    int64

	// Bytes written by users (keys and values), to the WAL, by flushes and
	// by compactions; WriteAmplification is the disk bytes written per user
	// byte.
	UserBytesWritten int64
	WALBytesWritten  int64
	// WALSyncs counts fsyncs of the WAL; WAL writes per sync measure group
	// commit.
	WALSyncs               int64
	FlushBytesWritten      int64
	CompactionBytesRead    int64
	CompactionBytesWritten int64
	WriteAmplification     float64

	PendingCompactionBytes int64
	Flushes                int64
	Compactions            int64
	TrivialMoves           int64
	TombstonesPurged       int64
	WriteStalls            int64
	WriteStallTime         time.Duration

	// RecoveryTime is how long Open took to recover the shards;
	// WALBytesReplayed and WALBytesDropped what it read and cut.
	RecoveryTime     time.Duration
	WALBytesReplayed int64
	WALBytesDropped  int64
}

// Stats returns a snapshot of the engine's state and counters.
func (db *DB) Stats() Stats {
	var st Stats
	for _, s := range db.shards {
		var ss ShardStats
		s.mu.Lock()
		ls := s.lv
		ss.MemtableBytes = int64(s.mem.Size())
		for _, m := range s.imm {
			ss.MemtableBytes += int64(m.mem.Size())
		}
		ss.ImmutableMemtables = len(s.imm)
		for level, tables := range ls.levels {
			ss.Levels[level].Tables = len(tables)
			ss.Levels[level].Bytes = ls.levelBytes(level)
		}
		sc := db.scores(ls)
		s.mu.Unlock()
		if sc[0] >= 1 {
			ss.PendingCompactionBytes += ss.Levels[0].Bytes
		}
		for level := 1; level < numLevels-1; level++ {
			if over := ss.Levels[level].Bytes - db.levelTarget(level); over > 0 {
				ss.PendingCompactionBytes += over
			}
		}
		for level := range ss.Levels {
			st.Levels[level].Tables += ss.Levels[level].Tables
			st.Levels[level].Bytes += ss.Levels[level].Bytes
			st.TableBytes += ss.Levels[level].Bytes
		}
		st.MemtableBytes += ss.MemtableBytes
		st.PendingCompactionBytes += ss.PendingCompactionBytes
		st.Shards = append(st.Shards, ss)
	}
	if db.log != nil {
		st.WALBytes = db.log.size()
		st.WALSyncs = db.log.w.syncs.Load()
	}
	cs := db.cache.Stats()
	st.CacheHits, st.CacheMisses = cs.Hits, cs.Misses
	if total := cs.Hits + cs.Misses; total > 0 {
		st.CacheHitRatio = float64(cs.Hits) / float64(total)
	}
	st.CacheSize, st.CacheCap = cs.Size, cs.Capacity
	st.TableMemory = db.stats.tableMemory.Load()
	st.UserBytesWritten = db.stats.userBytes.Load()
	st.WALBytesWritten = db.stats.walBytes.Load()
	st.FlushBytesWritten = db.stats.flushBytes.Load()
	st.CompactionBytesRead = db.stats.compactionBytesRead.Load()
	st.CompactionBytesWritten = db.stats.compactionBytesWritten.Load()
	if st.UserBytesWritten > 0 {
		st.WriteAmplification = float64(st.WALBytesWritten+st.FlushBytesWritten+st.CompactionBytesWritten) /
			float64(st.UserBytesWritten)
	}
	st.Flushes = db.stats.flushes.Load()
	st.Compactions = db.stats.compactions.Load()
	st.TrivialMoves = db.stats.trivialMoves.Load()
	st.TombstonesPurged = db.stats.tombstonesPurged.Load()
	st.WriteStalls = db.stats.stalls.Load()
	st.WriteStallTime = time.Duration(db.stats.stallNanos.Load())
	st.RecoveryTime = time.Duration(db.stats.recoveryNanos.Load())
	st.WALBytesReplayed = db.stats.walBytesReplayed.Load()
	st.WALBytesDropped = db.stats.walBytesDropped.Load()
	return st
}
