package memtable

import (
	"encoding/binary"
	"fmt"
	"sync"
	"testing"

	"kvstore/storage/internal/base"
)

// benchKey writes the i-th pseudo-random 16-byte key of a sequence into k.
func benchKey(k []byte, seq, i uint64) {
	_, a := splitmix64(seq<<40 ^ i)
	_, b := splitmix64(a)
	binary.BigEndian.PutUint64(k, a)
	binary.BigEndian.PutUint64(k[8:], b)
}

func BenchmarkSet(b *testing.B) {
	for _, valueLen := range []int{10, 100, 1000} {
		b.Run(fmt.Sprintf("value=%d", valueLen), func(b *testing.B) {
			const capacity = 64 << 20
			value := make([]byte, valueLen)
			key := make([]byte, 16)
			m := New(capacity)
			b.ReportAllocs()
			b.SetBytes(int64(len(key) + valueLen))
			for i := 0; b.Loop(); i++ {
				benchKey(key, 1, uint64(i))
				if _, err := m.Set(key, uint64(i), base.KindValue, value); err != nil {
					b.StopTimer()
					m = New(capacity)
					b.StartTimer()
				}
			}
		})
	}
}

// BenchmarkSetDecimal inserts the keys of the engine benchmark's
// fillrandom into one 64 MiB memtable: random indices below 10^7 in 16
// zero-padded decimal digits, so every key shares its first 9 bytes with
// every other, with 100-byte values.
func BenchmarkSetDecimal(b *testing.B) {
	const capacity = 64 << 20
	value := make([]byte, 100)
	key := make([]byte, 16)
	m := New(capacity)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		_, r := splitmix64(uint64(i))
		putDigits(key, r%1e7)
		if _, err := m.Set(key, uint64(i), base.KindValue, value); err != nil {
			b.StopTimer()
			m = New(capacity)
			b.StartTimer()
		}
	}
}

// BenchmarkSetUpdate overwrites the keys of a 100k-key memtable with newer
// records of 100-byte values.
func BenchmarkSetUpdate(b *testing.B) {
	const keys = 100_000
	value := make([]byte, 100)
	key := make([]byte, 16)
	fill := func() *Memtable {
		m := New(64 << 20)
		for i := range keys {
			benchKey(key, 1, uint64(i))
			m.Set(key, 1, base.KindValue, value)
		}
		return m
	}
	m := fill()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		benchKey(key, 1, uint64(i%keys))
		if _, err := m.Set(key, uint64(2+i), base.KindValue, value); err != nil {
			b.StopTimer()
			m = fill()
			b.StartTimer()
		}
	}
}

const benchTableKeys = 1 << 20

var benchTable = sync.OnceValue(func() *Memtable {
	value := make([]byte, 100)
	key := make([]byte, 16)
	m := New(benchTableKeys * EntrySize(16, 100))
	for i := range benchTableKeys {
		benchKey(key, 1, uint64(i))
		if _, err := m.Set(key, uint64(i), base.KindValue, value); err != nil {
			panic(err)
		}
	}
	return m
})

func BenchmarkGet(b *testing.B) {
	m := benchTable()
	for _, tc := range []struct {
		name string
		seq  uint64 // 1: the keys in the table
	}{{"hit", 1}, {"miss", 2}} {
		b.Run(tc.name, func(b *testing.B) {
			key := make([]byte, 16)
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				benchKey(key, tc.seq, uint64(i*7919)%benchTableKeys)
				if _, _, _, ok := m.Get(key); ok != (tc.seq == 1) {
					b.Fatalf("Get found=%v", ok)
				}
			}
		})
	}
}

func BenchmarkSeekGE(b *testing.B) {
	m := benchTable()
	it := m.NewIter()
	key := make([]byte, 16)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		benchKey(key, 2, uint64(i))
		it.SeekGE(key)
	}
}

// BenchmarkIter reports the cost of one Next over a 1M-key memtable.
func BenchmarkIter(b *testing.B) {
	m := benchTable()
	it := m.NewIter()
	b.ReportAllocs()
	for b.Loop() {
		if !it.Next() {
			it.First()
		}
	}
}

// BenchmarkSetShards inserts new keys shaped like a node's (a 2-byte
// partition id, then 16 decimal digits) with 100-byte values into 24
// memtables of 8 MiB, at random: the memtables of a three-node cluster of
// eight shards each, whose arenas together far exceed the CPU's caches.
// keys=random spreads the digits over 10^16; keys=padded zero-pads indices
// below 10^7 as the bench's YCSB workloads do, so keys of one partition
// share their first 11 bytes. A full memtable is replaced by a new one
// outside the timer.
func BenchmarkSetShards(b *testing.B) {
	const (
		memtables = 24
		capacity  = 8 << 20
	)
	for _, tc := range []struct {
		name  string
		limit uint64
	}{{"random", 1e16}, {"padded", 1e7}} {
		b.Run("keys="+tc.name, func(b *testing.B) {
			tables := make([]*Memtable, memtables)
			for i := range tables {
				tables[i] = New(capacity)
			}
			value := make([]byte, 100)
			key := make([]byte, 18)
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				_, r := splitmix64(uint64(i))
				binary.BigEndian.PutUint16(key, uint16(r>>54)) // 1,024 partitions
				putDigits(key[2:], r%tc.limit)
				t := (r >> 48) % memtables
				if _, err := tables[t].Set(key, uint64(i), base.KindValue, value); err != nil {
					b.StopTimer()
					tables[t] = New(capacity)
					b.StartTimer()
				}
			}
		})
	}
}

// putDigits writes v into dst in decimal, zero-padded to len(dst) digits.
func putDigits(dst []byte, v uint64) {
	for j := len(dst) - 1; j >= 0; j-- {
		dst[j] = byte('0' + v%10)
		v /= 10
	}
}
