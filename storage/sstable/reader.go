package sstable

import (
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"unsafe"

	"kvstore/storage/cache"
	"kvstore/storage/internal/base"
)

// ReaderOptions configures a Reader.
type ReaderOptions struct {
	// Cache caches data blocks; nil reads every block from the file.
	Cache *cache.Cache
	// CacheID names this table in Cache. It must be unique among all tables
	// sharing the cache for the life of the process and never reused.
	CacheID uint64
}

// Reader reads a table. Open keeps the index, filter and properties in
// memory; data blocks are read on demand, through the block cache if one is
// configured.
//
// A Reader is safe for concurrent use by multiple goroutines; its
// iterators are not (each belongs to one goroutine). Close must be called
// only once every iterator is closed and no call is in flight.
type Reader struct {
	r       io.ReaderAt
	size    uint64
	cache   *cache.Cache
	cacheID uint64

	props  Properties
	index  index
	filter filter
	closed atomic.Bool
}

// Open reads and verifies the footer, properties, index and filter of the
// size-byte table in r. It returns an error wrapping base.ErrCorruption if
// they fail a checksum or cannot be decoded, or the error of a failed read.
// The Reader reads r concurrently with ReadAt and never closes it.
func Open(r io.ReaderAt, size int64, opts ReaderOptions) (*Reader, error) {
	if size < footerLen {
		return nil, base.CorruptionErrorf("sstable: file of %d bytes is too small for a table", size)
	}
	var fb [footerLen]byte
	if err := readFull(r, fb[:], uint64(size)-footerLen); err != nil {
		return nil, err
	}
	f, err := decodeFooter(fb[:], uint64(size))
	if err != nil {
		return nil, err
	}
	// The filter, index and properties blocks are contiguous: read them at
	// once.
	meta := make([]byte, f.props.end()-f.filter.offset)
	if err := readFull(r, meta, f.filter.offset); err != nil {
		return nil, err
	}
	metaBlock := func(h handle) ([]byte, error) {
		o := h.offset - f.filter.offset
		return checkTrailer(meta[o:o+h.length+blockTrailerLen], h.offset)
	}
	propsBlock, err := metaBlock(f.props)
	if err != nil {
		return nil, err
	}
	props, err := decodeProperties(propsBlock)
	if err != nil {
		return nil, err
	}
	props.FileSize = uint64(size)
	if props.DataBytes != f.filter.offset || props.FilterBytes != f.filter.length+blockTrailerLen ||
		props.IndexBytes != f.index.length+blockTrailerLen {
		return nil, base.CorruptionErrorf("sstable: properties disagree with the footer")
	}
	indexBlock, err := metaBlock(f.index)
	if err != nil {
		return nil, err
	}
	idx, err := decodeIndex(indexBlock, f.filter.offset)
	if err != nil {
		return nil, err
	}
	if (idx.numBlocks() == 0) != (props.NumEntries == 0) {
		return nil, base.CorruptionErrorf("sstable: %d data blocks for %d entries", idx.numBlocks(), props.NumEntries)
	}
	filterBlock, err := metaBlock(f.filter)
	if err != nil {
		return nil, err
	}
	// Copy the filter out so that meta can be collected.
	filt, err := decodeFilter(append([]byte(nil), filterBlock...))
	if err != nil {
		return nil, err
	}
	return &Reader{
		r:       r,
		size:    uint64(size),
		cache:   opts.Cache,
		cacheID: opts.CacheID,
		props:   props,
		index:   idx,
		filter:  filt,
	}, nil
}

// readFull reads len(b) bytes at off. A short read means the file is
// shorter than its footer says: corruption.
func readFull(r io.ReaderAt, b []byte, off uint64) error {
	n, err := r.ReadAt(b, int64(off))
	if n == len(b) {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		return base.CorruptionErrorf("sstable: short read of %d bytes at offset %d: got %d", len(b), off, n)
	}
	return fmt.Errorf("sstable: read %d bytes at offset %d: %w", len(b), off, err)
}

