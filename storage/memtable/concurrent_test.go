package memtable

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"testing"

	"kvstore/storage/internal/base"
)

// concValue is the value the concurrency test writes for a record: readers
// check that every record they see is one the writer wrote.
func concValue(key []byte, version uint64, kind base.Kind, salt int) []byte {
	return fmt.Appendf(nil, "%s/%d/%d/%d", key, version, kind, salt)
}

func checkConcRecord(key, value []byte, version uint64, kind base.Kind) error {
	parts := bytes.Split(value, []byte("/"))
	if len(parts) != 4 || !bytes.Equal(parts[0], key) {
		return fmt.Errorf("key %q has foreign value %q", key, value)
	}
	v, err1 := strconv.ParseUint(string(parts[1]), 10, 64)
	k, err2 := strconv.Atoi(string(parts[2]))
	if err1 != nil || err2 != nil || v != version || base.Kind(k) != kind {
		return fmt.Errorf("key %q: record (%d, %v) has value %q", key, version, kind, value)
	}
	return nil
}

// TestConcurrentReaders runs one writer that inserts and updates keys while
// readers Get and iterate without locks. Run it with -race.
func TestConcurrentReaders(t *testing.T) {
	const (
		keys    = 1000
		ops     = 20000
		readers = 3
	)
	m := New(8 << 20)
	keyOf := func(i int) []byte { return fmt.Appendf(nil, "key%05d", i*7919%keys) }
	done := make(chan struct{})
	final := map[string]rec{} // the writer's last state, read after done

	var wg sync.WaitGroup
	errs := make(chan error, readers+1)
	wg.Go(func() {
		defer close(done)
		rng := rand.New(rand.NewPCG(7, 7))
		for i := range ops {
			key := keyOf(rng.IntN(keys))
			version := uint64(i / 2)
			if rng.IntN(8) == 0 {
				version = uint64(rng.IntN(i + 1)) // out of order
			}
			kind := base.Kind(rng.IntN(2))
			value := concValue(key, version, kind, rng.IntN(3))
			applied, err := m.Set(key, version, kind, value)
			if err != nil {
				errs <- fmt.Errorf("Set: %v", err)
				return
			}
			if applied {
				final[string(key)] = rec{version, kind, string(value)}
			}
		}
	})

	for r := range readers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(r), 1))
			last := make([]rec, keys) // newest record seen per key index
			lastScan := 0             // keys seen by the last full scan
			var err error
			check := func() {
				for range 50 {
					i := rng.IntN(keys)
					key := keyOf(i)
					value, version, kind, ok := m.Get(key)
					if !ok {
						if last[i] != (rec{}) {
							err = fmt.Errorf("key %q vanished", key)
						}
						continue
					}
					if err = checkConcRecord(key, value, version, kind); err != nil {
						return
					}
					prev := last[i]
					if prev != (rec{}) && base.Newer(prev.version, prev.kind, []byte(prev.value), version, kind, value) {
						err = fmt.Errorf("key %q went back from %v to (%d %v %q)", key, prev, version, kind, value)
						return
					}
					last[i] = rec{version, kind, string(value)}
				}
				it := m.NewIter()
				var prevKey []byte
				ok, full, n := it.First(), true, 0
				if rng.IntN(2) == 0 {
					ok, full = it.SeekGE(keyOf(rng.IntN(keys))), false
				}
				for ; ok; ok = it.Next() {
					n++
					if prevKey != nil && bytes.Compare(prevKey, it.Key()) >= 0 {
						err = fmt.Errorf("iterator went from %q to %q", prevKey, it.Key())
						return
					}
					if err = checkConcRecord(it.Key(), it.Value(), it.Version(), it.Kind()); err != nil {
						return
					}
					prevKey = append(prevKey[:0], it.Key()...) // Key is valid until Next
				}
				if full {
					// Keys are never removed: a scan sees at least as many
					// as the one before.
					if n < lastScan {
						err = fmt.Errorf("full scan saw %d keys, the previous one %d", n, lastScan)
					}
					lastScan = n
				}
			}
			for err == nil {
				select {
				case <-done:
					check()
					if err == nil {
						err = checkFinal(m, final)
					}
					errs <- err
					return
				default:
					check()
				}
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

// checkFinal compares a full scan with the writer's final state.
func checkFinal(m *Memtable, final map[string]rec) error {
	it := m.NewIter()
	n := 0
	for ok := it.First(); ok; ok = it.Next() {
		want, ok := final[string(it.Key())]
		if got := (rec{it.Version(), it.Kind(), string(it.Value())}); !ok || got != want {
			return fmt.Errorf("final scan: %q = %v, want %v", it.Key(), got, want)
		}
		n++
	}
	if n != len(final) || m.Len() != len(final) {
		return fmt.Errorf("final scan saw %d keys, Len %d, want %d", n, m.Len(), len(final))
	}
	return nil
}
