package wire

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"reflect"
)

const (
	// HeaderSize is the size of a frame header in bytes: length (4), type
	// (1), flags (1), request id (8).
	HeaderSize = 14
	// lengthCovered is the part of the header the length field counts.
	lengthCovered = HeaderSize - 4
	// DefaultMaxFrameSize is the default limit on a frame's length field.
	DefaultMaxFrameSize = 64 << 20
	// MaxFrameSizeLimit is the largest MaxFrameSize the 32-bit length field
	// can express.
	MaxFrameSizeLimit = math.MaxUint32
)

// Flags is the flags byte of a frame header.
type Flags uint8

// Frame flags. Bits 2-7 are reserved and must be zero.
const (
	// FlagResponse marks a frame answering the request with the same id.
	FlagResponse Flags = 1 << 0
	// FlagError marks an ErrorResponse; it is set exactly when the type is
	// TypeError, and only together with FlagResponse.
	FlagError Flags = 1 << 1

	knownFlags = FlagResponse | FlagError
)

// Header is a decoded frame header.
type Header struct {
	Type    MsgType
	Flags   Flags
	ID      uint64
	BodyLen int // bytes of body following the header
}

// Response reports whether the frame answers a request.
func (h Header) Response() bool { return h.Flags&FlagResponse != 0 }

// ParseHeader decodes and validates the first HeaderSize bytes of b as a
// frame header. It checks the length against maxFrameSize (<= 0 means
// DefaultMaxFrameSize) and returns an error wrapping ErrFrameTooLarge
// before anything is allocated for the body, or ErrBadFrame for a malformed
// header. An unknown but valid type is not an error here: the caller may
// skip the body and answer it. ParseHeader does not allocate.
func ParseHeader(b []byte, maxFrameSize int) (Header, error) {
	if len(b) < HeaderSize {
		return Header{}, fmt.Errorf("%w: header of %d bytes", ErrBadFrame, len(b))
	}
	if maxFrameSize <= 0 {
		maxFrameSize = DefaultMaxFrameSize
	}
	length := uint64(binary.BigEndian.Uint32(b[0:4]))
	h := Header{
		Type:  MsgType(b[4]),
		Flags: Flags(b[5]),
		ID:    binary.BigEndian.Uint64(b[6:14]),
	}
	switch {
	case length < lengthCovered:
		return Header{}, fmt.Errorf("%w: length %d", ErrBadFrame, length)
	case length > uint64(maxFrameSize):
		return Header{}, fmt.Errorf("%w: length %d exceeds %d", ErrFrameTooLarge, length, maxFrameSize)
	case h.Type == TypeInvalid:
		return Header{}, fmt.Errorf("%w: type 0", ErrBadFrame)
	case h.Flags&^knownFlags != 0:
		return Header{}, fmt.Errorf("%w: reserved flags 0x%02x", ErrBadFrame, uint8(h.Flags))
	case (h.Type == TypeError) != (h.Flags&FlagError != 0):
		return Header{}, fmt.Errorf("%w: type %v with flags 0x%02x", ErrBadFrame, h.Type, uint8(h.Flags))
	case h.Flags&FlagError != 0 && h.Flags&FlagResponse == 0:
		return Header{}, fmt.Errorf("%w: error flag without response flag", ErrBadFrame)
	}
	h.BodyLen = int(length - lengthCovered)
	return h, nil
}

