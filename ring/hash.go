package ring

// FNV-1a 64-bit parameters (FNV offset basis and FNV prime).
const (
	fnvOffset64 = 14695981039346656037
	fnvPrime64  = 1099511628211
)

// fnv1a64 returns the 64-bit FNV-1a hash of b.
func fnv1a64(b []byte) uint64 {
	h := uint64(fnvOffset64)
	for _, c := range b {
		h ^= uint64(c)
		h *= fnvPrime64
	}
	return h
}

// fmix64 is the 64-bit finaliser of MurmurHash3. It is a bijection that
// spreads every input bit over every output bit, which FNV-1a alone does
// poorly for short keys and for the high bits.
func fmix64(k uint64) uint64 {
	k ^= k >> 33
	k *= 0xff51afd7ed558ccd
	k ^= k >> 33
	k *= 0xc4ceb9fe1a85ec53
	k ^= k >> 33
	return k
}

// Hash64 is the ring's hash function: fmix64(fnv1a64(b)). It places keys
// on partitions (PartitionOf) and virtual nodes and partitions on the hash
// ring (see the package documentation). It is part of the cluster's on-disk
// and on-wire format and must never change.
func Hash64(b []byte) uint64 { return fmix64(fnv1a64(b)) }

// PartitionOf returns the partition of key in a ring of partitions
// partitions: Hash64(key) mod partitions. The result is identical on every
// node, process, architecture and version; it is stored on disk as the key
// prefix and sent between nodes, so it must never change. partitions must
// be positive.
func PartitionOf(key []byte, partitions int) int {
	return int(fmix64(fnv1a64(key)) % uint64(partitions))
}

// hasher adapts Hash64 to consistent.Hasher.
type hasher struct{}

func (hasher) Sum64(b []byte) uint64 { return Hash64(b) }
