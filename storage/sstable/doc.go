// Package sstable reads and writes sorted tables: immutable files holding
// records (key, version, kind, value) in strictly ascending key order, one
// record per key, with a block index and a bloom filter so that a point read
// costs at most one data block read.
//
// # Usage
//
//	w := sstable.NewWriter(f, sstable.WriterOptions{})
//	for _, rec := range sorted {
//		if err := w.Add(rec.Key, rec.Version, rec.Kind, rec.Value); err != nil { ... }
//	}
//	props, err := w.Finish() // then sync and close f
//
//	r, err := sstable.Open(f, size, sstable.ReaderOptions{Cache: c, CacheID: id})
//	value, version, kind, found, err := r.Get(key)
//	it := r.NewIter(sstable.IterOptions{})
//	for ok := it.First(); ok; ok = it.Next() { ... it.Key(), it.Value() ... }
//	err = it.Close()
//
// Get's value and an iterator's Value alias block bytes: a cached block is
// immutable and may be kept, but an iterator's Key and Value are valid only
// until its next positioning call. Dump prints a table for debugging.
//
// # Concurrency
//
// A Writer belongs to one goroutine. A Reader is safe for concurrent use;
// each Iter belongs to one goroutine. Readers use only io.ReaderAt.ReadAt, so
// many goroutines read one file without coordination.
//
// # File format (version 1)
//
// All fixed-width integers are little-endian. uvarint is the unsigned varint
// of encoding/binary (7 bits per byte, low groups first, at most 10 bytes).
// A table is laid out as
//
//	[data block 0][trailer] ... [data block n-1][trailer]   offsets 0 .. DataBytes
//	[filter block][trailer]
//	[index block][trailer]
//	[properties block][trailer]
//	[footer]                                                64 bytes
//
// with no gaps: each block starts where the previous trailer ends. Readers
// verify this tiling and reject anything else as corrupt.
//
// # Block trailer
//
// Every block is followed by a 5-byte trailer:
//
//	+0  1 byte   block type: 0 = uncompressed (the only type so far; the byte
//	             reserves room for compression)
//	+1  uint32   CRC-32C (Castagnoli) of the block bytes followed by the
//	             type byte
//
// A block handle (offset, length) gives the block's file offset and its
// length without the trailer. Every byte of a table is covered by a checksum
// (blocks by their trailer, the footer by its own), so corruption is
// detected, never returned as data.
//
// # Data blocks
//
// A data block holds consecutive records. A block is cut once its entries
// and restart array reach WriterOptions.BlockSize (default 4096); a block is
// never empty. Layout:
//
//	entry 0 | entry 1 | ... | entry m-1 | restart[0] ... restart[r-1] | r
//
// where each restart[i] and r are uint32, restart[i] being the offset of an
// entry from the start of the block. Every RestartInterval-th entry (default
// 16), starting with entry 0, is a restart point and stores its key whole;
// restart[0] is always 0 and r >= 1. An entry is
//
//	shared    uvarint   bytes shared with the previous entry's key (0 at a
//	                    restart point)
//	unshared  uvarint   length of the key suffix stored here
//	valueLen  uvarint   length of the value
//	kind      1 byte    base.Kind: 0 = tombstone, 1 = value
//	version   uint64    record version
//	suffix    unshared bytes: key = previous key[:shared] + suffix
//	value     valueLen bytes (tombstones normally have an empty value)
//
// Lookups binary-search the restart points (whose keys are whole) and scan
// forward from the last restart point whose key is <= the target.
//
// # Filter block
//
// The filter is a cache-line-blocked bloom filter over base.Hash64 of every
// key:
//
//	lines     L*64 bytes (L >= 1); bit j of a line is bit j%8 of its byte j/8
//	k         1 byte, the number of probes, 1..30
//
// A key with hash h (a uint64) uses the single line
//
//	line = ((h >> 32) * L) >> 32        (64-bit arithmetic; L < 2^32)
//
// and k bits of it: with h2 = uint32(h) (the low 32 bits), probe i sets or
// tests bit h2 >> 23 (a number 0..511) and then sets h2 = h2 * 0x9e3779b9
// (uint32 arithmetic) for the next probe. The writer uses
// L = max(1, ceil(n*bitsPerKey/512)) lines for n keys and
// k = round(0.69*bitsPerKey) clamped to 1..30. An empty filter block
// (length 0) means the table has no filter and may contain any key.
//
// # Index block
//
// One entry per data block, in block order:
//
//	count     uvarint   number of entries (= number of data blocks)
//	then count times:
//	  sepLen  uvarint
//	  sep     sepLen bytes: a separator key
//	  offset  uvarint   block handle
//	  length  uvarint
//
// Separator i is >= every key of block i and < every key of block i+1; the
// writer uses the shortest such key it finds cheaply (the common prefix with
// the next block's first key plus one incremented byte), and the last key
// itself for the last block. Separators ascend strictly. The handles tile
// [0, DataBytes) in order. Separators are not prefix-compressed: the reader
// keeps the decoded index in memory and its size equals the block's.
//
// # Properties block
//
//	version        uvarint   1
//	NumEntries     uvarint
//	NumTombstones  uvarint
//	MinVersion     uvarint
//	MaxVersion     uvarint
//	RawKeyBytes    uvarint
//	RawValueBytes  uvarint
//	DataBytes      uvarint   bytes of all data blocks with trailers
//	IndexBytes     uvarint   index block with trailer
//	FilterBytes    uvarint   filter block with trailer
//	len(Smallest)  uvarint, then the first key
//	len(Largest)   uvarint, then the last key
//
// and nothing after. FileSize is not stored: it is the file's size.
//
// # Footer
//
//	+0   uint64  filter block offset
//	+8   uint64  filter block length
//	+16  uint64  index block offset
//	+24  uint64  index block length
//	+32  uint64  properties block offset
//	+40  uint64  properties block length
//	+48  uint32  format version, 1
//	+52  uint32  CRC-32C of bytes 0..51
//	+56  8 bytes magic "\x89KVSTBL\n" (89 4b 56 53 54 42 4c 0a)
//
// # Errors
//
// Readers bounds-check every offset, length and count before slicing or
// allocating, and verify every checksum; bad bytes yield an error wrapping
// base.ErrCorruption, never a panic. Allocations while opening a table are
// bounded by a small multiple of the file size.
package sstable
