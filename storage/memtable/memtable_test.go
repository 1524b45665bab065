package memtable

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"kvstore/storage/internal/base"
)

type rec struct {
	version uint64
	kind    base.Kind
	value   string
}

func (r rec) String() string { return fmt.Sprintf("(%d %v %q)", r.version, r.kind, r.value) }

func getRec(t *testing.T, m *Memtable, key string) (rec, bool) {
	t.Helper()
	v, ver, k, ok := m.Get([]byte(key))
	if !ok {
		if v != nil || ver != 0 || k != 0 {
			t.Fatalf("Get(%q) missing but returned %q %d %v", key, v, ver, k)
		}
		return rec{}, false
	}
	return rec{ver, k, string(v)}, true
}

func TestSetGet(t *testing.T) {
	type op struct {
		key     string
		r       rec
		applied bool
	}
	tests := []struct {
		name string
		ops  []op
		want map[string]rec // keys absent from want must be missing
		max  uint64
	}{
		{
			name: "empty",
			want: map[string]rec{},
		},
		{
			name: "insert",
			ops:  []op{{"a", rec{5, base.KindValue, "x"}, true}},
			want: map[string]rec{"a": {5, base.KindValue, "x"}},
			max:  5,
		},
		{
			name: "newer version replaces",
			ops: []op{
				{"a", rec{5, base.KindValue, "x"}, true},
				{"a", rec{6, base.KindValue, "y"}, true},
			},
			want: map[string]rec{"a": {6, base.KindValue, "y"}},
			max:  6,
		},
		{
			name: "older version ignored",
			ops: []op{
				{"a", rec{5, base.KindValue, "x"}, true},
				{"a", rec{4, base.KindValue, "zzz"}, false},
			},
			want: map[string]rec{"a": {5, base.KindValue, "x"}},
			max:  5,
		},
		{
			name: "identical record ignored",
			ops: []op{
				{"a", rec{5, base.KindValue, "x"}, true},
				{"a", rec{5, base.KindValue, "x"}, false},
			},
			want: map[string]rec{"a": {5, base.KindValue, "x"}},
			max:  5,
		},
		{
			name: "equal version value beats tombstone",
			ops: []op{
				{"a", rec{5, base.KindTombstone, ""}, true},
				{"a", rec{5, base.KindValue, ""}, true},
				{"a", rec{5, base.KindTombstone, "zz"}, false},
			},
			want: map[string]rec{"a": {5, base.KindValue, ""}},
			max:  5,
		},
		{
			name: "equal version and kind greater value wins",
			ops: []op{
				{"a", rec{5, base.KindValue, "b"}, true},
				{"a", rec{5, base.KindValue, "a"}, false},
				{"a", rec{5, base.KindValue, "c"}, true},
			},
			want: map[string]rec{"a": {5, base.KindValue, "c"}},
			max:  5,
		},
		{
			name: "tombstone replaces value",
			ops: []op{
				{"a", rec{5, base.KindValue, "x"}, true},
				{"a", rec{7, base.KindTombstone, ""}, true},
			},
			want: map[string]rec{"a": {7, base.KindTombstone, ""}},
			max:  7,
		},
		{
			name: "max version ignores rejected sets",
			ops: []op{
				{"a", rec{9, base.KindValue, "x"}, true},
				{"b", rec{3, base.KindValue, "x"}, true},
				{"b", rec{2, base.KindValue, "x"}, false},
			},
			want: map[string]rec{"a": {9, base.KindValue, "x"}, "b": {3, base.KindValue, "x"}},
			max:  9,
		},
		{
			name: "empty key and prefixes",
			ops: []op{
				{"ab", rec{1, base.KindValue, "2"}, true},
				{"", rec{1, base.KindValue, "0"}, true},
				{"a", rec{1, base.KindValue, "1"}, true},
				{"abc", rec{1, base.KindValue, "3"}, true},
			},
			want: map[string]rec{
				"": {1, base.KindValue, "0"}, "a": {1, base.KindValue, "1"},
				"ab": {1, base.KindValue, "2"}, "abc": {1, base.KindValue, "3"},
			},
			max: 1,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := New(1 << 12)
			for _, o := range tc.ops {
				got, err := m.Set([]byte(o.key), o.r.version, o.r.kind, []byte(o.r.value))
				if err != nil || got != o.applied {
					t.Fatalf("Set(%q, %v) = %v, %v; want %v, nil", o.key, o.r, got, err, o.applied)
				}
			}
			for k, want := range tc.want {
				if got, ok := getRec(t, m, k); !ok || got != want {
					t.Errorf("Get(%q) = %v, %v; want %v", k, got, ok, want)
				}
			}
			for _, k := range []string{"zz", "b0", "aa"} {
				if _, ok := tc.want[k]; !ok {
					if got, ok := getRec(t, m, k); ok {
						t.Errorf("Get(%q) = %v, want missing", k, got)
					}
				}
			}
			if got, want := m.Len(), len(tc.want); got != want {
				t.Errorf("Len() = %d, want %d", got, want)
			}
			if got, want := m.Empty(), len(tc.want) == 0; got != want {
				t.Errorf("Empty() = %v, want %v", got, want)
			}
			if got := m.MaxVersion(); got != tc.max {
				t.Errorf("MaxVersion() = %d, want %d", got, tc.max)
			}
		})
	}
}

