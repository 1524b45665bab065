package ring

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/buraksezer/consistent"
)

// Defaults and limits of Config.
const (
	DefaultPartitions   = 1024
	DefaultReplicas     = 3
	DefaultVirtualNodes = 64
	DefaultLoad         = 1.25

	// MaxPartitions bounds Config.Partitions: a partition id fits in two
	// bytes.
	MaxPartitions = 1 << 16
	// MaxVirtualNodes bounds Config.VirtualNodes.
	MaxVirtualNodes = 4096
	// MaxMembers bounds the number of ring members. A Table keeps every
	// member's position for every partition (Partitions*members strings),
	// and Build's cost grows with members*VirtualNodes.
	MaxMembers = 256
)

// Errors returned by Config.Validate and Build.
var (
	// ErrInvalidConfig: a Config field is out of range.
	ErrInvalidConfig = errors.New("ring: invalid config")
	// ErrNoMembers: Build was given no members.
	ErrNoMembers = errors.New("ring: no members")
	// ErrInvalidMember: a member name is empty.
	ErrInvalidMember = errors.New("ring: invalid member name")
	// ErrTooManyMembers: more than MaxMembers members, or more than the
	// partitions can be spread over within the load bound.
	ErrTooManyMembers = errors.New("ring: too many members")
	// ErrHashCollision: two virtual nodes hash to the same point. Renaming
	// one member resolves it; with 64-bit hashes it practically never
	// happens.
	ErrHashCollision = errors.New("ring: virtual node hash collision")
)

// Config fixes how partitions are placed. Every node of a cluster must use
// the same Config: placement is a pure function of Config and the member
// set. Partitions never changes during a cluster's life.
type Config struct {
	// Partitions is P, the number of partitions keys hash to
	// (PartitionOf). Fixed for the life of a cluster. Range 1..MaxPartitions;
	// default 1024.
	Partitions int
	// Replicas is N, the number of distinct members each partition is
	// stored on. Clamped to the member count while the ring is smaller
	// (Table.EffectiveReplicas). At least 1; default 3.
	Replicas int
	// VirtualNodes is the number of points each member has on the hash
	// ring (consistent's ReplicationFactor). More points spread partitions
	// more evenly before the load bound applies, at a Build cost linear in
	// members*VirtualNodes. Range 2..MaxVirtualNodes; default 64.
	VirtualNodes int
	// Load is the bounded-load factor: no member is primary for more than
	// ceil(floor(P/M)*Load) partitions, nor holds more than
	// ceil(P*n/M*Load) replicas (M members, n effective replicas).
	// At least 1; default 1.25.
	Load float64
}

// DefaultConfig returns the default Config: 1024 partitions, 3 replicas,
// 64 virtual nodes per member, load factor 1.25.
func DefaultConfig() Config {
	return Config{
		Partitions:   DefaultPartitions,
		Replicas:     DefaultReplicas,
		VirtualNodes: DefaultVirtualNodes,
		Load:         DefaultLoad,
	}
}

// withDefaults returns c with every zero field set to its default.
func (c Config) withDefaults() Config {
	if c.Partitions == 0 {
		c.Partitions = DefaultPartitions
	}
	if c.Replicas == 0 {
		c.Replicas = DefaultReplicas
	}
	if c.VirtualNodes == 0 {
		c.VirtualNodes = DefaultVirtualNodes
	}
	if c.Load == 0 {
		c.Load = DefaultLoad
	}
	return c
}

// Validate reports every out-of-range field, wrapped in ErrInvalidConfig.
// A zero field stands for its default and is valid.
func (c Config) Validate() error {
	c = c.withDefaults()
	var problems []string
	if c.Partitions < 1 || c.Partitions > MaxPartitions {
		problems = append(problems, fmt.Sprintf("Partitions %d not in [1, %d]", c.Partitions, MaxPartitions))
	}
	if c.Replicas < 1 {
		problems = append(problems, fmt.Sprintf("Replicas %d < 1", c.Replicas))
	}
	if c.VirtualNodes < 2 || c.VirtualNodes > MaxVirtualNodes {
		problems = append(problems, fmt.Sprintf("VirtualNodes %d not in [2, %d]", c.VirtualNodes, MaxVirtualNodes))
	}
	if !(c.Load >= 1) || math.IsInf(c.Load, 0) {
		problems = append(problems, fmt.Sprintf("Load %v not a finite number >= 1", c.Load))
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: %s", ErrInvalidConfig, strings.Join(problems, "; "))
	}
	return nil
}

