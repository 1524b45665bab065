package memtable_test

import (
	"fmt"

	"kvstore/storage/internal/base"
	"kvstore/storage/memtable"
)

func Example() {
	m := memtable.New(1 << 20)
	set := func(key string, version uint64, kind base.Kind, value string) {
		if memtable.EntrySize(len(key), len(value)) > m.Available() {
			return // the engine rotates to a new memtable here
		}
		applied, err := m.Set([]byte(key), version, kind, []byte(value))
		fmt.Println("set", key, version, applied, err)
	}
	set("b", 2, base.KindValue, "two")
	set("a", 1, base.KindValue, "one")
	set("b", 1, base.KindValue, "stale") // older: ignored
	set("c", 3, base.KindTombstone, "")

	if v, version, kind, ok := m.Get([]byte("b")); ok {
		fmt.Printf("get b: %s %d %v\n", v, version, kind)
	}
	it := m.NewIter()
	for ok := it.First(); ok; ok = it.Next() {
		fmt.Printf("%s %d %v %q\n", it.Key(), it.Version(), it.Kind(), it.Value())
	}
	_ = it.Close()
	fmt.Println("len", m.Len(), "max version", m.MaxVersion())
	// Output:
	// set b 2 true <nil>
	// set a 1 true <nil>
	// set b 1 false <nil>
	// set c 3 true <nil>
	// get b: two 2 value
	// a 1 value "one"
	// b 2 value "two"
	// c 3 tombstone ""
	// len 3 max version 3
}
