package ring_test

import (
	"fmt"

	"kvstore/ring"
)

func Example() {
	cfg := ring.DefaultConfig()
	old, err := ring.Build(cfg, []string{"node-1", "node-2", "node-3", "node-4"})
	if err != nil {
		panic(err)
	}
	p := old.Partition([]byte("user:42"))
	fmt.Println("partition", p, "replicas", old.Replicas(p))

	// node-5 joins: stream every moved partition to its added members.
	next, err := ring.Build(cfg, []string{"node-5", "node-4", "node-3", "node-2", "node-1"})
	if err != nil {
		panic(err)
	}
	moves := old.Moves(next)
	fmt.Printf("%d of %d partitions change replicas\n", len(moves), cfg.Partitions)
	fmt.Printf("first: partition %d adds %q, removes %q\n",
		moves[0].Partition, moves[0].Added, moves[0].Removed)
	// Output:
	// partition 584 replicas [node-3 node-4 node-1]
	// 634 of 1024 partitions change replicas
	// first: partition 1 adds ["node-5"], removes ["node-2"]
}
