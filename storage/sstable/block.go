package sstable

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"math/bits"

	"kvstore/storage/internal/base"
)

// Frozen format constants; see the package documentation.
const (
	blockTrailerLen = 5 // block type byte + CRC32C
	blockTypeNone   = 0 // uncompressed block

	entryFixedLen = 1 + 8 // kind + version in a data block entry
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// blockBuilder appends data block entries to a caller-owned buffer.
type blockBuilder struct {
	restartInterval int
	restarts        []uint32 // offsets of restart entries, relative to the block start
	count           int      // entries in the current block
	lastKey         []byte
}

// add appends an entry to buf, whose block starts at buf[start:].
func (bb *blockBuilder) add(buf []byte, start int, key []byte, version uint64, kind base.Kind, value []byte) []byte {
	shared := 0
	if bb.count%bb.restartInterval == 0 {
		bb.restarts = append(bb.restarts, uint32(len(buf)-start))
	} else {
		shared = commonPrefix(bb.lastKey, key)
	}
	buf = binary.AppendUvarint(buf, uint64(shared))
	buf = binary.AppendUvarint(buf, uint64(len(key)-shared))
	buf = binary.AppendUvarint(buf, uint64(len(value)))
	buf = append(buf, byte(kind))
	buf = binary.LittleEndian.AppendUint64(buf, version)
	buf = append(buf, key[shared:]...)
	buf = append(buf, value...)
	bb.lastKey = append(bb.lastKey[:0], key...)
	bb.count++
	return buf
}

// finish appends the restart array and count, and resets the builder for
// the next block.
func (bb *blockBuilder) finish(buf []byte) []byte {
	for _, r := range bb.restarts {
		buf = binary.LittleEndian.AppendUint32(buf, r)
	}
	buf = binary.LittleEndian.AppendUint32(buf, uint32(len(bb.restarts)))
	bb.restarts = bb.restarts[:0]
	bb.count = 0
	return buf
}

// appendTrailer appends the block trailer for the block buf[start:].
func appendTrailer(buf []byte, start int) []byte {
	buf = append(buf, blockTypeNone)
	crc := crc32.Checksum(buf[start:], crcTable)
	return binary.LittleEndian.AppendUint32(buf, crc)
}

// checkTrailer verifies the trailer of b, a block followed by its trailer,
// and returns the block without it.
func checkTrailer(b []byte, off uint64) ([]byte, error) {
	if len(b) < blockTrailerLen {
		return nil, base.CorruptionErrorf("sstable: block at offset %d: %d bytes, shorter than its trailer", off, len(b))
	}
	n := len(b) - blockTrailerLen
	want := binary.LittleEndian.Uint32(b[n+1:])
	if got := crc32.Checksum(b[:n+1], crcTable); got != want {
		return nil, base.CorruptionErrorf("sstable: block at offset %d: checksum mismatch (stored %#08x, computed %#08x)", off, want, got)
	}
	if t := b[n]; t != blockTypeNone {
		return nil, base.CorruptionErrorf("sstable: block at offset %d: unknown block type %d", off, t)
	}
	return b[:n:n], nil
}

// blockLayout checks the restart array of a data block and returns the
// offset where it starts (the end of the entries) and the number of restart
// points. A block with entries has at least one restart point, and the first
// is at offset 0.
func blockLayout(b []byte) (restartsOff, numRestarts int, err error) {
	if len(b) < 4 {
		return 0, 0, base.CorruptionErrorf("sstable: block of %d bytes has no restart count", len(b))
	}
	n := binary.LittleEndian.Uint32(b[len(b)-4:])
	if uint64(n) > uint64(len(b)-4)/4 {
		return 0, 0, base.CorruptionErrorf("sstable: block of %d bytes claims %d restart points", len(b), n)
	}
	restartsOff = len(b) - 4 - 4*int(n)
	if n == 0 {
		if restartsOff != 0 {
			return 0, 0, base.CorruptionErrorf("sstable: block has entries but no restart points")
		}
		return 0, 0, nil
	}
	if binary.LittleEndian.Uint32(b[restartsOff:]) != 0 {
		return 0, 0, base.CorruptionErrorf("sstable: block's first restart point is not at offset 0")
	}
	return restartsOff, int(n), nil
}

// restartOffset returns the i-th restart offset of a block laid out by
// blockLayout, checked to point inside the entries.
func restartOffset(b []byte, restartsOff, i int) (int, error) {
	r := binary.LittleEndian.Uint32(b[restartsOff+4*i:])
	if uint64(r) >= uint64(restartsOff) {
		return 0, base.CorruptionErrorf("sstable: restart point %d at offset %d is outside the %d bytes of entries", i, r, restartsOff)
	}
	return int(r), nil
}

// decodeHeader decodes the header of the entry at data[off:], where data
// holds the block's entries only (the restart array cut off) and
// off < len(data). It returns the number of key bytes shared with the
// previous entry and the offsets of the key suffix, the value and the next
// entry; the kind byte and version precede the suffix. ok is false if the
// entry is malformed (see badEntry). Lengths are checked before any
// conversion to int, so malformed input never slices out of range.
func decodeHeader(data []byte, off int) (shared, keyStart, valStart, next int, ok bool) {
	p := data[off:]
	var s, u, v uint64
	i := 3
	if len(p) >= 3 && p[0] < 0x80 && p[1] < 0x80 && p[2] < 0x80 {
		// Fast path: three one-byte uvarints.
		s, u, v = uint64(p[0]), uint64(p[1]), uint64(p[2])
	} else {
		var n int
		if s, n = binary.Uvarint(p); n <= 0 {
			return
		}
		i = n
		if u, n = binary.Uvarint(p[i:]); n <= 0 {
			return
		}
		i += n
		if v, n = binary.Uvarint(p[i:]); n <= 0 {
			return
		}
		i += n
	}
	if len(p)-i < entryFixedLen || !base.Kind(p[i]).Valid() {
		return
	}
	rest := uint64(len(p) - i - entryFixedLen)
	if u > rest || v > rest-u || s > uint64(len(data)) {
		return
	}
	keyStart = off + i + entryFixedLen
	valStart = keyStart + int(u)
	return int(s), keyStart, valStart, valStart + int(v), true
}

// entryKind and entryVersion read the fixed part of an entry whose key
// suffix starts at keyStart, as returned by decodeHeader.
func entryKind(data []byte, keyStart int) base.Kind { return base.Kind(data[keyStart-entryFixedLen]) }

func entryVersion(data []byte, keyStart int) uint64 {
	return binary.LittleEndian.Uint64(data[keyStart-8 : keyStart])
}

// badEntry describes a malformed entry at block offset off.
func badEntry(data []byte, off int) error {
	return base.CorruptionErrorf("sstable: malformed entry at block offset %d of %d", off, len(data))
}

func badShared(off, shared, prevLen int) error {
	return base.CorruptionErrorf("sstable: entry at block offset %d shares %d bytes of a %d-byte key", off, shared, prevLen)
}

// restartKey returns the full key of the entry at a restart point, which is
// stored without a shared prefix.
func restartKey(data []byte, off int) ([]byte, error) {
	shared, keyStart, valStart, _, ok := decodeHeader(data, off)
	if !ok {
		return nil, badEntry(data, off)
	}
	if shared != 0 {
		return nil, badShared(off, shared, 0)
	}
	return data[keyStart:valStart], nil
}

// searchRestarts returns the index of the first restart point whose key is
// greater than key (numRestarts if none is).
func searchRestarts(b []byte, restartsOff, numRestarts int, key []byte) (int, error) {
	data := b[:restartsOff]
	lo, hi := 0, numRestarts
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		off, err := restartOffset(b, restartsOff, mid)
		if err != nil {
			return 0, err
		}
		k, err := restartKey(data, off)
		if err != nil {
			return 0, err
		}
		if bytes.Compare(k, key) > 0 {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo, nil
}

// blockGet looks key up in data block b without reconstructing keys or
// allocating. It returns found == false if the block holds no such key.
func blockGet(b []byte, key []byte) (value []byte, version uint64, kind base.Kind, found bool, err error) {
	restartsOff, numRestarts, err := blockLayout(b)
	if err != nil || numRestarts == 0 {
		return nil, 0, 0, false, err
	}
	r, err := searchRestarts(b, restartsOff, numRestarts, key)
	if err != nil || r == 0 {
		// r == 0: key sorts before the block's first key.
		return nil, 0, 0, false, err
	}
	off, err := restartOffset(b, restartsOff, r-1)
	if err != nil {
		return nil, 0, 0, false, err
	}
	data := b[:restartsOff]
	// Scan forward keeping m = length of the common prefix of the previous
	// key and key; every previous key compared less than key. If an entry
	// shares more than m bytes with its predecessor, it agrees with it where
	// the predecessor first differed from key, so it is still less than key;
	// otherwise its first e.shared bytes equal key's and only its suffix
	// needs comparing.
	m, prevLen := 0, 0
	for off < len(data) {
		shared, keyStart, valStart, next, ok := decodeHeader(data, off)
		if !ok {
			return nil, 0, 0, false, badEntry(data, off)
		}
		if shared > prevLen {
			return nil, 0, 0, false, badShared(off, shared, prevLen)
		}
		prevLen = shared + valStart - keyStart
		if shared <= m {
			c, l := compareLCP(data[keyStart:valStart], key[shared:])
			m = shared + l
			if c == 0 {
				return data[valStart:next:next], entryVersion(data, keyStart), entryKind(data, keyStart), true, nil
			}
			if c > 0 {
				break
			}
		}
		off = next
	}
	return nil, 0, 0, false, nil
}

// compareLCP compares a and b bytewise and also returns the length of their
// common prefix.
func compareLCP(a, b []byte) (cmp, lcp int) {
	n := min(len(a), len(b))
	i := 0
	for ; i+8 <= n; i += 8 {
		x := binary.BigEndian.Uint64(a[i:])
		y := binary.BigEndian.Uint64(b[i:])
		if x != y {
			i += bits.LeadingZeros64(x^y) / 8
			if a[i] < b[i] {
				return -1, i
			}
			return 1, i
		}
	}
	for ; i < n; i++ {
		if a[i] != b[i] {
			if a[i] < b[i] {
				return -1, i
			}
			return 1, i
		}
	}
	switch {
	case len(a) < len(b):
		return -1, n
	case len(a) > len(b):
		return 1, n
	}
	return 0, n
}

// commonPrefix returns the length of the common prefix of a and b.
func commonPrefix(a, b []byte) int {
	_, n := compareLCP(a, b)
	return n
}

// blockIter walks the entries of one data block. Keys stored without a
// shared prefix alias the block; others are rebuilt in buf.
type blockIter struct {
	b           []byte // the whole block
	data        []byte // b[:restartsOff], the entries
	restartsOff int
	numRestarts int
	next        int // offset of the entry after the current one

	key      []byte // current key: aliases data or buf
	keyInBuf bool
	buf      []byte // key reconstruction buffer, reused across blocks
	value    []byte
	version  uint64
	kind     base.Kind
	valid    bool
	err      error
}

// init points the iterator at block b, unpositioned.
func (it *blockIter) init(b []byte) error {
	restartsOff, numRestarts, err := blockLayout(b)
	*it = blockIter{buf: it.buf[:0], err: err}
	if err != nil {
		return err
	}
	it.b, it.data = b, b[:restartsOff]
	it.restartsOff, it.numRestarts = restartsOff, numRestarts
	it.next = len(it.data)
	return nil
}

// fail records err and invalidates the iterator.
func (it *blockIter) fail(err error) bool {
	it.err = err
	it.valid = false
	return false
}

// decodeNext decodes the entry at it.next, which follows the current key
// (or is a restart point if the iterator was reset with key == nil).
func (it *blockIter) decodeNext() bool {
	if it.err != nil {
		return false
	}
	if it.next >= len(it.data) {
		it.valid = false
		return false
	}
	off := it.next
	shared, keyStart, valStart, next, ok := decodeHeader(it.data, off)
	if !ok {
		return it.fail(badEntry(it.data, off))
	}
	suffix := it.data[keyStart:valStart]
	switch {
	case shared == 0:
		it.key, it.keyInBuf = suffix, false
	case shared > len(it.key):
		return it.fail(badShared(off, shared, len(it.key)))
	case it.keyInBuf:
		it.buf = append(it.buf[:shared], suffix...)
		it.key = it.buf
	default:
		it.buf = append(append(it.buf[:0], it.key[:shared]...), suffix...)
		it.key, it.keyInBuf = it.buf, true
	}
	it.value = it.data[valStart:next:next]
	it.version, it.kind = entryVersion(it.data, keyStart), entryKind(it.data, keyStart)
	it.next = next
	it.valid = true
	return true
}

// seekRestart positions the iterator just before restart point i.
func (it *blockIter) seekRestart(i int) bool {
	off, err := restartOffset(it.b, it.restartsOff, i)
	if err != nil {
		return it.fail(err)
	}
	it.next = off
	it.key, it.keyInBuf = nil, false
	return true
}

func (it *blockIter) first() bool {
	if it.err != nil || it.numRestarts == 0 {
		it.valid = false
		return false
	}
	return it.seekRestart(0) && it.decodeNext()
}

func (it *blockIter) nextEntry() bool {
	return it.decodeNext()
}

// seekGE moves to the first entry with a key >= key; it returns false,
// with no error, if the block has none.
func (it *blockIter) seekGE(key []byte) bool {
	if it.err != nil || it.numRestarts == 0 {
		it.valid = false
		return false
	}
	r, err := searchRestarts(it.b, it.restartsOff, it.numRestarts, key)
	if err != nil {
		return it.fail(err)
	}
	if !it.seekRestart(max(r-1, 0)) {
		return false
	}
	for it.decodeNext() {
		if bytes.Compare(it.key, key) >= 0 {
			return true
		}
	}
	return false
}
