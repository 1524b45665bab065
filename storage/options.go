package storage

import (
	"errors"
	"fmt"
	"runtime"
	"time"

	"kvstore/storage/vfs"
)

// SyncMode says when a write is made durable relative to its acknowledgement.
type SyncMode int

const (
	// SyncAlways acknowledges a write only after an fsync of the WAL covers
	// it. Writers queued behind an fsync in progress share the next one
	// (group commit). This is the default.
	SyncAlways SyncMode = iota
	// SyncInterval acknowledges a write once it is written to the operating
	// system, and fsyncs every Options.SyncInterval. A process crash loses
	// nothing acknowledged; a machine crash may lose the last interval.
	SyncInterval
	// SyncNone acknowledges a write once it is written to the operating
	// system and leaves syncing to it. A process crash loses nothing
	// acknowledged; a machine crash may lose anything not yet written back.
	SyncNone
)

func (m SyncMode) String() string {
	switch m {
	case SyncAlways:
		return "always"
	case SyncInterval:
		return "interval"
	case SyncNone:
		return "none"
	}
	return fmt.Sprintf("SyncMode(%d)", int(m))
}

// ParseSyncMode parses "always", "interval" or "none".
func ParseSyncMode(s string) (SyncMode, error) {
	switch s {
	case "always":
		return SyncAlways, nil
	case "interval":
		return SyncInterval, nil
	case "none":
		return SyncNone, nil
	}
	return 0, fmt.Errorf("storage: unknown sync mode %q (want always, interval or none)", s)
}

// Options configures an engine. The zero value is a sensible configuration:
// Open fills every zero field with the default documented on it.
type Options struct {
	// FS is the file system. Default vfs.Default (the operating system's).
	FS vfs.FS

	// Shards is the number of independent shards, each with its own
	// memtable, tables and background work; all shards share one WAL, so
	// one group commit covers writes to every shard. It is fixed when the
	// store is created; reopening uses the stored value and fails if a
	// different non-zero value is given. Default 8.
	Shards int
	// ShardPrefixLen routes a key to a shard by a hash of its first
	// ShardPrefixLen bytes (the whole key when shorter, or when 0), so a
	// caller that prefixes keys with a partition id keeps each partition in
	// one shard. Fixed at creation like Shards. Default 0 (whole key).
	ShardPrefixLen int

	// MemtableSize is the size in bytes of one shard's memtable; a full
	// memtable is flushed in the background while a new one takes writes.
	// Default 8 MiB.
	MemtableSize int
	// MaxImmutableMemtables is how many full memtables per shard may wait
	// for their flush before writes to that shard stall. Default 1.
	MaxImmutableMemtables int
	// CacheSize is the block cache capacity in bytes, shared by all shards.
	// Default 64 MiB. Negative disables the cache.
	CacheSize int64

	// Sync says when writes are durable. Default SyncAlways.
	Sync SyncMode
	// SyncInterval is the fsync period of SyncInterval. Default 100ms.
	SyncInterval time.Duration
	// GroupCommitWindow is, in SyncAlways, the least time between the
	// starts of two WAL fsyncs while the log is busy: writers arriving
	// meanwhile join the next fsync. It applies only after an fsync that
	// covered several records (minGroupToGather), so a writer alone, or a
	// few taking turns, never wait for it. Under many concurrent writers it
	// trades up to the window in latency for fewer fsyncs, each of which
	// costs about 0.1 ms of kernel CPU: worth it where CPU is short (several
	// nodes sharing a machine's cores), not where latency bounds throughput
	// (measured: one node on 2 CPUs lost a fifth of its synced write
	// throughput with a 2 ms window). Default 0: none.
	GroupCommitWindow time.Duration

	// BlockSize is the target size of a table's data block. Default 4 KiB.
	BlockSize int
	// BloomBitsPerKey sizes each table's bloom filter. Default 10 (about 1%
	// false positives).
	BloomBitsPerKey int
	// TargetFileSize is the size at which compaction cuts output tables.
	// Default 16 MiB.
	TargetFileSize int64
	// L0CompactionTrigger is the number of level-0 tables of a shard that
	// starts a compaction into level 1. Default 4.
	L0CompactionTrigger int
	// L0StopWritesTrigger is the number of level-0 tables at which writes to
	// the shard wait for compaction. Default 24.
	L0StopWritesTrigger int
	// LevelBaseSize is the target size of a shard's level 1; each deeper
	// level is LevelMultiplier times larger. Default 64 MiB.
	LevelBaseSize int64
	// LevelMultiplier is the size ratio between adjacent levels. Default 10.
	LevelMultiplier int
	// MaxConcurrentCompactions bounds compactions running at once across all
	// shards. One runs whenever a compaction is due; the others start only
	// when a level is twice over its target (compaction debt), so background
	// work takes more CPU only when writes would otherwise stall. Default
	// GOMAXPROCS or the number of CPUs, whichever is smaller.
	MaxConcurrentCompactions int

	// TombstoneGrace is how long a tombstone is kept before compaction may
	// purge it. It must exceed the time replicas need to exchange deletes.
	// Default 10 days.
	TombstoneGrace time.Duration

	// Now returns the current time; tests replace it. Default time.Now.
	Now func() time.Time
}