// TestSetCopiesInput checks that Set keeps no reference to its arguments and
// that returned values cannot be appended into the arena.
func TestSetCopiesInput(t *testing.T) {
	m := New(1 << 10)
	k, v := []byte("key"), []byte("value")
	if _, err := m.Set(k, 1, base.KindValue, v); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Set([]byte("kez"), 1, base.KindValue, []byte("other")); err != nil {
		t.Fatal(err)
	}
	copy(k, "xxx")
	copy(v, "xxxxx")
	got, _, _, ok := m.Get([]byte("key"))
	if !ok || string(got) != "value" {
		t.Fatalf("Get(key) = %q, %v; want value", got, ok)
	}
	_ = append(got, "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"...)
	it := m.NewIter()
	it.First()
	_ = append(it.Key(), "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"...)
	if got, _, _, _ := m.Get([]byte("kez")); string(got) != "other" {
		t.Fatalf("Get(kez) = %q after appending to returned slices", got)
	}
}

func collect(it base.Iterator, ok bool) []string {
	var got []string
	for ; ok; ok = it.Next() {
		got = append(got, fmt.Sprintf("%s=%s@%d%v", it.Key(), it.Value(), it.Version(), it.Kind()))
	}
	return got
}

func TestIter(t *testing.T) {
	m := New(1 << 12)
	for i, k := range []string{"d", "b", "f", "a", "e", "c", "bb"} {
		if _, err := m.Set([]byte(k), uint64(i+1), base.KindValue, []byte("v"+k)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := m.Set([]byte("c"), 100, base.KindTombstone, nil); err != nil {
		t.Fatal(err)
	}
	all := []string{"a=va@4value", "b=vb@2value", "bb=vbb@7value", "c=@100tombstone", "d=vd@1value", "e=ve@5value", "f=vf@3value"}

	tests := []struct {
		name string
		seek *string // nil: First
		want []string
	}{
		{"first", nil, all},
		{"seek before first", ptr(""), all},
		{"seek present", ptr("c"), all[3:]},
		{"seek absent", ptr("ba"), all[2:]},
		{"seek absent longer", ptr("bba"), all[3:]},
		{"seek last", ptr("f"), all[6:]},
		{"seek past end", ptr("g"), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			it := m.NewIter()
			if it.Valid() {
				t.Fatal("new iterator is valid")
			}
			var ok bool
			if tc.seek == nil {
				ok = it.First()
			} else {
				ok = it.SeekGE([]byte(*tc.seek))
			}
			if ok != it.Valid() {
				t.Fatalf("positioning returned %v, Valid() = %v", ok, it.Valid())
			}
			if got := collect(it, ok); !slices.Equal(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
			if it.Valid() || it.Next() || it.Key() != nil || it.Value() != nil {
				t.Error("iterator past the end is still positioned")
			}
			if err := it.Close(); err != nil {
				t.Errorf("Close() = %v", err)
			}
			if it.First() || it.SeekGE(nil) || it.Valid() {
				t.Error("closed iterator can be positioned")
			}
		})
	}

	t.Run("empty memtable", func(t *testing.T) {
		it := New(0).NewIter()
		if it.First() || it.SeekGE([]byte("a")) || it.Valid() || it.Err() != nil {
			t.Error("iterator over an empty memtable is valid")
		}
	})
}

func ptr[T any](v T) *T { return &v }

func TestNewCapacity(t *testing.T) {
	tests := []struct {
		in, want int
	}{
		{-5, 0},
		{0, 0},
		{1, 4},
		{4, 4},
		{1000, 1000},
		{1001, 1004},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.in), func(t *testing.T) {
			m := New(tc.in)
			if got := m.Capacity(); got != tc.want {
				t.Errorf("Capacity() = %d, want %d", got, tc.want)
			}
			if m.Size() != 0 || m.Available() != tc.want || !m.Empty() || m.Len() != 0 || m.MaxVersion() != 0 {
				t.Errorf("new memtable: Size %d Available %d Empty %v Len %d MaxVersion %d",
					m.Size(), m.Available(), m.Empty(), m.Len(), m.MaxVersion())
			}
		})
	}
	if MaxCapacity+headBytes >= 1<<32 {
		t.Errorf("MaxCapacity %d leaves arena offsets beyond uint32", MaxCapacity)
	}
}

