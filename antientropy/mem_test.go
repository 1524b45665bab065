package antientropy

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"

	"kvstore/storage"
)

// memReplica is an in-memory Replica: a sorted slice of records per
// partition, newest record wins on Apply, like the storage engine.
type memReplica struct {
	cfg TreeConfig

	mu    sync.Mutex
	parts map[int]*memPart // guarded by mu
	// roots holds the root of each partition's last tree until the
	// partition changes, as a node's tree cache does; guarded by mu.
	roots map[int]uint64

	trees atomic.Int64 // trees built
}

type memPart struct {
	recs  []Record       // sorted by key unless dirty
	index map[string]int // position of each key in recs
	dirty bool           // keys were added or removed since the last sort
}

func (mp *memPart) get(key []byte) (Record, bool) {
	i, ok := mp.index[string(key)]
	if !ok {
		return Record{}, false
	}
	return mp.recs[i], true
}

// put stores r (its slices owned by the partition from now on).
func (mp *memPart) put(r Record) {
	if i, ok := mp.index[string(r.Key)]; ok {
		mp.recs[i] = r
		return
	}
	mp.index[string(r.Key)] = len(mp.recs)
	mp.recs = append(mp.recs, r)
	mp.dirty = true
}

func (mp *memPart) del(key string) {
	i, ok := mp.index[key]
	if !ok {
		return
	}
	last := len(mp.recs) - 1
	mp.recs[i] = mp.recs[last]
	mp.index[string(mp.recs[i].Key)] = i
	mp.recs = mp.recs[:last]
	delete(mp.index, key)
	mp.dirty = true
}

func (mp *memPart) sorted() []Record {
	if mp.dirty {
		slices.SortFunc(mp.recs, func(a, b Record) int { return bytes.Compare(a.Key, b.Key) })
		for i, r := range mp.recs {
			mp.index[string(r.Key)] = i
		}
		mp.dirty = false
	}
	return mp.recs
}

var _ Replica = (*memReplica)(nil)

func newMemReplica(cfg TreeConfig) *memReplica {
	return &memReplica{cfg: cfg, parts: make(map[int]*memPart), roots: make(map[int]uint64)}
}

func (m *memReplica) part(p int) *memPart {
	mp := m.parts[p]
	if mp == nil {
		mp = &memPart{index: make(map[string]int)}
		m.parts[p] = mp
	}
	return mp
}

// set stores r whatever it replaces.
func (m *memReplica) set(p int, r Record) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r.Key = bytes.Clone(r.Key)
	r.Value = bytes.Clone(r.Value)
	if r.Tombstone {
		r.Value = nil
	}
	delete(m.roots, p)
	m.part(p).put(r)
}

func (m *memReplica) del(p int, key string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.roots, p)
	m.part(p).del(key)
}

// contents returns a copy of partition p.
func (m *memReplica) contents(p int) map[string]Record {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string]Record)
	for _, r := range m.part(p).recs {
		out[string(r.Key)] = r
	}
	return out
}

func (m *memReplica) Tree(ctx context.Context, p int) (*Tree, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.trees.Add(1)
	m.mu.Lock()
	defer m.mu.Unlock()
	t, err := BuildTree(m.cfg, &sliceIter{recs: m.part(p).recs})
	if err == nil {
		m.roots[p] = t.Root()
	}
	return t, err
}

func (m *memReplica) Root(p int) (uint64, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	root, ok := m.roots[p]
	return root, ok
}

func (m *memReplica) Entries(ctx context.Context, req *EntriesRequest) (*EntriesResponse, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	recs := m.part(req.Partition).sorted()
	i, _ := slices.BinarySearchFunc(recs, req.Start, func(r Record, k []byte) int { return bytes.Compare(r.Key, k) })
	return CollectEntries(req, &sliceIter{recs: recs[i:]})
}

func (m *memReplica) Read(ctx context.Context, req *ReadRequest) (*ReadResponse, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	mp := m.part(req.Partition)
	resp := &ReadResponse{}
	size := 0
	for _, k := range req.Keys {
		r, ok := mp.get(k)
		if ok {
			n := RecordSize(&r)
			if resp.Next > 0 && size+n > req.MaxBytes {
				break
			}
			size += n
			resp.Records = append(resp.Records, r)
		}
		resp.Next++
	}
	return resp, nil
}

func (m *memReplica) Apply(ctx context.Context, req *ApplyRequest) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.roots, req.Partition)
	mp := m.part(req.Partition)
	for _, r := range req.Records {
		old, ok := mp.get(r.Key)
		if ok && !Newer(r.Version, r.Tombstone, r.Value, old.Version, old.Tombstone, old.Value) {
			continue
		}
		r.Key, r.Value = bytes.Clone(r.Key), bytes.Clone(r.Value)
		mp.put(r)
	}
	return nil
}

// sliceIter iterates records in slice order.
type sliceIter struct {
	recs []Record
	i    int
}

func (s *sliceIter) Next() bool               { s.i++; return s.i <= len(s.recs) }
func (s *sliceIter) Key() []byte              { return s.recs[s.i-1].Key }
func (s *sliceIter) Value() []byte            { return s.recs[s.i-1].Value }
func (s *sliceIter) Version() storage.Version { return s.recs[s.i-1].Version }
func (s *sliceIter) Tombstone() bool          { return s.recs[s.i-1].Tombstone }
func (s *sliceIter) Err() error               { return nil }

// serverPeer returns a Peer answering from r through a Server.
func serverPeer(r Replica) *Server {
	s, err := NewServer(r, ServerConfig{})
	if err != nil {
		panic(err)
	}
	return s
}

func testKey(i int) []byte { return fmt.Appendf(nil, "key-%08d", i) }

func testValue(rng *rand.Rand, n int) []byte {
	v := make([]byte, n)
	for i := range v {
		v[i] = byte('a' + rng.IntN(26))
	}
	return v
}

// fill puts n records into partition p of every replica given.
func fill(p, n int, rng *rand.Rand, rs ...*memReplica) {
	for i := range n {
		r := Record{Key: testKey(i), Value: testValue(rng, 16+rng.IntN(48)), Version: storage.NewVersion(1_700_000_000_000+int64(i), 0, 1)}
		for _, m := range rs {
			m.set(p, r)
		}
	}
}

// merged returns the expected contents after two replicas converge.
func merged(a, b map[string]Record) map[string]Record {
	out := maps.Clone(a)
	for k, r := range b {
		if o, ok := out[k]; !ok || Newer(r.Version, r.Tombstone, r.Value, o.Version, o.Tombstone, o.Value) {
			out[k] = r
		}
	}
	return out
}

func sameContents(a, b map[string]Record) error {
	if len(a) != len(b) {
		return fmt.Errorf("%d records vs %d", len(a), len(b))
	}
	for k, ra := range a {
		rb, ok := b[k]
		if !ok {
			return fmt.Errorf("key %q missing", k)
		}
		if ra.Version != rb.Version || ra.Tombstone != rb.Tombstone || !bytes.Equal(ra.Value, rb.Value) {
			return fmt.Errorf("key %q: %v/%v/%q vs %v/%v/%q", k, ra.Version, ra.Tombstone, ra.Value, rb.Version, rb.Tombstone, rb.Value)
		}
	}
	return nil
}
