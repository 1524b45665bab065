package sstable

import (
	"fmt"

	"kvstore/storage/internal/base"
)

// IterOptions configures an iterator.
type IterOptions struct {
	// NoCache makes the iterator read the file sequentially through its own
	// read-ahead buffer (ReadAheadSize bytes), without consulting or filling
	// the block cache. Compactions and other one-time scans set it so that
	// they neither evict the working set nor pay a cache lookup per block.
	NoCache bool
	// ReadAheadEnd, if set, is a key the caller stops reading at: a NoCache
	// iterator's read-ahead reads no block past the first one that may hold
	// it, so a scan of a short range of a large table reads about that
	// range. It does not bound the iterator itself.
	ReadAheadEnd []byte
}

// ReadAheadSize is the read-ahead buffer size of a NoCache iterator.
const ReadAheadSize = 256 << 10

// Iter iterates over a table's records in key order. It implements
// base.Iterator.
//
// An Iter is not safe for concurrent use. Key and Value are valid until the
// next positioning call or Close. Errors are sticky: after one, every
// positioning call returns false and Err reports it.
type Iter struct {
	r       *Reader
	noCache bool
	// raEnd is the file offset read-ahead stops at: the end of the block
	// that may hold IterOptions.ReadAheadEnd, or the end of the data.
	raEnd uint64
	blk   int // index of the loaded block; -1 if none
	bi    blockIter
	err   error

	// buf holds block bytes read from the file when they are not cached: a
	// scratch block for a Reader without a cache, or the read-ahead window
	// [raOff, raOff+len(ra)) of a NoCache iterator.
	buf   []byte
	ra    []byte
	raOff uint64
}

var _ base.Iterator = (*Iter)(nil)

// NewIter returns an unpositioned iterator over the table. If the Reader is
// closed, the iterator's Err is ErrClosed.
func (r *Reader) NewIter(opts IterOptions) *Iter {
	it := &Iter{r: r, noCache: opts.NoCache, blk: -1}
	ix := &r.index
	it.raEnd = ix.offs[ix.numBlocks()]
	if opts.NoCache && opts.ReadAheadEnd != nil {
		if i := ix.search(opts.ReadAheadEnd); i < ix.numBlocks() {
			it.raEnd = ix.offs[i+1]
		}
	}
	if r.closed.Load() {
		it.err = ErrClosed
	}
	return it
}

// loadBlock loads data block i into it.bi, unpositioned.
func (it *Iter) loadBlock(i int) bool {
	if i == it.blk {
		return true
	}
	var b []byte
	var err error
	switch {
	case it.noCache:
		b, err = it.readAhead(i)
	case it.r.cache != nil:
		b, err = it.r.readBlock(i, true, nil)
	default:
		b, err = it.r.readBlock(i, false, &it.buf)
	}
	if err == nil {
		if err = it.bi.init(b); err != nil {
			err = it.blockErr(i, err)
		}
	}
	if err != nil {
		it.blk = -1
		return it.fail(err)
	}
	it.blk = i
	return true
}

// readAhead returns block i from the read-ahead window, refilling the
// window from the block's offset if it does not hold the whole block.
func (it *Iter) readAhead(i int) ([]byte, error) {
	h := it.r.index.handle(i)
	n := h.length + blockTrailerLen
	if h.offset < it.raOff || h.offset+n > it.raOff+uint64(len(it.ra)) {
		want := n
		if it.raEnd > h.offset {
			want = max(min(ReadAheadSize, it.raEnd-h.offset), n)
		}
		if uint64(cap(it.buf)) < want {
			it.buf = make([]byte, want)
		}
		it.ra = it.buf[:want]
		it.raOff = h.offset
		if err := readFull(it.r.r, it.ra, h.offset); err != nil {
			it.ra = it.ra[:0]
			return nil, err
		}
	}
	o := h.offset - it.raOff
	return checkTrailer(it.ra[o:o+n:o+n], h.offset)
}

// fail records err, which makes the iterator invalid for good.
func (it *Iter) fail(err error) bool {
	if it.err == nil {
		it.err = err
	}
	it.bi.valid = false
	return false
}

// blockErr adds the offset of block i to a block decoding error.
func (it *Iter) blockErr(i int, err error) error {
	return fmt.Errorf("sstable: data block at offset %d: %w", it.r.index.offs[i], err)
}

// skipForward moves to the first entry of the next non-empty block after an
// exhausted block.
func (it *Iter) skipForward() bool {
	for !it.bi.valid {
		if it.bi.err != nil {
			return it.fail(it.blockErr(it.blk, it.bi.err))
		}
		if it.blk+1 >= it.r.index.numBlocks() {
			return false
		}
		if !it.loadBlock(it.blk + 1) {
			return false
		}
		it.bi.first()
	}
	return true
}

// First moves to the table's first record.
func (it *Iter) First() bool {
	if it.err != nil {
		return false
	}
	if it.r.index.numBlocks() == 0 {
		it.bi.valid = false
		return false
	}
	if !it.loadBlock(0) {
		return false
	}
	it.bi.first()
	return it.skipForward()
}

// SeekGE moves to the first record whose key is >= key.
func (it *Iter) SeekGE(key []byte) bool {
	if it.err != nil {
		return false
	}
	i := it.r.index.search(key)
	if i == it.r.index.numBlocks() {
		it.bi.valid = false
		return false
	}
	if !it.loadBlock(i) {
		return false
	}
	it.bi.seekGE(key)
	return it.skipForward()
}

// Next moves to the next record. It must only be called when Valid.
func (it *Iter) Next() bool {
	if it.err != nil || !it.bi.valid {
		return false
	}
	it.bi.nextEntry()
	return it.skipForward()
}

// Valid reports whether the iterator is positioned on a record.
func (it *Iter) Valid() bool { return it.err == nil && it.bi.valid }

// Key returns the current key.
func (it *Iter) Key() []byte { return it.bi.key }

// Value returns the current value.
func (it *Iter) Value() []byte { return it.bi.value }

// Version returns the current record's version.
func (it *Iter) Version() uint64 { return it.bi.version }

// Kind returns the current record's kind.
func (it *Iter) Kind() base.Kind { return it.bi.kind }

// Err returns the first error the iterator met.
func (it *Iter) Err() error { return it.err }

// Close releases the iterator's buffers and returns Err.
func (it *Iter) Close() error {
	it.bi = blockIter{}
	it.buf, it.ra = nil, nil
	it.blk = -1
	return it.err
}
