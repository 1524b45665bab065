package antientropy

import (
	"encoding/binary"
	"math/bits"
)

// The hashes of this file are part of the protocol between nodes, which may
// run different builds: two replicas compare trees only if they hash the same
// records to the same values. They are frozen by golden tests
// (TestGoldenHashes) and must never change; a new construction needs a new
// protocol version.
//
// Hash64 is XXH64 (xxHash, 64-bit variant, as specified at
// https://github.com/Cyan4973/xxHash/blob/dev/doc/xxhash_spec.md), chosen
// because it is fully specified, has published test vectors, reads 8 bytes
// per step and spreads every input bit over the whole output. It is not the
// ring's key hash (FNV-1a with a finaliser): a partition holds only keys whose
// ring hash is congruent to the partition id, so bucketing those keys by the
// same hash would fill a handful of leaves.

// XXH64 primes.
const (
	prime1 uint64 = 0x9E3779B185EBCA87
	prime2 uint64 = 0xC2B2AE3D27D4EB4F
	prime3 uint64 = 0x165667B19E3779F9
	prime4 uint64 = 0x85EBCA77C2B2AE63
	prime5 uint64 = 0x27D4EB2F165667C5
)

func round(acc, input uint64) uint64 {
	acc += input * prime2
	acc = bits.RotateLeft64(acc, 31)
	return acc * prime1
}

func mergeRound(acc, val uint64) uint64 {
	acc ^= round(0, val)
	return acc*prime1 + prime4
}

func avalanche(h uint64) uint64 {
	h ^= h >> 33
	h *= prime2
	h ^= h >> 29
	h *= prime3
	h ^= h >> 32
	return h
}

// Hash64 returns XXH64 of b with the given seed.
func Hash64(b []byte, seed uint64) uint64 {
	n := len(b)
	var h uint64
	if n >= 32 {
		v1 := seed + prime1 + prime2
		v2 := seed + prime2
		v3 := seed
		v4 := seed - prime1
		for len(b) >= 32 {
			v1 = round(v1, binary.LittleEndian.Uint64(b[0:8]))
			v2 = round(v2, binary.LittleEndian.Uint64(b[8:16]))
			v3 = round(v3, binary.LittleEndian.Uint64(b[16:24]))
			v4 = round(v4, binary.LittleEndian.Uint64(b[24:32]))
			b = b[32:]
		}
		h = bits.RotateLeft64(v1, 1) + bits.RotateLeft64(v2, 7) +
			bits.RotateLeft64(v3, 12) + bits.RotateLeft64(v4, 18)
		h = mergeRound(h, v1)
		h = mergeRound(h, v2)
		h = mergeRound(h, v3)
		h = mergeRound(h, v4)
	} else {
		h = seed + prime5
	}
	h += uint64(n)
	for ; len(b) >= 8; b = b[8:] {
		h ^= round(0, binary.LittleEndian.Uint64(b))
		h = bits.RotateLeft64(h, 27)*prime1 + prime4
	}
	if len(b) >= 4 {
		h ^= uint64(binary.LittleEndian.Uint32(b)) * prime1
		h = bits.RotateLeft64(h, 23)*prime2 + prime3
		b = b[4:]
	}
	for _, c := range b {
		h ^= uint64(c) * prime5
		h = bits.RotateLeft64(h, 11) * prime1
	}
	return avalanche(h)
}

// hashWords returns Hash64(le(w[0]) || le(w[1]) || ..., seed), where le is
// the 8-byte little-endian encoding, without building the byte string.
func hashWords(w []uint64, seed uint64) uint64 {
	n := len(w) * 8
	var h uint64
	if n >= 32 {
		v1 := seed + prime1 + prime2
		v2 := seed + prime2
		v3 := seed
		v4 := seed - prime1
		for len(w) >= 4 {
			v1 = round(v1, w[0])
			v2 = round(v2, w[1])
			v3 = round(v3, w[2])
			v4 = round(v4, w[3])
			w = w[4:]
		}
		h = bits.RotateLeft64(v1, 1) + bits.RotateLeft64(v2, 7) +
			bits.RotateLeft64(v3, 12) + bits.RotateLeft64(v4, 18)
		h = mergeRound(h, v1)
		h = mergeRound(h, v2)
		h = mergeRound(h, v3)
		h = mergeRound(h, v4)
	} else {
		h = seed + prime5
	}
	h += uint64(n)
	for _, x := range w {
		h ^= round(0, x)
		h = bits.RotateLeft64(h, 27)*prime1 + prime4
	}
	return avalanche(h)
}

// KeyHash returns the key digest Hash64(key, 0). A key's leaf bucket in a
// tree of L leaves is KeyHash(key) mod L, and the digest seeds the record
// hash.
func KeyHash(key []byte) uint64 { return Hash64(key, 0) }

// ValueHash returns the value digest Hash64(value, 0) that entries carry so
// replicas can tell equal versions with different values apart. Tombstones
// have no value; their ValueHash is 0 by definition (see EntryOf).
func ValueHash(value []byte) uint64 { return Hash64(value, 0) }

// Record kinds in the record hash, the same numbers the storage engine
// writes: at equal versions the greater kind wins.
const (
	kindTombstone = 0
	kindValue     = 1
)

// recordHash is the contribution of one record to its leaf:
//
//	Hash64(trailer, seed = keyHash), trailer being 17 bytes:
//	offset 0  8 bytes  version, little-endian uint64
//	offset 8  1 byte   kind: 0 tombstone, 1 value
//	offset 9  8 bytes  value digest (ValueHash; 0 for a tombstone),
//	                   little-endian uint64
func recordHash(keyHash uint64, version uint64, tombstone bool, valueHash uint64) uint64 {
	var t [17]byte
	binary.LittleEndian.PutUint64(t[0:8], version)
	t[8] = kindValue
	if tombstone {
		t[8] = kindTombstone
		valueHash = 0
	}
	binary.LittleEndian.PutUint64(t[9:17], valueHash)
	return Hash64(t[:], keyHash)
}

// EntryHash returns the contribution of the record e summarises to its
// leaf's hash (see the package documentation).
func EntryHash(e Entry) uint64 {
	return recordHash(KeyHash(e.Key), uint64(e.Version), e.Tombstone, e.ValueHash)
}
