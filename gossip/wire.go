package gossip

import (
	"encoding/binary"
	"fmt"
)

// Wire format constants. They are frozen: a new encoding gets a new value.
// The layouts are described byte by byte in the package documentation
// (doc.go, "Wire formats").
const (
	// stateFormat is the first byte of a push/pull state (LocalState).
	stateFormat byte = 1

	// Broadcast message types: the first byte of every message handed to
	// memberlist through GetBroadcasts and received by NotifyMsg.
	msgEntry  byte = 1 // one ledger entry
	msgIntent byte = 2 // one leave intent

	// metaFormat is the first byte of the node metadata this package puts
	// into memberlist's alive messages.
	metaFormat byte = 1

	// metaHeaderLen is the size of the header in front of the caller's
	// metadata: format (1) + epoch (8).
	metaHeaderLen = 9

	// entryMinLen is the smallest encoded entry: name length (1), a 1-byte
	// name, status (1), version (8), meta length (2).
	entryMinLen = 1 + 1 + 1 + 8 + 2
	// intentMinLen is the smallest encoded intent: name length (1), a
	// 1-byte name, epoch (8).
	intentMinLen = 1 + 1 + 8
)

// intent is a leave intent: the node called Name announced, while running
// with the given epoch, that it is leaving gracefully. Peers use it to tell
// a graceful leave (StateLeft) from a failure (StateDead).
type intent struct {
	Name  string
	Epoch uint64
}

// pushState is the decoded form of a push/pull state.
type pushState struct {
	Sender  string
	Entries []Entry
	Intents []intent
}

// appendEntry appends the encoding of e (see doc.go, "Entry"). e must be
// valid (validEntry).
func appendEntry(b []byte, e Entry) []byte {
	b = append(b, byte(len(e.Name)))
	b = append(b, e.Name...)
	b = append(b, byte(e.Status))
	b = binary.BigEndian.AppendUint64(b, e.Version)
	b = binary.BigEndian.AppendUint16(b, uint16(len(e.Meta)))
	return append(b, e.Meta...)
}

// appendIntent appends the encoding of in (see doc.go, "Intent").
func appendIntent(b []byte, in intent) []byte {
	b = append(b, byte(len(in.Name)))
	b = append(b, in.Name...)
	return binary.BigEndian.AppendUint64(b, in.Epoch)
}

// encodeEntryMsg returns the broadcast message carrying e.
func encodeEntryMsg(e Entry) []byte {
	b := make([]byte, 0, 1+entryMinLen+len(e.Name)+len(e.Meta))
	b = append(b, msgEntry)
	return appendEntry(b, e)
}

// encodeIntentMsg returns the broadcast message carrying in.
func encodeIntentMsg(in intent) []byte {
	b := make([]byte, 0, 1+intentMinLen+len(in.Name))
	b = append(b, msgIntent)
	return appendIntent(b, in)
}

// encodeState returns the push/pull state encoding of s (see doc.go,
// "Push/pull state"). All names and entries must be valid and the counts
// within MaxLedgerEntries and maxIntents.
func encodeState(s pushState) []byte {
	n := 1 + 1 + len(s.Sender) + 4 + 4
	for _, e := range s.Entries {
		n += entryMinLen - 1 + len(e.Name) + len(e.Meta)
	}
	for _, in := range s.Intents {
		n += intentMinLen - 1 + len(in.Name)
	}
	b := make([]byte, 0, n)
	b = append(b, stateFormat)
	b = append(b, byte(len(s.Sender)))
	b = append(b, s.Sender...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(s.Entries)))
	for _, e := range s.Entries {
		b = appendEntry(b, e)
	}
	b = binary.BigEndian.AppendUint32(b, uint32(len(s.Intents)))
	for _, in := range s.Intents {
		b = appendIntent(b, in)
	}
	return b
}

// encodeMeta returns the node metadata memberlist gossips for this node:
// the header (format, epoch) followed by the caller's metadata.
func encodeMeta(epoch uint64, user []byte) []byte {
	b := make([]byte, 0, metaHeaderLen+len(user))
	b = append(b, metaFormat)
	b = binary.BigEndian.AppendUint64(b, epoch)
	return append(b, user...)
}

// decoder reads the formats above from an untrusted buffer. Every read
// checks the remaining length first; the first failure sticks in err and
// later reads return zero values. Nothing it returns aliases the input.
type decoder struct {
	b   []byte
	off int
	err error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s at offset %d", ErrMalformed, fmt.Sprintf(format, args...), d.off)
	}
}

func (d *decoder) remaining() int { return len(d.b) - d.off }

func (d *decoder) bytes(n int) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || n > d.remaining() {
		d.fail("need %d bytes, have %d", n, d.remaining())
		return nil
	}
	p := d.b[d.off : d.off+n]
	d.off += n
	return p
}

