package ring

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"sync"
	"testing"
)

func nodes(n int) []string { return benchMembers(n) }

func mustBuild(t testing.TB, cfg Config, members []string) *Table {
	t.Helper()
	tab, err := Build(cfg, members)
	if err != nil {
		t.Fatalf("Build(%+v, %d members): %v", cfg, len(members), err)
	}
	return tab
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"default", DefaultConfig(), true},
		{"zero means defaults", Config{}, true},
		{"one partition", Config{Partitions: 1}, true},
		{"max partitions", Config{Partitions: MaxPartitions}, true},
		{"too many partitions", Config{Partitions: MaxPartitions + 1}, false},
		{"negative partitions", Config{Partitions: -1}, false},
		{"negative replicas", Config{Replicas: -3}, false},
		{"one virtual node", Config{VirtualNodes: 1}, false},
		{"too many virtual nodes", Config{VirtualNodes: MaxVirtualNodes + 1}, false},
		{"load below 1", Config{Load: 0.9}, false},
		{"load NaN", Config{Load: math.NaN()}, false},
		{"load Inf", Config{Load: math.Inf(1)}, false},
		{"load exactly 1", Config{Load: 1}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if (err == nil) != tt.ok {
				t.Fatalf("Validate() = %v, want ok=%v", err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("Validate() = %v, want ErrInvalidConfig", err)
			}
		})
	}
	// Every problem is listed.
	err := Config{Partitions: -1, Replicas: -1, VirtualNodes: -1, Load: -1}.Validate()
	if got := len(fmt.Sprint(err)); err == nil || got < 100 {
		t.Errorf("Validate() = %v, want all four problems", err)
	}
}

func TestBuildErrors(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		members []string
		want    error
	}{
		{"nil members", DefaultConfig(), nil, ErrNoMembers},
		{"empty name", DefaultConfig(), []string{"a", ""}, ErrInvalidMember},
		{"bad config", Config{Partitions: -5}, []string{"a"}, ErrInvalidConfig},
		{"more members than partitions", Config{Partitions: 4}, nodes(5), ErrTooManyMembers},
		{"load 1 not divisible", Config{Partitions: 10, Load: 1}, nodes(3), ErrTooManyMembers},
		{"above MaxMembers", Config{Partitions: MaxPartitions}, nodes(MaxMembers + 1), ErrTooManyMembers},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tab, err := Build(tt.cfg, tt.members)
			if !errors.Is(err, tt.want) || tab != nil {
				t.Fatalf("Build = %v, %v; want nil, %v", tab, err, tt.want)
			}
		})
	}
}

func TestBuildSmallRings(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		m    int
	}{
		{"one member", DefaultConfig(), 1},
		{"one partition", Config{Partitions: 1}, 1},
		{"as many members as partitions", Config{Partitions: 8, Load: 1}, 8},
		{"load 1 divisible", Config{Partitions: 12, Load: 1}, 3},
		{"two virtual nodes", Config{VirtualNodes: 2}, 7},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkTable(t, mustBuild(t, tt.cfg, nodes(tt.m)))
		})
	}
}

// checkTable checks every structural invariant of a table.
func checkTable(t *testing.T, tab *Table) {
	t.Helper()
	cfg, members := tab.Config(), tab.Members()
	if !slices.IsSorted(members) {
		t.Fatalf("Members() not sorted: %q", members)
	}
	n := min(cfg.Replicas, len(members))
	if got := tab.EffectiveReplicas(); got != n {
		t.Fatalf("EffectiveReplicas() = %d, want %d", got, n)
	}
	owned := make(map[string][]int)
	for p := range cfg.Partitions {
		reps, order := tab.Replicas(p), tab.Order(p)
		if len(reps) != n || cap(reps) != n {
			t.Fatalf("partition %d: Replicas len %d cap %d, want %d", p, len(reps), cap(reps), n)
		}
		if !slices.Equal(order[:n], reps) {
			t.Fatalf("partition %d: Replicas %q not a prefix of Order %q", p, reps, order)
		}
		sorted := slices.Sorted(slices.Values(order))
		if !slices.Equal(sorted, members) {
			t.Fatalf("partition %d: Order %q is not a permutation of the members", p, order)
		}
		for _, m := range members {
			if got, want := tab.Owns(m, p), slices.Contains(reps, m); got != want {
				t.Fatalf("Owns(%q, %d) = %v, want %v", m, p, got, want)
			}
		}
		for _, m := range reps {
			owned[m] = append(owned[m], p)
		}
		if want := PartitionOf([]byte(fmt.Sprint("k", p)), cfg.Partitions); tab.Partition([]byte(fmt.Sprint("k", p))) != want {
			t.Fatalf("Partition differs from PartitionOf")
		}
	}
	for _, m := range members {
		if !tab.Has(m) {
			t.Fatalf("Has(%q) = false", m)
		}
		if got := tab.PartitionsOf(m); !slices.Equal(got, owned[m]) {
			t.Fatalf("PartitionsOf(%q) = %v, want %v", m, got, owned[m])
		}
	}
	for _, p := range []int{-1, cfg.Partitions, math.MaxInt} {
		if tab.Replicas(p) != nil || tab.Order(p) != nil || tab.Owns(members[0], p) {
			t.Fatalf("partition %d out of range: want nil lists", p)
		}
	}
	if tab.Has("no-such-node") || tab.PartitionsOf("no-such-node") != nil {
		t.Fatalf("unknown member reported as member")
	}
}

