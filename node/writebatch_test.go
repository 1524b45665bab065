package node_test

import (
	"bufio"
	"fmt"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"kvstore/node"
	"kvstore/node/nodetest"
	"kvstore/node/transport/memnet"
)

// metricValue reads one unlabelled sample from a node's /metrics.
func metricValue(t *testing.T, n *node.Node, name string) float64 {
	t.Helper()
	rec := httptest.NewRecorder()
	n.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	sc := bufio.NewScanner(rec.Body)
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 2 && f[0] == name {
			v, err := strconv.ParseFloat(f[1], 64)
			if err != nil {
				t.Fatal(err)
			}
			return v
		}
	}
	t.Fatalf("no sample %s", name)
	return 0
}

// putAtOnce writes keys k00 to k(n-1), each with value "v" and its key,
// through coordinator nd at quorum, all at once, and fails the test on any
// error.
func putAtOnce(t *testing.T, nd *node.Node, n int) {
	t.Helper()
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			key := fmt.Sprintf("k%02d", i)
			if res := nd.Put(ctxT(t), []byte(key), []byte("v"+key), node.LevelQuorum); res.Err != nil {
				t.Errorf("put %s: %v", key, res.Err)
			}
		})
	}
	wg.Wait()
}

// Client writes that a coordinator sends to a slow replica while earlier
// ones are in flight go out merged: the replica stores every record from a
// few write requests instead of one request per write.
func TestReplicaWritesMergeWhileOneIsInFlight(t *testing.T) {
	c := nodetest.Start(t, nodetest.Options{Nodes: 3, DisableHints: true, DisableAntiEntropy: true})
	slow := c.Node(1)
	c.Net.SetLinkFaults(c.Name(0), c.Name(1), memnet.Faults{Delay: 100 * time.Millisecond})
	recordsBefore := metricValue(t, slow, "kvstore_replica_records_written_total")
	requestsBefore := metricValue(t, slow, "kvstore_replica_write_requests_total")

	const writes = 40
	putAtOnce(t, c.Node(0), writes)
	// The counters move just after the records are applied.
	waitFor(t, "the slow replica counts every write", func() bool {
		return metricValue(t, slow, "kvstore_replica_records_written_total")-recordsBefore >= writes
	})
	for i := range writes {
		if _, err := slow.LocalRecord(fmt.Appendf(nil, "k%02d", i)); err != nil {
			t.Fatalf("k%02d on the slow replica: %v", i, err)
		}
	}
	records := metricValue(t, slow, "kvstore_replica_records_written_total") - recordsBefore
	requests := metricValue(t, slow, "kvstore_replica_write_requests_total") - requestsBefore
	if records != writes {
		t.Fatalf("the slow replica applied %v records, want %d", records, writes)
	}
	// Two requests go out at once; everything else waits for them and
	// goes in one or two merged requests.
	if requests > 8 {
		t.Fatalf("%v write requests carried %d writes: not merged", requests, writes)
	}
	t.Logf("%d writes in %v requests", writes, requests)
}
