package bench

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
)

func ExampleRunLoad() {
	// A stand-in for a node: answers every request with 200.
	node := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
	}))
	defer node.Close()

	cfg := LoadConfig{
		Targets:     []string{node.URL},
		Workload:    "b",   // 95% reads, 5% updates
		Records:     1000,  // loaded first
		Ops:         10000, // then 10000 operations
		Concurrency: 8,
	}
	rep, err := RunLoad(context.Background(), cfg, io.Discard) // or os.Stdout, for the tables
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("loaded:", rep.Load.Ops, "run:", rep.Run.Ops, "errors:", rep.Run.Errors)
	for _, op := range rep.Run.Operations {
		share := 100 * float64(op.Count) / float64(rep.Run.Ops)
		fmt.Printf("%s: about %.0f%%\n", op.Op, math.Round(share/5)*5)
	}
	_ = WriteLoadJSON(io.Discard, rep) // or a file, for -json
	// Output:
	// loaded: 1000 run: 10000 errors: 0
	// read: about 95%
	// update: about 5%
}
