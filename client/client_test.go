package client_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"kvstore/client"
	"kvstore/node"
	"kvstore/storage"
)

// memAPI is an in-memory node.API with three replicas that all answer
// unless acks says otherwise.
type memAPI struct {
	mu       sync.Mutex // guards everything below
	data     map[string][]byte
	versions map[string]storage.Version
	clock    uint64
	acks     int
	pageCap  int // the most records per Range call (0: no cap)
	failAt   int // Range calls numbered failAt and later fail (0: never)
	rangeN   int
	getHook  func(ctx context.Context) // runs at the start of Get, outside mu
	tokens   []uint64                  // causality tokens received, in order
}

func newMemAPI() *memAPI {
	return &memAPI{data: map[string][]byte{}, versions: map[string]storage.Version{}, acks: 3}
}

func required(l node.Level) int {
	switch l {
	case node.LevelDefault, node.LevelQuorum:
		return 2
	case node.LevelAll:
		return 3
	}
	return int(l)
}

func (m *memAPI) write(key, value []byte, del bool, w node.Level) node.WriteResult {
	m.clock++
	res := node.WriteResult{Key: key, Version: storage.Version(m.clock), Acks: m.acks, Required: required(w)}
	if res.Acks < res.Required {
		res.Err = fmt.Errorf("%w: %d of %d", node.ErrUnavailable, res.Acks, res.Required)
		return res
	}
	if del {
		delete(m.data, string(key))
	} else {
		m.data[string(key)] = bytes.Clone(value)
		m.versions[string(key)] = res.Version
	}
	return res
}

func (m *memAPI) Put(ctx context.Context, key, value []byte, w node.Level) node.WriteResult {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.write(key, value, false, w)
}

// ObserveVersion records the client's causality token and moves the clock
// past it, as a node does.
func (m *memAPI) ObserveVersion(v storage.Version) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.tokens = append(m.tokens, uint64(v))
	m.clock = max(m.clock, uint64(v))
	return nil
}

func (m *memAPI) Delete(ctx context.Context, key []byte, w node.Level) node.WriteResult {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.write(key, nil, true, w)
}

func (m *memAPI) Get(ctx context.Context, key []byte, r node.Level) (node.ReadResult, error) {
	m.mu.Lock()
	hook := m.getHook
	m.mu.Unlock()
	if hook != nil {
		hook(ctx)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	res := node.ReadResult{Replies: m.acks, Required: required(r), RepairSent: true}
	if res.Replies < res.Required {
		return res, fmt.Errorf("%w: %d of %d", node.ErrUnavailable, res.Replies, res.Required)
	}
	v, ok := m.data[string(key)]
	res.Found, res.Value, res.Version = ok, v, m.versions[string(key)]
	return res, nil
}

func (m *memAPI) Batch(ctx context.Context, muts []node.Mutation, w node.Level) []node.WriteResult {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]node.WriteResult, len(muts))
	for i, mu := range muts {
		out[i] = m.write(mu.Key, mu.Value, mu.Delete, w)
		if string(mu.Key) == "fail" {
			out[i].Acks, out[i].Err = 0, node.ErrUnavailable
		}
	}
	return out
}