// Table maps every partition to its members in preference order. It is
// computed once per ring-membership change by Build and is immutable
// afterwards: every method is safe for concurrent use without locking, and
// the slices it returns are shared and must not be modified.
type Table struct {
	cfg     Config   // defaults filled in
	members []string // sorted, distinct
	n       int      // effective replicas: min(cfg.Replicas, len(members))
	// order holds every partition's full preference order, len(members)
	// names per partition: partition p at order[p*m : (p+1)*m].
	order []string
	// owned maps a member to the ascending partitions it replicates.
	owned       map[string][]int
	fingerprint uint64
}

// member is how a ring member appears to consistent. key is the member's
// name followed by '#', so that consistent's virtual node keys
// (key + decimal index) of two different names never coincide.
type member struct {
	key string
	idx int // index in the sorted member list
}

func (m member) String() string { return m.key }

var (
	_ consistent.Member = member{}
	_ consistent.Hasher = hasher{}
)

// point is a virtual node on the hash ring.
type point struct {
	hash   uint64
	member int // index in the sorted member list
}

// Build computes the table of a ring whose members are the given node
// names. Order and duplicates in members are irrelevant; the result is a
// pure function of cfg and the set of names, identical on every node,
// process and architecture. Zero cfg fields take their defaults.
//
// Build is meant to run once per membership change, not per request. On a
// 2-core machine, with the default Config, it takes under 1 ms for 3-5
// members, 3 ms for 20, 40 ms for 100 and 0.25 s for MaxMembers, mostly in
// consistent's construction (which re-sorts the ring once per member).
//
// Errors: ErrInvalidConfig, ErrNoMembers, ErrInvalidMember,
// ErrTooManyMembers, ErrHashCollision (all wrapped with details).
func Build(cfg Config, members []string) (*Table, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	names := slices.Clone(members)
	slices.Sort(names)
	names = slices.Compact(names)
	if len(names) == 0 {
		return nil, ErrNoMembers
	}
	if names[0] == "" {
		return nil, fmt.Errorf("%w: empty name", ErrInvalidMember)
	}
	P, M, V := cfg.Partitions, len(names), cfg.VirtualNodes
	if M > MaxMembers {
		return nil, fmt.Errorf("%w: %d members, at most %d", ErrTooManyMembers, M, MaxMembers)
	}
	// consistent's bound on primaries per member; it panics when the
	// members cannot hold every partition within it.
	if primaryCap := math.Ceil(float64(P/M) * cfg.Load); primaryCap*float64(M) < float64(P) {
		return nil, fmt.Errorf("%w: %d members cannot hold %d partitions with load factor %v",
			ErrTooManyMembers, M, P, cfg.Load)
	}
	n := min(cfg.Replicas, M)

	// The virtual nodes, sorted clockwise: the same points consistent
	// computes internally.
	pts := make([]point, 0, M*V)
	var buf []byte
	for mi, name := range names {
		for i := range V {
			buf = append(buf[:0], name...)
			buf = append(buf, '#')
			buf = strconv.AppendInt(buf, int64(i), 10)
			pts = append(pts, point{hash: Hash64(buf), member: mi})
		}
	}
	slices.SortFunc(pts, func(a, b point) int { return cmp.Compare(a.hash, b.hash) })
	for i := 1; i < len(pts); i++ {
		if pts[i].hash == pts[i-1].hash {
			return nil, fmt.Errorf("%w: members %q and %q", ErrHashCollision,
				names[pts[i-1].member], names[pts[i].member])
		}
	}

	primaries, err := assignPrimaries(cfg, names)
	if err != nil {
		return nil, err
	}

	t := &Table{
		cfg:     cfg,
		members: names,
		n:       n,
		order:   make([]string, P*M),
		owned:   make(map[string][]int, M),
	}
	replicaCap := int(math.Ceil(float64(P*n) / float64(M) * cfg.Load))
	// loads counts, per member, every partition it is primary for plus the
	// partitions so far it is a further replica of.
	loads := make([]int, M)
	for _, m := range primaries {
		loads[m]++
	}
	seen := make([]int, M)   // seen[m] == p+1: m already in partition p's order
	row := make([]int, 0, M) // partition p's order, as member indexes
	L := len(pts)
	var pbuf [8]byte
	for p := range P {
		binary.LittleEndian.PutUint64(pbuf[:], uint64(p))
		h := Hash64(pbuf[:])
		start := sort.Search(L, func(i int) bool { return pts[i].hash >= h })
		if start == L {
			start = 0
		}
		stamp := p + 1
		take := func(m int) {
			seen[m] = stamp
			row = append(row, m)
		}
		row = row[:0]
		take(primaries[p])
		// Replicas 2..n: walk clockwise from the partition's point, taking
		// members not yet in the list that are below the replica bound.
		for j := 0; j < L && len(row) < n; j++ {
			if m := pts[(start+j)%L].member; seen[m] != stamp && loads[m] < replicaCap {
				take(m)
				loads[m]++
			}
		}
		// With Load near 1 the bound can leave too few candidates for the
		// last partitions; then each missing replica is the least loaded
		// member not yet in the list (the first the walk meets among equals).
		for len(row) < n {
			best := -1
			for j := range L {
				m := pts[(start+j)%L].member
				if seen[m] != stamp && (best < 0 || loads[m] < loads[best]) {
					best = m
				}
			}
			take(best)
			loads[best]++
		}
		// The rest of the members, in the order the walk meets them, form
		// the fallback order.
		for j := 0; len(row) < M; j++ {
			if m := pts[(start+j)%L].member; seen[m] != stamp {
				take(m)
			}
		}
		dst := t.order[p*M : (p+1)*M]
		for i, m := range row {
			dst[i] = names[m]
		}
		for _, m := range row[:n] {
			t.owned[names[m]] = append(t.owned[names[m]], p)
		}
	}
	t.fingerprint = t.computeFingerprint()
	return t, nil
}

