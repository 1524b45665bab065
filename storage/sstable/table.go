package sstable

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"math"

	"kvstore/storage/internal/base"
)

// Frozen format constants; see the package documentation.
const (
	footerLen     = 64
	formatVersion = 1
	// magic ends every table file.
	magic = "\x89KVSTBL\n"

	propertiesVersion = 1
)

// Errors returned by this package. Corrupt input is reported with errors
// wrapping base.ErrCorruption instead.
var (
	// ErrKeyOrder is returned by Writer.Add for a key that is not greater
	// than the previous one.
	ErrKeyOrder = errors.New("sstable: keys not in strictly ascending order")
	// ErrInvalidKind is returned by Writer.Add for a kind the format does
	// not know.
	ErrInvalidKind = errors.New("sstable: invalid record kind")
	// ErrRecordTooLarge is returned by Writer.Add for a record whose key
	// and value together exceed MaxRecordSize bytes.
	ErrRecordTooLarge = errors.New("sstable: record too large")
	// ErrFinished is returned by Writer methods called after Finish.
	ErrFinished = errors.New("sstable: writer already finished")
	// ErrClosed is returned by Reader methods called after Close.
	ErrClosed = errors.New("sstable: reader closed")
)

// MaxRecordSize bounds len(key)+len(value) of one record, so that every
// block stays far below the 4 GiB its uint32 offsets can address.
const MaxRecordSize = 1 << 30

// maxBlockSize bounds WriterOptions.BlockSize for the same reason.
const maxBlockSize = 256 << 20

// handle locates a block: its offset in the file and its length without
// the trailer.
type handle struct {
	offset, length uint64
}

// end returns the offset just past the block's trailer.
func (h handle) end() uint64 { return h.offset + h.length + blockTrailerLen }

// footer is the decoded fixed-size tail of a table.
type footer struct {
	filter, index, props handle
	version              uint32
}

func (f *footer) encode(dst []byte) []byte {
	start := len(dst)
	for _, h := range [...]handle{f.filter, f.index, f.props} {
		dst = binary.LittleEndian.AppendUint64(dst, h.offset)
		dst = binary.LittleEndian.AppendUint64(dst, h.length)
	}
	dst = binary.LittleEndian.AppendUint32(dst, f.version)
	dst = binary.LittleEndian.AppendUint32(dst, crc32.Checksum(dst[start:], crcTable))
	return append(dst, magic...)
}

// decodeFooter decodes the last footerLen bytes of a table of the given size
// and checks that the blocks it locates tile the file after the data blocks:
// filter, index, properties, footer, each block followed by its trailer.
func decodeFooter(b []byte, size uint64) (footer, error) {
	var f footer
	if len(b) != footerLen {
		return f, base.CorruptionErrorf("sstable: footer is %d bytes, want %d", len(b), footerLen)
	}
	if string(b[56:]) != magic {
		return f, base.CorruptionErrorf("sstable: bad magic number %x", b[56:])
	}
	if got, want := crc32.Checksum(b[:52], crcTable), binary.LittleEndian.Uint32(b[52:]); got != want {
		return f, base.CorruptionErrorf("sstable: footer checksum mismatch (stored %#08x, computed %#08x)", want, got)
	}
	hs := [3]*handle{&f.filter, &f.index, &f.props}
	for i, h := range hs {
		h.offset = binary.LittleEndian.Uint64(b[16*i:])
		h.length = binary.LittleEndian.Uint64(b[16*i+8:])
	}
	f.version = binary.LittleEndian.Uint32(b[48:])
	if f.version != formatVersion {
		return f, base.CorruptionErrorf("sstable: unsupported format version %d", f.version)
	}
	if size < footerLen {
		return f, base.CorruptionErrorf("sstable: file of %d bytes has no room for a footer", size)
	}
	// Offsets and lengths are checked against the file size before any
	// addition, so the sums below cannot overflow.
	next := f.filter.offset
	for _, h := range hs {
		if h.offset > size || h.length > size || h.offset != next || h.end() > size-footerLen {
			return f, base.CorruptionErrorf("sstable: footer block handle {%d, %d} out of place in a %d-byte file", h.offset, h.length, size)
		}
		next = h.end()
	}
	if next != size-footerLen {
		return f, base.CorruptionErrorf("sstable: properties block ends at %d, footer starts at %d", next, size-footerLen)
	}
	return f, nil
}