func (m *memAPI) Range(ctx context.Context, req node.RangeRequest) (node.RangePage, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.rangeN++
	if m.failAt > 0 && m.rangeN >= m.failAt {
		return node.RangePage{}, fmt.Errorf("%w: partition 9", node.ErrUnavailable)
	}
	var keys []string
	for k := range m.data {
		if k >= string(req.Start) && (req.End == nil || k <= string(req.End)) && (req.Cursor == nil || k > string(req.Cursor)) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	limit := req.Limit
	if m.pageCap > 0 {
		limit = min(limit, m.pageCap)
	}
	var page node.RangePage
	for i, k := range keys {
		if i == limit {
			page.Next = []byte(keys[i-1])
			break
		}
		page.Records = append(page.Records, node.KV{Key: []byte(k), Value: m.data[k], Version: m.versions[k]})
	}
	return page, nil
}

func (m *memAPI) Status() node.Status {
	return node.Status{Node: "n1", N: 3, R: 2, W: 2, Partitions: 1024,
		Members: []node.MemberStatus{{Name: "n1", State: "alive", Ring: "active", HTTPAddr: "127.0.0.1:1"}}}
}

func (m *memAPI) WriteMetrics(node.MetricsWriter) {}

// newServer starts a node HTTP handler over api and a client for it.
func newServer(t *testing.T, api node.API, cfg node.HTTPConfig, opts client.Options) (*client.Client, *httptest.Server) {
	t.Helper()
	srv := httptest.NewServer(node.NewHTTPHandler(api, cfg))
	t.Cleanup(srv.Close)
	c, err := client.New(srv.URL, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c, srv
}

func allBytes() []byte {
	b := make([]byte, 256)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}

func TestNativeRoundTrip(t *testing.T) {
	api := newMemAPI()
	c, _ := newServer(t, api, node.HTTPConfig{}, client.Options{})
	ctx := context.Background()
	keys := [][]byte{[]byte("k"), allBytes(), []byte("."), []byte(".."), []byte("a/../b"), []byte("/"), []byte("%zz"), []byte("?#&=+ ")}
	for i, key := range keys {
		for _, value := range [][]byte{allBytes(), {}, nil, []byte("v")} {
			res, err := c.Put(ctx, key, value, "all")
			if err != nil || res.Version == 0 || res.Replicas != 3 || res.Required != 3 {
				t.Fatalf("key %d: Put = %+v, %v", i, res, err)
			}
			got, gres, err := c.Get(ctx, key, "one")
			if err != nil || !bytes.Equal(got, value) || got == nil {
				t.Fatalf("key %d: Get = %q, %v; want %q", i, got, err, value)
			}
			if gres.Version != res.Version || gres.Replicas != 3 || gres.Required != 1 || !gres.ReadRepair {
				t.Errorf("key %d: Get result %+v", i, gres)
			}
			if string(api.data[string(key)]) != string(value) {
				t.Errorf("key %d stored as %q", i, api.data[string(key)])
			}
		}
		if _, err := c.Delete(ctx, key, ""); err != nil {
			t.Fatal(err)
		}
		_, res, err := c.Get(ctx, key, "")
		if !errors.Is(err, client.ErrNotFound) || errors.Is(err, client.ErrUnavailable) {
			t.Fatalf("Get after Delete: %v", err)
		}
		var herr *client.HTTPError
		if !errors.As(err, &herr) || herr.Status != 404 || herr.Message == "" {
			t.Errorf("error %#v", err)
		}
		if res.Required != 2 || !res.ReadRepair {
			t.Errorf("404 result %+v", res)
		}
	}
}

func TestErrors(t *testing.T) {
	api := newMemAPI()
	api.acks = 1
	c, _ := newServer(t, api, node.HTTPConfig{MaxKeySize: 10}, client.Options{})
	ctx := context.Background()

	res, err := c.Put(ctx, []byte("k"), []byte("v"), "quorum")
	var herr *client.HTTPError
	if !errors.Is(err, client.ErrUnavailable) || !errors.As(err, &herr) || herr.Status != 503 {
		t.Fatalf("Put: %v", err)
	}
	if res.Replicas != 1 || res.Required != 2 || herr.Replicas != 1 || herr.Required != 2 {
		t.Errorf("Put result %+v, error %+v", res, herr)
	}
	if _, res, err := c.Get(ctx, []byte("k"), "all"); !errors.Is(err, client.ErrUnavailable) || res.Required != 3 || res.Replicas != 1 {
		t.Errorf("Get: %+v %v", res, err)
	}
	for name, err := range map[string]error{
		"bad level":  func() error { _, err := c.Put(ctx, []byte("k"), nil, "most"); return err }(),
		"empty key":  func() error { _, _, err := c.Get(ctx, nil, ""); return err }(),
		"key size":   func() error { _, err := c.Delete(ctx, []byte("01234567890"), ""); return err }(),
		"bad cursor": func() error { _, _, err := c.Range(ctx, nil, nil, 0, "!", ""); return err }(),
	} {
		if !errors.As(err, &herr) || herr.Status/100 != 4 || errors.Is(err, client.ErrNotFound) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := client.New("ftp://x", client.Options{}); err == nil {
		t.Error("New accepted an ftp URL")
	}
	if _, err := client.New("http://[::1", client.Options{}); err == nil {
		t.Error("New accepted a bad URL")
	}
}

func TestBatch(t *testing.T) {
	api := newMemAPI()
	c, _ := newServer(t, api, node.HTTPConfig{MaxBatchKeys: 3}, client.Options{})
	ctx := context.Background()
	api.data["old"] = []byte("x")
	results, err := c.Batch(ctx, []client.Mutation{
		{Key: allBytes(), Value: allBytes()},
		{Key: []byte("old"), Delete: true},
		{Key: []byte("fail"), Value: []byte("v")},
	}, "all")
	if err != nil || len(results) != 3 {
		t.Fatalf("Batch = %+v, %v", results, err)
	}
	for i, want := range []bool{true, true, false} {
		r := results[i]
		if r.OK != want || (r.Error == "") != want || r.Required != 3 {
			t.Errorf("result %d = %+v", i, r)
		}
	}
	if !bytes.Equal(results[0].Key, allBytes()) || !bytes.Equal(api.data[string(allBytes())], allBytes()) {
		t.Errorf("binary record: %+v", results[0])
	}
	if _, ok := api.data["old"]; ok {
		t.Error("delete not applied")
	}
	muts := make([]client.Mutation, 4)
	for i := range muts {
		muts[i].Key = []byte{byte('a' + i)}
	}
	_, err = c.Batch(ctx, muts, "")
	var herr *client.HTTPError
	if !errors.As(err, &herr) || herr.Status != 413 {
		t.Errorf("oversized batch: %v", err)
	}
}

func TestRange(t *testing.T) {
	api := newMemAPI()
	api.pageCap = 3
	var keys []string
	for i := range 20 {
		k := fmt.Sprintf("k%02d\x00\xff", i)
		keys = append(keys, k)
		api.data[k] = []byte("v" + k)
		api.versions[k] = storage.Version(i + 1)
	}
	c, _ := newServer(t, api, node.HTTPConfig{MaxRangeLimit: 7}, client.Options{})
	ctx := context.Background()

	// Pages of at most 5, both ends inclusive.
	var got []string
	cursor := ""
	for pages := 0; ; pages++ {
		recs, next, err := c.Range(ctx, []byte(keys[2]), []byte(keys[14]), 5, cursor, "one")
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) > 5 || pages > 10 {
			t.Fatalf("page of %d records, %d pages", len(recs), pages)
		}
		for _, kv := range recs {
			if string(kv.Value) != "v"+string(kv.Key) || kv.Version == 0 {
				t.Errorf("record %+v", kv)
			}
			got = append(got, string(kv.Key))
		}
		if next == "" {
			break
		}
		cursor = next
	}
	if !slices.Equal(got, keys[2:15]) {
		t.Errorf("Range pages: %q", got)
	}

	got = got[:0]
	for kv, err := range c.RangeAll(ctx, nil, nil, "") {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, string(kv.Key))
	}
	if !slices.Equal(got, keys) {
		t.Errorf("RangeAll: %q", got)
	}

	// Stopping early.
	n := 0
	for _, err := range c.RangeAll(ctx, nil, nil, "") {
		if err != nil {
			t.Fatal(err)
		}
		if n++; n == 4 {
			break
		}
	}

	// A failure after the first page of a response.
	api.rangeN, api.failAt = 0, 2
	recs, next, err := c.Range(ctx, nil, nil, 0, "", "")
	if !errors.Is(err, client.ErrRangeInterrupted) || len(recs) != 3 || next == "" {
		t.Fatalf("interrupted Range = %d records, %q, %v", len(recs), next, err)
	}
	api.failAt = 0
	recs, _, err = c.Range(ctx, nil, nil, 0, next, "")
	if err != nil || string(recs[0].Key) != keys[3] {
		t.Fatalf("resumed Range = %v", err)
	}
	// A failure on the first page is an HTTP error.
	api.rangeN, api.failAt = 0, 1
	for _, err := range c.RangeAll(ctx, nil, nil, "") {
		if !errors.Is(err, client.ErrUnavailable) {
			t.Fatalf("RangeAll error %v", err)
		}
	}
	api.failAt = 0
	if recs, next, err := c.Range(ctx, []byte("z"), []byte("a"), 0, "", ""); err != nil || len(recs) != 0 || next != "" {
		t.Errorf("empty Range = %v %q %v", recs, next, err)
	}
}

func TestLegacy(t *testing.T) {
	api := newMemAPI()
	c, _ := newServer(t, api, node.HTTPConfig{}, client.Options{})
	ctx := context.Background()
	if err := c.LegacyPut(ctx, "a b&c", "1=2"); err != nil {
		t.Fatal(err)
	}
	if v, err := c.LegacyGet(ctx, "a b&c"); err != nil || v != "1=2" {
		t.Fatalf("LegacyGet = %q, %v", v, err)
	}
	if err := c.LegacyBatchPut(ctx, []string{"b", "c", "d"}, []string{"2", "3", "4"}); err != nil {
		t.Fatal(err)
	}
	var herr *client.HTTPError
	if err := c.LegacyBatchPut(ctx, []string{"x"}, nil); !errors.As(err, &herr) || herr.Status != 400 {
		t.Errorf("mismatched LegacyBatchPut: %v", err)
	}
	kvs, err := c.LegacyRange(ctx, "b", "c")
	if err != nil || len(kvs) != 2 || kvs[0] != (client.LegacyKV{Key: "b", Value: "2"}) || kvs[1].Key != "c" {
		t.Fatalf("LegacyRange = %v, %v", kvs, err)
	}
	if kvs, err := c.LegacyRange(ctx, "y", "z"); err != nil || kvs == nil || len(kvs) != 0 {
		t.Errorf("empty LegacyRange = %#v, %v", kvs, err)
	}
	if err := c.LegacyDelete(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.LegacyGet(ctx, "b"); !errors.Is(err, client.ErrNotFound) {
		t.Errorf("LegacyGet after delete: %v", err)
	}
	if err := c.LegacyPut(ctx, "", "v"); !errors.As(err, &herr) || herr.Status != 400 {
		t.Errorf("LegacyPut without key: %v", err)
	}
}

func TestStatusHealth(t *testing.T) {
	c, srv := newServer(t, newMemAPI(), node.HTTPConfig{}, client.Options{})
	ctx := context.Background()
	st, err := c.Status(ctx)
	if err != nil || st.Node != "n1" || st.W != 2 || len(st.Members) != 1 || st.Members[0].Ring != "active" || !bytes.Contains(st.Raw, []byte(`"storage"`)) {
		t.Fatalf("Status = %+v, %v", st, err)
	}
	if err := c.Health(ctx); err != nil {
		t.Fatal(err)
	}
	// A base URL without a scheme, and one with a trailing slash.
	for _, base := range []string{strings.TrimPrefix(srv.URL, "http://"), srv.URL + "/"} {
		c2, err := client.New(base, client.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if err := c2.Health(ctx); err != nil {
			t.Errorf("%s: %v", base, err)
		}
		c2.Close()
	}
}

func TestTimeout(t *testing.T) {
	api := newMemAPI()
	api.getHook = func(ctx context.Context) { <-ctx.Done() }
	c, _ := newServer(t, api, node.HTTPConfig{}, client.Options{Timeout: 50 * time.Millisecond})
	start := time.Now()
	_, _, err := c.Get(context.Background(), []byte("k"), "")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Get = %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("timeout took %v", d)
	}
}

// TestConnectionReuse checks that many concurrent requests, including
// errors, share a few kept-alive connections.
func TestConnectionReuse(t *testing.T) {
	api := newMemAPI()
	srv := httptest.NewUnstartedServer(node.NewHTTPHandler(api, node.HTTPConfig{}))
	var conns atomic.Int64
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	c, err := client.New(srv.URL, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const workers, ops = 8, 100
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			ctx := context.Background()
			for i := range ops {
				key := []byte(fmt.Sprintf("w%d-%d", w, i%10))
				if _, err := c.Put(ctx, key, key, ""); err != nil {
					errs <- err
					return
				}
				if v, _, err := c.Get(ctx, key, ""); err != nil || !bytes.Equal(v, key) {
					errs <- fmt.Errorf("Get %s = %q, %v", key, v, err)
					return
				}
				if _, _, err := c.Get(ctx, []byte("missing"), ""); !errors.Is(err, client.ErrNotFound) {
					errs <- fmt.Errorf("Get missing: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := conns.Load(); n > 2*workers {
		t.Errorf("%d connections for %d workers", n, workers)
	}
}

// A Client sends the highest version it has seen with each write; Clients
// given one Session share it, Clients without one do not.
func TestSessionToken(t *testing.T) {
	api := newMemAPI()
	srv := httptest.NewServer(node.NewHTTPHandler(api, node.HTTPConfig{}))
	defer srv.Close()
	newClient := func(s *client.Session) *client.Client {
		c, err := client.New(srv.URL, client.Options{Session: s})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		return c
	}
	ctx := context.Background()
	shared := client.NewSession()
	a, b, other := newClient(shared), newClient(shared), newClient(nil)

	r1, err := a.Put(ctx, []byte("k"), []byte("v1"), "")
	if err != nil {
		t.Fatal(err)
	}
	if shared.Token() != r1.Version {
		t.Fatalf("session token %d after a write of version %d", shared.Token(), r1.Version)
	}
	if _, err := b.Put(ctx, []byte("k"), []byte("v2"), ""); err != nil { // carries r1's version
		t.Fatal(err)
	}
	if other.Session().Token() != 0 {
		t.Fatalf("a Client of its own has token %d before any response", other.Session().Token())
	}
	if _, _, err := other.Get(ctx, []byte("k"), ""); err != nil { // a read raises its token
		t.Fatal(err)
	}
	res, err := other.Batch(ctx, []client.Mutation{{Key: []byte("m"), Value: []byte("x")}}, "")
	if err != nil {
		t.Fatal(err)
	}
	api.mu.Lock()
	tokens := slices.Clone(api.tokens)
	readVersion := uint64(api.versions["k"])
	api.mu.Unlock()
	// a's first write carried no token; b's carried a's version, and
	// other's batch the version it read.
	want := []uint64{r1.Version, readVersion}
	if !slices.Equal(tokens, want) {
		t.Fatalf("tokens sent %v, want %v", tokens, want)
	}
	if other.Session().Token() != res[0].Version {
		t.Fatalf("token %d after a batch of version %d", other.Session().Token(), res[0].Version)
	}
}