func (d *decoder) u8() byte {
	p := d.bytes(1)
	if p == nil {
		return 0
	}
	return p[0]
}

func (d *decoder) u16() uint16 {
	p := d.bytes(2)
	if p == nil {
		return 0
	}
	return binary.BigEndian.Uint16(p)
}

func (d *decoder) u32() uint32 {
	p := d.bytes(4)
	if p == nil {
		return 0
	}
	return binary.BigEndian.Uint32(p)
}

func (d *decoder) u64() uint64 {
	p := d.bytes(8)
	if p == nil {
		return 0
	}
	return binary.BigEndian.Uint64(p)
}

func (d *decoder) name() string {
	n := int(d.u8())
	p := d.bytes(n)
	if d.err != nil {
		return ""
	}
	s := string(p)
	if err := ValidateName(s); err != nil {
		d.fail("%v", err)
		return ""
	}
	return s
}

func (d *decoder) entry() Entry {
	var e Entry
	e.Name = d.name()
	e.Status = Status(d.u8())
	e.Version = d.u64()
	n := int(d.u16())
	if d.err == nil && n > MaxEntryMetaSize {
		d.fail("entry meta of %d bytes exceeds %d", n, MaxEntryMetaSize)
	}
	if p := d.bytes(n); len(p) > 0 {
		e.Meta = append([]byte(nil), p...)
	}
	if d.err == nil && !e.Status.valid() {
		d.fail("unknown entry status %d", e.Status)
	}
	if d.err != nil {
		return Entry{}
	}
	return e
}

func (d *decoder) intent() intent {
	in := intent{Name: d.name(), Epoch: d.u64()}
	if d.err != nil {
		return intent{}
	}
	return in
}

// count reads a 4-byte element count and checks it against max and against
// the bytes left (each element takes at least minLen), so a forged count
// cannot make the caller allocate more than the buffer justifies.
func (d *decoder) count(max, minLen int) int {
	n := d.u32()
	if d.err != nil {
		return 0
	}
	if uint64(n) > uint64(max) {
		d.fail("count %d exceeds limit %d", n, max)
		return 0
	}
	if uint64(n)*uint64(minLen) > uint64(d.remaining()) {
		d.fail("count %d does not fit in %d bytes", n, d.remaining())
		return 0
	}
	return int(n)
}

func (d *decoder) end() {
	if d.err == nil && d.remaining() != 0 {
		d.fail("%d trailing bytes", d.remaining())
	}
}

// message is a decoded broadcast message: exactly one of the fields is set
// according to Type.
type message struct {
	Type   byte
	Entry  Entry
	Intent intent
}

// decodeMessage decodes one broadcast message. It returns an error wrapping
// ErrMalformed, never panics, and does not retain b.
func decodeMessage(b []byte) (message, error) {
	d := decoder{b: b}
	m := message{Type: d.u8()}
	switch {
	case d.err != nil:
	case m.Type == msgEntry:
		m.Entry = d.entry()
	case m.Type == msgIntent:
		m.Intent = d.intent()
	default:
		d.fail("unknown message type %d", m.Type)
	}
	d.end()
	if d.err != nil {
		return message{}, d.err
	}
	return m, nil
}

// decodeState decodes a push/pull state. It returns an error wrapping
// ErrMalformed, never panics, allocates at most in proportion to len(b),
// and does not retain b.
func decodeState(b []byte) (pushState, error) {
	d := decoder{b: b}
	var s pushState
	if f := d.u8(); d.err == nil && f != stateFormat {
		d.fail("unknown state format %d", f)
	}
	s.Sender = d.name()
	if n := d.count(MaxLedgerEntries, entryMinLen); n > 0 {
		s.Entries = make([]Entry, 0, n)
		for i := 0; i < n && d.err == nil; i++ {
			s.Entries = append(s.Entries, d.entry())
		}
	}
	if n := d.count(maxIntents, intentMinLen); n > 0 {
		s.Intents = make([]intent, 0, n)
		for i := 0; i < n && d.err == nil; i++ {
			s.Intents = append(s.Intents, d.intent())
		}
	}
	d.end()
	if d.err != nil {
		return pushState{}, d.err
	}
	return s, nil
}

// decodeMeta splits node metadata into the epoch and the caller's
// metadata. The returned slice is a copy.
func decodeMeta(b []byte) (epoch uint64, user []byte, err error) {
	d := decoder{b: b}
	if f := d.u8(); d.err == nil && f != metaFormat {
		d.fail("unknown metadata format %d", f)
	}
	epoch = d.u64()
	if d.err != nil {
		return 0, nil, d.err
	}
	if rest := b[d.off:]; len(rest) > 0 {
		user = append([]byte(nil), rest...)
	}
	return epoch, user, nil
}
