package wire

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"sync"

	"github.com/vmihailenco/msgpack/v5"
)

// encoder appends msgpack values to buf. It implements the writer the
// msgpack Encoder needs, so encoding appends straight into the frame buffer.
// The first encoding error sticks in err; appending to a slice never fails,
// so err stays nil in practice.
type encoder struct {
	buf []byte
	enc *msgpack.Encoder
	err error
}

func (e *encoder) Write(p []byte) (int, error) {
	e.buf = append(e.buf, p...)
	return len(p), nil
}

func (e *encoder) WriteByte(c byte) error {
	e.buf = append(e.buf, c)
	return nil
}

func (e *encoder) keep(err error) {
	if err != nil && e.err == nil {
		e.err = err
	}
}

// fields starts a struct of n fields.
func (e *encoder) fields(n int)    { e.keep(e.enc.EncodeArrayLen(n)) }
func (e *encoder) arrayLen(n int)  { e.keep(e.enc.EncodeArrayLen(n)) }
func (e *encoder) bytes(b []byte)  { e.keep(e.enc.EncodeBytes(b)) }
func (e *encoder) string(s string) { e.keep(e.enc.EncodeString(s)) }
func (e *encoder) uint(v uint64)   { e.keep(e.enc.EncodeUint(v)) }
func (e *encoder) int(v int64)     { e.keep(e.enc.EncodeInt(v)) }
func (e *encoder) bool(v bool)     { e.keep(e.enc.EncodeBool(v)) }
func (e *encoder) records(r []Record) {
	e.arrayLen(len(r))
	for i := range r {
		r[i].encode(e)
	}
}

var encoderPool = sync.Pool{New: func() any {
	e := new(encoder)
	e.enc = msgpack.NewEncoder(e)
	return e
}}

func getEncoder(dst []byte) *encoder {
	e := encoderPool.Get().(*encoder)
	e.buf = dst
	e.err = nil
	return e
}

func putEncoder(e *encoder) {
	e.buf = nil
	encoderPool.Put(e)
}

// maxSkipDepth bounds the nesting of unknown values a decoder skips.
const maxSkipDepth = 32

// decoder reads msgpack values from one body. The msgpack Decoder reads the
// bytes.Reader directly (it implements io.ByteScanner, so the Decoder adds
// no buffering), which lets decoder check every claimed length against
// r.Len(), the bytes actually left, before allocating.
type decoder struct {
	r   bytes.Reader
	dec *msgpack.Decoder
	err error // first error; see fail
}

var decoderPool = sync.Pool{New: func() any {
	d := new(decoder)
	d.dec = msgpack.NewDecoder(&d.r)
	return d
}}

func getDecoder(body []byte) *decoder {
	d := decoderPool.Get().(*decoder)
	d.r.Reset(body)
	d.err = nil
	return d
}

func putDecoder(d *decoder) {
	d.r.Reset(nil)
	decoderPool.Put(d)
}

func malformed(err error) error {
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("%w: %v", ErrMalformed, err)
}

func malformedf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)
}

// The read methods below keep the first error in d.err and do nothing once
// it is set, returning zero values, so message codecs read their fields in
// a straight line and check d.err once at the end (and inside loops).

func (d *decoder) fail(err error) {
	if d.err == nil {
		d.err = err
	}
}

// fields reads a struct header: an array of at least min fields. It returns
// the field count; the caller decodes the fields it knows and skips the rest
// with skipFields(n - known).
func (d *decoder) fields(min int) int {
	if d.err != nil {
		return 0
	}
	n, err := d.dec.DecodeArrayLen()
	switch {
	case err != nil:
		d.fail(malformed(err))
	case n < min:
		d.fail(malformedf("struct has %d fields, want at least %d", n, min))
	case n > d.r.Len():
		d.fail(malformedf("struct claims %d fields in %d bytes", n, d.r.Len()))
	default:
		return n
	}
	return 0
}

// arrayLen reads an array header whose elements each take at least minElem
// encoded bytes, and checks that the claimed count fits in the bytes left,
// so the caller may allocate the claimed count. A nil array reads as 0.
func (d *decoder) arrayLen(minElem int) int {
	if d.err != nil {
		return 0
	}
	n, err := d.dec.DecodeArrayLen()
	switch {
	case err != nil:
		d.fail(malformed(err))
	case n < 0:
	case n > d.r.Len()/minElem:
		d.fail(malformedf("array claims %d elements in %d bytes", n, d.r.Len()))
	default:
		return n
	}
	return 0
}

// bytesLen reads a bin or str header and checks its length against the
// bytes left. It returns -1 for nil.
func (d *decoder) bytesLen() int {
	if d.err != nil {
		return -1
	}
	n, err := d.dec.DecodeBytesLen()
	switch {
	case err != nil:
		d.fail(malformed(err))
	case n > d.r.Len():
		d.fail(malformedf("bin claims %d bytes, %d left", n, d.r.Len()))
	default:
		return n
	}
	return -1
}

// bytes reads a bin or str into a fresh slice: nil for msgpack nil, empty
// non-nil for a zero-length bin.
func (d *decoder) bytes() []byte {
	n := d.bytesLen()
	if n < 0 {
		return nil
	}
	b := make([]byte, n)
	_, _ = d.r.Read(b) // bytesLen checked that n bytes are left
	return b
}