// TestErrFullBoundary checks the promise of EntrySize and Available: Set does
// not fail while EntrySize <= Available, and a failing Set changes nothing.
func TestErrFullBoundary(t *testing.T) {
	t.Run("zero capacity", func(t *testing.T) {
		m := New(0)
		if _, err := m.Set(nil, 1, base.KindTombstone, nil); !errors.Is(err, ErrFull) {
			t.Fatalf("Set on zero capacity = %v, want ErrFull", err)
		}
		if !m.Empty() || m.Size() != 0 || m.MaxVersion() != 0 {
			t.Fatal("failed Set changed the memtable")
		}
	})

	t.Run("exactly EntrySize", func(t *testing.T) {
		for i := range 200 { // many tower heights
			k := fmt.Appendf(nil, "key%d", i)
			m := New(EntrySize(len(k), 7))
			if _, err := m.Set(k, 1, base.KindValue, []byte("1234567")); err != nil {
				t.Fatalf("Set into New(EntrySize) = %v", err)
			}
		}
	})

	t.Run("update fills the last byte", func(t *testing.T) {
		m := New(1000)
		if _, err := m.Set([]byte("k"), 1, base.KindValue, nil); err != nil {
			t.Fatal(err)
		}
		// An update costs exactly the record: 13 bytes + value.
		v := bytes.Repeat([]byte{'v'}, m.Available()-recordHeaderSize)
		if _, err := m.Set([]byte("k"), 2, base.KindValue, v); err != nil {
			t.Fatalf("update of exactly Available bytes = %v", err)
		}
		if m.Available() != 0 || m.Size() != m.Capacity() {
			t.Fatalf("Available() = %d, Size() = %d after filling", m.Available(), m.Size())
		}
		// A rejected (older) Set needs no room.
		if applied, err := m.Set([]byte("k"), 1, base.KindValue, nil); applied || err != nil {
			t.Fatalf("older Set on a full memtable = %v, %v; want false, nil", applied, err)
		}
		if applied, err := m.Set([]byte("k"), 3, base.KindTombstone, nil); applied || !errors.Is(err, ErrFull) {
			t.Fatalf("newer Set on a full memtable = %v, %v; want false, ErrFull", applied, err)
		}
		if got, _ := getRec(t, m, "k"); got.version != 2 || got.value != string(v) {
			t.Fatalf("failed update changed the record to %v", got)
		}
		if m.MaxVersion() != 2 {
			t.Fatalf("MaxVersion() = %d after failed Set, want 2", m.MaxVersion())
		}
	})

	t.Run("fill with random sizes", func(t *testing.T) {
		rng := rand.New(rand.NewPCG(1, 2))
		for _, capacity := range []int{100, 1000, 10000, 100000} {
			m := New(capacity)
			fails := 0
			for i := 0; fails < 100; i++ {
				k := fmt.Appendf(nil, "%08x", rng.Uint32())
				v := make([]byte, rng.IntN(64))
				avail, size, n := m.Available(), m.Size(), m.Len()
				before, _, _, had := m.Get(k)
				applied, err := m.Set(k, uint64(i), base.KindValue, v)
				if errors.Is(err, ErrFull) {
					fails++
					if EntrySize(len(k), len(v)) <= avail {
						t.Fatalf("ErrFull with EntrySize %d <= Available %d", EntrySize(len(k), len(v)), avail)
					}
					after, _, _, has := m.Get(k)
					if m.Available() != avail || m.Size() != size || m.Len() != n || has != had || !bytes.Equal(before, after) {
						t.Fatal("failed Set changed the memtable")
					}
					continue
				}
				if err != nil || !applied {
					t.Fatalf("Set = %v, %v", applied, err)
				}
				if used := m.Size() - size; used > EntrySize(len(k), len(v)) || used != avail-m.Available() {
					t.Fatalf("Set used %d bytes, EntrySize %d, Available went %d -> %d", used, EntrySize(len(k), len(v)), avail, m.Available())
				}
				if m.Size()+m.Available() != m.Capacity() {
					t.Fatalf("Size %d + Available %d != Capacity %d", m.Size(), m.Available(), m.Capacity())
				}
			}
			if capacity >= 1000 && m.Len() == 0 {
				t.Errorf("capacity %d: no key fitted", capacity)
			}
		}
	})
}

