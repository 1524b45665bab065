// Package base holds the vocabulary shared by the storage engine's
// subpackages: record kinds, the rule that decides which of two versions of a
// key wins, the corruption marker, and the stable 64-bit key hash used by
// on-disk bloom filters.
//
// Nothing here may change meaning once written to disk: Kind values and Hash64
// are part of the table and WAL formats.
package base

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
)

// Kind says what a record holds. The values are frozen: they are written to
// WAL records and table entries.
type Kind uint8

const (
	// KindTombstone marks a deleted key. It sorts below KindValue so that, at
	// equal versions, a value wins over a tombstone (see Newer).
	KindTombstone Kind = 0
	// KindValue is a live value.
	KindValue Kind = 1
)

// Valid reports whether k is a kind this version of the format knows.
func (k Kind) Valid() bool { return k == KindTombstone || k == KindValue }

func (k Kind) String() string {
	switch k {
	case KindTombstone:
		return "tombstone"
	case KindValue:
		return "value"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Newer reports whether record a = (va, ka, vala) must replace record
// b = (vb, kb, valb) of the same key. The higher version wins; at equal
// versions (two coordinators that produced the same timestamp and node id,
// which the version layout makes rare) the higher kind wins, then the
// bytewise greater value. The order is total, so every replica picks the same
// winner whatever order the writes arrived in. An identical record is not
// newer than itself, which makes replays idempotent.
func Newer(va uint64, ka Kind, vala []byte, vb uint64, kb Kind, valb []byte) bool {
	if va != vb {
		return va > vb
	}
	if ka != kb {
		return ka > kb
	}
	return bytes.Compare(vala, valb) > 0
}

// ErrCorruption marks data on disk that fails a checksum or cannot be
// decoded. Test for it with errors.Is; errors carrying it are wrapped with the
// file and offset involved.
var ErrCorruption = errors.New("storage: corruption")

// CorruptionErrorf returns an error that wraps ErrCorruption with context.
func CorruptionErrorf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrCorruption, fmt.Sprintf(format, args...))
}

// Hash64 is the engine's stable 64-bit hash of a key, used by bloom filters
// written to disk. It must return the same value on every machine, process and
// version: it is part of the table format. The construction reads the key in
// 8-byte little-endian words, mixes each with a multiply-rotate step, and ends
// with the murmur3 64-bit finaliser (fmix64).
func Hash64(b []byte) uint64 {
	const (
		seed = 0x9e3779b97f4a7c15
		m1   = 0xff51afd7ed558ccd
		m2   = 0xc4ceb9fe1a85ec53
	)
	h := uint64(seed) ^ (uint64(len(b)) * m1)
	for len(b) >= 8 {
		w := binary.LittleEndian.Uint64(b)
		h ^= bits.RotateLeft64(w*m2, 31) * m1
		h = bits.RotateLeft64(h, 27)*5 + 0x52dce729
		b = b[8:]
	}
	var tail uint64
	for i := len(b) - 1; i >= 0; i-- {
		tail = tail<<8 | uint64(b[i])
	}
	h ^= bits.RotateLeft64(tail*m2, 31) * m1
	return Fmix64(h)
}

// Fmix64 is the murmur3 64-bit finaliser: a bijective mix of all input bits.
func Fmix64(h uint64) uint64 {
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}