// readBlock returns data block i, from the cache if possible. On a miss it
// reads the block into a fresh slice (or into buf's storage, if reuse is
// set), verifies it, and caches it unless noCache is set.
func (r *Reader) readBlock(i int, useCache bool, buf *[]byte) ([]byte, error) {
	h := r.index.handle(i)
	if useCache {
		if b, ok := r.cache.Get(r.cacheID, h.offset); ok {
			return b, nil
		}
	}
	n := int(h.length + blockTrailerLen)
	var b []byte
	if buf != nil && cap(*buf) >= n {
		b = (*buf)[:n]
	} else {
		b = make([]byte, n)
		if buf != nil {
			*buf = b
		}
	}
	if err := readFull(r.r, b, h.offset); err != nil {
		return nil, err
	}
	b, err := checkTrailer(b, h.offset)
	if err != nil {
		return nil, err
	}
	if useCache {
		r.cache.Set(r.cacheID, h.offset, b)
	}
	return b, nil
}

// ErrNotCached is returned by GetCached when answering would need a read
// from the file.
var ErrNotCached = errors.New("sstable: block not cached")

// Get returns the record stored under key. found is false if the table has
// no record for key. value may alias a cached block: it is immutable, stays
// valid indefinitely, and must be copied only if the caller wants to modify
// it. Get returns an error wrapping base.ErrCorruption for a block that fails
// its checksum or cannot be decoded, the error of a failed read, or
// ErrClosed. On a block cache hit Get does not allocate.
func (r *Reader) Get(key []byte) (value []byte, version uint64, kind base.Kind, found bool, err error) {
	return r.get(key, false)
}

// GetCached is Get without I/O: it answers from the filter, the index and
// the block cache, and returns ErrNotCached when the block that may hold
// key is not cached.
func (r *Reader) GetCached(key []byte) (value []byte, version uint64, kind base.Kind, found bool, err error) {
	return r.get(key, true)
}

func (r *Reader) get(key []byte, cachedOnly bool) (value []byte, version uint64, kind base.Kind, found bool, err error) {
	if r.closed.Load() {
		return nil, 0, 0, false, ErrClosed
	}
	if !r.filter.mayContain(base.Hash64(key)) {
		return nil, 0, 0, false, nil
	}
	i := r.index.search(key)
	if i == r.index.numBlocks() {
		return nil, 0, 0, false, nil
	}
	var b []byte
	if cachedOnly {
		ok := false
		if r.cache != nil {
			b, ok = r.cache.Get(r.cacheID, r.index.handle(i).offset)
		}
		if !ok {
			return nil, 0, 0, false, ErrNotCached
		}
	} else if b, err = r.readBlock(i, r.cache != nil, nil); err != nil {
		return nil, 0, 0, false, err
	}
	value, version, kind, found, err = blockGet(b, key)
	if err != nil {
		err = fmt.Errorf("sstable: data block at offset %d: %w", r.index.offs[i], err)
	}
	return value, version, kind, found, err
}

// MayContain reports whether the table may hold key, consulting only the
// bloom filter: false means it certainly does not. A table written without a
// filter may contain every key.
func (r *Reader) MayContain(key []byte) bool {
	return r.filter.mayContain(base.Hash64(key))
}

// Properties returns the table's properties. The returned Smallest and
// Largest slices are shared and must not be modified.
func (r *Reader) Properties() Properties {
	return r.props
}

// MemoryUsage returns the bytes the Reader holds in memory: index, filter
// and properties.
func (r *Reader) MemoryUsage() int {
	return int(unsafe.Sizeof(*r)) + r.index.memoryUsage() + cap(r.filter.bits) +
		cap(r.props.Smallest) + cap(r.props.Largest)
}

// Close marks the Reader closed: Get and new iterators then fail with
// ErrClosed. It does not close the io.ReaderAt, which the caller owns.
// Close is idempotent and always returns nil.
func (r *Reader) Close() error {
	r.closed.Store(true)
	return nil
}