// TestModel runs random operations against a map and compares every answer.
func TestModel(t *testing.T) {
	for seed := range uint64(4) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 99))
			capacity := 1 << 20
			if seed%2 == 1 {
				capacity = 4 << 10 // fills up: exercises ErrFull
			}
			full := runModel(t, rng, New(capacity), 20000)
			if capacity < 1<<20 && full == 0 {
				t.Error("the small memtable never filled up")
			}
		})
	}
}

type model struct {
	recs       map[string]rec
	maxVersion uint64
}

// runModel applies n random operations to m and a model and checks them. It
// returns how many Sets failed with ErrFull.
func runModel(t *testing.T, rng *rand.Rand, m *Memtable, n int) (full int) {
	t.Helper()
	mod := model{recs: map[string]rec{}}
	keyN := 1 + rng.IntN(500)
	randKey := func() string {
		k := fmt.Sprintf("k%03d", rng.IntN(keyN))
		return k[:1+rng.IntN(len(k))] // prefixes of other keys too
	}
	for i := range n {
		switch op := rng.IntN(100); {
		case op < 60:
			key := randKey()
			r := rec{version: uint64(rng.IntN(50)), kind: base.Kind(rng.IntN(2))}
			if rng.IntN(4) > 0 {
				r.value = string(rune('a' + rng.IntN(4)))
			}
			if !checkSet(t, m, &mod, key, r) {
				full++
			}
		case op < 90:
			key := randKey()
			got, gotOK := getRec(t, m, key)
			want, wantOK := mod.recs[key]
			if gotOK != wantOK || got != want {
				t.Fatalf("op %d: Get(%q) = %v, %v; want %v, %v", i, key, got, gotOK, want, wantOK)
			}
		case op < 99:
			key := randKey()
			checkSeek(t, m, &mod, key, rng.IntN(5))
		default:
			checkAll(t, m, &mod)
		}
	}
	checkAll(t, m, &mod)
	return full
}

