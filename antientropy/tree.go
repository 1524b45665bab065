package antientropy

import (
	"errors"
	"fmt"
	"slices"

	"kvstore/storage"
)

// Tree shape limits. A tree has Fanout^Depth leaves; the limits bound the
// memory of a tree (8 bytes a node) and the size of the messages that carry
// its levels.
const (
	MinFanout = 2
	MaxFanout = 256
	MaxDepth  = 8
	MaxLeaves = 1 << 20
)

// TreeConfig is the shape of a Merkle tree. Both replicas of an exchange
// must use the same shape to compare trees level by level; when they differ
// the exchange falls back to comparing all entries (see Exchange).
type TreeConfig struct {
	// Fanout is the number of children of an inner node, in
	// [MinFanout, MaxFanout]. Default 16.
	Fanout int
	// Depth is the number of levels below the root, in [1, MaxDepth]; the
	// tree has Fanout^Depth leaves (at most MaxLeaves). Default 3 (4096
	// leaves with the default fan-out).
	Depth int
}

// Defaults of TreeConfig.
const (
	DefaultFanout = 16
	DefaultDepth  = 3
)

// DefaultTreeConfig returns the default shape: fan-out 16, depth 3.
func DefaultTreeConfig() TreeConfig { return TreeConfig{Fanout: DefaultFanout, Depth: DefaultDepth} }

// withDefaults fills zero fields with their defaults.
func (c TreeConfig) withDefaults() TreeConfig {
	if c.Fanout == 0 {
		c.Fanout = DefaultFanout
	}
	if c.Depth == 0 {
		c.Depth = DefaultDepth
	}
	return c
}

// Validate reports every problem of c (zero fields count as their
// defaults). The error wraps ErrInvalidConfig.
func (c TreeConfig) Validate() error {
	c = c.withDefaults()
	var errs []error
	if c.Fanout < MinFanout || c.Fanout > MaxFanout {
		errs = append(errs, fmt.Errorf("fan-out %d not in [%d, %d]", c.Fanout, MinFanout, MaxFanout))
	}
	if c.Depth < 1 || c.Depth > MaxDepth {
		errs = append(errs, fmt.Errorf("depth %d not in [1, %d]", c.Depth, MaxDepth))
	}
	if len(errs) == 0 && c.Leaves() < 0 {
		errs = append(errs, fmt.Errorf("%d^%d leaves exceed %d", c.Fanout, c.Depth, MaxLeaves))
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: tree: %w", ErrInvalidConfig, errors.Join(errs...))
	}
	return nil
}

// Leaves returns Fanout^Depth, or -1 when it exceeds MaxLeaves.
func (c TreeConfig) Leaves() int {
	c = c.withDefaults()
	n := 1
	for range c.Depth {
		n *= c.Fanout
		if n > MaxLeaves || n <= 0 {
			return -1
		}
	}
	return n
}

// RecordIterator yields the records of one partition, tombstones included,
// in any order, each key at most once (its newest record). It mirrors the
// storage engine's iterator; StorageIter adapts one.
type RecordIterator interface {
	// Next moves to the next record (the first on the first call) and
	// reports whether there is one. It returns false at the end and on
	// error.
	Next() bool
	// Key returns the current key, valid until the next call to Next.
	Key() []byte
	// Value returns the current value (ignored for a tombstone), valid
	// until the next call to Next.
	Value() []byte
	// Version returns the current record's version.
	Version() storage.Version
	// Tombstone reports whether the current record is a tombstone.
	Tombstone() bool
	// Err returns the error that ended the iteration, if any.
	Err() error
}

// Tree is a Merkle tree over the records of one partition.
//
// Leaf i holds the wrapping 64-bit sum of the record hashes (EntryHash) of
// every record whose key falls in bucket i (KeyHash(key) mod Leaves), so a
// tree can be built in one pass in any order and updated record by record;
// an empty leaf is 0. An inner node is Hash64 of the 8-byte little-endian
// hashes of its Fanout children, in order, with seed 0. Level 0 is the root;
// level Depth holds the leaves; node j of level l has children
// j*Fanout .. j*Fanout+Fanout-1 of level l+1.
//
// A Tree is not safe for concurrent use; concurrent reads without a writer
// are safe. A tree handed to an Exchange must not be modified until the
// exchange is done.
type Tree struct {
	cfg    TreeConfig
	levels [][]uint64 // levels[0] is the root, levels[Depth] the leaves
	count  int64
}

// NewTree returns an empty tree of shape cfg (zero fields take their
// defaults). It returns an error wrapping ErrInvalidConfig for a bad shape.
func NewTree(cfg TreeConfig) (*Tree, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	t := newTree(cfg)
	t.rehash()
	return t, nil
}

// newTree returns a tree of the valid shape cfg (defaults applied) whose
// nodes are all zero: the leaves of an empty tree, and inner nodes that the
// caller must rehash. The inner levels share one allocation; the leaves,
// a power-of-two size in the default shapes, have their own.
func newTree(cfg TreeConfig) *Tree {
	inner, n := 0, 1
	for range cfg.Depth {
		inner += n
		n *= cfg.Fanout
	}
	nodes := make([]uint64, inner)
	t := &Tree{cfg: cfg, levels: make([][]uint64, cfg.Depth+1)}
	n = 1
	for l := range cfg.Depth {
		t.levels[l], nodes = nodes[:n:n], nodes[n:]
		n *= cfg.Fanout
	}
	t.levels[cfg.Depth] = make([]uint64, n)
	return t
}

