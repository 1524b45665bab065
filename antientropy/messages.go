package antientropy

import (
	"bytes"
	"fmt"

	"kvstore/storage"
)

// This file defines the messages of the anti-entropy protocol as plain Go
// types. The node carries them between replicas (as msgpack arrays of the
// fields in declaration order, see node/wire); this package never encodes
// them itself. Field order is part of the protocol: fields are only ever
// appended.

// Entry summarises one record without its value: what replicas compare at
// the leaves.
type Entry struct {
	// Key is the record's key.
	Key []byte
	// Version orders the records of a key.
	Version storage.Version
	// Tombstone is set for a deletion.
	Tombstone bool
	// ValueHash is ValueHash(value), 0 for a tombstone. It tells apart two
	// records of equal version and kind whose values differ.
	ValueHash uint64
	// ValueLen is the length of the value (0 for a tombstone); it sizes
	// read batches before the values are read.
	ValueLen int
}

// EntryOf summarises the record (key, value, version, tombstone). The entry
// aliases key.
func EntryOf(key, value []byte, version storage.Version, tombstone bool) Entry {
	e := Entry{Key: key, Version: version, Tombstone: tombstone}
	if !tombstone {
		e.ValueHash = ValueHash(value)
		e.ValueLen = len(value)
	}
	return e
}

// Record is a full record: key, value or tombstone, version. Tombstones are
// records like any other and travel in both directions: a replica that
// missed a delete must receive the tombstone, or a later exchange would
// bring the deleted value back.
type Record struct {
	Key       []byte
	Value     []byte // nil for a tombstone
	Version   storage.Version
	Tombstone bool
}

// Entry returns r's summary. It aliases r.Key.
func (r *Record) Entry() Entry { return EntryOf(r.Key, r.Value, r.Version, r.Tombstone) }

// Newer reports whether record a = (va, ta, vala) must replace record
// b = (vb, tb, valb) of the same key: the higher version wins; at equal
// versions a value beats a tombstone, then the bytewise greater value wins.
// This is the storage engine's order; every replica resolves a conflict the
// same way.
func Newer(va storage.Version, ta bool, vala []byte, vb storage.Version, tb bool, valb []byte) bool {
	if va != vb {
		return va > vb
	}
	if ta != tb {
		return tb // a value (not a tombstone) beats a tombstone
	}
	return bytes.Compare(vala, valb) > 0
}

// RootsRequest asks a peer for the roots of its Merkle trees of Partitions
// that it holds without a scan: trees built since the partition was last
// written. A pass compares every shared partition this way first, in one
// request per peer, and runs exchanges only for those whose roots differ
// or are unknown on either side, so an unchanged partition costs neither
// replica a tree build or a round trip of its own.
type RootsRequest struct {
	Partitions []int
}

// RootsResponse answers a RootsRequest, in request order: Roots[i] is the
// root of the peer's current tree of Partitions[i] if bit i of Known
// (least significant first) is set, and 0 otherwise. len(Roots) ==
// len(Partitions) and len(Known) == (len(Partitions)+7)/8.
type RootsResponse struct {
	Roots []uint64
	Known []byte
}

// Root returns the i-th root and whether the peer knew it.
func (r *RootsResponse) Root(i int) (uint64, bool) {
	if i < 0 || i >= len(r.Roots) || !bitSet(r.Known, i) {
		return 0, false
	}
	return r.Roots[i], true
}

// SummaryRequest starts an exchange: it asks the peer to build (or take a
// fresh copy of) its tree of Partition and describe it.
type SummaryRequest struct {
	Partition int
}

// SummaryResponse describes the peer's tree. Later NodesRequests name it by
// TreeID so every level compared comes from the same tree.
type SummaryResponse struct {
	// TreeID names the tree at the peer until it expires there.
	TreeID uint64
	// Fanout and Depth are the tree's shape.
	Fanout int
	Depth  int
	// Count is the number of records in the tree.
	Count int64
	// Root is the root hash.
	Root uint64
	// Level1 holds the Fanout hashes of level 1, saving a round trip.
	Level1 []uint64
}

// NodesRequest asks for the hashes of some nodes of one level of the tree
// TreeID of Partition.
type NodesRequest struct {
	Partition int
	TreeID    uint64
	// Level is in [1, Depth].
	Level int
	// Indexes are node indexes within Level, each below Fanout^Level.
	Indexes []uint32
}

// NodesResponse carries the hashes of the requested nodes, in request order.
type NodesResponse struct {
	Hashes []uint64
}