// AppendFrame appends the frame carrying m, with request id id and flags,
// to dst and returns the extended buffer. FlagError is added for an
// *ErrorResponse (which must be a response). It returns an error wrapping
// ErrUnknownType if m is nil or not one of this package's message types,
// ErrBadFrame if flags are invalid for m, and ErrFrameTooLarge if the frame
// would not fit the 32-bit length field; the caller checks its own
// MaxFrameSize on the returned length (len(frame)-4). AppendFrame does not
// retain dst.
func AppendFrame(dst []byte, id uint64, flags Flags, m Message) ([]byte, error) {
	c, ok := m.(codec)
	if !ok || reflect.ValueOf(m).IsNil() {
		return dst, fmt.Errorf("%w: cannot encode %T", ErrUnknownType, m)
	}
	t := c.Type()
	if int(t) >= len(registeredTypes) || registeredTypes[t] != reflect.TypeOf(m) {
		return dst, fmt.Errorf("%w: cannot encode %T", ErrUnknownType, m)
	}
	if t == TypeError {
		flags |= FlagError
	}
	if flags&^knownFlags != 0 || (flags&FlagError != 0) != (t == TypeError) ||
		(flags&FlagError != 0 && flags&FlagResponse == 0) {
		return dst, fmt.Errorf("%w: flags 0x%02x for %v", ErrBadFrame, uint8(flags), t)
	}
	start := len(dst)
	e := getEncoder(dst)
	e.buf = append(e.buf, make([]byte, HeaderSize)...)
	c.encodeBody(e)
	out, err := e.buf, e.err
	putEncoder(e)
	if err != nil {
		return dst, fmt.Errorf("wire: encoding %v: %w", t, err)
	}
	length := len(out) - start - 4
	if uint64(length) > MaxFrameSizeLimit {
		return dst, fmt.Errorf("%w: %v of %d bytes", ErrFrameTooLarge, t, length)
	}
	hdr := out[start : start+HeaderSize]
	binary.BigEndian.PutUint32(hdr[0:4], uint32(length))
	hdr[4] = byte(t)
	hdr[5] = byte(flags)
	binary.BigEndian.PutUint64(hdr[6:14], id)
	return out, nil
}

// SetFrameID overwrites the request id of an encoded frame in place. It
// lets a caller encode a frame before it knows the id.
func SetFrameID(frame []byte, id uint64) {
	binary.BigEndian.PutUint64(frame[6:14], id)
}

// FrameLen returns the length field of an encoded frame, the value a
// reader checks against its MaxFrameSize.
func FrameLen(frame []byte) int { return len(frame) - 4 }

// DecodeBody decodes the body of a frame of type t into a fresh message.
// It returns an error wrapping ErrUnknownType for an unregistered type and
// ErrMalformed for a body that is not exactly one valid encoding of the
// message. The result does not alias body.
func DecodeBody(t MsgType, body []byte) (Message, error) {
	info, ok := lookup(t)
	if !ok {
		return nil, fmt.Errorf("%w: %v", ErrUnknownType, t)
	}
	m := info.new()
	d := getDecoder(body)
	m.decodeBody(d)
	err := d.err
	if err == nil && d.r.Len() != 0 {
		err = malformedf("%d bytes after the message", d.r.Len())
	}
	putDecoder(d)
	if err != nil {
		return nil, fmt.Errorf("decoding %v: %w", t, err)
	}
	return m, nil
}

// DecodeFrame decodes frame, which must hold exactly one whole frame, into
// its header and a fresh message. Errors wrap ErrFrameTooLarge, ErrBadFrame
// (including a truncated frame or trailing bytes), ErrUnknownType or
// ErrMalformed. It never panics, whatever the input.
func DecodeFrame(frame []byte, maxFrameSize int) (Header, Message, error) {
	h, err := ParseHeader(frame, maxFrameSize)
	if err != nil {
		return Header{}, nil, err
	}
	if len(frame)-HeaderSize != h.BodyLen {
		return Header{}, nil, fmt.Errorf("%w: frame of %d bytes with length field %d",
			ErrBadFrame, len(frame), h.BodyLen+lengthCovered)
	}
	m, err := DecodeBody(h.Type, frame[HeaderSize:])
	if err != nil {
		return Header{}, nil, err
	}
	return h, m, nil
}

// ReadFrame reads one frame from r. It reads the header into buf, validates
// it (ParseHeader) before allocating, then reads the body into buf's storage
// if it fits, or into a new slice otherwise. It returns the header and the
// body, which aliases the returned storage; pass body[:0] back as buf to
// reuse it. A clean end of stream before the first header byte returns
// io.EOF; a frame cut short returns io.ErrUnexpectedEOF.
func ReadFrame(r io.Reader, buf []byte, maxFrameSize int) (Header, []byte, error) {
	if cap(buf) < HeaderSize {
		buf = make([]byte, HeaderSize, 512)
	}
	hb := buf[:HeaderSize]
	if _, err := io.ReadFull(r, hb); err != nil {
		return Header{}, buf[:0], err
	}
	h, err := ParseHeader(hb, maxFrameSize)
	if err != nil {
		return Header{}, buf[:0], err
	}
	body := buf[:0]
	if cap(body) < h.BodyLen {
		body = make([]byte, h.BodyLen)
	}
	body = body[:h.BodyLen]
	if _, err := io.ReadFull(r, body); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return Header{}, body[:0], err
	}
	return h, body, nil
}