// checkSet applies a Set to m and mod; it returns false if Set returned
// ErrFull.
func checkSet(t *testing.T, m *Memtable, mod *model, key string, r rec) bool {
	t.Helper()
	old, had := mod.recs[key]
	wantApplied := !had || base.Newer(r.version, r.kind, []byte(r.value), old.version, old.kind, []byte(old.value))
	avail, size := m.Available(), m.Size()
	applied, err := m.Set([]byte(key), r.version, r.kind, []byte(r.value))
	switch {
	case errors.Is(err, ErrFull):
		if !wantApplied {
			t.Fatalf("Set(%q, %v) over %v = ErrFull, want a no-op", key, r, old)
		}
		if EntrySize(len(key), len(r.value)) <= avail {
			t.Fatalf("Set(%q, %v) = ErrFull with Available %d", key, r, avail)
		}
		if had && recordHeaderSize+len(r.value) <= avail {
			t.Fatalf("update Set(%q, %v) = ErrFull with Available %d", key, r, avail)
		}
		if m.Size() != size {
			t.Fatal("failed Set changed Size")
		}
		return false
	case err != nil:
		t.Fatalf("Set(%q, %v) = %v", key, r, err)
	}
	if applied != wantApplied {
		t.Fatalf("Set(%q, %v) over %v, %v = %v, want %v", key, r, old, had, applied, wantApplied)
	}
	used := m.Size() - size
	switch {
	case !applied && used != 0,
		applied && had && used != recordHeaderSize+len(r.value),
		applied && !had && used > EntrySize(len(key), len(r.value)):
		t.Fatalf("Set(%q, %v) applied=%v had=%v used %d bytes", key, r, applied, had, used)
	}
	if applied {
		mod.recs[key] = r
		mod.maxVersion = max(mod.maxVersion, r.version)
	}
	if m.Len() != len(mod.recs) || m.MaxVersion() != mod.maxVersion || m.Empty() != (len(mod.recs) == 0) {
		t.Fatalf("Len %d MaxVersion %d Empty %v; want %d %d", m.Len(), m.MaxVersion(), m.Empty(), len(mod.recs), mod.maxVersion)
	}
	return true
}

