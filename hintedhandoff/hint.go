package hintedhandoff

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"

	"kvstore/storage"
)

// Record is one hinted write: the record the target should have received.
type Record struct {
	// Key is the record's key; it must not be empty.
	Key []byte
	// Value is the record's value; ignored (stored as empty) for a
	// tombstone.
	Value []byte
	// Version orders the record among the versions of its key (a
	// storage.Version, carried opaquely).
	Version uint64
	// Tombstone is set when the record deletes Key.
	Tombstone bool
}

// Errors returned by the package. Test for them with errors.Is.
var (
	// ErrFull is returned by Add when the hints would exceed Config.MaxBytes.
	ErrFull = errors.New("hintedhandoff: hint store full")
	// ErrClosed is returned by every method of a closed Store.
	ErrClosed = errors.New("hintedhandoff: closed")
	// ErrInvalidTarget is returned for a target name outside 1..255 bytes.
	ErrInvalidTarget = errors.New("hintedhandoff: invalid target name")
	// ErrInvalidRecord is returned by Add for a record with an empty key or
	// one too large for the store.
	ErrInvalidRecord = errors.New("hintedhandoff: invalid record")
	// ErrTargetDropped is returned by a Replay that Drop interrupted or
	// preempted.
	ErrTargetDropped = errors.New("hintedhandoff: target dropped")
	// ErrCorrupt marks a stored hint that cannot be decoded.
	ErrCorrupt = errors.New("hintedhandoff: corrupt hint")
)

// Layout constants; see the package documentation. They are part of the
// on-disk format and never change; a new layout gets a new format byte.
const (
	// MaxTargetLen is the longest target name, in bytes.
	MaxTargetLen = 255

	keyFixedLen    = 16 // enqueue time + sequence number
	valueFormat    = 1
	valueHeaderLen = 14
	flagTombstone  = 1 << 0
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func checkTarget(target string) error {
	if len(target) == 0 || len(target) > MaxTargetLen {
		return fmt.Errorf("%w: length %d, want 1..%d", ErrInvalidTarget, len(target), MaxTargetLen)
	}
	return nil
}

// targetPrefix returns the key prefix of target's hints: its length byte and
// its name.
func targetPrefix(target string) []byte {
	p := make([]byte, 0, 1+len(target))
	p = append(p, byte(len(target)))
	return append(p, target...)
}

// prefixEnd returns the smallest key greater than every key starting with
// prefix, or nil when there is none (prefix is all 0xff).
func prefixEnd(prefix []byte) []byte {
	end := append([]byte(nil), prefix...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] != 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

// appendKey appends the storage key of a hint; prefix is targetPrefix.
func appendKey(dst, prefix []byte, ms, seq uint64, key []byte) []byte {
	dst = append(dst, prefix...)
	dst = binary.BigEndian.AppendUint64(dst, ms)
	dst = binary.BigEndian.AppendUint64(dst, seq)
	return append(dst, key...)
}

// hintKey is a decoded storage key; target and key alias the decoded bytes.
type hintKey struct {
	target []byte
	ms     uint64
	seq    uint64
	key    []byte
}

// decodeKey decodes a hint's storage key, checking every bound.
func decodeKey(b []byte) (hintKey, error) {
	if len(b) < 1 {
		return hintKey{}, fmt.Errorf("%w: empty key", ErrCorrupt)
	}
	n := int(b[0])
	if n == 0 {
		return hintKey{}, fmt.Errorf("%w: empty target name", ErrCorrupt)
	}
	if len(b) < 1+n+keyFixedLen+1 {
		return hintKey{}, fmt.Errorf("%w: key of %d bytes too short for a target of %d", ErrCorrupt, len(b), n)
	}
	rest := b[1+n:]
	return hintKey{
		target: b[1 : 1+n],
		ms:     binary.BigEndian.Uint64(rest),
		seq:    binary.BigEndian.Uint64(rest[8:]),
		key:    rest[keyFixedLen:],
	}, nil
}

// valueLen returns the encoded length of r's value.
func valueLen(r *Record) int {
	if r.Tombstone {
		return valueHeaderLen
	}
	return valueHeaderLen + len(r.Value)
}

// appendValue appends the stored value of a hint.
func appendValue(dst []byte, r *Record) []byte {
	start := len(dst)
	var flags byte
	if r.Tombstone {
		flags |= flagTombstone
	}
	dst = append(dst, valueFormat, flags)
	dst = binary.BigEndian.AppendUint64(dst, r.Version)
	dst = append(dst, 0, 0, 0, 0)
	if !r.Tombstone {
		dst = append(dst, r.Value...)
	}
	crc := crc32.Checksum(dst[start:start+10], castagnoli)
	crc = crc32.Update(crc, castagnoli, dst[start+valueHeaderLen:])
	binary.BigEndian.PutUint32(dst[start+10:], crc)
	return dst
}

// decodeValue decodes a hint's stored value into r (r.Key is left alone).
// r.Value aliases b; it is empty, not nil, for a value of no bytes, and nil
// for a tombstone.
func decodeValue(b []byte, r *Record) error {
	if len(b) < valueHeaderLen {
		return fmt.Errorf("%w: value of %d bytes, want at least %d", ErrCorrupt, len(b), valueHeaderLen)
	}
	if b[0] != valueFormat {
		return fmt.Errorf("%w: unknown format %d", ErrCorrupt, b[0])
	}
	flags := b[1]
	if flags&^flagTombstone != 0 {
		return fmt.Errorf("%w: unknown flags %#x", ErrCorrupt, flags)
	}
	crc := crc32.Checksum(b[:10], castagnoli)
	crc = crc32.Update(crc, castagnoli, b[valueHeaderLen:])
	if want := binary.BigEndian.Uint32(b[10:]); crc != want {
		return fmt.Errorf("%w: checksum %#08x, want %#08x", ErrCorrupt, crc, want)
	}
	r.Version = binary.BigEndian.Uint64(b[2:])
	r.Tombstone = flags&flagTombstone != 0
	r.Value = nil
	if r.Tombstone {
		if len(b) != valueHeaderLen {
			return fmt.Errorf("%w: tombstone with %d value bytes", ErrCorrupt, len(b)-valueHeaderLen)
		}
		return nil
	}
	r.Value = b[valueHeaderLen:]
	return nil
}

// checkRecord reports whether r fits the store once prefixed for a target of
// targetLen bytes.
func checkRecord(r *Record, targetLen int) error {
	if len(r.Key) == 0 {
		return fmt.Errorf("%w: empty key", ErrInvalidRecord)
	}
	if n := 1 + targetLen + keyFixedLen + len(r.Key); n > storage.MaxKeySize {
		return fmt.Errorf("%w: key of %d bytes (hint key %d > %d)", ErrInvalidRecord, len(r.Key), n, storage.MaxKeySize)
	}
	if n := valueLen(r); n > storage.MaxValueSize {
		return fmt.Errorf("%w: value of %d bytes (hint value %d > %d)", ErrInvalidRecord, len(r.Value), n, storage.MaxValueSize)
	}
	return nil
}