// EntriesRequest asks for one page of the entries of Partition, in
// ascending bytewise key order, starting at key Start (inclusive; nil is the
// beginning), optionally only those of some leaf buckets.
type EntriesRequest struct {
	Partition int
	// Leaves is the number of leaves of the bucketing (KeyHash(key) mod
	// Leaves); 0 means no filter: every entry of the partition.
	Leaves int
	// Buckets is a bitmap of the wanted buckets when Leaves > 0: bucket b is
	// wanted if bit b%8 (least significant first) of byte b/8 is set.
	// len(Buckets) == (Leaves+7)/8.
	Buckets []byte
	// Start is the smallest key wanted.
	Start []byte
	// Limit caps the number of entries in the response (> 0).
	Limit int
	// MaxBytes caps the approximate size of the response (> 0; see
	// EntrySize); the first entry is always sent whatever its size.
	MaxBytes int
	// Values asks for the values too (EntriesResponse.Values), when the
	// requester will apply every entry (its own replica is empty).
	Values bool
}

// wants reports whether the filter of r selects key.
func (r *EntriesRequest) wants(key []byte) bool {
	if r.Leaves <= 0 {
		return true
	}
	return bitSet(r.Buckets, bucketOf(KeyHash(key), r.Leaves))
}

// EntriesResponse is one page of entries.
type EntriesResponse struct {
	// Entries are in strictly ascending key order, all >= the request's
	// Start, at most Limit of them.
	Entries []Entry
	// Values[i] is the value of Entries[i] (nil for a tombstone), present
	// only if the request asked for values.
	Values [][]byte
	// More is set when the page ended early (limit reached); the next page
	// starts after the last entry. More implies len(Entries) > 0.
	More bool
}

// ReadRequest asks for the current records of Keys of Partition.
type ReadRequest struct {
	Partition int
	Keys      [][]byte
	// MaxBytes caps the approximate size of the response (> 0; see
	// RecordSize); the responder stops before the record that would exceed
	// it, but always returns at least one.
	MaxBytes int
}

// ReadResponse holds the records of the keys that were read.
type ReadResponse struct {
	// Records holds the record of each key of Keys[:Next] the replica has,
	// in request order; keys it does not have are left out.
	Records []Record
	// Next is the number of keys processed: the requester asks again for
	// Keys[Next:]. 0 < Next <= len(Keys) when Keys is not empty.
	Next int
}

// ApplyRequest gives Records of Partition to a replica, which keeps each
// one only if it is newer than its own (Newer); applying is idempotent.
type ApplyRequest struct {
	Partition int
	Records   []Record
}

// Approximate payload sizes, used for the byte caps and the byte counts of
// Result. They count keys, values, hashes and fixed-size fields, not the
// encoding's framing; they are close to the msgpack size.
const (
	messageOverhead = 16 // per message: type, ids, partition
	hashSize        = 8  // one node hash
	indexSize       = 4  // one node index
	entryOverhead   = 21 // version 8, flag 1, value hash 8, value length 4
	recordOverhead  = 9  // version 8, flag 1
)

// EntrySize returns the approximate encoded size of e.
func EntrySize(e *Entry) int { return len(e.Key) + entryOverhead }

// RecordSize returns the approximate encoded size of r.
func RecordSize(r *Record) int { return len(r.Key) + len(r.Value) + recordOverhead }

func bitSet(bitmap []byte, i int) bool {
	return i>>3 < len(bitmap) && bitmap[i>>3]&(1<<(i&7)) != 0
}

func setBit(bitmap []byte, i int) { bitmap[i>>3] |= 1 << (i & 7) }

// validate checks an EntriesRequest received from a peer.
func (r *EntriesRequest) validate() error {
	switch {
	case r.Partition < 0:
		return fmt.Errorf("%w: entries: partition %d", ErrBadRequest, r.Partition)
	case r.Leaves < 0 || r.Leaves > MaxLeaves:
		return fmt.Errorf("%w: entries: %d leaves", ErrBadRequest, r.Leaves)
	case r.Leaves > 0 && len(r.Buckets) != (r.Leaves+7)/8:
		return fmt.Errorf("%w: entries: bucket bitmap of %d bytes for %d leaves", ErrBadRequest, len(r.Buckets), r.Leaves)
	case r.Limit <= 0 || r.MaxBytes <= 0:
		return fmt.Errorf("%w: entries: limit %d, max bytes %d", ErrBadRequest, r.Limit, r.MaxBytes)
	}
	return nil
}
