// Package hintedhandoff keeps writes meant for an unreachable replica (hints)
// on the node that took them in its place, and hands them to that replica,
// their target, when it is back.
//
// A coordinator that cannot reach one of a key's preferred replicas stores
// the write here with Store.Add, naming the replica as the target; the hint
// counts toward the write quorum (sloppy quorum). When membership reports
// the target alive again, the node calls Store.Replay, which sends the
// target's hints oldest first at a paced rate and deletes each batch only
// after the target acknowledged it. Hints are durable (they live in their
// own storage.DB, whose write-ahead log makes Add durable before it
// returns), bounded in bytes (Config.MaxBytes; Add fails with ErrFull beyond
// it) and in age (Config.MaxAge; Store.Expire and Replay drop older hints).
// Hints that cannot be stored or that expire are counted in Stats and left
// to anti-entropy, which is why MaxAge must stay well under the main store's
// tombstone grace period: a hint older than the grace period could carry a
// write that a purged tombstone no longer shadows.
//
// # Usage
//
//	hs, err := hintedhandoff.Open(dir, hintedhandoff.DefaultConfig(), storage.Options{})
//	err = hs.Add("node-3", []hintedhandoff.Record{{Key: k, Value: v, Version: ver}})
//	// later, when node-3 is alive again:
//	sent, err := hs.Replay(ctx, "node-3", sender)
//	// periodically:
//	expired, err := hs.Expire()
//	err = hs.Close()
//
// # Delivery guarantees
//
// Delivery is at least once: a hint is deleted only after the Sender
// returned nil for the batch holding it, so a crash between the
// acknowledgement and the deletion sends that batch again after restart.
// Records are versioned and replicas keep the newest version of a key, so a
// repeated or late hint changes nothing. Replays of one target are
// serialized, so a hint is never in flight twice at once.
//
// # On-disk layout
//
// Each hint is one record of the store's own storage.DB. Its key is
//
//	offset        size   field
//	0             1      n, the length of the target name (1..255)
//	1             n      target name, raw bytes
//	1+n           8      enqueue time, milliseconds since the Unix epoch,
//	                     uint64 big-endian
//	9+n           8      sequence number, uint64 big-endian
//	17+n          rest   the hinted record's key (at least one byte)
//
// The length byte makes target prefixes prefix-free, so all hints of one
// target form one contiguous key range, [prefix, successor(prefix)), and
// within it the big-endian time and sequence order hints by arrival. The
// enqueue time never goes backwards (it is the maximum of the clock and the
// last time used, also across restarts) and the sequence number grows by one
// per hint and is recovered at Open as one more than the largest stored, so
// keys are unique and arrival order is key order.
//
// Its value is
//
//	offset  size   field
//	0       1      format, 1
//	1       1      flags: bit 0 set for a tombstone; bits 1..7 zero
//	2       8      the hinted record's version, uint64 big-endian
//	10      4      CRC-32C (Castagnoli) of bytes 0..9 followed by the value
//	               bytes, uint32 big-endian
//	14      rest   the hinted record's value; empty for a tombstone
//
// The DB version of a hint record is its sequence number. An acknowledged
// or expired hint is deleted first with a tombstone at that version plus
// one, written in one batch per replayed batch; when a replay ends (unless
// Close or Drop ended it), the fully deleted prefix of the target's range
// is removed with storage.DB.DropRange, which drops hint records and
// tombstones together.
// Expire and Drop remove their prefix with DropRange directly. Because the
// DB versions are small counters, the engine's tombstone grace period (which
// dates tombstones by Version.Millis) treats these tombstones as old, so
// compaction may also purge them once nothing below them remains.
//
// # Accounting
//
// The bytes of a hint, for Config.MaxBytes and Stats, are the length of its
// key plus the length of its value as laid out above. Open rebuilds the
// per-target counts, bytes and oldest enqueue time by scanning the store,
// so it reads every pending hint once.
package hintedhandoff
