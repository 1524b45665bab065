package record

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"slices"
)

const (
	// HeaderSize is the size of a record header: CRC and length.
	HeaderSize = 8
	// MaxRecordSize is the largest payload a record may carry, in bytes.
	MaxRecordSize = 64 << 20
)

// ErrTornTail ends a log at a record that is cut short or fails its checks;
// Reader.Next returns errors wrapping it. See the package documentation.
var ErrTornTail = errors.New("record: torn tail")

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Append appends payload to dst as one encoded record and returns the
// extended buffer. It does not allocate if dst has room for HeaderSize +
// len(payload) more bytes. It panics if len(payload) > MaxRecordSize: the
// caller bounds its payloads.
func Append(dst, payload []byte) []byte {
	if len(payload) > MaxRecordSize {
		panic(fmt.Sprintf("record: payload of %d bytes exceeds MaxRecordSize", len(payload)))
	}
	start := len(dst)
	dst = slices.Grow(dst, HeaderSize+len(payload))
	dst = dst[:start+HeaderSize]
	dst = append(dst, payload...)
	Seal(dst[start:])
	return dst
}

// Seal turns rec, HeaderSize reserved bytes followed by a payload, into an
// encoded record by writing the header in place. It lets a caller encode a
// payload straight into its output buffer:
//
//	start := len(buf)
//	buf = append(buf, make([]byte, record.HeaderSize)...)
//	buf = appendPayload(buf)
//	record.Seal(buf[start:])
//
// It panics if rec is shorter than HeaderSize or its payload is longer than
// MaxRecordSize.
func Seal(rec []byte) {
	n := len(rec) - HeaderSize
	if n < 0 || n > MaxRecordSize {
		panic(fmt.Sprintf("record: cannot seal a record of %d bytes", len(rec)))
	}
	binary.LittleEndian.PutUint32(rec[4:], uint32(n))
	binary.LittleEndian.PutUint32(rec[0:], crc32.Checksum(rec[4:], castagnoli))
}

const (
	minBufSize       = 4 << 10  // initial buffer
	readaheadBufSize = 64 << 10 // the buffer grows to this size as input proves long
	maxEmptyReads    = 100      // like bufio: give up on a reader that makes no progress
)

// Reader reads the records of a log from an io.Reader, buffering its input.
// It reads no further than it must to return each record.
//
// Its memory is bounded by the input it has read: the buffer starts at 4 KiB
// and only doubles when it is full of unread input, so a length field
// announcing a huge record at the end of a short log costs no more than the
// log's bytes.
//
// A Reader is not safe for concurrent use.
type Reader struct {
	r         io.Reader
	buf       []byte
	pos, end  int   // buf[pos:end] is read but not yet consumed
	off       int64 // stream offset of buf[pos]: the end of the last good record
	readTotal int64 // bytes read from r
	eof       bool  // r returned io.EOF
	err       error // sticky result once the log has ended
}

// NewReader returns a Reader of the log in r, which it reads from its current
// position; Offset counts from there.
func NewReader(r io.Reader) *Reader {
	return &Reader{r: r}
}

// Reset makes rd read a new log from r, keeping its buffer.
func (rd *Reader) Reset(r io.Reader) {
	*rd = Reader{r: r, buf: rd.buf}
}

// Next returns the payload of the next record. The slice is valid until the
// next call of Next or Reset; the caller must not modify it.
//
// At the end of the log Next returns io.EOF; at a torn tail, an error
// wrapping ErrTornTail; when reading the input fails, that error (which is
// not a reason to truncate the log). Once it has returned an error, Next
// returns the same error again.
func (rd *Reader) Next() ([]byte, error) {
	if rd.err != nil {
		return nil, rd.err
	}
	if rd.end-rd.pos < HeaderSize {
		if err := rd.fill(HeaderSize); err != nil {
			return nil, rd.fail(err)
		}
		switch avail := rd.end - rd.pos; {
		case avail == 0:
			return nil, rd.fail(io.EOF)
		case avail < HeaderSize:
			return nil, rd.torn("header cut short after %d bytes", avail)
		}
	}
	h := rd.buf[rd.pos : rd.pos+HeaderSize]
	sum := binary.LittleEndian.Uint32(h[0:4])
	n := binary.LittleEndian.Uint32(h[4:8])
	if sum == 0 && n == 0 {
		return nil, rd.fail(io.EOF) // zero-filled tail
	}
	if n > MaxRecordSize {
		return nil, rd.torn("length %d exceeds the maximum %d", n, MaxRecordSize)
	}
	size := HeaderSize + int(n)
	if rd.end-rd.pos < size {
		if err := rd.fill(size); err != nil {
			return nil, rd.fail(err)
		}
		if avail := rd.end - rd.pos; avail < size {
			return nil, rd.torn("payload of %d bytes cut short after %d", n, avail-HeaderSize)
		}
	}
	rec := rd.buf[rd.pos : rd.pos+size]
	if got := crc32.Checksum(rec[4:], castagnoli); got != sum {
		return nil, rd.torn("checksum %#08x, header says %#08x", got, sum)
	}
	rd.pos += size
	rd.off += int64(size)
	return rec[HeaderSize:], nil
}

// Offset returns the number of bytes the good records returned so far take:
// after Next has reported the end of the log, the length of the intact log.
func (rd *Reader) Offset() int64 { return rd.off }

func (rd *Reader) fail(err error) error {
	rd.err = err
	return err
}

func (rd *Reader) torn(format string, args ...any) error {
	return rd.fail(fmt.Errorf("%w at offset %d: %s", ErrTornTail, rd.off, fmt.Sprintf(format, args...)))
}

// fill reads until need bytes are unread in the buffer or the input ends. It
// returns only errors other than io.EOF.
func (rd *Reader) fill(need int) error {
	if rd.buf == nil {
		rd.buf = make([]byte, minBufSize)
	}
	empty := 0
	for rd.end-rd.pos < need && !rd.eof {
		if rd.end == len(rd.buf) {
			rd.makeRoom(need)
		}
		n, err := rd.r.Read(rd.buf[rd.end:])
		if n < 0 || n > len(rd.buf)-rd.end {
			return fmt.Errorf("record: reader returned invalid count %d", n)
		}
		rd.end += n
		rd.readTotal += int64(n)
		switch {
		case err == io.EOF:
			rd.eof = true
		case err != nil:
			return fmt.Errorf("record: reading log at offset %d: %w", rd.readTotal, err)
		case n == 0:
			if empty++; empty >= maxEmptyReads {
				return fmt.Errorf("record: reading log: %w", io.ErrNoProgress)
			}
		}
	}
	return nil
}

// makeRoom frees space at the end of a full buffer, by moving the unread
// bytes to its front or by growing it. Growing at most doubles a buffer full
// of input, so the buffer stays within twice the input read.
func (rd *Reader) makeRoom(need int) {
	size := len(rd.buf)
	switch {
	case need > size:
		size = min(2*size, need) // a long record, as far as the input goes
	case size < readaheadBufSize:
		size = min(2*size, readaheadBufSize) // a long log: read more at a time
	}
	buf := rd.buf
	if size > len(rd.buf) {
		buf = make([]byte, size)
	}
	rd.end = copy(buf, rd.buf[rd.pos:rd.end])
	rd.pos = 0
	rd.buf = buf
}