// assignPrimaries returns the primary member (an index into names) of every
// partition, as consistent's bounded-load assignment places them.
func assignPrimaries(cfg Config, names []string) (out []int, err error) {
	cms := make([]consistent.Member, len(names))
	for i, name := range names {
		cms[i] = member{key: name + "#", idx: i}
	}
	defer func() {
		// consistent panics when the partitions do not fit; Build checks
		// the capacity first, so this is a safety net only.
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("%w: %v", ErrTooManyMembers, r)
		}
	}()
	c := consistent.New(cms, consistent.Config{
		Hasher:            hasher{},
		PartitionCount:    cfg.Partitions,
		ReplicationFactor: cfg.VirtualNodes,
		Load:              cfg.Load,
	})
	out = make([]int, cfg.Partitions)
	for p := range out {
		m, ok := c.GetPartitionOwner(p).(member)
		if !ok {
			return nil, fmt.Errorf("ring: partition %d has no owner", p)
		}
		out[p] = m.idx
	}
	return out, nil
}

// computeFingerprint hashes the configuration and every partition's order.
func (t *Table) computeFingerprint() uint64 {
	h := uint64(fnvOffset64)
	mix := func(b []byte) {
		for _, c := range b {
			h ^= uint64(c)
			h *= fnvPrime64
		}
	}
	var b [binary.MaxVarintLen64]byte
	for _, v := range []int{t.cfg.Partitions, t.cfg.Replicas, len(t.members)} {
		mix(binary.AppendUvarint(b[:0], uint64(v)))
	}
	for _, name := range t.order {
		mix(binary.AppendUvarint(b[:0], uint64(len(name))))
		mix([]byte(name))
	}
	return fmix64(h)
}

