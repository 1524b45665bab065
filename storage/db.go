package storage

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"kvstore/storage/cache"
	"kvstore/storage/internal/base"
	"kvstore/storage/memtable"
	"kvstore/storage/sstable"
)

// Errors returned by DB methods.
var (
	// ErrNotFound is returned by Get when the store holds no record of the
	// key (neither a value nor a tombstone).
	ErrNotFound = errors.New("storage: not found")
	// ErrClosed is returned by every method of a closed DB.
	ErrClosed = errors.New("storage: closed")
	// ErrNotCached is returned by GetCached when the answer would need a
	// read from disk.
	ErrNotCached = errors.New("storage: not in memory")
	// ErrCorruption marks data on disk that fails its checksum or cannot be
	// decoded; errors wrapping it name the file.
	ErrCorruption = base.ErrCorruption
)

// Record is the newest record the store holds for a key.
type Record struct {
	// Value is the value; nil for a tombstone. It must not be modified.
	Value []byte
	// Version orders the records of a key.
	Version Version
	// Tombstone is set when the key was deleted at Version.
	Tombstone bool
}

// DB is a sharded log-structured key-value engine with versioned records.
// All methods are safe for concurrent use.
type DB struct {
	dir    string
	opts   Options
	shards []*shard
	log    *dbLog
	prefix int // ShardPrefixLen in force
	cache  *cache.Cache
	lock   io.Closer

	nextCacheID atomic.Uint64
	stats       dbStats
	recovery    recoveryLog

	// Compaction scheduling: workers take the most urgent compaction of any
	// shard.
	compactMu   sync.Mutex // guards compactWake, closed
	compactWake *sync.Cond
	compactSem  chan struct{}
	closed      bool
	compactWG   sync.WaitGroup
	syncWG      sync.WaitGroup
	stopSync    chan struct{}

	// inflight counts operations in progress, so Close waits for them.
	inflight sync.RWMutex
	isClosed atomic.Bool
}

// recoveryLog collects what Open found and repaired.
type recoveryLog struct {
	mu    sync.Mutex
	notes []string
}

func (r *recoveryLog) note(s string) {
	r.mu.Lock()
	r.notes = append(r.notes, s)
	r.mu.Unlock()
}

// Open opens the store in dir, creating it if needed, and recovers it: it
// reads each shard's manifest and replays only the WAL written since the last
// flush, cutting a torn or corrupt tail (RecoveryNotes says what was cut).
// Tables are opened lazily, so the time Open takes does not grow with the
// data set. The directory is locked against a second Open.
func Open(dir string, opts Options) (*DB, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	opts = opts.withDefaults()
	fs := opts.FS
	if err := fs.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	if err := fs.SyncDir(filepath.Dir(dir)); err != nil {
		return nil, err
	}
	lock, err := fs.Lock(filepath.Join(dir, lockFileName))
	if err != nil {
		return nil, fmt.Errorf("storage: lock %s: %w", dir, err)
	}
	db := &DB{dir: dir, opts: opts, lock: lock, stopSync: make(chan struct{})}
	if err := db.open(); err != nil {
		for _, s := range db.shards {
			s.close()
		}
		lock.Close()
		return nil, err
	}
	return db, nil
}

