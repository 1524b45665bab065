package storage

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"testing"
)

// benchKey writes the 16-byte key of index i into dst.
func benchKey(dst []byte, i uint64) []byte {
	dst = dst[:16]
	binary.BigEndian.PutUint64(dst, i*0x9e3779b97f4a7c15) // scattered, unique
	binary.BigEndian.PutUint64(dst[8:], i)
	return dst
}

func benchOptions(b *testing.B, sync SyncMode) Options {
	return Options{Sync: sync}
}

func BenchmarkPut(b *testing.B) {
	for _, mode := range []SyncMode{SyncNone, SyncAlways} {
		b.Run("sync="+mode.String(), func(b *testing.B) {
			db, err := Open(b.TempDir(), benchOptions(b, mode))
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			value := make([]byte, 100)
			b.SetBytes(116)
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				key := make([]byte, 16)
				rng := rand.New(rand.NewPCG(rand.Uint64(), 0))
				for pb.Next() {
					i := rng.Uint64()
					if err := db.Put(benchKey(key, i), value, Version(i)); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

func BenchmarkGet(b *testing.B) {
	for _, n := range []int{10_000, 1_000_000} {
		b.Run(fmt.Sprintf("keys=%d", n), func(b *testing.B) {
			db, err := Open(b.TempDir(), benchOptions(b, SyncNone))
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			value := make([]byte, 100)
			key := make([]byte, 16)
			var batch Batch
			for i := range n {
				batch.Put(benchKey(key, uint64(i)), value, Version(i+1))
				if batch.Len() == 1000 {
					if err := db.Apply(&batch); err != nil {
						b.Fatal(err)
					}
					batch.Reset()
				}
			}
			if err := db.Apply(&batch); err != nil {
				b.Fatal(err)
			}
			if err := db.Flush(); err != nil {
				b.Fatal(err)
			}
			for _, missing := range []bool{false, true} {
				b.Run(fmt.Sprintf("missing=%v", missing), func(b *testing.B) {
					b.ReportAllocs()
					b.RunParallel(func(pb *testing.PB) {
						key := make([]byte, 16)
						rng := rand.New(rand.NewPCG(rand.Uint64(), 0))
						for pb.Next() {
							i := uint64(rng.IntN(n))
							if missing {
								i += uint64(n)
							}
							_, err := db.Get(benchKey(key, i))
							if missing != (err == ErrNotFound) {
								b.Errorf("Get(%d): %v", i, err)
								return
							}
						}
					})
				})
			}
		})
	}
}

func BenchmarkScan(b *testing.B) {
	db, err := Open(b.TempDir(), benchOptions(b, SyncNone))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	value := make([]byte, 100)
	key := make([]byte, 16)
	const n = 200_000
	for i := range n {
		if err := db.Put(benchKey(key, uint64(i)), value, Version(i+1)); err != nil {
			b.Fatal(err)
		}
	}
	db.Flush()
	b.ReportAllocs()
	b.ResetTimer()
	rng := rand.New(rand.NewPCG(1, 2))
	for b.Loop() {
		it, err := db.NewIter(IterOptions{})
		if err != nil {
			b.Fatal(err)
		}
		c := 0
		for ok := it.SeekGE(benchKey(key, uint64(rng.IntN(n)))); ok && c < 100; ok = it.Next() {
			c++
		}
		it.Close()
	}
}

// openScanBench opens a store with an 8 MiB block cache holding 300,000
// flushed records of 100 bytes (about 40 MB of tables, 5 times the cache)
// under benchKey(0..299,999), closed when b ends.
func openScanBench(b *testing.B) *DB {
	opts := benchOptions(b, SyncNone)
	opts.CacheSize = 8 << 20
	db, err := Open(b.TempDir(), opts)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	const n = 300_000
	value := make([]byte, 100)
	key := make([]byte, 16)
	var batch Batch
	for i := range n {
		batch.Put(benchKey(key, uint64(i)), value, Version(i+1))
		if batch.Len() == 1000 || i == n-1 {
			if err := db.Apply(&batch); err != nil {
				b.Fatal(err)
			}
			batch.Reset()
		}
	}
	if err := db.Flush(); err != nil {
		b.Fatal(err)
	}
	return db
}

// BenchmarkGetDuringScan reads a hot set of keys whose blocks fit in the
// block cache while another goroutine scans the whole data set (5 times the
// cache) over and over, as anti-entropy tree builds do, with and without
// NoCache. It reports the share of all cache lookups that missed, the
// scan's included (BenchmarkGetBesideScan counts the hot reads' alone).
func BenchmarkGetDuringScan(b *testing.B) {
	db := openScanBench(b)
	const hot = 1000 // hot keys' blocks about 4 MB
	key := make([]byte, 16)
	for _, mode := range []string{"none", "cached", "nocache"} {
		b.Run("scan="+mode, func(b *testing.B) {
			for i := range hot { // warm
				if _, err := db.Get(benchKey(key, uint64(i))); err != nil {
					b.Fatal(err)
				}
			}
			stop := make(chan struct{})
			done := make(chan error, 1)
			go func() {
				if mode == "none" {
					<-stop
					done <- nil
					return
				}
				for {
					it, err := db.NewIter(IterOptions{NoCache: mode == "nocache"})
					if err != nil {
						done <- err
						return
					}
					for ok := it.First(); ok; ok = it.Next() {
					}
					if err := it.Close(); err != nil {
						done <- err
						return
					}
					select {
					case <-stop:
						done <- nil
						return
					default:
					}
				}
			}()
			before := db.Stats()
			rng := rand.New(rand.NewPCG(1, 2))
			key := make([]byte, 16)
			b.ResetTimer()
			for b.Loop() {
				if _, err := db.Get(benchKey(key, uint64(rng.IntN(hot)))); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			after := db.Stats()
			close(stop)
			if err := <-done; err != nil {
				b.Fatal(err)
			}
			lookups := (after.CacheHits - before.CacheHits) + (after.CacheMisses - before.CacheMisses)
			if lookups > 0 {
				b.ReportMetric(100*float64(after.CacheMisses-before.CacheMisses)/float64(lookups), "miss%")
			}
		})
	}
}

// BenchmarkGetBesideScan interleaves, in one goroutine, reads of a hot set
// of 1,000 keys (their blocks half the 8 MiB block cache) with a scan of
// the whole data set (5 times the cache) through the cache: 40 records of
// the scan, then one hot read. A hot block is read again about every
// thousand reads, by which time the scan has read about 5 MiB. It reports
// the share of the hot reads that missed the cache: what a client range
// read costs the point reads beside it.
func BenchmarkGetBesideScan(b *testing.B) {
	db := openScanBench(b)
	const hot, step = 1000, 40
	key := make([]byte, 16)
	for range 2 { // warm: each hot block read twice
		for i := range hot {
			if _, err := db.Get(benchKey(key, uint64(i))); err != nil {
				b.Fatal(err)
			}
		}
	}
	var it *Iterator
	defer func() {
		if it != nil {
			it.Close()
		}
	}()
	scan := func() {
		for range step {
			if it != nil && it.Next() {
				continue
			}
			if it != nil {
				if err := it.Close(); err != nil {
					b.Fatal(err)
				}
			}
			var err error
			if it, err = db.NewIter(IterOptions{}); err != nil {
				b.Fatal(err)
			}
			it.First()
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var misses, reads int64
	for b.Loop() {
		scan()
		before := db.cache.Stats().Misses
		if _, err := db.Get(benchKey(key, uint64(rng.IntN(hot)))); err != nil {
			b.Fatal(err)
		}
		misses += db.cache.Stats().Misses - before
		reads++
	}
	b.ReportMetric(100*float64(misses)/float64(reads), "hotmiss%")
}