func TestPreferenceLists(t *testing.T) {
	for m := 1; m <= 12; m++ {
		for _, n := range []int{1, 2, 3, 5} {
			t.Run(fmt.Sprintf("members=%d/N=%d", m, n), func(t *testing.T) {
				cfg := DefaultConfig()
				cfg.Replicas = n
				checkTable(t, mustBuild(t, cfg, nodes(m)))
			})
		}
	}
}

func TestDeterministic(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	for _, m := range []int{1, 3, 5, 20} {
		members := nodes(m)
		want := mustBuild(t, DefaultConfig(), members)
		for range 5 {
			shuffled := slices.Clone(members)
			rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
			// Duplicates are irrelevant too.
			shuffled = append(shuffled, shuffled[:rng.IntN(len(shuffled)+1)]...)
			got := mustBuild(t, Config{}, shuffled)
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("%d members: table differs for member order %q", m, shuffled)
			}
		}
	}
}

// Placement is a cluster-wide protocol: every node, process and version
// must compute the same table, so these values must never change. A change
// here (e.g. from a dependency upgrade) breaks mixed-version clusters.
func TestPlacementGolden(t *testing.T) {
	tests := []struct {
		members     int
		fingerprint uint64
		order       map[int][]string // partition -> first members of Order
	}{
		{5, 0xb7ea1632da05b423, map[int][]string{
			0:    {"node-4", "node-1", "node-3", "node-5", "node-2"},
			1:    {"node-4", "node-5", "node-3", "node-2", "node-1"},
			2:    {"node-5", "node-3", "node-2", "node-1", "node-4"},
			511:  {"node-4", "node-2", "node-1", "node-5", "node-3"},
			1023: {"node-2", "node-4", "node-5", "node-3", "node-1"},
		}},
		{20, 0x8d29411baab3d087, map[int][]string{
			0:    {"node-7", "node-4", "node-14", "node-19", "node-6", "node-1"},
			1:    {"node-12", "node-8", "node-4", "node-10", "node-18", "node-5"},
			2:    {"node-18", "node-15", "node-7", "node-19", "node-9", "node-5"},
			511:  {"node-12", "node-4", "node-2", "node-17", "node-16", "node-19"},
			1023: {"node-6", "node-14", "node-20", "node-17", "node-13", "node-2"},
		}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("members=%d", tt.members), func(t *testing.T) {
			tab := mustBuild(t, DefaultConfig(), nodes(tt.members))
			if got := tab.Fingerprint(); got != tt.fingerprint {
				t.Errorf("Fingerprint() = %#x, want %#x", got, tt.fingerprint)
			}
			for p, want := range tt.order {
				if got := tab.Order(p)[:len(want)]; !slices.Equal(got, want) {
					t.Errorf("Order(%d) = %q..., want %q...", p, got, want)
				}
			}
		})
	}
}

// Names that are prefixes of each other plus digits would share virtual
// node keys without the '#' separator ("node-1"+"20" == "node-12"+"0").
func TestPrefixNames(t *testing.T) {
	members := []string{"node-1", "node-12", "node-120", "n", "n1", "n10"}
	tab := mustBuild(t, DefaultConfig(), members)
	checkTable(t, tab)
	checkBalance(t, tab)
}