func (db *DB) open() error {
	ef, err := db.loadEngineFile()
	if err != nil {
		return err
	}
	db.prefix = ef.shardPrefixLen
	if db.opts.CacheSize > 0 {
		db.cache = cache.New(db.opts.CacheSize)
	} else {
		db.cache = cache.New(0)
	}
	db.compactWake = sync.NewCond(&db.compactMu)
	db.compactSem = make(chan struct{}, db.opts.MaxConcurrentCompactions)
	// Shards open their manifests in parallel; the shared WAL is replayed
	// into them next.
	start := time.Now()
	shards := make([]*shard, ef.shards)
	errs := make([]error, ef.shards)
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	for i := range shards {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			shards[i], errs[i] = openShard(db, i)
			if errs[i] != nil {
				errs[i] = fmt.Errorf("storage: shard %d: %w", i, errs[i])
			}
		}()
	}
	wg.Wait()
	for _, s := range shards {
		if s != nil {
			db.shards = append(db.shards, s)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if err := db.recoverLog(); err != nil {
		return err
	}
	for _, s := range db.shards {
		if err := s.start(db.log.current()); err != nil {
			return fmt.Errorf("storage: shard %d: %w", s.id, err)
		}
	}
	db.log.removeObsolete()
	db.stats.recoveryNanos.Store(int64(time.Since(start)))
	for i := 0; i < db.opts.MaxConcurrentCompactions; i++ {
		db.compactWG.Add(1)
		go db.compactionWorker(i)
	}
	if db.opts.Sync == SyncInterval {
		db.syncWG.Add(1)
		go db.syncLoop()
	}
	db.scheduleCompactions()
	return nil
}

// loadEngineFile reads the store's fixed parameters, writing them when the
// store is new.
func (db *DB) loadEngineFile() (engineFile, error) {
	path := filepath.Join(db.dir, engineFileName)
	b, err := readFile(db.opts.FS, path, 4096)
	if err == nil {
		ef, err := decodeEngineFile(b)
		if err != nil {
			return ef, fmt.Errorf("%s: %w", path, err)
		}
		if db.opts.Shards != 0 && db.opts.Shards != ef.shards {
			return ef, fmt.Errorf("storage: %s has %d shards, Options.Shards is %d", db.dir, ef.shards, db.opts.Shards)
		}
		return ef, nil
	}
	if !isNotExistErr(err) {
		return engineFile{}, err
	}
	ef := engineFile{shards: db.opts.Shards, shardPrefixLen: db.opts.ShardPrefixLen}
	if ef.shards == 0 {
		ef.shards = defaultShards
	}
	return ef, writeFileAtomic(db.opts.FS, db.dir, engineFileName+".tmp", engineFileName, ef.encode())
}

func (db *DB) syncLoop() {
	defer db.syncWG.Done()
	t := time.NewTicker(db.opts.SyncInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			db.log.w.sync()
		case <-db.stopSync:
			return
		}
	}
}

// RecoveryNotes describes what Open dropped from damaged WAL tails; empty
// after a clean shutdown.
func (db *DB) RecoveryNotes() []string {
	db.recovery.mu.Lock()
	defer db.recovery.mu.Unlock()
	return append([]string(nil), db.recovery.notes...)
}

func (db *DB) shardFor(key []byte) *shard {
	if len(db.shards) == 1 {
		return db.shards[0]
	}
	k := key
	if db.prefix > 0 && len(k) > db.prefix {
		k = k[:db.prefix]
	}
	return db.shards[base.Hash64(k)%uint64(len(db.shards))]
}

// enter registers an operation; it fails once Close has begun.
func (db *DB) enter() error {
	db.inflight.RLock()
	if db.isClosed.Load() {
		db.inflight.RUnlock()
		return ErrClosed
	}
	return nil
}

func (db *DB) leave() { db.inflight.RUnlock() }

// Put stores value for key at version v, unless the store already holds a
// record of key at a newer version (then the write changes nothing). It
// returns once the write is as durable as Options.Sync promises.
func (db *DB) Put(key, value []byte, v Version) error {
	return db.writeOne(base.KindValue, key, value, v)
}

// Delete writes a tombstone for key at version v, with the same rules as Put.
func (db *DB) Delete(key []byte, v Version) error {
	return db.writeOne(base.KindTombstone, key, nil, v)
}

var opBufPool = sync.Pool{New: func() any { b := make([]byte, 0, 256); return &b }}

func (db *DB) writeOne(kind base.Kind, key, value []byte, v Version) error {
	if err := checkRecord(key, value); err != nil {
		return err
	}
	if err := db.enter(); err != nil {
		return err
	}
	defer db.leave()
	bp := opBufPool.Get().(*[]byte)
	*bp = encodeOp((*bp)[:0], kind, key, value, v)
	err := db.shardFor(key).write(*bp, 1, memtable.EntrySize(len(key), len(value)))
	opBufPool.Put(bp)
	if err == nil {
		db.stats.userBytes.Add(int64(len(key) + len(value)))
	}
	return err
}

