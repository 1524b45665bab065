package storage

import (
	"encoding/binary"
	"errors"
	"fmt"

	"kvstore/storage/internal/base"
	"kvstore/storage/memtable"
)

// Limits on what one record may hold.
const (
	// MaxKeySize is the largest key, in bytes.
	MaxKeySize = 64 << 10
	// MaxValueSize is the largest value, in bytes.
	MaxValueSize = 32 << 20
)

// Errors returned for invalid writes. Nothing is written when they occur.
var (
	ErrEmptyKey      = errors.New("storage: empty key")
	ErrKeyTooLarge   = fmt.Errorf("storage: key larger than %d bytes", MaxKeySize)
	ErrValueTooLarge = fmt.Errorf("storage: value larger than %d bytes", MaxValueSize)
)

// A Batch collects puts and deletes applied together by DB.Apply. The records
// that land in one shard are written as one WAL record and so survive a crash
// all or none; see DB.Apply for the guarantee across shards.
//
// The Batch copies keys and values. A Batch is not safe for concurrent use; it
// may be reused after Reset.
type Batch struct {
	data  []byte // encoded ops, see encodeOp
	count int
	err   error // first invalid op
}

// Put adds a put of key to value at version v.
func (b *Batch) Put(key, value []byte, v Version) { b.add(base.KindValue, key, value, v) }

// Delete adds a tombstone for key at version v.
func (b *Batch) Delete(key []byte, v Version) { b.add(base.KindTombstone, key, nil, v) }

func (b *Batch) add(kind base.Kind, key, value []byte, v Version) {
	if err := checkRecord(key, value); err != nil {
		if b.err == nil {
			b.err = err
		}
		return
	}
	b.data = encodeOp(b.data, kind, key, value, v)
	b.count++
}

// Len returns the number of records in the batch.
func (b *Batch) Len() int { return b.count }

// Reset empties the batch, keeping its memory.
func (b *Batch) Reset() { b.data, b.count, b.err = b.data[:0], 0, nil }

func checkRecord(key, value []byte) error {
	switch {
	case len(key) == 0:
		return ErrEmptyKey
	case len(key) > MaxKeySize:
		return ErrKeyTooLarge
	case len(value) > MaxValueSize:
		return ErrValueTooLarge
	}
	return nil
}

// encodeOp appends one record in the WAL encoding:
//
//	kind     1 byte  (0 tombstone, 1 value)
//	version  8 bytes little-endian
//	keyLen   uvarint
//	key      keyLen bytes
//	valueLen uvarint (0 for a tombstone)
//	value    valueLen bytes
func encodeOp(dst []byte, kind base.Kind, key, value []byte, v Version) []byte {
	dst = append(dst, byte(kind))
	dst = binary.LittleEndian.AppendUint64(dst, uint64(v))
	dst = binary.AppendUvarint(dst, uint64(len(key)))
	dst = append(dst, key...)
	dst = binary.AppendUvarint(dst, uint64(len(value)))
	return append(dst, value...)
}

// op is one decoded record; key and value alias the decoded buffer.
type op struct {
	kind    base.Kind
	version Version
	key     []byte
	value   []byte
}

// decodeOp decodes the record at the start of b and returns the rest.
func decodeOp(b []byte) (op, []byte, error) {
	var o op
	if len(b) < 9 {
		return o, nil, base.CorruptionErrorf("batch: record header truncated")
	}
	o.kind = base.Kind(b[0])
	if !o.kind.Valid() {
		return o, nil, base.CorruptionErrorf("batch: unknown kind %d", b[0])
	}
	o.version = Version(binary.LittleEndian.Uint64(b[1:9]))
	b = b[9:]
	var err error
	if o.key, b, err = decodeBytes(b, MaxKeySize); err != nil {
		return o, nil, err
	}
	if len(o.key) == 0 {
		return o, nil, base.CorruptionErrorf("batch: empty key")
	}
	if o.value, b, err = decodeBytes(b, MaxValueSize); err != nil {
		return o, nil, err
	}
	if o.kind == base.KindTombstone && len(o.value) != 0 {
		return o, nil, base.CorruptionErrorf("batch: tombstone with a value")
	}
	return o, b, nil
}

func decodeBytes(b []byte, limit int) ([]byte, []byte, error) {
	n, w := binary.Uvarint(b)
	if w <= 0 {
		return nil, nil, base.CorruptionErrorf("batch: bad length")
	}
	b = b[w:]
	if n > uint64(limit) || n > uint64(len(b)) {
		return nil, nil, base.CorruptionErrorf("batch: length %d exceeds limit or input", n)
	}
	return b[:n:n], b[n:], nil
}

// A WAL record's payload holds the writes of one shard: the shard id and
// the number of records as uvarints, then the records in the encoding of
// encodeOp.
func appendWALPayload(dst []byte, shard, count int, ops []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(shard))
	dst = binary.AppendUvarint(dst, uint64(count))
	return append(dst, ops...)
}

// parseWALPayload checks a whole WAL payload and returns its shard, its
// encoded records and the memtable space they take. A payload that does not
// decode exactly is corrupt: nothing of it may be applied.
func parseWALPayload(p []byte) (shard int, ops []byte, need int, err error) {
	id, w := binary.Uvarint(p)
	if w <= 0 || id >= maxShards {
		return 0, nil, 0, base.CorruptionErrorf("batch: bad shard id")
	}
	p = p[w:]
	count, w := binary.Uvarint(p)
	if w <= 0 {
		return 0, nil, 0, base.CorruptionErrorf("batch: bad count")
	}
	ops = p[w:]
	n := uint64(0)
	for rest := ops; len(rest) > 0; n++ {
		var o op
		if o, rest, err = decodeOp(rest); err != nil {
			return 0, nil, 0, err
		}
		need += memtable.EntrySize(len(o.key), len(o.value))
	}
	if n != count {
		return 0, nil, 0, base.CorruptionErrorf("batch: %d records, header says %d", n, count)
	}
	return int(id), ops, need, nil
}
