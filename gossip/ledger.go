package gossip

import (
	"bytes"
	"fmt"
	"unicode"
	"unicode/utf8"

	"github.com/hashicorp/memberlist"
)

// Limits on ledger contents. They bound what a peer can make this node
// store or allocate.
const (
	// MaxNameLen is the longest node name, in bytes.
	MaxNameLen = 128
	// MaxEntryMetaSize is the largest Entry.Meta, in bytes.
	MaxEntryMetaSize = 256
	// MaxLedgerEntries is the most names the ledger holds. Entries are
	// never deleted (Left and Removed are tombstones that keep a name from
	// coming back), so this bounds the number of distinct node names a
	// cluster can ever use.
	MaxLedgerEntries = 4096

	// maxIntents bounds the leave intents in one push/pull state.
	maxIntents = 4096
)

// Status is a node's ring membership status as recorded in the ledger.
// The numeric values are part of the wire format and frozen; 0 is not a
// valid status.
type Status uint8

// Ring membership statuses.
const (
	// Joining: the node asked to join the ring; partitions are being
	// streamed to it.
	Joining Status = 1
	// Active: the node owns partitions.
	Active Status = 2
	// Leaving: the node asked to leave; its partitions are being handed
	// off.
	Leaving Status = 3
	// Left: the node left gracefully and owns nothing.
	Left Status = 4
	// Removed: an operator removed the node (typically a dead one).
	Removed Status = 5
)

func (s Status) valid() bool { return s >= Joining && s <= Removed }

// String returns "joining", "active", "leaving", "left", "removed", or
// "status(N)" for an invalid value.
func (s Status) String() string {
	switch s {
	case Joining:
		return "joining"
	case Active:
		return "active"
	case Leaving:
		return "leaving"
	case Left:
		return "left"
	case Removed:
		return "removed"
	}
	return fmt.Sprintf("status(%d)", uint8(s))
}

// Entry is one record of the ring ledger: the membership status of the
// node Name. Version orders the records of one name (last writer wins);
// callers derive it from a clock that only moves forward, such as the
// storage package's hybrid logical clock. Meta is optional opaque data
// (at most MaxEntryMetaSize bytes) that travels with the record.
//
// Entry values returned by this package own their Meta slice.
type Entry struct {
	Name    string
	Status  Status
	Version uint64
	Meta    []byte
}

// Newer reports whether e wins over o when both describe the same name:
// the higher Version wins; on equal versions the higher Status wins; on
// equal statuses the byte-wise greater Meta wins. The order is total, so
// every node picks the same winner whatever order records arrive in.
// Identical entries are not newer than each other.
func (e Entry) Newer(o Entry) bool {
	if e.Version != o.Version {
		return e.Version > o.Version
	}
	if e.Status != o.Status {
		return e.Status > o.Status
	}
	return bytes.Compare(e.Meta, o.Meta) > 0
}

func (e Entry) equal(o Entry) bool {
	return e.Name == o.Name && e.Status == o.Status && e.Version == o.Version && bytes.Equal(e.Meta, o.Meta)
}

func (e Entry) clone() Entry {
	if len(e.Meta) == 0 {
		e.Meta = nil
	} else {
		e.Meta = bytes.Clone(e.Meta)
	}
	return e
}

// validEntry reports why e cannot be stored, wrapping ErrInvalidEntry.
func validEntry(e Entry) error {
	if err := ValidateName(e.Name); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidEntry, err)
	}
	if !e.Status.valid() {
		return fmt.Errorf("%w: unknown status %d", ErrInvalidEntry, e.Status)
	}
	if len(e.Meta) > MaxEntryMetaSize {
		return fmt.Errorf("%w: meta of %d bytes exceeds %d", ErrInvalidEntry, len(e.Meta), MaxEntryMetaSize)
	}
	return nil
}

// ValidateName checks a node name: 1 to MaxNameLen bytes of valid UTF-8
// with no control or white-space characters. It returns an error wrapping
// ErrInvalidName.
func ValidateName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: empty", ErrInvalidName)
	case len(name) > MaxNameLen:
		return fmt.Errorf("%w: %d bytes exceeds %d", ErrInvalidName, len(name), MaxNameLen)
	case !utf8.ValidString(name):
		return fmt.Errorf("%w: %q is not valid UTF-8", ErrInvalidName, name)
	}
	for _, r := range name {
		if unicode.IsControl(r) || unicode.IsSpace(r) {
			return fmt.Errorf("%w: %q contains control or space characters", ErrInvalidName, name)
		}
	}
	return nil
}

var _ memberlist.NamedBroadcast = (*broadcast)(nil)

// broadcast is one message in the TransmitLimitedQueue. Its name makes a
// newer message about the same subject replace an older one still queued.
type broadcast struct {
	name   string
	msg    []byte
	notify chan struct{} // closed by Finished if non-nil
}

// Invalidates implements memberlist.Broadcast (consistent with Name; the
// queue uses names).
func (b *broadcast) Invalidates(o memberlist.Broadcast) bool {
	nb, ok := o.(interface{ Name() string })
	return ok && nb.Name() == b.name
}

// Message implements memberlist.Broadcast.
func (b *broadcast) Message() []byte { return b.msg }

// Finished implements memberlist.Broadcast. The queue calls it exactly
// once per message.
func (b *broadcast) Finished() {
	if b.notify != nil {
		close(b.notify)
	}
}

// Name implements memberlist.NamedBroadcast.
func (b *broadcast) Name() string { return b.name }

func entryBroadcast(e Entry) *broadcast {
	return &broadcast{name: "e:" + e.Name, msg: encodeEntryMsg(e)}
}

func intentBroadcast(in intent, notify chan struct{}) *broadcast {
	return &broadcast{name: "i:" + in.Name, msg: encodeIntentMsg(in), notify: notify}
}