// Apply writes every record of b. The records of b that belong to one shard
// are written as one WAL record, so after a crash they are all present or
// all absent; a batch spanning shards may survive a crash in part (each key
// is independent under last-writer-wins, so replicas repair a partial batch
// like any missed write). Apply returns once every part is durable. Invalid
// records make Apply fail before anything is written.
func (db *DB) Apply(b *Batch) error {
	if b.err != nil {
		return b.err
	}
	if b.count == 0 {
		return nil
	}
	if err := db.enter(); err != nil {
		return err
	}
	defer db.leave()
	type part struct {
		ops   []byte
		count int
		need  int
	}
	parts := make(map[*shard]*part)
	var userBytes int64
	for rest := b.data; len(rest) > 0; {
		start := rest
		o, next, err := decodeOp(rest)
		if err != nil {
			return err
		}
		rest = next
		s := db.shardFor(o.key)
		p := parts[s]
		if p == nil {
			p = &part{}
			parts[s] = p
		}
		p.ops = append(p.ops, start[:len(start)-len(rest)]...)
		p.count++
		p.need += memtable.EntrySize(len(o.key), len(o.value))
		userBytes += int64(len(o.key) + len(o.value))
	}
	// Every shard appends to the one log: append each part, then wait once
	// for the furthest (a group commit covers them all).
	var end int64
	for s, p := range parts {
		e, err := s.append(p.ops, p.count, p.need)
		if err != nil {
			return err
		}
		end = max(end, e)
	}
	if err := db.log.wait(end); err != nil {
		return err
	}
	db.stats.userBytes.Add(userBytes)
	return nil
}

// Get returns the newest record of key, tombstones included. It returns
// ErrNotFound when the store has no record of key. The returned Value must
// not be modified.
func (db *DB) Get(key []byte) (Record, error) { return db.get(key, false) }

// GetCached is Get answered from memory alone: the memtables and the open
// tables' filters, indexes and cached blocks. It never reads from disk, so
// it never waits for one; it returns ErrNotCached when the answer would
// need a read. A caller that must not be held by a slow disk tries it
// inline and hands the key to Get elsewhere on ErrNotCached.
func (db *DB) GetCached(key []byte) (Record, error) { return db.get(key, true) }

func (db *DB) get(key []byte, cachedOnly bool) (Record, error) {
	if err := db.enter(); err != nil {
		return Record{}, err
	}
	defer db.leave()
	rs := acquireReadState(&db.shardFor(key).rs)
	value, version, kind, found, err := rs.get(key, cachedOnly)
	rs.release()
	switch {
	case err != nil:
		return Record{}, err
	case !found:
		return Record{}, ErrNotFound
	case kind == base.KindTombstone:
		return Record{Version: Version(version), Tombstone: true}, nil
	}
	return Record{Value: value, Version: Version(version)}, nil
}

// Flush writes every memtable to a table and waits for it. It is never
// needed for durability; tests and tools use it.
func (db *DB) Flush() error {
	if err := db.enter(); err != nil {
		return err
	}
	defer db.leave()
	for _, s := range db.shards {
		if err := s.flushAll(); err != nil {
			return err
		}
	}
	return nil
}

// Close flushes the memtables, waits for background work to stop, and
// releases every file and the directory lock. Operations in progress finish
// first; later calls return ErrClosed. Close is idempotent.
func (db *DB) Close() error {
	db.inflight.Lock()
	if db.isClosed.Swap(true) {
		db.inflight.Unlock()
		return nil
	}
	db.inflight.Unlock()

	db.compactMu.Lock()
	db.closed = true
	db.compactWake.Broadcast()
	db.compactMu.Unlock()
	db.compactWG.Wait()
	close(db.stopSync)
	db.syncWG.Wait()

	var errs []error
	for _, s := range db.shards {
		if err := s.close(); err != nil {
			errs = append(errs, fmt.Errorf("storage: close shard %d: %w", s.id, err))
		}
	}
	if db.log != nil {
		if err := db.log.close(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := db.lock.Close(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (db *DB) writerOptions() sstable.WriterOptions {
	return sstable.WriterOptions{BlockSize: db.opts.BlockSize, BloomBitsPerKey: db.opts.BloomBitsPerKey}
}