// BuildTree builds the tree of shape cfg over every record it yields. The
// order of the records does not matter. It returns it.Err() if the
// iteration failed.
func BuildTree(cfg TreeConfig, it RecordIterator) (*Tree, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	t := newTree(cfg) // hashed once, when the leaves are filled
	leaves := t.levels[cfg.Depth]
	n := uint64(len(leaves))
	var count int64
	for it.Next() {
		key := it.Key()
		kh := KeyHash(key)
		var vh uint64
		tomb := it.Tombstone()
		if !tomb {
			vh = ValueHash(it.Value())
		}
		leaves[kh%n] += recordHash(kh, uint64(it.Version()), tomb, vh)
		count++
	}
	if err := it.Err(); err != nil {
		return nil, err
	}
	t.count = count
	t.rehash()
	return t, nil
}

// rehash recomputes every inner node from the leaves up.
func (t *Tree) rehash() {
	f := t.cfg.Fanout
	for l := len(t.levels) - 2; l >= 0; l-- {
		children := t.levels[l+1]
		for j := range t.levels[l] {
			t.levels[l][j] = hashWords(children[j*f:(j+1)*f], 0)
		}
	}
}

// Add adds the record e summarises. The tree must not already hold a record
// of e.Key: to replace a record, Remove the old one first.
func (t *Tree) Add(e Entry) { t.update(e, false) }

// Remove removes the record e summarises, which must have been added (or
// built in) before with exactly these fields.
func (t *Tree) Remove(e Entry) { t.update(e, true) }

func (t *Tree) update(e Entry, remove bool) {
	kh := KeyHash(e.Key)
	h := recordHash(kh, uint64(e.Version), e.Tombstone, e.ValueHash)
	leaves := t.levels[t.cfg.Depth]
	j := int(kh % uint64(len(leaves)))
	if remove {
		leaves[j] -= h
		t.count--
	} else {
		leaves[j] += h
		t.count++
	}
	f := t.cfg.Fanout
	for l := t.cfg.Depth - 1; l >= 0; l-- {
		j /= f
		t.levels[l][j] = hashWords(t.levels[l+1][j*f:(j+1)*f], 0)
	}
}

// Config returns the tree's shape, defaults filled in.
func (t *Tree) Config() TreeConfig { return t.cfg }

// Root returns the root hash.
func (t *Tree) Root() uint64 { return t.levels[0][0] }

// Count returns the number of records in the tree.
func (t *Tree) Count() int64 { return t.count }

// Leaves returns the number of leaves, Fanout^Depth.
func (t *Tree) Leaves() int { return len(t.levels[t.cfg.Depth]) }

// LeafOf returns the leaf bucket of key: KeyHash(key) mod Leaves.
func (t *Tree) LeafOf(key []byte) int { return bucketOf(KeyHash(key), t.Leaves()) }

func bucketOf(keyHash uint64, leaves int) int { return int(keyHash % uint64(leaves)) }

// Level returns the hashes of level l (0 is the root, Depth the leaves),
// Fanout^l of them. The slice is the tree's own: callers must not modify it,
// and it changes with Add and Remove. l must be in [0, Depth].
func (t *Tree) Level(l int) []uint64 { return t.levels[l] }

// Nodes returns the hashes of the nodes of level whose indexes are given, in
// order, in a new slice. It returns an error wrapping ErrBadRequest when the
// level or an index is out of range.
func (t *Tree) Nodes(level int, indexes []uint32) ([]uint64, error) {
	if level < 0 || level > t.cfg.Depth {
		return nil, fmt.Errorf("%w: level %d not in [0, %d]", ErrBadRequest, level, t.cfg.Depth)
	}
	nodes := t.levels[level]
	out := make([]uint64, len(indexes))
	for i, j := range indexes {
		if int64(j) >= int64(len(nodes)) {
			return nil, fmt.Errorf("%w: node %d of level %d out of range (%d nodes)", ErrBadRequest, j, level, len(nodes))
		}
		out[i] = nodes[j]
	}
	return out, nil
}

// Clone returns a deep copy of t.
func (t *Tree) Clone() *Tree {
	c := &Tree{cfg: t.cfg, count: t.count, levels: make([][]uint64, len(t.levels))}
	for l, nodes := range t.levels {
		c.levels[l] = slices.Clone(nodes)
	}
	return c
}

// Equal reports whether t and o have the same shape and the same hash at
// every node.
func (t *Tree) Equal(o *Tree) bool {
	if t.cfg != o.cfg || t.count != o.count {
		return false
	}
	for l := range t.levels {
		if !slices.Equal(t.levels[l], o.levels[l]) {
			return false
		}
	}
	return true
}

// DiffLeaves returns, in ascending order, the leaves where t and o differ.
// Both trees must have the same shape.
func (t *Tree) DiffLeaves(o *Tree) []int {
	if t.cfg != o.cfg {
		panic("antientropy: DiffLeaves of trees of different shapes")
	}
	var out []int
	a, b := t.levels[t.cfg.Depth], o.levels[o.cfg.Depth]
	for i := range a {
		if a[i] != b[i] {
			out = append(out, i)
		}
	}
	return out
}
