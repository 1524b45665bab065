package bench

import (
	"context"
	"os"
	"testing"
)

func TestDemoTmp(t *testing.T) {
	cfg := EngineConfig{Num: 200000, Threads: 2, ReportEvery: 50000, Benchmarks: []string{"fillseq", "fillrandom", "overwrite", "readrandom", "readmissing", "seekrandom", "readwrite", "deleterandom"}}
	o := &memOpener{}
	res, err := RunEngine(context.Background(), cfg, o.open, os.Stdout)
	if err != nil {
		t.Fatal(err)
	}
	WriteJSON(os.Stdout, res[:1])
}
