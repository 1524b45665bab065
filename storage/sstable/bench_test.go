package sstable

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"

	"kvstore/storage/cache"
	"kvstore/storage/internal/base"
)

const (
	benchKeyLen   = 16
	benchValueLen = 100
	benchRecords  = 50000
)

// benchKey writes the i-th benchmark key, "p0042/" plus a big-endian
// counter, into dst.
func benchKey(dst []byte, i uint64) []byte {
	dst = append(dst[:0], "p0042/"...)
	dst = binary.BigEndian.AppendUint64(dst, i*2) // odd keys are absent
	return append(dst, "xy"...)
}

func benchTable(b *testing.B) []byte {
	var buf bytes.Buffer
	w := NewWriter(&buf, WriterOptions{})
	value := bytes.Repeat([]byte("v"), benchValueLen)
	var key []byte
	for i := uint64(0); i < benchRecords; i++ {
		key = benchKey(key, i)
		if err := w.Add(key, i, base.KindValue, value); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := w.Finish(); err != nil {
		b.Fatal(err)
	}
	return buf.Bytes()
}

// BenchmarkWriterAdd writes tables of 64Ki records (about 7.5 MB), Finish
// included, and reports the cost per record.
func BenchmarkWriterAdd(b *testing.B) {
	const perTable = 64 << 10
	value := bytes.Repeat([]byte("v"), benchValueLen)
	key := make([]byte, 0, benchKeyLen)
	b.SetBytes(benchKeyLen + benchValueLen)
	b.ReportAllocs()
	var w *Writer
	for i := 0; i < b.N; i++ {
		if i%perTable == 0 {
			if w != nil {
				if _, err := w.Finish(); err != nil {
					b.Fatal(err)
				}
			}
			w = NewWriter(io.Discard, WriterOptions{})
		}
		key = benchKey(key, uint64(i))
		if err := w.Add(key, uint64(i), base.KindValue, value); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := w.Finish(); err != nil {
		b.Fatal(err)
	}
}

func BenchmarkGet(b *testing.B) {
	data := benchTable(b)
	for _, bc := range []struct {
		name   string
		cache  bool
		absent bool
	}{
		{"hit-cached", true, false},
		{"bloom-negative", true, true},
		{"uncached", false, false},
	} {
		b.Run(bc.name, func(b *testing.B) {
			opts := ReaderOptions{CacheID: 1}
			if bc.cache {
				opts.Cache = cache.New(64 << 20)
			}
			r := openTable(b, data, opts)
			var key []byte
			for i := uint64(0); i < benchRecords && bc.cache; i++ {
				key = benchKey(key, i)
				r.Get(key) // warm the cache
			}
			rng := rand.New(rand.NewPCG(1, 1))
			b.ReportAllocs()
			b.ResetTimer()
			found := 0
			for i := 0; i < b.N; i++ {
				key = benchKey(key, rng.Uint64N(benchRecords))
				if bc.absent {
					key[len(key)-3] |= 1
				}
				_, _, _, ok, err := r.Get(key)
				if err != nil {
					b.Fatal(err)
				}
				if ok {
					found++
				}
			}
			if want := !bc.absent; (found == b.N) != want {
				b.Fatalf("found %d of %d", found, b.N)
			}
		})
	}
}

func BenchmarkGetParallel(b *testing.B) {
	data := benchTable(b)
	r := openTable(b, data, ReaderOptions{Cache: cache.New(64 << 20), CacheID: 1})
	var key []byte
	for i := uint64(0); i < benchRecords; i++ {
		key = benchKey(key, i)
		r.Get(key)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		rng := rand.New(rand.NewPCG(rand.Uint64(), 1))
		key := make([]byte, 0, benchKeyLen)
		for pb.Next() {
			key = benchKey(key, rng.Uint64N(benchRecords))
			if _, _, _, ok, err := r.Get(key); !ok || err != nil {
				b.Fatalf("Get: %v, %v", ok, err)
			}
		}
	})
}

func BenchmarkIterScan(b *testing.B) {
	data := benchTable(b)
	for _, bc := range []struct {
		name string
		opts ReaderOptions
		it   IterOptions
	}{
		{"cached-warm", ReaderOptions{Cache: cache.New(64 << 20), CacheID: 1}, IterOptions{}},
		{"no-cache-readahead", ReaderOptions{}, IterOptions{NoCache: true}},
		{"no-cache-reader", ReaderOptions{}, IterOptions{}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			r := openTable(b, data, bc.opts)
			b.SetBytes(int64(r.Properties().RawKeyBytes + r.Properties().RawValueBytes))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				it := r.NewIter(bc.it)
				n := 0
				for ok := it.First(); ok; ok = it.Next() {
					n++
				}
				if err := it.Close(); err != nil || n != benchRecords {
					b.Fatalf("scanned %d: %v", n, err)
				}
			}
		})
	}
}

func BenchmarkSeekGE(b *testing.B) {
	data := benchTable(b)
	r := openTable(b, data, ReaderOptions{Cache: cache.New(64 << 20), CacheID: 1})
	it := r.NewIter(IterOptions{})
	defer it.Close()
	rng := rand.New(rand.NewPCG(2, 2))
	var key []byte
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		key = benchKey(key, rng.Uint64N(benchRecords))
		if !it.SeekGE(key) {
			b.Fatal(it.Err())
		}
	}
}

func BenchmarkOpen(b *testing.B) {
	data := benchTable(b)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := Open(bytes.NewReader(data), int64(len(data)), ReaderOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

func ExampleWriter() {
	var buf bytes.Buffer
	w := NewWriter(&buf, WriterOptions{})
	for i, k := range []string{"apple", "banana", "cherry"} {
		kind := base.KindValue
		if k == "banana" {
			kind = base.KindTombstone
		}
		if err := w.Add([]byte(k), uint64(10+i), kind, []byte(k+"-value")); err != nil {
			panic(err)
		}
	}
	if _, err := w.Finish(); err != nil {
		panic(err)
	}

	r, err := Open(bytes.NewReader(buf.Bytes()), int64(buf.Len()), ReaderOptions{Cache: cache.New(1 << 20), CacheID: 1})
	if err != nil {
		panic(err)
	}
	defer r.Close()
	v, version, kind, found, err := r.Get([]byte("cherry"))
	fmt.Println(string(v), version, kind, found, err)

	it := r.NewIter(IterOptions{})
	for ok := it.SeekGE([]byte("b")); ok; ok = it.Next() {
		fmt.Println(string(it.Key()), it.Kind())
	}
	if err := it.Close(); err != nil {
		panic(err)
	}
	// Output:
	// cherry-value 12 value true <nil>
	// banana tombstone
	// cherry value
}

// BenchmarkBlockGet measures the in-block search alone, on a block in the
// CPU cache.
func BenchmarkBlockGet(b *testing.B) {
	value := bytes.Repeat([]byte("v"), benchValueLen)
	bb := blockBuilder{restartInterval: defaultRestartInterval}
	var blk, key []byte
	n := uint64(0)
	for ; len(blk) < defaultBlockSize; n++ {
		key = benchKey(key, n)
		blk = bb.add(blk, 0, key, n, base.KindValue, value)
	}
	blk = bb.finish(blk)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		key = benchKey(key, uint64(i)%n)
		if _, _, _, ok, err := blockGet(blk, key); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}
