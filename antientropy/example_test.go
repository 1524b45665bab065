package antientropy_test

import (
	"context"
	"fmt"

	"kvstore/antientropy"
	"kvstore/storage"
)

// replica is a toy Replica: one partition in a map.
type replica struct{ recs map[string]antientropy.Record }

func (r *replica) sorted() []antientropy.Record {
	var out []antientropy.Record
	for _, rec := range r.recs {
		out = append(out, rec)
	}
	for i := range out { // insertion sort: the example is small
		for j := i; j > 0 && string(out[j].Key) < string(out[j-1].Key); j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

func (r *replica) Tree(ctx context.Context, partition int) (*antientropy.Tree, error) {
	return antientropy.BuildTree(antientropy.DefaultTreeConfig(), &iter{recs: r.sorted()})
}

// Root reports no root: the toy replica keeps no trees, so every pass
// compares its partition in an exchange.
func (r *replica) Root(partition int) (uint64, bool) { return 0, false }

func (r *replica) Entries(ctx context.Context, req *antientropy.EntriesRequest) (*antientropy.EntriesResponse, error) {
	return antientropy.CollectEntries(req, &iter{recs: r.sorted()})
}

func (r *replica) Read(ctx context.Context, req *antientropy.ReadRequest) (*antientropy.ReadResponse, error) {
	resp := &antientropy.ReadResponse{Next: len(req.Keys)}
	for _, k := range req.Keys {
		if rec, ok := r.recs[string(k)]; ok {
			resp.Records = append(resp.Records, rec)
		}
	}
	return resp, nil
}

func (r *replica) Apply(ctx context.Context, req *antientropy.ApplyRequest) error {
	for _, rec := range req.Records {
		old, ok := r.recs[string(rec.Key)]
		if !ok || antientropy.Newer(rec.Version, rec.Tombstone, rec.Value, old.Version, old.Tombstone, old.Value) {
			r.recs[string(rec.Key)] = rec
		}
	}
	return nil
}

type iter struct {
	recs []antientropy.Record
	i    int
}

func (it *iter) Next() bool               { it.i++; return it.i <= len(it.recs) }
func (it *iter) Key() []byte              { return it.recs[it.i-1].Key }
func (it *iter) Value() []byte            { return it.recs[it.i-1].Value }
func (it *iter) Version() storage.Version { return it.recs[it.i-1].Version }
func (it *iter) Tombstone() bool          { return it.recs[it.i-1].Tombstone }
func (it *iter) Err() error               { return nil }

func Example() {
	a := &replica{recs: map[string]antientropy.Record{}}
	b := &replica{recs: map[string]antientropy.Record{}}
	for i := range 1000 {
		k := fmt.Sprintf("key-%04d", i)
		rec := antientropy.Record{Key: []byte(k), Value: []byte("v1"), Version: 10}
		a.recs[k], b.recs[k] = rec, rec
	}
	// a missed an update, b missed a delete.
	b.recs["key-0007"] = antientropy.Record{Key: []byte("key-0007"), Value: []byte("v2"), Version: 20}
	a.recs["key-0500"] = antientropy.Record{Key: []byte("key-0500"), Version: 30, Tombstone: true}

	// b answers through a Server, as it would behind the node's transport.
	peer, err := antientropy.NewServer(b, antientropy.ServerConfig{})
	if err != nil {
		panic(err)
	}
	res, err := antientropy.Sync(context.Background(), a, peer, 0)
	if err != nil {
		panic(err)
	}
	fmt.Printf("compared %d nodes, %d buckets differ, sent %d, received %d\n",
		res.NodesCompared, res.BucketsDiffering, res.KeysSent, res.KeysReceived)
	fmt.Println(string(a.recs["key-0007"].Value), b.recs["key-0500"].Tombstone)
	// Output:
	// compared 81 nodes, 2 buckets differ, sent 1, received 1
	// v2 true
}

func ExampleBuildTree() {
	recs := []antientropy.Record{
		{Key: []byte("a"), Value: []byte("1"), Version: 1},
		{Key: []byte("b"), Version: 2, Tombstone: true},
	}
	t1, _ := antientropy.BuildTree(antientropy.DefaultTreeConfig(), &iter{recs: recs})
	t2, _ := antientropy.BuildTree(antientropy.DefaultTreeConfig(), &iter{recs: []antientropy.Record{recs[1], recs[0]}})
	fmt.Println(t1.Count(), t1.Root() == t2.Root())

	// Incremental updates give the same tree as a rebuild.
	t2.Remove(recs[1].Entry())
	t3, _ := antientropy.BuildTree(antientropy.DefaultTreeConfig(), &iter{recs: recs[:1]})
	fmt.Println(t2.Count(), t2.Root() == t3.Root())
	// Output:
	// 2 true
	// 1 true
}
