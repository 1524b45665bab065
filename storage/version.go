package storage

import (
	"fmt"
	"time"
)

// Version orders the records of one key: the record with the higher Version
// wins, whatever order records arrive in. Versions are hybrid logical clock
// timestamps taken by the coordinator of a write, laid out as
//
//	bits 63..20  physical time, milliseconds since the Unix epoch (44 bits,
//	             enough until the year 2527)
//	bits 19..10  logical counter within that millisecond (10 bits)
//	bits  9..0   coordinator node id (10 bits), the tiebreak that makes
//	             versions from different coordinators distinct
//
// so comparing two Versions as integers compares (time, counter, node). The
// engine only relies on the order and on Millis, which dates tombstones for
// garbage collection. Two records with equal versions are ordered by
// tombstone-before-value, then by value bytes, so every replica picks the
// same winner.
type Version uint64

const (
	versionNodeBits    = 10
	versionLogicalBits = 10
	// MaxVersionNode is the largest node id a Version can carry.
	MaxVersionNode = 1<<versionNodeBits - 1
	// MaxVersionLogical is the largest logical counter a Version can carry.
	MaxVersionLogical = 1<<versionLogicalBits - 1
)

// NewVersion builds a Version from its parts. logical and node are masked to
// their field widths.
func NewVersion(millis int64, logical, node uint32) Version {
	return Version(uint64(millis)<<(versionLogicalBits+versionNodeBits) |
		uint64(logical&MaxVersionLogical)<<versionNodeBits |
		uint64(node&MaxVersionNode))
}

// VersionAt returns the smallest Version at time t (logical counter and node
// zero).
func VersionAt(t time.Time) Version { return NewVersion(t.UnixMilli(), 0, 0) }

// Millis returns the physical part: milliseconds since the Unix epoch.
func (v Version) Millis() int64 { return int64(uint64(v) >> (versionLogicalBits + versionNodeBits)) }

// Logical returns the logical counter.
func (v Version) Logical() uint32 {
	return uint32(uint64(v)>>versionNodeBits) & MaxVersionLogical
}

// Node returns the coordinator node id.
func (v Version) Node() uint32 { return uint32(v) & MaxVersionNode }

// Time returns the physical part as a time.Time.
func (v Version) Time() time.Time { return time.UnixMilli(v.Millis()) }

func (v Version) String() string {
	return fmt.Sprintf("%d.%d@%d", v.Millis(), v.Logical(), v.Node())
}
