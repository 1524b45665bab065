package bench

import (
	"errors"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
)

// memEngine is a map-backed Engine with a sorted key index, counting the
// calls it receives and checking the contracts the benchmarks promise.
type memEngine struct {
	dir  string
	sync bool

	puts, gets, deletes, scans atomic.Int64
	scanRecords                atomic.Int64
	badScans                   atomic.Int64 // scans that returned a wrong number of records
	badArgs                    atomic.Int64 // calls whose arguments break the benchmark's promises
	closed                     atomic.Bool
	keySize, valueSize         int // expected sizes; 0: unchecked

	mu struct {
		sync.RWMutex
		m    map[string][]byte
		keys []string // sorted keys of m
	}
}

var _ Engine = (*memEngine)(nil)

var errMemClosed = errors.New("memengine: closed")

func newMemEngine(dir string, sync bool) *memEngine {
	e := &memEngine{dir: dir, sync: sync}
	e.mu.m = make(map[string][]byte)
	return e
}

func (e *memEngine) Put(key, value []byte) error {
	if e.closed.Load() {
		return errMemClosed
	}
	e.puts.Add(1)
	if (e.keySize > 0 && len(key) != e.keySize) || (e.valueSize > 0 && len(value) != e.valueSize) {
		e.badArgs.Add(1)
	}
	k := string(key)
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.mu.m[k]; !ok {
		i := sort.SearchStrings(e.mu.keys, k)
		e.mu.keys = slices.Insert(e.mu.keys, i, k)
	}
	e.mu.m[k] = slices.Clone(value)
	return nil
}

func (e *memEngine) Get(key []byte) ([]byte, bool, error) {
	if e.closed.Load() {
		return nil, false, errMemClosed
	}
	e.gets.Add(1)
	e.mu.RLock()
	defer e.mu.RUnlock()
	v, ok := e.mu.m[string(key)]
	return v, ok, nil
}

func (e *memEngine) Delete(key []byte) error {
	if e.closed.Load() {
		return errMemClosed
	}
	e.deletes.Add(1)
	k := string(key)
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.mu.m[k]; ok {
		delete(e.mu.m, k)
		i := sort.SearchStrings(e.mu.keys, k)
		e.mu.keys = slices.Delete(e.mu.keys, i, i+1)
	}
	return nil
}

func (e *memEngine) Scan(start []byte, n int, fn func(key, value []byte) bool) error {
	if e.closed.Load() {
		return errMemClosed
	}
	e.scans.Add(1)
	e.mu.RLock()
	defer e.mu.RUnlock()
	i := sort.SearchStrings(e.mu.keys, string(start))
	want := min(n, len(e.mu.keys)-i)
	got := 0
	for ; i < len(e.mu.keys) && got < n; i++ {
		k := e.mu.keys[i]
		got++
		if !fn([]byte(k), e.mu.m[k]) {
			break
		}
	}
	e.scanRecords.Add(int64(got))
	if got != want {
		e.badScans.Add(1)
	}
	return nil
}

func (e *memEngine) DiskUsage() (int64, error) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	var n int64
	for k, v := range e.mu.m {
		n += int64(len(k) + len(v))
	}
	return n, nil
}

func (e *memEngine) Close() error {
	if e.closed.Swap(true) {
		return errors.New("memengine: closed twice")
	}
	return nil
}

func (e *memEngine) len() int {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return len(e.mu.m)
}

// memOpener opens memEngines and remembers them. Like a real engine opened
// on a directory that RunEngine wiped, a new memEngine starts empty; unlike
// one, reopening a directory does not bring its data back (RunEngine only
// reopens after a wipe).
type memOpener struct {
	keySize, valueSize int

	mu      sync.Mutex
	engines []*memEngine
}

func (o *memOpener) open(dir string, sync bool) (Engine, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if n := len(o.engines); n > 0 && !o.engines[n-1].closed.Load() {
		return nil, errors.New("memengine: opened while the previous engine is open")
	}
	e := newMemEngine(dir, sync)
	e.keySize, e.valueSize = o.keySize, o.valueSize
	o.engines = append(o.engines, e)
	return e, nil
}

func (o *memOpener) last() *memEngine {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.engines) == 0 {
		return nil
	}
	return o.engines[len(o.engines)-1]
}
