package antientropy

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"kvstore/storage"
)

// trace drives an exchange between local and remote and describes each
// round of requests.
func trace(t *testing.T, cfg SyncConfig, local *memReplica, remote Peer) ([]string, Result) {
	t.Helper()
	ctx := context.Background()
	tree, err := local.Tree(ctx, testPartition)
	if err != nil {
		t.Fatal(err)
	}
	x := NewExchange(cfg, testPartition, tree)
	var lines []string
	for !x.Done() {
		reqs := x.Ready()
		var round []string
		for _, r := range reqs {
			round = append(round, describe(&r))
		}
		lines = append(lines, strings.Join(round, " "))
		resps, err := perform(ctx, local, remote, reqs)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range resps {
			if err := x.Step(r); err != nil {
				t.Fatal(err)
			}
		}
	}
	if len(x.Ready()) != 0 {
		t.Fatal("requests after done")
	}
	return lines, x.Result()
}

func describe(r *Request) string {
	s := fmt.Sprintf("%s:%s", r.To, r.Op)
	switch r.Op {
	case OpNodes:
		s += fmt.Sprintf("(L%d,%d)", r.Nodes.Level, len(r.Nodes.Indexes))
	case OpEntries:
		f := "all"
		if r.Entries.Leaves > 0 {
			n := 0
			for b := range r.Entries.Leaves {
				if bitSet(r.Entries.Buckets, b) {
					n++
				}
			}
			f = fmt.Sprint(n)
		}
		s += fmt.Sprintf("(buckets=%s,start=%q,values=%v)", f, r.Entries.Start, r.Entries.Values)
	case OpRead:
		s += fmt.Sprintf("(%d)", len(r.Read.Keys))
	case OpApply:
		s += fmt.Sprintf("(%d)", len(r.Apply.Records))
	}
	return s
}

func TestExchangeTrace(t *testing.T) {
	v := storage.NewVersion(1_900_000_000_000, 0, 1)
	tests := []struct {
		name  string
		setup func(a, b *memReplica)
		cfg   SyncConfig
		want  []string
	}{
		{
			name:  "equal",
			setup: func(a, b *memReplica) {},
			want:  []string{"remote:summary"},
		},
		{
			name: "one key newer remotely",
			setup: func(a, b *memReplica) {
				b.set(testPartition, Record{Key: testKey(3), Value: []byte("x"), Version: v})
			},
			want: []string{
				"remote:summary",
				"remote:nodes(L2,16)",
				"remote:nodes(L3,16)",
				`local:entries(buckets=1,start="",values=false) remote:entries(buckets=1,start="",values=false)`,
				"remote:read(1)",
				"local:apply(1)",
			},
		},
		{
			name: "one key each way",
			setup: func(a, b *memReplica) {
				a.set(testPartition, Record{Key: testKey(3), Value: []byte("x"), Version: v})
				b.set(testPartition, Record{Key: []byte("only remote"), Version: v, Tombstone: true})
			},
			want: []string{
				"remote:summary",
				"remote:nodes(L2,32)",
				"remote:nodes(L3,32)",
				`local:entries(buckets=2,start="",values=false) remote:entries(buckets=2,start="",values=false)`,
				"local:read(1) remote:read(1)",
				"local:apply(1) remote:apply(1)",
			},
		},
		{
			name: "remote wiped, paged",
			setup: func(a, b *memReplica) {
				for i := range 50 {
					b.del(testPartition, string(testKey(i)))
				}
			},
			cfg: SyncConfig{MaxRecords: 20},
			want: []string{
				"remote:summary",
				`local:entries(buckets=all,start="",values=true) remote:entries(buckets=all,start="",values=false)`,
				"remote:apply(20)",
				`local:entries(buckets=all,start="key-00000019\x00",values=true)`,
				"remote:apply(20)",
				`local:entries(buckets=all,start="key-00000039\x00",values=true)`,
				"remote:apply(10)",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, 1))
			a, b := newMemReplica(DefaultTreeConfig()), newMemReplica(DefaultTreeConfig())
			fill(testPartition, 50, rng, a, b)
			tt.setup(a, b)
			want := merged(a.contents(testPartition), b.contents(testPartition))
			got, _ := trace(t, tt.cfg, a, serverPeer(b))
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("trace:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
			checkConverged(t, a, b, want)
		})
	}
}

