package sstable

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"

	"kvstore/storage/internal/base"
)

// WriterOptions configures a Writer. The zero value selects every default.
type WriterOptions struct {
	// BlockSize is the target size in bytes of a data block before its
	// trailer: a block is cut once it reaches this size, so it may exceed it
	// by one record. Default 4096 (when <= 0); at most 256 MiB.
	BlockSize int
	// RestartInterval is the number of entries between restart points in a
	// data block. Default 16 (when <= 0).
	RestartInterval int
	// BloomBitsPerKey is the bloom filter size in bits per key. 0 selects the
	// default of 10 (about 1% false positives); a negative value writes no
	// filter, so every lookup reads a data block. At most 64.
	BloomBitsPerKey int
}

const (
	defaultBlockSize       = 4096
	defaultRestartInterval = 16
	defaultBloomBitsPerKey = 10
	maxBloomBitsPerKey     = 64

	// writeBufferSize is how much output a Writer gathers before writing it.
	writeBufferSize = 256 << 10
)

func (o WriterOptions) withDefaults() WriterOptions {
	if o.BlockSize <= 0 {
		o.BlockSize = defaultBlockSize
	}
	o.BlockSize = min(o.BlockSize, maxBlockSize)
	if o.RestartInterval <= 0 {
		o.RestartInterval = defaultRestartInterval
	}
	if o.BloomBitsPerKey == 0 {
		o.BloomBitsPerKey = defaultBloomBitsPerKey
	}
	o.BloomBitsPerKey = min(o.BloomBitsPerKey, maxBloomBitsPerKey)
	return o
}

// Writer writes a table: records in strictly ascending key order, one per
// key, then Finish.
//
// A Writer is not safe for concurrent use. It gathers output in memory and
// writes it to the underlying io.Writer in large chunks; it never syncs or
// closes it. After a write error every method returns that error.
type Writer struct {
	w    io.Writer
	opts WriterOptions

	out        []byte // output not yet written to w
	written    uint64 // bytes already written to w; out starts at this offset
	blockStart int    // offset in out of the current data block
	block      blockBuilder

	pendingIndex  bool   // a data block was finished; its index entry waits for the next key
	pendingHandle handle // that block's handle
	sepBuf        []byte
	indexBuf      []byte // index entries so far
	indexCount    int

	hashes []uint64 // Hash64 of every key, for the filter
	props  Properties

	finished bool
	err      error
}

// NewWriter returns a Writer writing a table to w.
func NewWriter(w io.Writer, opts WriterOptions) *Writer {
	opts = opts.withDefaults()
	return &Writer{
		w:     w,
		opts:  opts,
		out:   make([]byte, 0, writeBufferSize+opts.BlockSize),
		block: blockBuilder{restartInterval: opts.RestartInterval},
	}
}

// Add appends a record. key must be greater than the previous key. The
// Writer copies what it keeps of key and value. Add returns ErrKeyOrder,
// ErrInvalidKind or ErrRecordTooLarge (leaving the Writer usable) for a bad
// record, ErrFinished after Finish, or the error of a failed write.
func (w *Writer) Add(key []byte, version uint64, kind base.Kind, value []byte) error {
	if w.err != nil {
		return w.err
	}
	if w.finished {
		return ErrFinished
	}
	if w.props.NumEntries > 0 && bytes.Compare(key, w.block.lastKey) <= 0 {
		return fmt.Errorf("%w: %q after %q", ErrKeyOrder, key, w.block.lastKey)
	}
	if !kind.Valid() {
		return fmt.Errorf("%w: %d", ErrInvalidKind, kind)
	}
	if len(key)+len(value) > MaxRecordSize {
		return fmt.Errorf("%w: %d bytes", ErrRecordTooLarge, len(key)+len(value))
	}
	if w.pendingIndex {
		w.sepBuf = shortSeparator(w.sepBuf[:0], w.block.lastKey, key)
		w.addIndexEntry(w.sepBuf)
	}
	w.out = w.block.add(w.out, w.blockStart, key, version, kind, value)
	if w.opts.BloomBitsPerKey > 0 {
		w.hashes = append(w.hashes, base.Hash64(key))
	}

	p := &w.props
	if p.NumEntries == 0 {
		p.Smallest = append(p.Smallest[:0], key...)
		p.MinVersion, p.MaxVersion = version, version
	}
	p.NumEntries++
	if kind == base.KindTombstone {
		p.NumTombstones++
	}
	p.MinVersion = min(p.MinVersion, version)
	p.MaxVersion = max(p.MaxVersion, version)
	p.RawKeyBytes += uint64(len(key))
	p.RawValueBytes += uint64(len(value))

	if len(w.out)-w.blockStart >= w.opts.BlockSize {
		w.finishDataBlock()
	}
	return w.err
}