// Config returns the table's configuration, defaults filled in.
func (t *Table) Config() Config { return t.cfg }

// Members returns the ring members, sorted. The slice is shared.
func (t *Table) Members() []string { return t.members }

// Has reports whether node is a ring member.
func (t *Table) Has(node string) bool {
	_, ok := slices.BinarySearch(t.members, node)
	return ok
}

// EffectiveReplicas returns min(N, members): the length of every
// preference list. It is smaller than Config().Replicas while the ring has
// fewer members than N.
func (t *Table) EffectiveReplicas() int { return t.n }

// Fingerprint returns a hash of the configuration and the placement of
// every partition. Two tables with the same fingerprint place every
// partition identically (up to a 64-bit collision); nodes compare
// fingerprints to check they agree on placement.
func (t *Table) Fingerprint() uint64 { return t.fingerprint }

// Partition returns key's partition: PartitionOf(key, Config().Partitions).
func (t *Table) Partition(key []byte) int { return PartitionOf(key, t.cfg.Partitions) }

// Replicas returns partition's preference list: EffectiveReplicas()
// distinct members, primary first. The slice is shared and must not be
// modified (its capacity equals its length, so appending copies). It is
// nil when partition is out of range. Replicas does not allocate.
func (t *Table) Replicas(partition int) []string {
	if uint(partition) >= uint(t.cfg.Partitions) {
		return nil
	}
	i := partition * len(t.members)
	return t.order[i : i+t.n : i+t.n]
}

// Order returns every member in preference order for partition:
// Replicas(partition) followed by the other members, the nearest fallback
// first (the next node to try when a replica is down, e.g. for hinted
// handoff). The slice is shared and must not be modified. It is nil when
// partition is out of range.
func (t *Table) Order(partition int) []string {
	if uint(partition) >= uint(t.cfg.Partitions) {
		return nil
	}
	m := len(t.members)
	i := partition * m
	return t.order[i : i+m : i+m]
}

// Owns reports whether node is among Replicas(partition).
func (t *Table) Owns(node string, partition int) bool {
	return slices.Contains(t.Replicas(partition), node)
}

// PartitionsOf returns, ascending, the partitions whose Replicas include
// node; nil if node is not a member. The caller owns the returned slice.
func (t *Table) PartitionsOf(node string) []int {
	return slices.Clone(t.owned[node])
}

// Move describes how one partition's replica set changes between two
// tables. Old and New are the preference lists in the old and new table
// (shared with them; do not modify). Added lists, in New's order, the
// members of New not in Old (they must receive the partition's data);
// Removed lists, in Old's order, the members of Old not in New (they may
// drop it once the added members have it).
type Move struct {
	Partition      int
	Old, New       []string
	Added, Removed []string
}

// Moves returns, by ascending partition, every partition whose replica set
// differs between t and next. A change of order alone (e.g. a new primary
// among the same members) is not a move. Both tables must have the same
// number of partitions, which is fixed for a cluster's life; Moves panics
// otherwise.
func (t *Table) Moves(next *Table) []Move {
	if t.cfg.Partitions != next.cfg.Partitions {
		panic(fmt.Sprintf("ring: Moves between tables of %d and %d partitions",
			t.cfg.Partitions, next.cfg.Partitions))
	}
	var moves []Move
	for p := range t.cfg.Partitions {
		oldR, newR := t.Replicas(p), next.Replicas(p)
		added := missing(newR, oldR)
		removed := missing(oldR, newR)
		if len(added) == 0 && len(removed) == 0 {
			continue
		}
		moves = append(moves, Move{Partition: p, Old: oldR, New: newR, Added: added, Removed: removed})
	}
	return moves
}

// missing returns, in a's order, the elements of a not in b.
func missing(a, b []string) []string {
	var out []string
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}