// DefaultTombstoneGrace is the default of Options.TombstoneGrace.
const DefaultTombstoneGrace = 10 * 24 * time.Hour

// Defaults of Options; see the field comments.
const (
	defaultShards              = 8
	defaultMemtableSize        = 8 << 20
	defaultCacheSize           = 64 << 20
	defaultSyncInterval        = 100 * time.Millisecond
	defaultBlockSize           = 4 << 10
	defaultBloomBitsPerKey     = 10
	defaultTargetFileSize      = 16 << 20
	defaultL0CompactionTrigger = 4
	defaultL0StopWrites        = 24
	defaultLevelBaseSize       = 64 << 20
	defaultLevelMultiplier     = 10
	defaultTombstoneGrace      = DefaultTombstoneGrace
	numLevels                  = 7
	maxShards                  = 256
)

// withDefaults returns a copy of o with every zero field filled.
func (o Options) withDefaults() Options {
	if o.FS == nil {
		o.FS = vfs.Default
	}
	if o.MemtableSize == 0 {
		o.MemtableSize = defaultMemtableSize
	}
	if o.MaxImmutableMemtables == 0 {
		o.MaxImmutableMemtables = 1
	}
	if o.CacheSize == 0 {
		o.CacheSize = defaultCacheSize
	}
	if o.SyncInterval == 0 {
		o.SyncInterval = defaultSyncInterval
	}
	if o.BlockSize == 0 {
		o.BlockSize = defaultBlockSize
	}
	if o.BloomBitsPerKey == 0 {
		o.BloomBitsPerKey = defaultBloomBitsPerKey
	}
	if o.TargetFileSize == 0 {
		o.TargetFileSize = defaultTargetFileSize
	}
	if o.L0CompactionTrigger == 0 {
		o.L0CompactionTrigger = defaultL0CompactionTrigger
	}
	if o.L0StopWritesTrigger == 0 {
		o.L0StopWritesTrigger = defaultL0StopWrites
	}
	if o.LevelBaseSize == 0 {
		o.LevelBaseSize = defaultLevelBaseSize
	}
	if o.LevelMultiplier == 0 {
		o.LevelMultiplier = defaultLevelMultiplier
	}
	if o.MaxConcurrentCompactions == 0 {
		// A server may run more Ps than CPUs (to cover blocking syscalls);
		// compactions are CPU work.
		o.MaxConcurrentCompactions = min(runtime.GOMAXPROCS(0), runtime.NumCPU())
	}
	if o.TombstoneGrace == 0 {
		o.TombstoneGrace = defaultTombstoneGrace
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// Validate reports every problem with o (after defaults are applied).
func (o Options) Validate() error {
	o = o.withDefaults()
	var errs []error
	check := func(bad bool, format string, args ...any) {
		if bad {
			errs = append(errs, fmt.Errorf("storage: "+format, args...))
		}
	}
	check(o.Shards < 0 || o.Shards > maxShards, "Shards %d out of range [1, %d]", o.Shards, maxShards)
	check(o.ShardPrefixLen < 0, "ShardPrefixLen %d is negative", o.ShardPrefixLen)
	check(o.MemtableSize < 64<<10 || o.MemtableSize > 1<<30, "MemtableSize %d out of range [64 KiB, 1 GiB]", o.MemtableSize)
	check(o.MaxImmutableMemtables < 1, "MaxImmutableMemtables %d < 1", o.MaxImmutableMemtables)
	check(o.Sync < SyncAlways || o.Sync > SyncNone, "unknown Sync mode %d", int(o.Sync))
	check(o.SyncInterval < 0, "SyncInterval %v is negative", o.SyncInterval)
	check(o.GroupCommitWindow < 0, "GroupCommitWindow %v is negative", o.GroupCommitWindow)
	check(o.BlockSize < 256 || o.BlockSize > 1<<20, "BlockSize %d out of range [256, 1 MiB]", o.BlockSize)
	check(o.BloomBitsPerKey < 0 || o.BloomBitsPerKey > 32, "BloomBitsPerKey %d out of range [0, 32]", o.BloomBitsPerKey)
	check(o.TargetFileSize < 64<<10, "TargetFileSize %d < 64 KiB", o.TargetFileSize)
	check(o.L0CompactionTrigger < 1, "L0CompactionTrigger %d < 1", o.L0CompactionTrigger)
	check(o.L0StopWritesTrigger <= o.L0CompactionTrigger, "L0StopWritesTrigger %d must exceed L0CompactionTrigger %d", o.L0StopWritesTrigger, o.L0CompactionTrigger)
	check(o.LevelBaseSize < 1<<20, "LevelBaseSize %d < 1 MiB", o.LevelBaseSize)
	check(o.LevelMultiplier < 2, "LevelMultiplier %d < 2", o.LevelMultiplier)
	check(o.MaxConcurrentCompactions < 1, "MaxConcurrentCompactions %d < 1", o.MaxConcurrentCompactions)
	check(o.TombstoneGrace < 0, "TombstoneGrace %v is negative", o.TombstoneGrace)
	return errors.Join(errs...)
}
