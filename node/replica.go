package node

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync/atomic"

	"kvstore/node/wire"
	"kvstore/storage"
)

// Local storage layout: a key of partition p is stored as the 2-byte
// big-endian partition id followed by the key, so a partition is one
// contiguous key range of the engine (one range to scan, stream or drop),
// and the engine, routing by that 2-byte prefix, keeps it in one shard.
const partitionPrefixLen = 2

func storageKey(dst []byte, p int, key []byte) []byte {
	dst = binary.BigEndian.AppendUint16(dst, uint16(p))
	return append(dst, key...)
}

// partitionBounds returns the engine range [start, end) holding the keys of
// partition p in the user range [from, to] (to inclusive; nil is unbounded).
func partitionBounds(p int, from, to []byte) (start, end []byte) {
	start = storageKey(nil, p, from)
	if to == nil {
		if p+1 == 1<<16 {
			return start, nil // the last possible partition: unbounded
		}
		return start, binary.BigEndian.AppendUint16(nil, uint16(p+1))
	}
	end = storageKey(nil, p, to)
	return start, append(end, 0) // the smallest key after to
}

// replica is this node's side of replication: it applies and serves the
// records of the partitions the node holds.
type replica struct {
	db    *storage.DB
	clock *Clock
	parts func(key []byte) int
	// gens counts writes per partition, so anti-entropy can reuse the
	// Merkle tree of a partition nothing wrote to since it was built.
	gens []atomic.Uint64
}

func (r *replica) generation(p int) uint64 { return r.gens[p].Load() }

// changed records that partition p's records changed (after the change is
// visible), so anti-entropy does not reuse its cached tree and root.
func (r *replica) changed(p int) { r.gens[p].Add(1) }

// apply writes records to the local engine. A record older than the stored
// one changes nothing (the engine keeps the newest version).
func (r *replica) apply(records []wire.Record) error {
	if len(records) == 1 {
		rec := records[0]
		if err := checkRecord(rec); err != nil {
			return err
		}
		r.clock.Observe(storage.Version(rec.Version))
		p := r.parts(rec.Key)
		defer r.changed(p)
		k := storageKey(make([]byte, 0, partitionPrefixLen+len(rec.Key)), p, rec.Key)
		if rec.Tombstone {
			return r.db.Delete(k, storage.Version(rec.Version))
		}
		return r.db.Put(k, rec.Value, storage.Version(rec.Version))
	}
	var b storage.Batch
	var buf []byte
	for _, rec := range records {
		if err := checkRecord(rec); err != nil {
			return err
		}
		r.clock.Observe(storage.Version(rec.Version))
		buf = storageKey(buf[:0], r.parts(rec.Key), rec.Key)
		if rec.Tombstone {
			b.Delete(buf, storage.Version(rec.Version))
		} else {
			b.Put(buf, rec.Value, storage.Version(rec.Version))
		}
	}
	if err := r.db.Apply(&b); err != nil {
		return err
	}
	for _, rec := range records {
		r.changed(r.parts(rec.Key))
	}
	return nil
}

func checkRecord(rec wire.Record) error {
	switch {
	case len(rec.Key) == 0:
		return fmt.Errorf("%w: empty key", ErrBadRequest)
	case len(rec.Key) > storage.MaxKeySize-partitionPrefixLen:
		return fmt.Errorf("%w: key of %d bytes", ErrTooLarge, len(rec.Key))
	case len(rec.Value) > storage.MaxValueSize:
		return fmt.Errorf("%w: value of %d bytes", ErrTooLarge, len(rec.Value))
	case rec.Version == 0:
		return fmt.Errorf("%w: record without a version", ErrBadRequest)
	}
	return nil
}

// read returns the local record of each key; a key with no record has
// Found false.
func (r *replica) read(keys [][]byte) ([]wire.ReadResult, error) { return r.readWith(keys, r.db.Get) }

// readCached is read from memory alone (storage.DB.GetCached): it returns
// an error wrapping storage.ErrNotCached when a key needs a disk read.
func (r *replica) readCached(keys [][]byte) ([]wire.ReadResult, error) {
	return r.readWith(keys, r.db.GetCached)
}

func (r *replica) readWith(keys [][]byte, get func([]byte) (storage.Record, error)) ([]wire.ReadResult, error) {
	out := make([]wire.ReadResult, len(keys))
	var buf []byte
	for i, key := range keys {
		buf = storageKey(buf[:0], r.parts(key), key)
		rec, err := get(buf)
		if errors.Is(err, storage.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out[i] = wire.ReadResult{Found: true, Record: wire.Record{
			Key: key, Value: bytes.Clone(rec.Value), Version: uint64(rec.Version), Tombstone: rec.Tombstone,
		}}
	}
	return out, nil
}

// maxScanBytes bounds the keys and values one scan returns, so a range
// page of large values stays far below the RPC frame limit.
const maxScanBytes = 8 << 20

// scan returns up to limit records (tombstones included) with keys in
// [from, to] from the given partitions, in ascending key order across them,
// stopping after about maxScanBytes. more is set when records were left
// out.
func (r *replica) scan(ctx context.Context, partitions []int, from, to []byte, limit int) (recs []wire.Record, more bool, err error) {
	its := make([]*storage.Iterator, 0, len(partitions))
	defer func() {
		for _, it := range its {
			if cerr := it.Close(); err == nil && cerr != nil {
				err = cerr
			}
		}
	}()
	h := make(scanHeap, 0, len(partitions))
	for _, p := range partitions {
		start, end := partitionBounds(p, from, to)
		it, err := r.db.NewIter(storage.IterOptions{Start: start, End: end, Tombstones: true})
		if err != nil {
			return nil, false, err
		}
		its = append(its, it)
		if it.First() {
			h = append(h, it)
		} else if err := it.Err(); err != nil {
			return nil, false, err
		}
	}
	h.init()
	size := 0
	for len(h) > 0 {
		if (limit > 0 && len(recs) == limit) || size >= maxScanBytes {
			return recs, true, nil
		}
		if len(recs)%256 == 0 && ctx.Err() != nil {
			return nil, false, ctx.Err()
		}
		it := h[0]
		recs = append(recs, wire.Record{
			Key:       bytes.Clone(it.Key()[partitionPrefixLen:]),
			Value:     bytes.Clone(it.Value()),
			Version:   uint64(it.Version()),
			Tombstone: it.Tombstone(),
		})
		size += len(it.Key()) + len(it.Value()) + 16
		if it.Next() {
			h.fix0()
		} else {
			if err := it.Err(); err != nil {
				return nil, false, err
			}
			h.pop0()
		}
	}
	return recs, false, nil
}

// scanHeap is a min-heap of iterators by user key (the key after the
// partition prefix). Keys of different partitions never collide.
type scanHeap []*storage.Iterator

func (h scanHeap) less(i, j int) bool {
	return bytes.Compare(h[i].Key()[partitionPrefixLen:], h[j].Key()[partitionPrefixLen:]) < 0
}

func (h scanHeap) init() {
	for i := len(h)/2 - 1; i >= 0; i-- {
		h.down(i)
	}
}

func (h scanHeap) down(i int) {
	for {
		l := 2*i + 1
		if l >= len(h) {
			return
		}
		m := l
		if r := l + 1; r < len(h) && h.less(r, l) {
			m = r
		}
		if !h.less(m, i) {
			return
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
}

func (h scanHeap) fix0() { h.down(0) }

func (h *scanHeap) pop0() {
	old := *h
	n := len(old) - 1
	old[0] = old[n]
	*h = old[:n]
	h.down(0)
}
