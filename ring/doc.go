// Package ring places keys on cluster members: it hashes a key to one of P
// partitions and maps every partition to a preference list of N distinct
// members. It wraps github.com/buraksezer/consistent (consistent hashing
// with bounded loads) and imports nothing else from the module.
//
// A Table is computed by Build once per ring-membership change (an explicit
// join, a graceful leave, an operator's remove; not liveness) and is
// immutable afterwards, so the request path only indexes slices:
//
//	t, err := ring.Build(ring.DefaultConfig(), []string{"a", "b", "c", "d"})
//	p := t.Partition(key)        // which partition the key is in
//	owners := t.Replicas(p)      // N members, primary first, no allocation
//	order := t.Order(p)          // all members; fallbacks follow the owners
//	moves := t.Moves(nextTable)  // what to stream after a membership change
//
// # Key hash (frozen format)
//
// The partition of a key is part of the on-disk format (the node prefixes
// stored keys with it) and of the wire protocol, so it is defined here and
// must never change:
//
//	fnv1a64(b):  h = 0xcbf29ce484222325 (14695981039346656037)
//	             for each byte c of b: h ^= c; h *= 0x100000001b3 (mod 2^64)
//	fmix64(k):   k ^= k>>33; k *= 0xff51afd7ed558ccd
//	             k ^= k>>33; k *= 0xc4ceb9fe1a85ec53; k ^= k>>33
//	Hash64(b)        = fmix64(fnv1a64(b))
//	PartitionOf(b, P) = Hash64(b) mod P, in [0, P)
//
// That is 64-bit FNV-1a followed by the MurmurHash3 64-bit finaliser, over
// the raw key bytes, independent of the machine's byte order. Golden values
// are in hash_test.go. P (Config.Partitions, default 1024) is fixed for the
// life of a cluster.
//
// # Placement (identical on every node)
//
// Placement is a pure function of Config and the set of member names, so
// every node that knows the same members computes the same Table. With M
// members sorted by name, V = Config.VirtualNodes and n = min(N, M):
//
//  1. Virtual node i (0 <= i < V) of member m sits at point
//     Hash64(m + "#" + decimal(i)) on a ring of 2^64 points (decimal: ASCII,
//     no leading zeros). The '#' keeps the points of names such as "n1" and
//     "n12" apart. Build rejects two virtual nodes on the same point
//     (ErrHashCollision).
//  2. Partition p sits at point Hash64(LE64(p)), p as 8 little-endian bytes.
//  3. Primary: consistent's bounded-load rule. Partitions are taken in
//     ascending order; each goes to the member of the first virtual node at
//     or clockwise after its point whose member is primary for fewer than
//     ceil(floor(P/M) * Load) partitions so far.
//  4. Replicas 2..n: partitions in ascending order, walking clockwise from
//     the partition's point, each member not yet in the list is taken if
//     its load is below ceil(P*n/M * Load), where its load is the number of
//     partitions it is primary for (all of them) plus those it was taken
//     for so far. If a whole lap leaves the list short (seen only with Load
//     close to 1), each missing replica is the member not yet in the list
//     with the lowest load, the first the walk meets among equals; the
//     bound may then be exceeded by a few partitions.
//  5. The remaining members follow in the order that walk first meets them;
//     this is Order's fallback tail.
//
// Steps 4 and 5 deliberately do not use consistent's GetClosestN: it orders
// the successors by a single hash point per member, which makes the whole
// order a function of the primary alone, so the partitions of a down member
// would all fall back to the same few members. Walking the virtual nodes
// spreads replicas and fallbacks over the whole ring with the same balance
// and the same (near-minimal) movement on joins and leaves.
//
// Steps 1-3 depend on consistent v0.10.0's behaviour; a placement golden
// test (TestPlacementGolden) fails if a dependency upgrade changes it.
// Table.Fingerprint summarises a placement so nodes can check they agree.
//
// # Concurrency
//
// Build is safe to call from any goroutine. A Table is immutable: all its
// methods may be called concurrently, and the slices it returns are shared
// and read-only.
package ring
