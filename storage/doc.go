// Package storage is kvstore's local storage engine: a sharded
// log-structured merge tree of versioned records, written with the standard
// library only.
//
// Every record is (key, value or tombstone, Version). A key's newest record
// is the one with the highest Version, whatever order records arrived in:
// replicas receive writes out of order, and hinted handoff, read repair and
// anti-entropy replay old ones. Writes are blind (no read before write); a
// read takes the newest record across the memtables and the tables that may
// hold the key, skipping any table whose newest record is older than what it
// already found. Compaction keeps only the newest record of each key.
//
// # Usage
//
//	db, err := storage.Open(dir, storage.Options{})
//	err = db.Put([]byte("k"), []byte("v"), storage.NewVersion(ms, 0, node))
//	rec, err := db.Get([]byte("k")) // rec.Value, rec.Version, rec.Tombstone
//	it, err := db.NewIter(storage.IterOptions{Start: a, End: b})
//	for ok := it.First(); ok; ok = it.Next() { use(it.Key(), it.Value()) }
//	err = it.Close()
//	err = db.Close()
//
// # Layout
//
// The store is split into shards by a hash (base.Hash64) of each key, or of
// its first Options.ShardPrefixLen bytes. Each shard has its own directory
// with a memtable, levels of tables, a manifest and background flush, and
// all shards append to one write-ahead log, so one fsync covers them all;
// compactions of all shards share a pool of workers that always runs the
// most urgent one. See docs/formats.md for every file format byte by byte;
// the package docs of record, sstable and the comments in manifest.go and
// batch.go are the reference.
//
//	dir/ENGINE               shard count and routing, fixed at creation
//	dir/LOCK                 held while open
//	dir/wal/NNNNNN.wal       the write-ahead log, shared by all shards
//	dir/shard-NNN/MANIFEST   live tables and the oldest WAL file needed
//	dir/shard-NNN/NNNNNN.sst sorted tables
//
// # Writes and durability
//
// A write appends one WAL record (a batch's records of one shard form one
// record), inserts into the memtable, and waits for durability per
// Options.Sync with group commit: the first waiter writes and fsyncs every
// record queued so far. Writes become visible to readers when they enter the
// memtable, which may be just before the fsync that acknowledges them.
//
// # Recovery
//
// Open reads each shard's manifest and replays only WAL files not yet
// flushed, stopping each at its first torn or corrupt record and truncating
// it there; RecoveryNotes reports what was cut. Tables are opened on first
// use, so recovery time depends on the WAL tail, not the data size.
package storage