// string reads a str or bin.
func (d *decoder) string() string {
	n := d.bytesLen()
	if n <= 0 {
		return ""
	}
	b := make([]byte, n)
	_, _ = d.r.Read(b)
	return string(b)
}

func (d *decoder) uint() uint64 {
	if d.err != nil {
		return 0
	}
	v, err := d.dec.DecodeUint64()
	if err != nil {
		d.fail(malformed(err))
	}
	return v
}

func (d *decoder) int() int64 {
	if d.err != nil {
		return 0
	}
	v, err := d.dec.DecodeInt64()
	if err != nil {
		d.fail(malformed(err))
	}
	return v
}

func (d *decoder) bool() bool {
	if d.err != nil {
		return false
	}
	v, err := d.dec.DecodeBool()
	if err != nil {
		d.fail(malformed(err))
	}
	return v
}

// records reads an array of Records.
func (d *decoder) records() []Record {
	n := d.arrayLen(minRecordSize)
	if n == 0 {
		return nil
	}
	rs := make([]Record, n)
	for i := range rs {
		rs[i].decode(d)
		if d.err != nil {
			return nil
		}
	}
	return rs
}

// skipFields skips n values of any type. Used for fields a newer writer
// appended that this reader does not know.
func (d *decoder) skipFields(n int) {
	if d.err != nil || n <= 0 {
		return
	}
	// stack counts the values still to skip at each open nesting level.
	var stack [maxSkipDepth + 1]int
	depth := 0
	stack[0] = n
	for {
		if stack[depth] == 0 {
			if depth == 0 {
				return
			}
			depth--
			continue
		}
		stack[depth]--
		children, err := d.skipOne()
		if err != nil {
			d.fail(err)
			return
		}
		if children > 0 {
			if depth == maxSkipDepth {
				d.fail(malformedf("values nested deeper than %d", maxSkipDepth))
				return
			}
			depth++
			stack[depth] = children
		}
	}
}

// skipOne consumes one value's header and payload. For an array or map it
// consumes only the header and returns how many child values follow.
func (d *decoder) skipOne() (children int, err error) {
	c, err := d.r.ReadByte()
	if err != nil {
		return 0, malformed(err)
	}
	var n uint64 // payload bytes to skip
	switch {
	case c <= 0x7f || c >= 0xe0: // positive and negative fixint
	case c >= 0x80 && c <= 0x8f: // fixmap
		children = 2 * int(c&0x0f)
	case c >= 0x90 && c <= 0x9f: // fixarray
		children = int(c & 0x0f)
	case c >= 0xa0 && c <= 0xbf: // fixstr
		n = uint64(c & 0x1f)
	default:
		switch c {
		case 0xc0, 0xc2, 0xc3: // nil, false, true
		case 0xcc, 0xd0: // uint8, int8
			n = 1
		case 0xcd, 0xd1: // uint16, int16
			n = 2
		case 0xce, 0xd2, 0xca: // uint32, int32, float32
			n = 4
		case 0xcf, 0xd3, 0xcb: // uint64, int64, float64
			n = 8
		case 0xd4, 0xd5, 0xd6, 0xd7, 0xd8: // fixext 1, 2, 4, 8, 16 (+1 type byte)
			n = 1 + 1<<(c-0xd4)
		case 0xc4, 0xd9: // bin8, str8
			n, err = d.readLen(1)
		case 0xc5, 0xda: // bin16, str16
			n, err = d.readLen(2)
		case 0xc6, 0xdb: // bin32, str32
			n, err = d.readLen(4)
		case 0xc7: // ext8
			n, err = d.readLen(1)
			n++
		case 0xc8: // ext16
			n, err = d.readLen(2)
			n++
		case 0xc9: // ext32
			n, err = d.readLen(4)
			n++
		case 0xdc: // array16
			n, err = d.readLen(2)
			children, n = int(n), 0
		case 0xdd: // array32
			n, err = d.readLen(4)
			children, n = int(n), 0
		case 0xde: // map16
			n, err = d.readLen(2)
			children, n = 2*int(n), 0
		case 0xdf: // map32
			n, err = d.readLen(4)
			children, n = 2*int(n), 0
		default: // 0xc1 is never used
			return 0, malformedf("invalid msgpack code 0x%02x", c)
		}
	}
	if err != nil {
		return 0, err
	}
	if uint64(children) > uint64(d.r.Len()) || n > uint64(d.r.Len()) {
		return 0, malformedf("value claims more than the %d bytes left", d.r.Len())
	}
	if n > 0 {
		_, _ = d.r.Seek(int64(n), io.SeekCurrent)
	}
	return children, nil
}

// readLen reads a big-endian length of size 1, 2 or 4 bytes.
func (d *decoder) readLen(size int) (uint64, error) {
	var b [4]byte
	if _, err := io.ReadFull(&d.r, b[:size]); err != nil {
		return 0, malformed(err)
	}
	switch size {
	case 1:
		return uint64(b[0]), nil
	case 2:
		return uint64(binary.BigEndian.Uint16(b[:2])), nil
	default:
		return uint64(binary.BigEndian.Uint32(b[:4])), nil
	}
}
