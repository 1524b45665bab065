package node

import (
	"bytes"
	"context"
	"testing"

	"kvstore/node/wire"
)

func TestWriteQueueTake(t *testing.T) {
	write := func(records, valueSize int) *queuedWrite {
		w := &queuedWrite{ctx: context.Background()}
		for range records {
			w.records = append(w.records, wire.Record{Key: []byte("k"), Value: bytes.Repeat([]byte("v"), valueSize), Version: 1})
		}
		return w
	}
	abandoned := func(records int) *queuedWrite {
		w := write(records, 1)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		w.ctx = ctx
		return w
	}
	tests := []struct {
		name    string
		waiting []*queuedWrite
		want    []int // records per take, in order
		expired int   // abandoned writes returned as expired
	}{
		{"one", []*queuedWrite{write(1, 10)}, []int{1}, 0},
		{"all small ones together", []*queuedWrite{write(1, 10), write(3, 10), write(2, 10)}, []int{6}, 0},
		{"record cap", []*queuedWrite{write(maxBatchRecords-1, 1), write(2, 1), write(1, 1)}, []int{maxBatchRecords - 1, 3}, 0},
		{"byte cap", []*queuedWrite{write(1, maxBatchBytes/2), write(1, maxBatchBytes/2), write(1, 1)}, []int{1, 2}, 0},
		{"an oversized write goes alone", []*queuedWrite{write(1, 2*maxBatchBytes), write(1, 1)}, []int{1, 1}, 0},
		{"writes nobody waits for are dropped", []*queuedWrite{abandoned(2), write(1, 1), abandoned(3), write(2, 1)}, []int{3}, 2},
		{"only abandoned writes", []*queuedWrite{abandoned(1), abandoned(1)}, []int{0}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := &writeQueue{waiting: tt.waiting}
			var got []int
			expired := 0
			for len(q.waiting) > 0 {
				n := 0
				batch, exp := q.take()
				for _, w := range batch {
					n += len(w.records)
				}
				for _, w := range exp {
					if w.ctx.Err() == nil {
						t.Fatalf("a write still waited for was returned as expired")
					}
				}
				got = append(got, n)
				expired += len(exp)
			}
			if expired != tt.expired {
				t.Fatalf("%d writes expired, want %d", expired, tt.expired)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("takes %v, want %v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Fatalf("takes %v, want %v", got, tt.want)
				}
			}
		})
	}
}
