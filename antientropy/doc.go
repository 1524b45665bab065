// Package antientropy makes the replicas of a partition converge: replicas
// compare Merkle trees of the partition, descend only into the subtrees that
// differ, and send each other the newer records, tombstones included.
//
// It depends only on the standard library and storage. It reaches the other
// replica through the Peer interface and its own records through the
// Replica interface; the node adapts its transport and storage engine to
// them, and carries the request and response structs of messages.go over
// the wire.
//
// # Usage
//
//	// Serving side: answer peers' requests from the local replica.
//	srv, err := antientropy.NewServer(replica, antientropy.ServerConfig{})
//	// node RPC handlers call srv.Summary, srv.Nodes, srv.Entries, srv.Read, srv.Apply
//
//	// One exchange, by hand:
//	res, err := antientropy.Sync(ctx, replica, peer, partition)
//
//	// In the background, paced:
//	s, err := antientropy.NewScheduler(antientropy.Config{}, antientropy.Env{
//		Local: replica, Work: workItems, Peer: peerByName, Alive: isUp,
//	})
//	err = s.Start()
//	defer s.Stop()
//	p := s.Progress() // passes, position, keys repaired, ...
//
// # Hashes
//
// Every hash is XXH64 (Hash64; see hash.go for why not the ring's hash)
// and is part of the protocol between nodes of possibly different builds,
// frozen by golden tests:
//
//	key digest     KeyHash(key)   = XXH64(key, seed 0)
//	value digest   ValueHash(v)   = XXH64(v, seed 0); 0 for a tombstone
//	record hash    XXH64(trailer, seed = key digest), trailer 17 bytes:
//	                 bytes 0-7   version, uint64 little-endian
//	                 byte  8     kind: 0 tombstone, 1 value
//	                 bytes 9-16  value digest, uint64 little-endian
//	leaf bucket    key digest mod Leaves (Leaves = Fanout^Depth)
//	leaf hash      sum mod 2^64 of the record hashes of its records; 0 if none
//	inner hash     XXH64(h(child 0) || ... || h(child Fanout-1), seed 0), each
//	               child hash a uint64 little-endian
//
// The record hash covers the value digest, not only (key, version, kind),
// so that two replicas holding equal versions with different values (which
// only a clock or id misconfiguration produces) still see different trees
// and converge on the greater value. Leaves are sums, so a tree is built in
// one pass over the partition in any order (BuildTree) and updated one
// record at a time (Tree.Add, Tree.Remove).
//
// # Protocol
//
// The exchange is a state machine (Exchange) that emits requests to the
// local replica or the remote one and consumes their responses; Syncer.Sync
// drives it. With default shape (fan-out 16, depth 3, 4096 leaves):
//
//  1. SummaryRequest: the peer builds its tree and answers with a tree id,
//     its shape, record count, root and the 16 level-1 hashes. Equal roots
//     end the exchange.
//  2. NodesRequest, level by level: the hashes of the children of the nodes
//     that differ, only those, from the tree named by the id. One differing
//     key costs 16 + 16 + 16 hashes.
//  3. EntriesRequest to both replicas: pages of (key, version, tombstone,
//     value digest, value length) of the differing leaves (a bitmap), in
//     ascending key order; the pages are merge-joined. For each key the
//     replica with the newer record (Newer: higher version, then value over
//     tombstone; on a tie of both with different value digests, each side
//     sends its own and keeps the greater value) must send it.
//  4. ReadRequest to the side holding the newer records, then ApplyRequest
//     to the other, batch by batch.
//
// A Scheduler's pass starts with RootsRequests, one per peer (per
// SyncConfig.MaxHashes partitions): the peer answers with the root of each
// asked partition's tree where it has one without a scan (Replica.Root: a
// tree built since the partition was last written), and only partitions
// whose roots differ or are unknown on either side get an exchange. A
// peer that does not know the request (an older build) answers with an
// error, and its partitions get an exchange each, as before.
//
// When a replica is empty (a wiped disk), the trees differ in shape, or more
// than SyncConfig.StreamFraction of the leaves differ, the exchange compares
// every entry instead of a filtered set, and when a replica is empty the
// other sends values with its entries, so a full repair streams one batch per
// round trip. Every message is bounded by SyncConfig (records and bytes per
// message, hashes per NodesRequest); Scheduler paces exchanges (trees per
// second, bytes per second) and cycles through the node's work items so a
// full pass completes in a bounded time.
//
// # Messages
//
// The node encodes each struct of messages.go as a msgpack array of its
// fields in declaration order (node/wire); storage.Version travels as a
// uint, []uint64 as an array of uints, a bitmap as bin. Fields are only
// ever appended. Apply responses carry nothing; errors travel as the
// transport's error responses.
//
//	SummaryRequest   [partition int]
//	SummaryResponse  [tree id uint, fan-out int, depth int, count int,
//	                  root uint, level-1 hashes array of uint]
//	NodesRequest     [partition int, tree id uint, level int, indexes array of uint]
//	NodesResponse    [hashes array of uint]
//	EntriesRequest   [partition int, leaves int, buckets bin, start bin,
//	                  limit int, max bytes int, values bool]
//	EntriesResponse  [entries array of Entry, values array of bin, more bool]
//	Entry            [key bin, version uint, tombstone bool, value hash uint,
//	                  value length int]
//	ReadRequest      [partition int, keys array of bin, max bytes int]
//	ReadResponse     [records array of Record, next int]
//	ApplyRequest     [partition int, records array of Record]
//	RootsRequest     [partitions array of int]
//	RootsResponse    [roots array of uint, known bin]
//	Record           [key bin, value bin, version uint, tombstone bool]
//
// # Tombstones
//
// Tombstones are records like any other here: they are hashed, compared and
// moved in both directions. A replica that missed a delete must get the
// tombstone, or the value it still holds would be copied back to the others.
// The storage engine purges tombstones after a grace period; a full pass
// (Config.FullPassTarget, plus the time a node may stay down) must complete
// well within that period, or a purged delete can come back.
package antientropy
