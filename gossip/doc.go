// Package gossip is kvstore's cluster membership layer, built on
// hashicorp/memberlist. It gossips two separate things:
//
//  1. Liveness: memberlist's SWIM failure detector decides which nodes are
//     up. Members reports each node as alive, suspect, dead or left, with
//     its address and metadata (opaque bytes; the node layer puts its RPC
//     and HTTP addresses there).
//  2. The ring ledger: the replicated record of ring membership. As in
//     Dynamo it is separate from liveness: a node that fails stays a ring
//     member (the node layer sees it dead and routes around it) until it
//     returns or an operator removes it. Only explicit changes (join,
//     graceful leave, operator remove), made with SetEntry on any node,
//     change the ledger.
//
// It imports nothing from kvstore.
//
// # Usage
//
//	cfg := gossip.DefaultConfig()
//	cfg.Name, cfg.SecretKey, cfg.Meta = "n1", key, meta
//	g, err := gossip.Start(cfg)
//	n, err := g.Join([]string{"10.0.0.2:7946"})
//	err = g.SetEntry(gossip.Entry{Name: "n1", Status: gossip.Joining, Version: hlc})
//	for range g.Changes() { use(g.Members(), g.Ledger()) }
//	err = g.Leave(5 * time.Second)
//	err = g.Shutdown()
//
// # Liveness
//
// Memberlist declares a node alive, and after failed probes and a
// suspicion timeout, dead; a node that calls Leave announces it. Memberlist
// does not expose its internal suspect state, so StateSuspect is derived
// here from the same probes: a member memberlist still counts as live that
// has not answered this node's direct probes (or exchanged state with it)
// for Config.SuspectAfter is reported suspect until it answers again or
// memberlist declares it dead. To tell a graceful leave from a failure,
// Leave first gossips a leave intent carrying the node's epoch (a number
// chosen at Start and carried in its metadata, so an intent from an earlier
// run never applies to a restarted node); a member that goes away after its
// intent arrived (or before, if the intent arrives later) is StateLeft,
// otherwise StateDead.
//
// # Ledger
//
// The ledger maps node name to Entry{Status, Version, Meta}. It is a
// last-writer-wins map merged entry by entry with Entry.Newer: the higher
// Version wins, then the higher Status, then the greater Meta, so every
// node converges to the same winner. Entries are never deleted; Left and
// Removed are tombstones. A local change (SetEntry) is queued in a
// memberlist.TransmitLimitedQueue and piggybacked on gossip (each message
// sent RetransmitMult*ceil(log10(N+1)) times; a newer message about the
// same name replaces a queued older one); every node that learns a newer
// entry, by broadcast or push/pull, queues it again. Memberlist's periodic
// push/pull (and the one in Join) exchanges whole ledgers
// (LocalState/MergeRemoteState), which repairs anything a broadcast missed
// and brings late joiners up to date.
//
// # Notifications
//
// Memberlist callbacks never block: they update state under a mutex and
// queue an event. Changes delivers a coalesced "something changed" signal;
// Events delivers per-member and per-entry events, coalesced per subject
// when the consumer is slow (see Gossip.Events).
//
// # Security
//
// Config.SecretKey (AES-128/192/256) is installed in memberlist's keyring:
// every packet and stream is encrypted and authenticated (AES-GCM), and
// nodes without the key can neither join nor be heard. Everything decoded
// from peers is bounds-checked before allocating and rejected with an
// error wrapping ErrMalformed, never a panic.
//
// # Wire formats
//
// All integers are big-endian. Names are 1 to MaxNameLen (128) bytes of
// UTF-8 (ValidateName). These layouts are frozen; a new encoding gets a new
// type or format byte, and delegateProtocol (announced to memberlist as the
// delegate protocol version, currently 1) is raised for incompatible
// changes. The code that writes them is in wire.go.
//
// Entry (one ledger entry, 12+len(name)+len(meta) bytes):
//
//	offset        size  field
//	0             1     name length L (1..128)
//	1             L     name
//	1+L           1     status: 1 joining, 2 active, 3 leaving, 4 left, 5 removed
//	2+L           8     version
//	10+L          2     meta length M (0..256)
//	12+L          M     meta
//
// Intent (a leave intent, 9+len(name) bytes):
//
//	offset        size  field
//	0             1     name length L (1..128)
//	1             L     name of the leaving node
//	1+L           8     its epoch
//
// Broadcast message (one per memberlist user message, so it fits one UDP
// packet; memberlist adds its own framing and encryption around it):
//
//	offset        size  field
//	0             1     type: 1 entry, 2 intent
//	1             ...   one Entry (type 1) or one Intent (type 2); nothing may follow
//
// Push/pull state (LocalState, sent over memberlist's encrypted stream):
//
//	offset        size  field
//	0             1     format: 1
//	1             1     sender name length L (1..128)
//	2             L     sender name
//	2+L           4     entry count E (0..4096)
//	6+L           ...   E Entries
//	...           4     intent count I (0..4096)
//	...           ...   I Intents; nothing may follow
//
// Node metadata (memberlist's per-node meta, at most 512 bytes):
//
//	offset        size  field
//	0             1     format: 1
//	1             8     epoch of the node's current run
//	9             N     the caller's metadata (0..MaxMetaSize = 503 bytes)
package gossip