// Properties describes a table. All byte counts include block trailers.
type Properties struct {
	NumEntries    uint64 // records in the table
	NumTombstones uint64 // records of kind base.KindTombstone
	Smallest      []byte // first key (empty if the table is empty)
	Largest       []byte // last key (empty if the table is empty)
	MinVersion    uint64 // smallest record version (0 if empty)
	MaxVersion    uint64 // largest record version (0 if empty)
	RawKeyBytes   uint64 // sum of key lengths
	RawValueBytes uint64 // sum of value lengths
	DataBytes     uint64 // data blocks; also the filter block's offset
	IndexBytes    uint64 // index block
	FilterBytes   uint64 // filter block
	FileSize      uint64 // whole file; not stored, known from the file itself
}

func (p *Properties) encode(dst []byte) []byte {
	dst = binary.AppendUvarint(dst, propertiesVersion)
	for _, v := range [...]uint64{
		p.NumEntries, p.NumTombstones, p.MinVersion, p.MaxVersion,
		p.RawKeyBytes, p.RawValueBytes, p.DataBytes, p.IndexBytes, p.FilterBytes,
	} {
		dst = binary.AppendUvarint(dst, v)
	}
	dst = binary.AppendUvarint(dst, uint64(len(p.Smallest)))
	dst = append(dst, p.Smallest...)
	dst = binary.AppendUvarint(dst, uint64(len(p.Largest)))
	return append(dst, p.Largest...)
}

// decodeProperties decodes a properties block body. Smallest and Largest are
// copied out of b.
func decodeProperties(b []byte) (Properties, error) {
	var p Properties
	d := decoder{b: b, what: "properties block"}
	if v := d.uvarint(); d.err == nil && v != propertiesVersion {
		return p, base.CorruptionErrorf("sstable: properties block: unsupported version %d", v)
	}
	for _, f := range [...]*uint64{
		&p.NumEntries, &p.NumTombstones, &p.MinVersion, &p.MaxVersion,
		&p.RawKeyBytes, &p.RawValueBytes, &p.DataBytes, &p.IndexBytes, &p.FilterBytes,
	} {
		*f = d.uvarint()
	}
	p.Smallest = append([]byte(nil), d.bytes()...)
	p.Largest = append([]byte(nil), d.bytes()...)
	if d.err == nil && len(d.b) != 0 {
		d.err = base.CorruptionErrorf("sstable: properties block: %d trailing bytes", len(d.b))
	}
	if d.err != nil {
		return Properties{}, d.err
	}
	return p, nil
}