func TestDecide(t *testing.T) {
	tests := []struct {
		name       string
		l, r       Entry
		push, pull bool
	}{
		{"equal", Entry{Version: 5, ValueHash: 1}, Entry{Version: 5, ValueHash: 1}, false, false},
		{"local newer", Entry{Version: 6}, Entry{Version: 5}, true, false},
		{"remote newer", Entry{Version: 5}, Entry{Version: 6, Tombstone: true}, false, true},
		{"tie, local value beats tombstone", Entry{Version: 5, ValueHash: 1}, Entry{Version: 5, Tombstone: true}, true, false},
		{"tie, remote value beats tombstone", Entry{Version: 5, Tombstone: true}, Entry{Version: 5, ValueHash: 1}, false, true},
		{"tie, both tombstones", Entry{Version: 5, Tombstone: true}, Entry{Version: 5, Tombstone: true}, false, false},
		{"tie, values differ", Entry{Version: 5, ValueHash: 1}, Entry{Version: 5, ValueHash: 2}, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			push, pull := decide(&tt.l, &tt.r)
			if push != tt.push || pull != tt.pull {
				t.Fatalf("decide = %v, %v; want %v, %v", push, pull, tt.push, tt.pull)
			}
		})
	}
}

func TestNewer(t *testing.T) {
	tests := []struct {
		name string
		a, b Record
		want bool
	}{
		{"higher version", Record{Version: 2}, Record{Version: 1, Value: []byte("z")}, true},
		{"lower version", Record{Version: 1, Value: []byte("z")}, Record{Version: 2, Tombstone: true}, false},
		{"value beats tombstone", Record{Version: 1, Value: []byte{}}, Record{Version: 1, Tombstone: true}, true},
		{"tombstone loses", Record{Version: 1, Tombstone: true}, Record{Version: 1, Value: []byte("a")}, false},
		{"greater value", Record{Version: 1, Value: []byte("b")}, Record{Version: 1, Value: []byte("a")}, true},
		{"identical", Record{Version: 1, Value: []byte("a")}, Record{Version: 1, Value: []byte("a")}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Newer(tt.a.Version, tt.a.Tombstone, tt.a.Value, tt.b.Version, tt.b.Tombstone, tt.b.Value); got != tt.want {
				t.Fatalf("Newer = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestExchangeProtocolViolations feeds an exchange malformed responses.
func TestExchangeProtocolViolations(t *testing.T) {
	local := goldenTree(t, DefaultTreeConfig())
	okSummary := func() *SummaryResponse {
		return &SummaryResponse{TreeID: 1, Fanout: 16, Depth: 3, Count: 1, Root: 1, Level1: make([]uint64, 16)}
	}
	// toEntries answers the summary so that the exchange streams entries.
	toEntries := func(x *Exchange) []Request {
		s := okSummary()
		s.Count = 0
		x.Step(Response{ID: 1, Summary: s})
		return x.Ready()
	}
	tests := []struct {
		name string
		run  func(x *Exchange) error
	}{
		{"unknown id", func(x *Exchange) error { return x.Step(Response{ID: 99}) }},
		{"no summary", func(x *Exchange) error { return x.Step(Response{ID: 1}) }},
		{"bad shape", func(x *Exchange) error {
			s := okSummary()
			s.Fanout = 1
			return x.Step(Response{ID: 1, Summary: s})
		}},
		{"negative count", func(x *Exchange) error {
			s := okSummary()
			s.Count = -1
			return x.Step(Response{ID: 1, Summary: s})
		}},
		{"short level 1", func(x *Exchange) error {
			s := okSummary()
			s.Level1 = s.Level1[:3]
			return x.Step(Response{ID: 1, Summary: s})
		}},
		{"wrong hash count", func(x *Exchange) error {
			x.Step(Response{ID: 1, Summary: okSummary()})
			reqs := x.Ready()
			return x.Step(Response{ID: reqs[0].ID, Nodes: &NodesResponse{Hashes: []uint64{1}}})
		}},
		{"entries out of order", func(x *Exchange) error {
			reqs := toEntries(x)
			return x.Step(Response{ID: reqs[1].ID, Entries: &EntriesResponse{Entries: []Entry{{Key: []byte("b")}, {Key: []byte("a")}}}})
		}},
		{"duplicate entries", func(x *Exchange) error {
			reqs := toEntries(x)
			return x.Step(Response{ID: reqs[1].ID, Entries: &EntriesResponse{Entries: []Entry{{Key: []byte("a")}, {Key: []byte("a")}}}})
		}},
		{"more without entries", func(x *Exchange) error {
			reqs := toEntries(x)
			return x.Step(Response{ID: reqs[1].ID, Entries: &EntriesResponse{More: true}})
		}},
		{"values not asked for", func(x *Exchange) error {
			reqs := toEntries(x)
			return x.Step(Response{ID: reqs[1].ID, Entries: &EntriesResponse{Entries: []Entry{{Key: []byte("a")}}, Values: [][]byte{nil}}})
		}},
		{"missing values", func(x *Exchange) error {
			reqs := toEntries(x)
			return x.Step(Response{ID: reqs[0].ID, Entries: &EntriesResponse{Entries: []Entry{{Key: []byte("a")}}}})
		}},
		{"negative value length", func(x *Exchange) error {
			reqs := toEntries(x)
			return x.Step(Response{ID: reqs[1].ID, Entries: &EntriesResponse{Entries: []Entry{{Key: []byte("a"), ValueLen: -1}}}})
		}},
		{"entry before start", func(x *Exchange) error {
			reqs := toEntries(x)
			x.Step(Response{ID: reqs[0].ID, Entries: &EntriesResponse{}})
			x.Step(Response{ID: reqs[1].ID, Entries: &EntriesResponse{Entries: []Entry{{Key: []byte("m"), ValueLen: 1}}, More: true}})
			// The merge asks the remote side for its next page: read it,
			// then apply, then the page.
			for range 4 {
				reqs = x.Ready()
				if len(reqs) == 1 && reqs[0].Op == OpEntries {
					return x.Step(Response{ID: reqs[0].ID, Entries: &EntriesResponse{Entries: []Entry{{Key: []byte("a")}}}})
				}
				for _, r := range reqs {
					switch r.Op {
					case OpRead:
						x.Step(Response{ID: r.ID, Read: &ReadResponse{Next: len(r.Read.Keys)}})
					default:
						x.Step(Response{ID: r.ID})
					}
				}
			}
			return errors.New("no entries request")
		}},
		{"read of a key not asked for", func(x *Exchange) error {
			reqs := toEntries(x)
			x.Step(Response{ID: reqs[0].ID, Entries: &EntriesResponse{}})
			x.Step(Response{ID: reqs[1].ID, Entries: &EntriesResponse{Entries: []Entry{{Key: []byte("m")}}}})
			reqs = x.Ready()
			return x.Step(Response{ID: reqs[0].ID, Read: &ReadResponse{Records: []Record{{Key: []byte("n")}}, Next: 1}})
		}},
		{"read with no progress", func(x *Exchange) error {
			reqs := toEntries(x)
			x.Step(Response{ID: reqs[0].ID, Entries: &EntriesResponse{}})
			x.Step(Response{ID: reqs[1].ID, Entries: &EntriesResponse{Entries: []Entry{{Key: []byte("m")}}}})
			reqs = x.Ready()
			return x.Step(Response{ID: reqs[0].ID, Read: &ReadResponse{Next: 0}})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x := NewExchange(SyncConfig{}, testPartition, local)
			if r := x.Ready(); len(r) != 1 || r[0].Op != OpSummary || r[0].ID != 1 {
				t.Fatalf("first requests %+v", r)
			}
			err := tt.run(x)
			if !errors.Is(err, ErrProtocol) {
				t.Fatalf("Step = %v, want ErrProtocol", err)
			}
			if !x.Done() || !errors.Is(x.Err(), ErrProtocol) {
				t.Fatalf("exchange not failed: done %v, err %v", x.Done(), x.Err())
			}
			if err := x.Step(Response{ID: 2}); !errors.Is(err, ErrProtocol) {
				t.Fatalf("Step after failure = %v", err)
			}
		})
	}
}
