package bench

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"
)

func ExampleHistogram() {
	var h Histogram
	for i := 1; i <= 1000; i++ {
		h.Record(time.Duration(i) * time.Microsecond)
	}
	fmt.Println(FormatDuration(h.Percentile(50)), FormatDuration(h.Percentile(99)), FormatDuration(h.Max()), "(within 0.4%)")
	// Output: 501us 989us 1.0ms (within 0.4%)
}

func ExampleRunEngine() {
	fs := flag.NewFlagSet("bench", flag.ExitOnError)
	cfg := EngineFlags(fs)
	fs.Parse([]string{"-num", "10000", "-benchmarks", "fillrandom,readrandom", "-report-every", "5000"})

	// open adapts the engine under test; here an in-memory map.
	open := func(dir string, sync bool) (Engine, error) { return newMemEngine(dir, sync), nil }
	results, err := RunEngine(context.Background(), *cfg, open, os.Stdout)
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := WriteJSON(os.Stdout, results); err != nil {
		fmt.Println(err)
	}
}