// decoder reads uvarints and length-prefixed byte strings, recording the
// first error; every read after an error returns zero values.
type decoder struct {
	b    []byte
	what string // the structure decoded, for error messages
	err  error
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = base.CorruptionErrorf("sstable: %s: bad uvarint", d.what)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.err = base.CorruptionErrorf("sstable: %s: length %d exceeds the %d bytes left", d.what, n, len(d.b))
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

// index is the decoded index block: separator i is keys[ends[i-1]:ends[i]]
// (ends[-1] = 0) and block i spans offs[i] to offs[i+1] in the file,
// trailer included. Data blocks are contiguous from offset 0, so offs has
// one more element than there are blocks, the last being the data end.
type index struct {
	keys []byte
	ends []uint32
	offs []uint64
}

func (x *index) numBlocks() int { return len(x.ends) }

func (x *index) sep(i int) []byte {
	start := uint32(0)
	if i > 0 {
		start = x.ends[i-1]
	}
	return x.keys[start:x.ends[i]]
}

// handle returns the handle of block i.
func (x *index) handle(i int) handle {
	return handle{offset: x.offs[i], length: x.offs[i+1] - x.offs[i] - blockTrailerLen}
}

// search returns the first block whose separator is >= key, or
// numBlocks() if key is greater than every key in the table.
func (x *index) search(key []byte) int {
	lo, hi := 0, len(x.ends)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if bytes.Compare(x.sep(mid), key) < 0 {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo
}

func (x *index) memoryUsage() int {
	return cap(x.keys) + 4*cap(x.ends) + 8*cap(x.offs)
}

// appendIndexEntry appends one index entry: [len(sep) uvarint][sep]
// [offset uvarint][length uvarint].
func appendIndexEntry(dst, sep []byte, h handle) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(sep)))
	dst = append(dst, sep...)
	dst = binary.AppendUvarint(dst, h.offset)
	return binary.AppendUvarint(dst, h.length)
}

// minIndexEntryLen is the smallest encoded index entry.
const minIndexEntryLen = 3

// decodeIndex decodes an index block body and checks that its handles tile
// [0, dataEnd) in order and its separators ascend strictly.
func decodeIndex(b []byte, dataEnd uint64) (index, error) {
	var x index
	d := decoder{b: b, what: "index block"}
	n := d.uvarint()
	if d.err == nil && n > uint64(len(d.b))/minIndexEntryLen {
		d.err = base.CorruptionErrorf("sstable: index block: %d entries cannot fit in %d bytes", n, len(d.b))
	}
	if d.err == nil && uint64(len(b)) > math.MaxUint32 {
		d.err = base.CorruptionErrorf("sstable: index block of %d bytes too large", len(b))
	}
	if d.err != nil {
		return x, d.err
	}
	x.keys = make([]byte, 0, len(d.b)-int(n)*minIndexEntryLen)
	x.ends = make([]uint32, 0, n)
	x.offs = make([]uint64, 0, n+1)
	next := uint64(0)
	var prev []byte
	for i := uint64(0); i < n; i++ {
		sep := d.bytes()
		off := d.uvarint()
		length := d.uvarint()
		if d.err != nil {
			break
		}
		if off != next || length > dataEnd || off+length+blockTrailerLen > dataEnd {
			d.err = base.CorruptionErrorf("sstable: index block: entry %d: block handle {%d, %d} out of place (expected offset %d, data ends at %d)", i, off, length, next, dataEnd)
			break
		}
		if i > 0 {
			if bytes.Compare(prev, sep) >= 0 {
				d.err = base.CorruptionErrorf("sstable: index block: entry %d: separators out of order", i)
				break
			}
		}
		start := len(x.keys)
		x.keys = append(x.keys, sep...)
		prev = x.keys[start:]
		x.ends = append(x.ends, uint32(len(x.keys)))
		x.offs = append(x.offs, off)
		next = off + length + blockTrailerLen
	}
	if d.err == nil && next != dataEnd {
		d.err = base.CorruptionErrorf("sstable: index block: data blocks end at %d, filter starts at %d", next, dataEnd)
	}
	if d.err == nil && len(d.b) != 0 {
		d.err = base.CorruptionErrorf("sstable: index block: %d trailing bytes", len(d.b))
	}
	if d.err != nil {
		return index{}, d.err
	}
	x.offs = append(x.offs, dataEnd)
	return x, nil
}

// shortSeparator returns a short key s with a <= s < b, given a < b,
// appended to dst: a's common prefix with b plus one byte, incremented, when
// that is possible, else a itself.
func shortSeparator(dst, a, b []byte) []byte {
	n := commonPrefix(a, b)
	if n < len(a) && n < len(b) && a[n] < 0xff && a[n]+1 < b[n] {
		dst = append(dst, a[:n+1]...)
		dst[len(dst)-1]++
		return dst
	}
	return append(dst, a...)
}