func (w *Writer) addIndexEntry(sep []byte) {
	w.indexBuf = appendIndexEntry(w.indexBuf, sep, w.pendingHandle)
	w.indexCount++
	w.pendingIndex = false
}

// finishDataBlock closes the current data block and writes out the buffer
// if it is full.
func (w *Writer) finishDataBlock() {
	w.out = w.block.finish(w.out)
	length := len(w.out) - w.blockStart
	w.out = appendTrailer(w.out, w.blockStart)
	w.pendingHandle = handle{offset: w.written + uint64(w.blockStart), length: uint64(length)}
	w.pendingIndex = true
	if len(w.out) >= writeBufferSize {
		w.flush()
	}
	w.blockStart = len(w.out)
}

// flush writes out the gathered output.
func (w *Writer) flush() {
	if w.err != nil || len(w.out) == 0 {
		return
	}
	n, err := w.w.Write(w.out)
	if err == nil && n != len(w.out) {
		err = io.ErrShortWrite
	}
	if err != nil {
		w.err = fmt.Errorf("sstable: write: %w", err)
		return
	}
	w.written += uint64(n)
	w.out = w.out[:0]
}

// writeBlock appends a meta block with its trailer and returns its handle.
func (w *Writer) writeBlock(body func([]byte) []byte) handle {
	start := len(w.out)
	w.out = body(w.out)
	h := handle{offset: w.written + uint64(start), length: uint64(len(w.out) - start)}
	w.out = appendTrailer(w.out, start)
	return h
}

// EstimatedSize returns the size the table would have if finished now:
// bytes written, output gathered, and the index, filter and properties still
// to come. Compactions use it to cut output tables at a target size.
func (w *Writer) EstimatedSize() uint64 {
	n := w.written + uint64(len(w.out)) + uint64(len(w.indexBuf))
	if w.opts.BloomBitsPerKey > 0 {
		n += uint64(len(w.hashes)*w.opts.BloomBitsPerKey/8) + filterLineBytes
	}
	if len(w.out) > w.blockStart {
		n += 4*uint64(len(w.block.restarts)+1) + blockTrailerLen
	}
	// The last key appears in the last index entry and in the properties.
	return n + uint64(len(w.props.Smallest)+2*len(w.block.lastKey)) + 3*blockTrailerLen + 64 + footerLen
}

// Finish writes the last data block, the filter, index and properties
// blocks and the footer, writes out everything gathered, and returns the
// table's properties. The Writer cannot be used afterwards (ErrFinished).
// Finish does not sync or close the underlying writer.
func (w *Writer) Finish() (Properties, error) {
	if w.err != nil {
		return Properties{}, w.err
	}
	if w.finished {
		return Properties{}, ErrFinished
	}
	w.finished = true
	if w.block.count > 0 {
		w.finishDataBlock()
	}
	if w.pendingIndex {
		w.addIndexEntry(w.block.lastKey)
	}
	p := &w.props
	if p.NumEntries > 0 {
		p.Largest = append(p.Largest[:0], w.block.lastKey...)
	}
	p.DataBytes = w.written + uint64(len(w.out))

	var f footer
	f.version = formatVersion
	f.filter = w.writeBlock(func(b []byte) []byte {
		if w.opts.BloomBitsPerKey <= 0 {
			return b
		}
		return appendFilter(b, w.hashes, w.opts.BloomBitsPerKey)
	})
	f.index = w.writeBlock(func(b []byte) []byte {
		b = binary.AppendUvarint(b, uint64(w.indexCount))
		return append(b, w.indexBuf...)
	})
	p.FilterBytes = f.filter.length + blockTrailerLen
	p.IndexBytes = f.index.length + blockTrailerLen
	f.props = w.writeBlock(p.encode)
	w.out = f.encode(w.out)
	p.FileSize = w.written + uint64(len(w.out))
	w.flush()
	if w.err != nil {
		return Properties{}, w.err
	}
	w.hashes, w.indexBuf, w.out = nil, nil, nil
	return *p, nil
}