// checkBalance checks the load bounds and returns the largest primary and
// replica counts relative to their means.
func checkBalance(t *testing.T, tab *Table) (primary, replica float64) {
	t.Helper()
	cfg, members := tab.Config(), tab.Members()
	P, M, n := cfg.Partitions, len(members), tab.EffectiveReplicas()
	prim := make(map[string]int)
	for p := range P {
		prim[tab.Replicas(p)[0]]++
	}
	primCap := int(math.Ceil(float64(P/M) * cfg.Load))
	repCap := int(math.Ceil(float64(P*n) / float64(M) * cfg.Load))
	for _, m := range members {
		if prim[m] > primCap {
			t.Errorf("%s is primary for %d partitions, bound %d", m, prim[m], primCap)
		}
		reps := len(tab.PartitionsOf(m))
		if reps > repCap {
			t.Errorf("%s replicates %d partitions, bound %d", m, reps, repCap)
		}
		primary = max(primary, float64(prim[m])/(float64(P)/float64(M)))
		replica = max(replica, float64(reps)/(float64(P*n)/float64(M)))
	}
	return primary, replica
}

func TestBalance(t *testing.T) {
	for m := 3; m <= 10; m++ {
		tab := mustBuild(t, DefaultConfig(), nodes(m))
		prim, rep := checkBalance(t, tab)
		t.Logf("members=%2d: max/mean partitions as primary %.3f, as replica %.3f", m, prim, rep)
	}
}

// TestBalanceByVirtualNodes records the measurements behind
// DefaultVirtualNodes: the worst member's load relative to the mean over
// rings of 3..12 members, for several VirtualNodes values.
func TestBalanceByVirtualNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("measurement")
	}
	for _, v := range []int{16, 32, 64, 128, 256} {
		var prim, rep float64
		for m := 3; m <= 12; m++ {
			cfg := DefaultConfig()
			cfg.VirtualNodes = v
			tab := mustBuild(t, cfg, nodes(m))
			p, r := checkBalance(t, tab)
			prim, rep = max(prim, p), max(rep, r)
		}
		t.Logf("VirtualNodes=%3d: worst max/mean primary %.3f, replica %.3f", v, prim, rep)
	}
}

// replicaSetChanged reports whether partition p's replica set differs.
func replicaSetChanged(a, b *Table, p int) bool {
	x, y := a.Replicas(p), b.Replicas(p)
	if len(x) != len(y) {
		return true
	}
	for _, m := range x {
		if !slices.Contains(y, m) {
			return true
		}
	}
	return false
}

// TestMinimalMovement adds or removes one member and compares the fraction
// of partitions whose replica set changes with the ideal N/(M+1): the
// share of replicas the joining (or leaving) member of an (M+1)-member ring
// holds. Moves that do not involve that member are collateral.
func TestMinimalMovement(t *testing.T) {
	const N = 3
	var worst float64
	for m := 3; m <= 12; m++ {
		small := nodes(m)
		big := append(slices.Clone(small), "joiner")
		tSmall := mustBuild(t, DefaultConfig(), small)
		tBig := mustBuild(t, DefaultConfig(), big)
		P := tSmall.Config().Partitions
		ideal := float64(N) / float64(m+1)
		for _, dir := range []struct {
			name     string
			from, to *Table
		}{{"join", tSmall, tBig}, {"leave", tBig, tSmall}} {
			moves := dir.from.Moves(dir.to)
			collateral := 0
			for _, mv := range moves {
				if !slices.Contains(mv.Added, "joiner") && !slices.Contains(mv.Removed, "joiner") {
					collateral++
				}
			}
			frac := float64(len(moves)) / float64(P)
			worst = max(worst, frac/ideal)
			t.Logf("%2d<->%2d members %-5s: %.3f of partitions changed replica set (ideal %.3f, ratio %.2f), collateral %.3f",
				m, m+1, dir.name, frac, ideal, frac/ideal, float64(collateral)/float64(P))
			if frac > 1.3*ideal {
				t.Errorf("%s: %.3f of partitions moved, ideal %.3f", dir.name, frac, ideal)
			}
		}
	}
	t.Logf("worst ratio to ideal: %.2f", worst)
}