func (mod *model) sorted() []string {
	keys := make([]string, 0, len(mod.recs))
	for k := range mod.recs {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// checkSeek compares SeekGE(key) followed by up to steps Next calls.
func checkSeek(t *testing.T, m *Memtable, mod *model, key string, steps int) {
	t.Helper()
	keys := mod.sorted()
	i, _ := slices.BinarySearch(keys, key)
	it := m.NewIter()
	ok := it.SeekGE([]byte(key))
	for s := 0; ; s++ {
		if ok != (i < len(keys)) {
			t.Fatalf("SeekGE(%q)+%d Next: valid %v, want %v", key, s, ok, i < len(keys))
		}
		if !ok || s == steps {
			break
		}
		checkPos(t, it, keys[i], mod.recs[keys[i]])
		i++
		ok = it.Next()
	}
}

func checkAll(t *testing.T, m *Memtable, mod *model) {
	t.Helper()
	keys := mod.sorted()
	it := m.NewIter()
	i := 0
	for ok := it.First(); ok; ok = it.Next() {
		if i >= len(keys) {
			t.Fatalf("iterator has extra key %q", it.Key())
		}
		checkPos(t, it, keys[i], mod.recs[keys[i]])
		i++
	}
	if i != len(keys) {
		t.Fatalf("iterator stopped after %d keys, want %d", i, len(keys))
	}
}

func checkPos(t *testing.T, it *Iter, key string, want rec) {
	t.Helper()
	got := rec{it.Version(), it.Kind(), string(it.Value())}
	if string(it.Key()) != key || got != want {
		t.Fatalf("iterator at %q %v, want %q %v", it.Key(), got, key, want)
	}
}

func TestNoAllocs(t *testing.T) {
	m := New(1 << 20)
	keys := make([][]byte, 1000)
	for i := range keys {
		keys[i] = fmt.Appendf(nil, "key%06d", i*7919%1000)
	}
	val := make([]byte, 100)
	var ver uint64
	it := m.NewIter()
	tests := []struct {
		name string
		f    func()
	}{
		{"Set insert", func() {
			ver++
			m.Set(keys[ver%uint64(len(keys))], ver, base.KindValue, val)
		}},
		{"Set update", func() {
			ver++
			m.Set(keys[ver%uint64(len(keys))], ver, base.KindValue, val)
		}},
		{"Get", func() { m.Get(keys[ver%uint64(len(keys))]) }},
		{"SeekGE+Next", func() { it.SeekGE(keys[3]); it.Next() }},
	}
	for _, tc := range tests {
		if got := testing.AllocsPerRun(100, tc.f); got != 0 {
			t.Errorf("%s: %v allocs/op, want 0", tc.name, got)
		}
	}
}

// TestKeyOrder checks the ordering of keys that search must tell apart
// beyond the 16-byte prefixes kept in the nodes: prefixes of each other,
// zero bytes that padding could confuse, 0xff, keys equal in their first 8
// or 16 bytes, and keys whose length takes a longer varint (128 bytes and
// more).
func TestKeyOrder(t *testing.T) {
	keys := []string{
		"", "\x00", "\x00\x00", "a", "a\x00", "a\x00\x00", "ab", "abcdefg", "abcdefg\x00",
		"abcdefgh", "abcdefgh\x00", "abcdefgha", "abcdefghb", "abcdefgi",
		"abcdefghijklmnoo", "abcdefghijklmnop", "abcdefghijklmnop\x00", "abcdefghijklmnopq",
		"abcdefghijklmnoq", "abcdefghijklmno", "abcdefghijklmno\x00\x00", "\xff",
		"\xff\xff\xff\xff\xff\xff\xff\xff", "\xff\xff\xff\xff\xff\xff\xff\xff\xff",
		strings.Repeat("k", 127), strings.Repeat("k", 128), strings.Repeat("k", 128) + "\x00",
		strings.Repeat("k", 300), strings.Repeat("k", 299) + "j",
	}
	sorted := slices.Clone(keys)
	slices.Sort(sorted)
	for seed := range uint64(5) {
		rng := rand.New(rand.NewPCG(seed, 7))
		m := New(1 << 16)
		for i, j := range rng.Perm(len(keys)) {
			if _, err := m.Set([]byte(keys[j]), uint64(i+1), base.KindValue, []byte(keys[j])); err != nil {
				t.Fatal(err)
			}
		}
		var got []string
		it := m.NewIter()
		for ok := it.First(); ok; ok = it.Next() {
			got = append(got, string(it.Key()))
		}
		if !slices.Equal(got, sorted) {
			t.Fatalf("seed %d: iteration order %q, want %q", seed, got, sorted)
		}
		for i, k := range sorted {
			if v, _, _, ok := m.Get([]byte(k)); !ok || string(v) != k {
				t.Errorf("seed %d: Get(%q) = %q, %v", seed, k, v, ok)
			}
			if !it.SeekGE([]byte(k)) || string(it.Key()) != k {
				t.Errorf("seed %d: SeekGE(%q) at %q", seed, k, it.Key())
			}
			// The smallest key after k is k+"\x00": the seek lands on it if
			// present, else on the next key.
			ok := it.SeekGE([]byte(k + "\x00"))
			if i+1 < len(sorted) {
				if !ok || string(it.Key()) != sorted[i+1] {
					t.Errorf("seed %d: SeekGE(%q+0) at %q, want %q", seed, k, it.Key(), sorted[i+1])
				}
			} else if ok {
				t.Errorf("seed %d: SeekGE past the last key at %q", seed, it.Key())
			}
			if _, _, _, ok := m.Get([]byte(k + "\x01")); ok && !slices.Contains(keys, k+"\x01") {
				t.Errorf("seed %d: Get(%q+1) found an absent key", seed, k)
			}
		}
	}
}