// bruteMoves recomputes Moves from scratch with maps.
func bruteMoves(a, b *Table) []Move {
	var out []Move
	for p := range a.Config().Partitions {
		oldSet, newSet := map[string]bool{}, map[string]bool{}
		for _, m := range a.Replicas(p) {
			oldSet[m] = true
		}
		for _, m := range b.Replicas(p) {
			newSet[m] = true
		}
		mv := Move{Partition: p, Old: a.Replicas(p), New: b.Replicas(p)}
		for _, m := range b.Replicas(p) {
			if !oldSet[m] {
				mv.Added = append(mv.Added, m)
			}
		}
		for _, m := range a.Replicas(p) {
			if !newSet[m] {
				mv.Removed = append(mv.Removed, m)
			}
		}
		if mv.Added != nil || mv.Removed != nil {
			out = append(out, mv)
		}
	}
	return out
}

func TestMovesBruteForce(t *testing.T) {
	seed := uint64(20240601)
	rng := rand.New(rand.NewPCG(seed, seed))
	pool := nodes(16)
	pick := func() []string {
		var s []string
		for _, m := range pool {
			if rng.IntN(2) == 0 {
				s = append(s, m)
			}
		}
		if len(s) == 0 {
			s = pool[:1]
		}
		return s
	}
	cfg := Config{Partitions: 256, Replicas: 3}
	for i := range 30 {
		a, b := mustBuild(t, cfg, pick()), mustBuild(t, cfg, pick())
		got, want := a.Moves(b), bruteMoves(a, b)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("seed %d case %d: Moves(%q -> %q) differs from brute force", seed, i, a.Members(), b.Members())
		}
		for _, mv := range got {
			if !replicaSetChanged(a, b, mv.Partition) {
				t.Fatalf("move of unchanged partition %d", mv.Partition)
			}
		}
	}
	a := mustBuild(t, cfg, pool)
	if mv := a.Moves(a); len(mv) != 0 {
		t.Fatalf("Moves to itself = %d moves", len(mv))
	}
}

func TestMovesPanicsOnPartitionMismatch(t *testing.T) {
	a := mustBuild(t, Config{Partitions: 64}, nodes(3))
	b := mustBuild(t, Config{Partitions: 128}, nodes(3))
	defer func() {
		if recover() == nil {
			t.Fatal("Moves across partition counts did not panic")
		}
	}()
	a.Moves(b)
}

// TestFallbackSpread: when one member is down, the first fallback (the
// member after the replicas in Order) of the partitions it replicates
// should be spread over the ring, not concentrated on its neighbours.
func TestFallbackSpread(t *testing.T) {
	const M = 12
	tab := mustBuild(t, DefaultConfig(), nodes(M))
	down := "node-1"
	n := tab.EffectiveReplicas()
	fallback := make(map[string]int)
	for _, p := range tab.PartitionsOf(down) {
		fallback[tab.Order(p)[n]]++
	}
	t.Logf("fallbacks for %s: %d distinct members: %v", down, len(fallback), fallback)
	if len(fallback) < M/2 {
		t.Errorf("fallbacks for %s concentrated on %d members", down, len(fallback))
	}
}

func TestConcurrentReaders(t *testing.T) {
	tab := mustBuild(t, DefaultConfig(), nodes(5))
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			key := []byte{byte(g)}
			for i := range 2000 {
				key[0] = byte(i)
				p := tab.Partition(key)
				if len(tab.Replicas(p)) != 3 || !tab.Owns(tab.Order(p)[0], p) {
					t.Error("inconsistent read")
					return
				}
			}
		})
	}
	wg.Wait()
}

// TestRandomConfigs checks the invariants over random configurations. The
// replica bound is asserted for Load >= 1.1; closer to 1 the last
// partitions may exceed it by a few (see the package documentation).
func TestRandomConfigs(t *testing.T) {
	seed := uint64(42)
	rng := rand.New(rand.NewPCG(seed, seed))
	built := 0
	for i := range 100 {
		cfg := Config{
			Partitions:   1 + rng.IntN(1024),
			Replicas:     1 + rng.IntN(5),
			VirtualNodes: 2 + rng.IntN(100),
			Load:         1 + rng.Float64(),
		}
		members := nodes(1 + rng.IntN(30))
		tab, err := Build(cfg, members)
		if err != nil {
			if !errors.Is(err, ErrTooManyMembers) {
				t.Fatalf("seed %d case %d: Build(%+v, %d members): %v", seed, i, cfg, len(members), err)
			}
			continue
		}
		built++
		t.Run(fmt.Sprintf("case%d", i), func(t *testing.T) {
			checkTable(t, tab)
			if cfg.Load >= 1.1 {
				checkBalance(t, tab)
			}
		})
	}
	if built < 75 {
		t.Fatalf("only %d of 100 random configs built", built)
	}
}
