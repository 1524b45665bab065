package node

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"kvstore/storage"
)

// httpFakeAPI is an in-memory API: one map, N=3 replicas that all answer unless
// told otherwise. It records every call and checks each against the HTTP
// limits it was built with.
type httpFakeAPI struct {
	limits HTTPConfig // what every call must respect

	mu         sync.Mutex // guards everything below
	data       map[string]httpFakeRecord
	clock      uint64
	acks       int             // replicas that answer (default 3)
	failKeys   map[string]bool // writes to these keys miss their quorum
	getErr     error           // returned by Get
	rangeErr   error           // returned by Range calls after rangeOK succeeded ones
	rangeOK    int
	pageCap    int // the most records one Range call returns (0: no cap)
	repair     bool
	calls      []string
	violations []string
	maxLimit   int // largest RangeRequest.Limit seen
	// rangeHook, when set, runs at the start of every Range call with the
	// call's number (1-based) and outside mu.
	rangeHook func(n int)
	rangeN    int
	quiet     bool // do not record calls (benchmarks)
}

type httpFakeRecord struct {
	value   []byte
	version storage.Version
}

func newHTTPFakeAPI(limits HTTPConfig) *httpFakeAPI {
	return &httpFakeAPI{limits: limits.withDefaults(), data: map[string]httpFakeRecord{}, acks: 3, failKeys: map[string]bool{}}
}

var _ API = (*httpFakeAPI)(nil)

// record notes a call, with mu held.
func (f *httpFakeAPI) record(call string) {
	if !f.quiet {
		f.calls = append(f.calls, call)
	}
}

func (f *httpFakeAPI) violate(format string, args ...any) {
	f.violations = append(f.violations, fmt.Sprintf(format, args...))
}

// checkCtx and checkKey run with mu held.
func (f *httpFakeAPI) checkCtx(ctx context.Context, op string) {
	if _, ok := ctx.Deadline(); !ok {
		f.violate("%s: context without deadline", op)
	}
}

func (f *httpFakeAPI) checkKey(op string, key []byte) {
	if len(key) == 0 || len(key) > f.limits.MaxKeySize {
		f.violate("%s: key of %d bytes", op, len(key))
	}
}

func (f *httpFakeAPI) write(key, value []byte, del bool, w Level) WriteResult {
	required := w.resolve(3, 2)
	f.clock++
	v := storage.Version(f.clock)
	acks := f.acks
	if f.failKeys[string(key)] {
		acks = 0
	}
	res := WriteResult{Key: key, Version: v, Acks: acks, Required: required}
	if acks < required {
		res.Err = fmt.Errorf("%w: %d of %d replicas acknowledged", ErrUnavailable, acks, required)
		return res
	}
	if del {
		delete(f.data, string(key))
	} else {
		f.data[string(key)] = httpFakeRecord{value: bytes.Clone(value), version: v}
	}
	return res
}

func (f *httpFakeAPI) Put(ctx context.Context, key, value []byte, w Level) WriteResult {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("put " + string(key))
	f.checkCtx(ctx, "put")
	f.checkKey("put", key)
	if value == nil || len(value) > f.limits.MaxValueSize {
		f.violate("put: value of %d bytes (nil %v)", len(value), value == nil)
	}
	return f.write(key, value, false, w)
}

func (f *httpFakeAPI) Delete(ctx context.Context, key []byte, w Level) WriteResult {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("delete " + string(key))
	f.checkCtx(ctx, "delete")
	f.checkKey("delete", key)
	return f.write(key, nil, true, w)
}

// httpFakeMaxToken is the highest causality token the fake accepts.
const httpFakeMaxToken = 1 << 40

// ObserveVersion moves the fake's clock like Node's: the next write is
// newer than v. A token above httpFakeMaxToken is refused.
func (f *httpFakeAPI) ObserveVersion(v storage.Version) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record(fmt.Sprintf("observe %d", uint64(v)))
	if v > httpFakeMaxToken {
		return fmt.Errorf("%w: version %d is too far ahead", ErrBadRequest, uint64(v))
	}
	f.clock = max(f.clock, uint64(v))
	return nil
}

func (f *httpFakeAPI) Get(ctx context.Context, key []byte, r Level) (ReadResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("get " + string(key))
	f.checkCtx(ctx, "get")
	f.checkKey("get", key)
	res := ReadResult{Replies: f.acks, Required: r.resolve(3, 2), RepairSent: f.repair}
	if f.getErr != nil {
		return res, f.getErr
	}
	if res.Replies < res.Required {
		return res, fmt.Errorf("%w: %d of %d replicas answered", ErrUnavailable, res.Replies, res.Required)
	}
	if rec, ok := f.data[string(key)]; ok {
		res.Found, res.Value, res.Version = true, rec.value, rec.version
	}
	return res, nil
}

func (f *httpFakeAPI) Batch(ctx context.Context, muts []Mutation, w Level) []WriteResult {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record(fmt.Sprintf("batch %d", len(muts)))
	f.checkCtx(ctx, "batch")
	if len(muts) == 0 || len(muts) > f.limits.MaxBatchKeys {
		f.violate("batch of %d", len(muts))
	}
	out := make([]WriteResult, len(muts))
	for i, m := range muts {
		f.checkKey("batch", m.Key)
		if !m.Delete && (m.Value == nil || len(m.Value) > f.limits.MaxValueSize) {
			f.violate("batch: value of %d bytes", len(m.Value))
		}
		out[i] = f.write(m.Key, m.Value, m.Delete, w)
	}
	return out
}

func (f *httpFakeAPI) Range(ctx context.Context, req RangeRequest) (RangePage, error) {
	f.mu.Lock()
	f.rangeN++
	n, hook := f.rangeN, f.rangeHook
	f.mu.Unlock()
	if hook != nil {
		hook(n)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("range")
	f.checkCtx(ctx, "range")
	if len(req.Start) > f.limits.MaxKeySize || len(req.End) > f.limits.MaxKeySize ||
		len(req.Cursor) > f.limits.MaxKeySize+httpCursorSlack {
		f.violate("range: bounds of %d, %d, %d bytes", len(req.Start), len(req.End), len(req.Cursor))
	}
	if req.Limit <= 0 || req.Limit > f.limits.MaxRangeLimit || req.Limit > httpRangeChunk {
		f.violate("range: limit %d", req.Limit)
	}
	f.maxLimit = max(f.maxLimit, req.Limit)
	if f.rangeErr != nil && n > f.rangeOK {
		return RangePage{}, f.rangeErr
	}
	keys := make([]string, 0, len(f.data))
	for k := range f.data {
		if k < string(req.Start) || req.End != nil && k > string(req.End) ||
			req.Cursor != nil && k <= string(req.Cursor) {
			continue
		}
		keys = append(keys, k)
	}
	slices.Sort(keys)
	limit := req.Limit
	if f.pageCap > 0 {
		limit = min(limit, f.pageCap)
	}
	page := RangePage{RepairSent: f.repair}
	for i, k := range keys {
		if i == limit {
			page.Next = []byte(keys[i-1])
			break
		}
		rec := f.data[k]
		page.Records = append(page.Records, KV{Key: []byte(k), Value: rec.value, Version: rec.version})
	}
	return page, nil
}

func (f *httpFakeAPI) Status() Status {
	return Status{Node: "n1", N: 3, R: 2, W: 2, Members: []MemberStatus{{Name: "n1", State: "alive", Ring: "active"}}}
}

func (f *httpFakeAPI) WriteMetrics(w MetricsWriter) {
	w.Counter("kvstore_coordinator_writes_total", "Writes coordinated.", 7)
	w.Gauge("kvstore_hints_pending", "Hints waiting for\ntheir owner \\ node.", 2, "peer", `n"2`+"\n\\")
	w.Gauge("kvstore_hints_pending", "", 1, "peer", "n1")
	w.Counter("bad name-1", "", math.Inf(1), "bad-label", "v")
}

func (f *httpFakeAPI) callCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.calls)
}

func (f *httpFakeAPI) checkViolations(t testing.TB) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, v := range f.violations {
		t.Errorf("API called out of limits: %s", v)
	}
}

func (f *httpFakeAPI) set(key, value string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.clock++
	f.data[key] = httpFakeRecord{value: []byte(value), version: storage.Version(f.clock)}
}

// serve runs one request through h.
func httpServe(h http.Handler, method, target string, body io.Reader) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, target, body)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func httpErrorBody(t *testing.T, rec *httptest.ResponseRecorder) map[string]any {
	t.Helper()
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("error Content-Type = %q, want application/json", ct)
	}
	var m map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
		t.Fatalf("error body %q: %v", rec.Body.String(), err)
	}
	if s, _ := m["error"].(string); s == "" {
		t.Errorf("error body %q has no error message", rec.Body.String())
	}
	return m
}

// httpKVPath is the native path of key.
func httpKVPath(key []byte) string {
	return "/kv/" + url.PathEscape(string(key))
}

func TestHTTPLegacy(t *testing.T) {
	api := newHTTPFakeAPI(HTTPConfig{})
	h := NewHTTPHandler(api, HTTPConfig{})

	if rec := httpServe(h, "PUT", "/?key=a%20b&value=hello%26world", nil); rec.Code != 200 || rec.Body.Len() != 0 {
		t.Fatalf("PUT: %d %q", rec.Code, rec.Body)
	}
	rec := httpServe(h, "GET", "/?key=a+b", nil)
	if rec.Code != 200 || rec.Body.String() != "hello&world" {
		t.Fatalf("GET: %d %q", rec.Code, rec.Body)
	}
	if rec := httpServe(h, "PUT", "/?key=empty", nil); rec.Code != 200 {
		t.Fatalf("PUT without value: %d", rec.Code)
	}
	if rec := httpServe(h, "GET", "/?key=empty", nil); rec.Code != 200 || rec.Body.Len() != 0 {
		t.Fatalf("GET empty value: %d %q", rec.Code, rec.Body)
	}
	if rec := httpServe(h, "DELETE", "/?key=a%20b", nil); rec.Code != 200 || rec.Body.Len() != 0 {
		t.Fatalf("DELETE: %d %q", rec.Code, rec.Body)
	}
	rec = httpServe(h, "GET", "/?key=a%20b", nil)
	if rec.Code != 404 {
		t.Fatalf("GET after DELETE: %d", rec.Code)
	}
	httpErrorBody(t, rec)
	api.checkViolations(t)
}

func TestHTTPLegacyErrors(t *testing.T) {
	small := HTTPConfig{MaxKeySize: 8, MaxValueSize: 8}
	tests := []struct {
		name, method, target string
		code                 int
		allow                string
	}{
		{"get missing key", "GET", "/", 400, ""},
		{"get empty key", "GET", "/?key=", 400, ""},
		{"put missing key", "PUT", "/?value=1", 400, ""},
		{"delete missing key", "DELETE", "/?other=1", 400, ""},
		{"bad escape", "GET", "/?key=%zz", 400, ""},
		{"key too large", "PUT", "/?key=123456789&value=1", 413, ""},
		{"get key too large", "GET", "/?key=123456789", 413, ""},
		{"value too large", "PUT", "/?key=k&value=123456789", 413, ""},
		{"post root", "POST", "/?key=k", 405, "GET, PUT, DELETE"},
		{"get batchput", "GET", "/batchput", 405, "POST"},
		{"put range", "PUT", "/range", 405, "GET"},
		{"range start too large", "GET", "/range?start=123456789", 413, ""},
		{"range end too large", "GET", "/range?end=123456789", 413, ""},
		{"unknown path", "GET", "/nope", 404, ""},
		{"unknown nested path", "GET", "/kvx/a", 404, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := newHTTPFakeAPI(small)
			h := NewHTTPHandler(api, small)
			rec := httpServe(h, tt.method, tt.target, nil)
			if rec.Code != tt.code {
				t.Fatalf("code = %d, want %d (%s)", rec.Code, tt.code, rec.Body)
			}
			httpErrorBody(t, rec)
			if got := rec.Header().Get("Allow"); got != tt.allow {
				t.Errorf("Allow = %q, want %q", got, tt.allow)
			}
			if n := api.callCount(); n != 0 {
				t.Errorf("API called %d times", n)
			}
		})
	}
}

func TestHTTPLegacyUnavailable(t *testing.T) {
	api := newHTTPFakeAPI(HTTPConfig{})
	api.acks = 1
	h := NewHTTPHandler(api, HTTPConfig{})
	rec := httpServe(h, "PUT", "/?key=k&value=v", nil)
	if rec.Code != 503 {
		t.Fatalf("PUT: %d", rec.Code)
	}
	m := httpErrorBody(t, rec)
	if m["acks"] != 1.0 || m["required"] != 2.0 {
		t.Errorf("body = %v, want acks 1, required 2", m)
	}
	if rec := httpServe(h, "GET", "/?key=k", nil); rec.Code != 503 {
		t.Fatalf("GET: %d", rec.Code)
	}
	api.getErr = fmt.Errorf("node: replica: %w", context.DeadlineExceeded)
	if rec := httpServe(h, "GET", "/?key=k", nil); rec.Code != 503 {
		t.Fatalf("GET timing out: %d", rec.Code)
	}
	api.getErr = errors.New("disk on fire")
	if rec := httpServe(h, "GET", "/?key=k", nil); rec.Code != 500 {
		t.Fatalf("GET with an unknown error: %d", rec.Code)
	}
	api.getErr = fmt.Errorf("%w: key", ErrBadRequest)
	if rec := httpServe(h, "GET", "/?key=k", nil); rec.Code != 400 {
		t.Fatalf("GET with ErrBadRequest: %d", rec.Code)
	}
	api.getErr = fmt.Errorf("%w: key", ErrTooLarge)
	if rec := httpServe(h, "GET", "/?key=k", nil); rec.Code != 413 {
		t.Fatalf("GET with ErrTooLarge: %d", rec.Code)
	}
}

func TestHTTPLegacyBatchPut(t *testing.T) {
	limits := HTTPConfig{MaxBatchKeys: 3, MaxBodySize: 200, MaxKeySize: 8, MaxValueSize: 8}
	tests := []struct {
		name string
		body string
		code int
		want map[string]string // stored afterwards, when code is 200
	}{
		{"ok", `{"Keys":["a","b"],"Values":["1","2"]}`, 200, map[string]string{"a": "1", "b": "2"}},
		{"lowercase fields and unknown field", `{"keys":["a"],"values":["1"],"x":{"y":[1]}}`, 200, map[string]string{"a": "1"}},
		{"empty", `{"Keys":[],"Values":[]}`, 200, map[string]string{}},
		{"nulls", `{"Keys":null,"Values":null}`, 200, map[string]string{}},
		{"null body", `null`, 200, map[string]string{}},
		{"empty value", `{"Keys":["a"],"Values":[""]}`, 200, map[string]string{"a": ""}},
		{"lengths differ", `{"Keys":["a","b"],"Values":["1"]}`, 400, nil},
		{"bad json", `{"Keys":["a"`, 400, nil},
		{"not an object", `["a"]`, 400, nil},
		{"not strings", `{"Keys":[1],"Values":["1"]}`, 400, nil},
		{"keys not array", `{"Keys":"a","Values":["1"]}`, 400, nil},
		{"trailing data", `{"Keys":["a"],"Values":["1"]} {}`, 400, nil},
		{"empty body", ``, 400, nil},
		{"empty key", `{"Keys":[""],"Values":["1"]}`, 400, nil},
		{"too many keys", `{"Keys":["a","b","c","d"],"Values":["1","2","3","4"]}`, 413, nil},
		{"key too large", `{"Keys":["123456789"],"Values":["1"]}`, 413, nil},
		{"value too large", `{"Keys":["a"],"Values":["123456789"]}`, 413, nil},
		{"body too large", `{"Keys":["a"],"Values":["1"],"pad":"` + strings.Repeat("x", 200) + `"}`, 413, nil},
	}
	for _, tt := range tests {
		for _, chunked := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/chunked=%v", tt.name, chunked), func(t *testing.T) {
				api := newHTTPFakeAPI(limits)
				h := NewHTTPHandler(api, limits)
				var body io.Reader = strings.NewReader(tt.body)
				if chunked {
					body = io.MultiReader(body)
				}
				req := httptest.NewRequest("POST", "/batchput", body)
				if chunked != (req.ContentLength == -1) {
					t.Fatalf("ContentLength = %d", req.ContentLength)
				}
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != tt.code {
					t.Fatalf("code = %d, want %d (%s)", rec.Code, tt.code, rec.Body)
				}
				api.checkViolations(t)
				if tt.code != 200 {
					httpErrorBody(t, rec)
					if n := api.callCount(); n != 0 {
						t.Errorf("API called %d times", n)
					}
					return
				}
				if rec.Body.Len() != 0 {
					t.Errorf("body = %q, want empty", rec.Body)
				}
				got := map[string]string{}
				for k, r := range api.data {
					got[k] = string(r.value)
				}
				if fmt.Sprint(got) != fmt.Sprint(tt.want) {
					t.Errorf("stored %v, want %v", got, tt.want)
				}
			})
		}
	}

	t.Run("declared length too large", func(t *testing.T) {
		api := newHTTPFakeAPI(limits)
		h := NewHTTPHandler(api, limits)
		req := httptest.NewRequest("POST", "/batchput", strings.NewReader(`{}`))
		req.ContentLength = 1 << 40
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 413 || api.callCount() != 0 {
			t.Fatalf("code = %d, calls = %d", rec.Code, api.callCount())
		}
	})
	t.Run("quorum missed", func(t *testing.T) {
		api := newHTTPFakeAPI(limits)
		api.failKeys["b"] = true
		h := NewHTTPHandler(api, limits)
		rec := httpServe(h, "POST", "/batchput", strings.NewReader(`{"Keys":["a","b"],"Values":["1","2"]}`))
		if rec.Code != 503 {
			t.Fatalf("code = %d (%s)", rec.Code, rec.Body)
		}
		if m := httpErrorBody(t, rec); m["failed"] != 1.0 {
			t.Errorf("body = %v", m)
		}
	})
}

func TestHTTPLegacyRange(t *testing.T) {
	api := newHTTPFakeAPI(HTTPConfig{})
	api.pageCap = 2 // force the handler to follow cursors
	for _, k := range []string{"a", "b", "c", "d", "e", "f", "g"} {
		api.set(k, strings.ToUpper(k))
	}
	api.set("q<&>\"\\", "v\x00\xff")
	h := NewHTTPHandler(api, HTTPConfig{})
	tests := []struct{ query, want string }{
		{"start=b&end=e", `[{"Key":"b","Value":"B"},{"Key":"c","Value":"C"},{"Key":"d","Value":"D"},{"Key":"e","Value":"E"}]`},
		{"start=b&end=b", `[{"Key":"b","Value":"B"}]`},
		{"start=bb&end=c", `[{"Key":"c","Value":"C"}]`},
		{"start=e&end=b", `[]`},
		{"start=x&end=z", `[]`},
		{"start=f", `[{"Key":"f","Value":"F"},{"Key":"g","Value":"G"},{"Key":"q\u003c\u0026\u003e\"\\","Value":"v\u0000\ufffd"}]`},
		{"end=b", `[{"Key":"a","Value":"A"},{"Key":"b","Value":"B"}]`},
		{"start=&end=a", `[{"Key":"a","Value":"A"}]`},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			rec := httpServe(h, "GET", "/range?"+tt.query, nil)
			if rec.Code != 200 {
				t.Fatalf("code = %d (%s)", rec.Code, rec.Body)
			}
			if got := strings.TrimSuffix(rec.Body.String(), "\n"); got != tt.want {
				t.Errorf("body:\n got %s\nwant %s", got, tt.want)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
			var list []struct{ Key, Value string }
			if err := json.Unmarshal(rec.Body.Bytes(), &list); err != nil {
				t.Errorf("body is not JSON: %v", err)
			}
		})
	}
	api.checkViolations(t)

	api.rangeErr, api.rangeOK = fmt.Errorf("%w: partition 7", ErrUnavailable), 0
	if rec := httpServe(h, "GET", "/range?start=a&end=z", nil); rec.Code != 503 {
		t.Fatalf("first page failing: %d", rec.Code)
	}
}

// TestHTTPLegacyRangeAborts checks that a range failing after its first page
// cuts the connection rather than ending with a well-formed short array.
func TestHTTPLegacyRangeAborts(t *testing.T) {
	api := newHTTPFakeAPI(HTTPConfig{})
	api.pageCap = 2
	for i := range 10 {
		api.set(fmt.Sprintf("k%02d", i), "v")
	}
	api.rangeErr, api.rangeOK = ErrUnavailable, 2
	srv := httptest.NewServer(NewHTTPHandler(api, HTTPConfig{}))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/range?start=a&end=z")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	body, err := io.ReadAll(resp.Body)
	if err == nil {
		t.Fatalf("read the whole body %q without error", body)
	}
	if json.Valid(body) {
		t.Fatalf("truncated body %q is valid JSON", body)
	}
}

func TestHTTPNative(t *testing.T) {
	api := newHTTPFakeAPI(HTTPConfig{})
	h := NewHTTPHandler(api, HTTPConfig{})
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	keys := [][]byte{
		[]byte("plain"), all, []byte("a/b"), []byte("a//b/"), []byte("."), []byte(".."), []byte("../x"),
		[]byte("%2F"), []byte("?x=1#f"), []byte(" +"), {0}, {0xff, 0xfe},
	}
	for i, key := range keys {
		for _, value := range [][]byte{all, {}, []byte("v")} {
			t.Run(fmt.Sprintf("key%d/value%d", i, len(value)), func(t *testing.T) {
				rec := httpServe(h, "PUT", httpKVPath(key)+"?w=all", bytes.NewReader(value))
				if rec.Code != 200 || rec.Body.Len() != 0 {
					t.Fatalf("PUT: %d %q", rec.Code, rec.Body)
				}
				version := rec.Header().Get(HeaderVersion)
				if v, err := strconv.ParseUint(version, 10, 64); err != nil || v == 0 {
					t.Errorf("PUT version header %q", version)
				}
				if r, q := rec.Header().Get(HeaderReplicas), rec.Header().Get(HeaderRequired); r != "3" || q != "3" {
					t.Errorf("PUT replicas %q required %q, want 3 3", r, q)
				}
				rec = httpServe(h, "GET", httpKVPath(key)+"?r=one", nil)
				if rec.Code != 200 || !bytes.Equal(rec.Body.Bytes(), value) {
					t.Fatalf("GET: %d %q, want %q", rec.Code, rec.Body, value)
				}
				hd := rec.Header()
				if hd.Get(HeaderVersion) != version || hd.Get(HeaderReplicas) != "3" || hd.Get(HeaderRequired) != "1" ||
					hd.Get(HeaderReadRepair) != "false" || hd.Get("Content-Type") != "application/octet-stream" ||
					hd.Get("Content-Length") != strconv.Itoa(len(value)) {
					t.Errorf("GET headers %v", hd)
				}
				if got := api.data[string(key)].value; !bytes.Equal(got, value) {
					t.Errorf("stored %q", got)
				}
				rec = httpServe(h, "DELETE", httpKVPath(key), nil)
				if rec.Code != 200 || rec.Header().Get(HeaderRequired) != "2" {
					t.Fatalf("DELETE: %d %v", rec.Code, rec.Header())
				}
				rec = httpServe(h, "GET", httpKVPath(key), nil)
				if rec.Code != 404 {
					t.Fatalf("GET after DELETE: %d", rec.Code)
				}
				httpErrorBody(t, rec)
				if rec.Header().Get(HeaderReadRepair) != "false" {
					t.Errorf("404 headers %v", rec.Header())
				}
			})
		}
	}
	// A raw "/" in the path is part of the key, like %2F.
	httpServe(h, "PUT", "/kv/dir/file", strings.NewReader("x"))
	if rec := httpServe(h, "GET", "/kv/dir%2Ffile", nil); rec.Body.String() != "x" {
		t.Errorf("GET /kv/dir%%2Ffile = %d %q", rec.Code, rec.Body)
	}
	// HEAD answers like GET.
	if rec := httpServe(h, "HEAD", "/kv/dir/file", nil); rec.Code != 200 || rec.Header().Get(HeaderVersion) == "" {
		t.Errorf("HEAD = %d %v", rec.Code, rec.Header())
	}
	api.repair = true
	if rec := httpServe(h, "GET", "/kv/dir/file", nil); rec.Header().Get(HeaderReadRepair) != "true" {
		t.Errorf("read repair header %v", rec.Header())
	}
	api.checkViolations(t)
}

func TestHTTPNativeErrors(t *testing.T) {
	limits := HTTPConfig{MaxKeySize: 8, MaxValueSize: 8}
	tests := []struct {
		name, method, target, body string
		code                       int
		allow                      string
	}{
		{"empty key put", "PUT", "/kv/", "v", 400, ""},
		{"empty key get", "GET", "/kv/", "", 400, ""},
		{"empty key delete", "DELETE", "/kv/", "", 400, ""},
		{"bad w", "PUT", "/kv/k?w=most", "v", 400, ""},
		{"zero w", "PUT", "/kv/k?w=0", "v", 400, ""},
		{"bad r", "GET", "/kv/k?r=-1", "", 400, ""},
		{"bad delete w", "DELETE", "/kv/k?w=x", "", 400, ""},
		{"bad query", "GET", "/kv/k?r=%", "", 400, ""},
		{"key too large put", "PUT", "/kv/123456789", "v", 413, ""},
		{"key too large get", "GET", "/kv/123456789", "", 413, ""},
		{"key too large delete", "DELETE", "/kv/123456789", "", 413, ""},
		{"value too large", "PUT", "/kv/k", "123456789", 413, ""},
		{"post key", "POST", "/kv/k", "", 405, "GET, HEAD, PUT, DELETE"},
		{"patch key", "PATCH", "/kv/k", "", 405, "GET, HEAD, PUT, DELETE"},
		{"put kv", "PUT", "/kv", "", 405, "GET, POST"},
		{"post healthz", "POST", "/healthz", "", 405, "GET, HEAD"},
		{"post status", "POST", "/status", "", 405, "GET"},
		{"put metrics", "PUT", "/metrics", "", 405, "GET"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := newHTTPFakeAPI(limits)
			h := NewHTTPHandler(api, limits)
			rec := httpServe(h, tt.method, tt.target, strings.NewReader(tt.body))
			if rec.Code != tt.code {
				t.Fatalf("code = %d, want %d (%s)", rec.Code, tt.code, rec.Body)
			}
			httpErrorBody(t, rec)
			if got := rec.Header().Get("Allow"); got != tt.allow {
				t.Errorf("Allow = %q, want %q", got, tt.allow)
			}
			if n := api.callCount(); n != 0 {
				t.Errorf("API called %d times", n)
			}
		})
	}

	t.Run("value too large, chunked", func(t *testing.T) {
		api := newHTTPFakeAPI(limits)
		h := NewHTTPHandler(api, limits)
		req := httptest.NewRequest("PUT", "/kv/k", io.MultiReader(strings.NewReader("123456789")))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if req.ContentLength != -1 || rec.Code != 413 || api.callCount() != 0 {
			t.Fatalf("ContentLength %d, code %d, calls %d", req.ContentLength, rec.Code, api.callCount())
		}
	})
	t.Run("value at the limit, chunked", func(t *testing.T) {
		api := newHTTPFakeAPI(limits)
		h := NewHTTPHandler(api, limits)
		req := httptest.NewRequest("PUT", "/kv/k", io.MultiReader(strings.NewReader("12345678")))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 200 || string(api.data["k"].value) != "12345678" {
			t.Fatalf("code %d, stored %q", rec.Code, api.data["k"].value)
		}
	})
	t.Run("declared length too large", func(t *testing.T) {
		api := newHTTPFakeAPI(limits)
		h := NewHTTPHandler(api, limits)
		req := httptest.NewRequest("PUT", "/kv/k", strings.NewReader("1"))
		req.ContentLength = 9
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 413 || api.callCount() != 0 {
			t.Fatalf("code %d, calls %d", rec.Code, api.callCount())
		}
	})
	t.Run("quorum missed", func(t *testing.T) {
		api := newHTTPFakeAPI(limits)
		api.acks = 1
		h := NewHTTPHandler(api, limits)
		for _, method := range []string{"PUT", "DELETE"} {
			rec := httpServe(h, method, "/kv/k?w=quorum", strings.NewReader("v"))
			if rec.Code != 503 {
				t.Fatalf("%s: code %d", method, rec.Code)
			}
			m := httpErrorBody(t, rec)
			if m["acks"] != 1.0 || m["required"] != 2.0 {
				t.Errorf("%s: body %v", method, m)
			}
			if rec.Header().Get(HeaderReplicas) != "1" || rec.Header().Get(HeaderRequired) != "2" {
				t.Errorf("%s: headers %v", method, rec.Header())
			}
		}
		rec := httpServe(h, "GET", "/kv/k?r=all", nil)
		if rec.Code != 503 {
			t.Fatalf("GET: code %d", rec.Code)
		}
		if m := httpErrorBody(t, rec); m["replicas"] != 1.0 || m["required"] != 3.0 {
			t.Errorf("GET: body %v", m)
		}
		if rec := httpServe(h, "GET", "/kv/k?r=one", nil); rec.Code != 404 {
			t.Fatalf("GET r=one: code %d", rec.Code)
		}
	})
	t.Run("api not found error", func(t *testing.T) {
		api := newHTTPFakeAPI(limits)
		api.getErr = ErrNotFound
		rec := httpServe(NewHTTPHandler(api, limits), "GET", "/kv/k", nil)
		if rec.Code != 404 {
			t.Fatalf("code %d", rec.Code)
		}
	})
}

type httpTestBatchResult struct {
	Key      []byte `json:"key"`
	OK       bool   `json:"ok"`
	Version  uint64 `json:"version"`
	Acks     int    `json:"acks"`
	Required int    `json:"required"`
	Error    string `json:"error"`
}

func httpB64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func TestHTTPNativeBatch(t *testing.T) {
	api := newHTTPFakeAPI(HTTPConfig{})
	api.set("gone", "x")
	api.failKeys["bad"] = true
	h := NewHTTPHandler(api, HTTPConfig{})
	body := fmt.Sprintf(`{"records":[{"key":%q,"value":%q},{"key":%q,"delete":true},{"key":%q,"value":%q},{"key":%q}]}`,
		httpB64("\x00\xff"), httpB64("v1"), httpB64("gone"), httpB64("bad"), httpB64("v"), httpB64("empty"))
	rec := httpServe(h, "POST", "/kv?w=all", strings.NewReader(body))
	if rec.Code != 200 {
		t.Fatalf("code %d (%s)", rec.Code, rec.Body)
	}
	var out struct{ Results []httpTestBatchResult }
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		t.Fatal(err)
	}
	want := []struct {
		key  string
		ok   bool
		acks int
	}{{"\x00\xff", true, 3}, {"gone", true, 3}, {"bad", false, 0}, {"empty", true, 3}}
	if len(out.Results) != len(want) {
		t.Fatalf("results %+v", out.Results)
	}
	for i, w := range want {
		r := out.Results[i]
		if string(r.Key) != w.key || r.OK != w.ok || r.Acks != w.acks || r.Required != 3 || (r.Error == "") != w.ok || r.Version == 0 {
			t.Errorf("result %d = %+v, want key %q ok %v acks %d", i, r, w.key, w.ok, w.acks)
		}
	}
	if v, ok := api.data["\x00\xff"]; !ok || string(v.value) != "v1" {
		t.Errorf("binary key stored as %q", v.value)
	}
	if _, ok := api.data["gone"]; ok {
		t.Errorf("deleted key still there")
	}
	if v, ok := api.data["empty"]; !ok || len(v.value) != 0 {
		t.Errorf("empty value stored as %q, %v", v.value, ok)
	}
	if rec := httpServe(h, "POST", "/kv", strings.NewReader(`{"records":[]}`)); rec.Code != 200 || strings.TrimSpace(rec.Body.String()) != `{"results":[]}` {
		t.Errorf("empty batch: %d %s", rec.Code, rec.Body)
	}
	api.checkViolations(t)
}

func TestHTTPNativeBatchErrors(t *testing.T) {
	limits := HTTPConfig{MaxBatchKeys: 2, MaxBodySize: 300, MaxKeySize: 4, MaxValueSize: 4}
	rec := func(key, value string) string {
		return fmt.Sprintf(`{"key":%q,"value":%q}`, httpB64(key), httpB64(value))
	}
	tests := []struct {
		name, target, body string
		code               int
	}{
		{"bad json", "/kv", `{"records":[`, 400},
		{"not an object", "/kv", `[]`, 400},
		{"unknown top field", "/kv", `{"records":[],"x":1}`, 400},
		{"wrong case", "/kv", `{"Records":[]}`, 400},
		{"unknown record field", "/kv", `{"records":[{"key":"YQ==","val":"YQ=="}]}`, 400},
		{"bad base64", "/kv", `{"records":[{"key":"!!"}]}`, 400},
		{"missing key", "/kv", `{"records":[{"value":"YQ=="}]}`, 400},
		{"null record", "/kv", `{"records":[null]}`, 400},
		{"records not array", "/kv", `{"records":{}}`, 400},
		{"trailing data", "/kv", `{"records":[]}x`, 400},
		{"bad w", "/kv?w=none", `{"records":[]}`, 400},
		{"too many records", "/kv", `{"records":[` + rec("a", "1") + "," + rec("b", "2") + "," + rec("c", "3") + `]}`, 413},
		{"key too large", "/kv", `{"records":[` + rec("12345", "1") + `]}`, 413},
		{"value too large", "/kv", `{"records":[` + rec("a", "12345") + `]}`, 413},
		{"body too large", "/kv", `{"records":[` + strings.Repeat(" ", 300) + `]}`, 413},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := newHTTPFakeAPI(limits)
			h := NewHTTPHandler(api, limits)
			rec := httpServe(h, "POST", tt.target, strings.NewReader(tt.body))
			if rec.Code != tt.code {
				t.Fatalf("code = %d, want %d (%s)", rec.Code, tt.code, rec.Body)
			}
			httpErrorBody(t, rec)
			if n := api.callCount(); n != 0 {
				t.Errorf("API called %d times", n)
			}
		})
	}
	t.Run("delete ignores value size", func(t *testing.T) {
		api := newHTTPFakeAPI(limits)
		h := NewHTTPHandler(api, limits)
		rec := httpServe(h, "POST", "/kv", strings.NewReader(`{"records":[{"key":"YQ==","value":"MTIzNDU2","delete":true}]}`))
		if rec.Code != 200 {
			t.Fatalf("code %d (%s)", rec.Code, rec.Body)
		}
		api.checkViolations(t)
	})
}

// httpRangeLine is any line of a GET /kv response.
type httpRangeLine struct {
	Key     []byte  `json:"key"`
	Value   []byte  `json:"value"`
	Version uint64  `json:"version"`
	Next    *string `json:"next"`
	Repair  bool    `json:"repair"`
	Error   string  `json:"error"`
}

// httpReadRange parses a GET /kv body: its records and last line.
func httpReadRange(t *testing.T, body []byte) ([]KV, httpRangeLine) {
	t.Helper()
	lines := strings.SplitAfter(string(body), "\n")
	if last := lines[len(lines)-1]; last != "" {
		t.Fatalf("body does not end in a newline: %q", last)
	}
	lines = lines[:len(lines)-1]
	var kvs []KV
	for i, l := range lines {
		var rl httpRangeLine
		dec := json.NewDecoder(strings.NewReader(l))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&rl); err != nil {
			t.Fatalf("line %d %q: %v", i, l, err)
		}
		if i == len(lines)-1 {
			if rl.Next == nil {
				t.Fatalf("last line %q has no next", l)
			}
			return kvs, rl
		}
		if rl.Next != nil || rl.Key == nil {
			t.Fatalf("line %d %q is not a record", i, l)
		}
		kvs = append(kvs, KV{Key: rl.Key, Value: rl.Value, Version: storage.Version(rl.Version)})
	}
	t.Fatalf("empty body")
	return nil, httpRangeLine{}
}

func TestHTTPNativeRange(t *testing.T) {
	limits := HTTPConfig{MaxRangeLimit: 5}
	api := newHTTPFakeAPI(limits)
	api.pageCap = 2
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	keys := []string{"a", "b", "b\x00", "c", "d", "e", "f", "g", "h", "\xff\xff", string(all)}
	for _, k := range keys {
		api.set(k, "v"+k)
	}
	slices.Sort(keys)
	h := NewHTTPHandler(api, limits)

	q := func(start, end string, limit int, cursor string) string {
		v := url.Values{}
		if start != "" {
			v.Set("start", start)
		}
		if end != "" {
			v.Set("end", end)
		}
		if limit != 0 {
			v.Set("limit", strconv.Itoa(limit))
		}
		if cursor != "" {
			v.Set("cursor", cursor)
		}
		return "/kv?" + v.Encode()
	}
	// scan pages through [start, end] with the given page size.
	scan := func(start, end string, limit int) (got []string, pages int) {
		cursor := ""
		for {
			rec := httpServe(h, "GET", q(start, end, limit, cursor), nil)
			if rec.Code != 200 {
				t.Fatalf("code %d (%s)", rec.Code, rec.Body)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/x-ndjson" {
				t.Fatalf("Content-Type %q", ct)
			}
			kvs, last := httpReadRange(t, rec.Body.Bytes())
			if limit > 0 && len(kvs) > limit || len(kvs) > limits.MaxRangeLimit {
				t.Fatalf("page of %d records, limit %d", len(kvs), limit)
			}
			for _, kv := range kvs {
				if string(kv.Value) != "v"+string(kv.Key) || kv.Version == 0 {
					t.Fatalf("record %q = %q version %d", kv.Key, kv.Value, kv.Version)
				}
				got = append(got, string(kv.Key))
			}
			pages++
			if *last.Next == "" {
				return got, pages
			}
			cursor = *last.Next
			if pages > 100 {
				t.Fatal("range does not end")
			}
		}
	}
	tests := []struct {
		start, end string
		limit      int
	}{
		{"", "", 0}, {"", "", 1}, {"", "", 3}, {"", "", 100},
		{"b", "e", 0}, {"b", "e", 2}, {"b", "b", 0}, {"b\x00", "c", 1},
		{"e", "b", 0}, {"x", "y", 0}, {"\xff", "", 0}, {"", "\x00", 0}, {"", string(all), 4},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%q-%q/%d", tt.start, tt.end, tt.limit), func(t *testing.T) {
			var want []string
			for _, k := range keys {
				if k >= tt.start && (tt.end == "" || k <= tt.end) {
					want = append(want, k)
				}
			}
			got, pages := scan(tt.start, tt.end, tt.limit)
			if !slices.Equal(got, want) {
				t.Errorf("got %q, want %q", got, want)
			}
			pageSize := tt.limit
			if pageSize == 0 || pageSize > limits.MaxRangeLimit {
				pageSize = limits.MaxRangeLimit
			}
			if wantPages := max(1, (len(want)+pageSize-1)/pageSize); pages < wantPages || pages > wantPages+1 {
				t.Errorf("%d pages, want %d", pages, wantPages)
			}
		})
	}
	api.checkViolations(t)

	t.Run("errors", func(t *testing.T) {
		for _, target := range []string{
			"/kv?limit=-1", "/kv?limit=x", "/kv?cursor=!!", "/kv?cursor=A", "/kv?r=zero", "/kv?start=%",
		} {
			n := api.callCount()
			rec := httpServe(h, "GET", target, nil)
			if rec.Code != 400 {
				t.Errorf("%s: code %d", target, rec.Code)
			}
			httpErrorBody(t, rec)
			if api.callCount() != n {
				t.Errorf("%s: API called", target)
			}
		}
		for _, target := range []string{
			"/kv?start=" + strings.Repeat("x", 65<<10),
			"/kv?end=" + strings.Repeat("x", 65<<10),
			"/kv?cursor=" + strings.Repeat("x", 90<<10),
		} {
			n := api.callCount()
			if rec := httpServe(h, "GET", target, nil); rec.Code != 413 {
				t.Errorf("%.20s: code %d", target, rec.Code)
			}
			if api.callCount() != n {
				t.Errorf("%.20s: API called", target)
			}
		}
	})

	t.Run("repair", func(t *testing.T) {
		api.repair = true
		defer func() { api.repair = false }()
		_, last := httpReadRange(t, httpServe(h, "GET", q("a", "a", 0, ""), nil).Body.Bytes())
		if !last.Repair {
			t.Errorf("repair not reported")
		}
	})

	t.Run("first page fails", func(t *testing.T) {
		api.rangeErr, api.rangeOK, api.rangeN = ErrUnavailable, 0, 0
		defer func() { api.rangeErr = nil }()
		rec := httpServe(h, "GET", q("", "", 0, ""), nil)
		if rec.Code != 503 {
			t.Fatalf("code %d", rec.Code)
		}
		httpErrorBody(t, rec)
	})

	t.Run("later page fails", func(t *testing.T) {
		api.rangeErr, api.rangeOK, api.rangeN = fmt.Errorf("%w: partition 3", ErrUnavailable), 1, 0
		rec := httpServe(h, "GET", q("", "", 0, ""), nil)
		api.rangeErr = nil
		if rec.Code != 200 {
			t.Fatalf("code %d", rec.Code)
		}
		lines := strings.Split(strings.TrimSuffix(rec.Body.String(), "\n"), "\n")
		if len(lines) != 3 {
			t.Fatalf("lines %q", lines)
		}
		var last httpRangeLine
		if err := json.Unmarshal([]byte(lines[2]), &last); err != nil || last.Error == "" || last.Next == nil {
			t.Fatalf("last line %q: %v", lines[2], err)
		}
		// The cursor resumes after the two records written.
		got, _ := httpReadRange(t, httpServe(h, "GET", q("", "", 0, *last.Next), nil).Body.Bytes())
		if string(got[0].Key) != keys[2] {
			t.Errorf("resumed at %q, want %q", got[0].Key, keys[2])
		}
	})
}

// TestHTTPRangeStreams checks that the range endpoints write records before
// the whole range is read: the coordinator's second page waits until the
// client has received the first page's records.
func TestHTTPRangeStreams(t *testing.T) {
	for _, tc := range []struct{ name, path, firstRecord string }{
		{"native", "/kv?limit=10000", `{"key":"` + httpB64("k00000")},
		{"legacy", "/range", `[{"Key":"k00000"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			api := newHTTPFakeAPI(HTTPConfig{})
			const n = 3 * httpRangeChunk
			for i := range n {
				api.set(fmt.Sprintf("k%05d", i), strings.Repeat("v", 100))
			}
			received := make(chan struct{})
			api.rangeHook = func(call int) {
				if call == 2 {
					select {
					case <-received:
					case <-time.After(10 * time.Second):
					}
				}
			}
			srv := httptest.NewServer(NewHTTPHandler(api, HTTPConfig{}))
			defer srv.Close()
			resp, err := http.Get(srv.URL + tc.path)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			br := bufio.NewReader(resp.Body)
			start := time.Now()
			first := make([]byte, len(tc.firstRecord))
			if _, err := io.ReadFull(br, first); err != nil || string(first) != tc.firstRecord {
				t.Fatalf("first bytes %q: %v", first, err)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Fatalf("first record took %v: the response was buffered", d)
			}
			close(received)
			rest, err := io.ReadAll(br)
			if err != nil {
				t.Fatal(err)
			}
			body := append(first, rest...)
			if tc.name == "native" {
				kvs, last := httpReadRange(t, body)
				if len(kvs) != n || *last.Next != "" {
					t.Fatalf("%d records, next %q", len(kvs), *last.Next)
				}
			} else {
				var list []struct{ Key, Value string }
				if err := json.Unmarshal(body, &list); err != nil || len(list) != n {
					t.Fatalf("%d records: %v", len(list), err)
				}
			}
			if api.maxLimit > httpRangeChunk {
				t.Errorf("asked the coordinator for %d records at once", api.maxLimit)
			}
			api.checkViolations(t)
		})
	}
}

func TestHTTPOps(t *testing.T) {
	api := newHTTPFakeAPI(HTTPConfig{})
	h := NewHTTPHandler(api, HTTPConfig{})
	if rec := httpServe(h, "GET", "/healthz", nil); rec.Code != 200 || rec.Body.String() != "ok" {
		t.Errorf("healthz: %d %q", rec.Code, rec.Body)
	}
	rec := httpServe(h, "GET", "/status", nil)
	var st Status
	if err := json.Unmarshal(rec.Body.Bytes(), &st); rec.Code != 200 || err != nil || st.Node != "n1" || len(st.Members) != 1 {
		t.Errorf("status: %d %s %v", rec.Code, rec.Body, err)
	}
	httpServe(h, "PUT", "/kv/a", strings.NewReader("1"))
	httpServe(h, "GET", "/kv/a", nil)
	httpServe(h, "GET", "/kv/missing", nil)
	httpServe(h, "GET", "/nope", nil)
	rec = httpServe(h, "GET", "/metrics", nil)
	if rec.Code != 200 || rec.Header().Get("Content-Type") != promContentType {
		t.Fatalf("metrics: %d %v", rec.Code, rec.Header())
	}
	samples, err := promParseText(rec.Body.String())
	if err != nil {
		t.Fatalf("metrics do not parse: %v\n%s", err, rec.Body)
	}
	for series, want := range map[string]float64{
		`kvstore_coordinator_writes_total`:                                                   7,
		`kvstore_hints_pending{peer="n1"}`:                                                   1,
		`kvstore_hints_pending{peer="n\"2\n\\"}`:                                             2,
		`bad_name_1{bad_label="v"}`:                                                          math.Inf(1),
		`kvstore_http_requests_total{route="kv_put",code="2xx"}`:                             1,
		`kvstore_http_requests_total{route="kv_get",code="2xx"}`:                             1,
		`kvstore_http_requests_total{route="kv_get",code="4xx"}`:                             1,
		`kvstore_http_requests_total{route="other",code="4xx"}`:                              1,
		`kvstore_http_requests_total{route="status",code="2xx"}`:                             1,
		`kvstore_http_request_duration_seconds_count{route="healthz",code="2xx"}`:            1,
		`kvstore_http_request_duration_seconds_bucket{route="healthz",code="2xx",le="+Inf"}`: 1,
		`kvstore_http_requests_in_flight`:                                                    1,
	} {
		if got, ok := samples[series]; !ok || got != want {
			t.Errorf("%s = %v (present %v), want %v", series, got, ok, want)
		}
	}
	// A second scrape renders identically apart from the scrape counters.
	a := httpServe(h, "GET", "/metrics", nil).Body.String()
	b := httpServe(h, "GET", "/metrics", nil).Body.String()
	strip := func(s string) string {
		var out []string
		for _, l := range strings.Split(s, "\n") {
			if !strings.Contains(l, `route="metrics"`) {
				out = append(out, l)
			}
		}
		return strings.Join(out, "\n")
	}
	if strip(a) != strip(b) {
		t.Errorf("metrics not stable:\n%s\n---\n%s", a, b)
	}
}

func TestPromRegistry(t *testing.T) {
	p := newPromRegistry()
	p.Gauge("z_last", "", 1)
	p.Counter("a_total", "Help with \\ and\nnewline.", 3, "b", "2")
	p.Counter("a_total", "ignored", 1, "a", "1")
	p.Counter("a_total", "ignored", 5, "b", "2") // replaces the first
	p.Gauge("9starts_with_digit", "", math.NaN(), "x", "1", "dangling")
	p.Gauge("m", "", -1.5e-7, "", "empty name")
	var b strings.Builder
	if err := p.writeTo(&b); err != nil {
		t.Fatal(err)
	}
	want := `# TYPE _starts_with_digit gauge
_starts_with_digit{x="1"} NaN
# HELP a_total Help with \\ and\nnewline.
# TYPE a_total counter
a_total{a="1"} 1
a_total{b="2"} 5
# TYPE m gauge
m{_="empty name"} -1.5e-07
# TYPE z_last gauge
z_last 1
`
	if b.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
	}
	if _, err := promParseText(b.String()); err != nil {
		t.Error(err)
	}
}

func TestHTTPMetricsHistogram(t *testing.T) {
	var m httpMetrics
	m.observe(httpRouteKVGet, 200, 300*time.Microsecond)
	m.observe(httpRouteKVGet, 204, 3*time.Millisecond)
	m.observe(httpRouteKVGet, 200, time.Minute)
	m.observe(httpRouteKVGet, 503, time.Millisecond)
	m.observe(httpRouteKVGet, 999, time.Millisecond) // odd codes count as 5xx
	p := newPromRegistry()
	m.writeTo(p)
	var b strings.Builder
	p.writeTo(&b)
	s, err := promParseText(b.String())
	if err != nil {
		t.Fatalf("%v\n%s", err, b.String())
	}
	for series, want := range map[string]float64{
		`kvstore_http_request_duration_seconds_bucket{route="kv_get",code="2xx",le="0.0005"}`: 1,
		`kvstore_http_request_duration_seconds_bucket{route="kv_get",code="2xx",le="0.001"}`:  1,
		`kvstore_http_request_duration_seconds_bucket{route="kv_get",code="2xx",le="0.005"}`:  2,
		`kvstore_http_request_duration_seconds_bucket{route="kv_get",code="2xx",le="10"}`:     2,
		`kvstore_http_request_duration_seconds_bucket{route="kv_get",code="2xx",le="+Inf"}`:   3,
		`kvstore_http_request_duration_seconds_count{route="kv_get",code="2xx"}`:              3,
		`kvstore_http_request_duration_seconds_sum{route="kv_get",code="2xx"}`:                60.0033,
		`kvstore_http_request_duration_seconds_bucket{route="kv_get",code="5xx",le="0.001"}`:  2,
		`kvstore_http_requests_total{route="kv_get",code="5xx"}`:                              2,
	} {
		if got := s[series]; math.Abs(got-want) > 1e-9 {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}
}

// promParseText checks text against the Prometheus text format 0.0.4 and
// returns its samples by series (name plus label set as written).
func promParseText(text string) (map[string]float64, error) {
	if text != "" && !strings.HasSuffix(text, "\n") {
		return nil, errors.New("does not end in a newline")
	}
	samples := map[string]float64{}
	types := map[string]string{}
	helps := map[string]bool{}
	var current string // family of the last line
	done := map[string]bool{}
	// histogram state per series without le
	lastLE := map[string]float64{}
	lastBucket := map[string]float64{}
	validName := func(s string, colon bool) bool {
		return s != "" && promSanitize(s, colon) == s
	}
	enter := func(fam string) error {
		if fam != current {
			if done[fam] {
				return fmt.Errorf("family %s is not contiguous", fam)
			}
			if current != "" {
				done[current] = true
			}
			current = fam
		}
		return nil
	}
	for i, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		fail := func(format string, args ...any) error {
			return fmt.Errorf("line %d %q: %s", i+1, line, fmt.Sprintf(format, args...))
		}
		if strings.HasPrefix(line, "#") {
			f := strings.SplitN(line, " ", 4)
			if len(f) < 3 || f[0] != "#" || (f[1] != "HELP" && f[1] != "TYPE") {
				return nil, fail("bad comment")
			}
			if !validName(f[2], true) {
				return nil, fail("bad name")
			}
			if err := enter(f[2]); err != nil {
				return nil, fail("%v", err)
			}
			if f[1] == "HELP" {
				if helps[f[2]] {
					return nil, fail("second HELP")
				}
				helps[f[2]] = true
				if len(f) == 4 {
					h := f[3]
					for j := 0; j < len(h); j++ {
						if h[j] == '\\' {
							if j+1 >= len(h) || (h[j+1] != '\\' && h[j+1] != 'n') {
								return nil, fail("bad escape in HELP")
							}
							j++
						}
					}
				}
				continue
			}
			if len(f) != 4 || !slices.Contains([]string{"counter", "gauge", "histogram", "summary", "untyped"}, f[3]) {
				return nil, fail("bad TYPE")
			}
			if _, ok := types[f[2]]; ok {
				return nil, fail("second TYPE")
			}
			if _, ok := samples[f[2]]; ok {
				return nil, fail("TYPE after samples")
			}
			types[f[2]] = f[3]
			continue
		}
		// name{labels} value
		j := strings.IndexAny(line, "{ ")
		if j < 0 {
			return nil, fail("no value")
		}
		name := line[:j]
		if !validName(name, true) {
			return nil, fail("bad name")
		}
		rest := line[j:]
		var labels [][2]string
		if rest[0] == '{' {
			k := 1
			for {
				if k >= len(rest) {
					return nil, fail("unterminated labels")
				}
				if rest[k] == '}' {
					k++
					break
				}
				eq := strings.Index(rest[k:], `="`)
				if eq < 0 {
					return nil, fail("bad label")
				}
				lname := rest[k : k+eq]
				if !validName(lname, false) {
					return nil, fail("bad label name %q", lname)
				}
				k += eq + 2
				var val strings.Builder
				for {
					if k >= len(rest) {
						return nil, fail("unterminated label value")
					}
					c := rest[k]
					if c == '"' {
						k++
						break
					}
					if c == '\\' {
						if k+1 >= len(rest) {
							return nil, fail("bad escape")
						}
						switch rest[k+1] {
						case '\\':
							val.WriteByte('\\')
						case '"':
							val.WriteByte('"')
						case 'n':
							val.WriteByte('\n')
						default:
							return nil, fail("bad escape")
						}
						k += 2
						continue
					}
					if c == '\n' {
						return nil, fail("raw newline")
					}
					val.WriteByte(c)
					k++
				}
				for _, l := range labels {
					if l[0] == lname {
						return nil, fail("duplicate label %s", lname)
					}
				}
				labels = append(labels, [2]string{lname, val.String()})
				if k < len(rest) && rest[k] == ',' {
					k++
				}
			}
			rest = rest[k:]
		}
		if !strings.HasPrefix(rest, " ") {
			return nil, fail("no space before value")
		}
		vs := rest[1:]
		v, err := strconv.ParseFloat(vs, 64)
		if err != nil && vs != "+Inf" && vs != "-Inf" && vs != "NaN" {
			return nil, fail("bad value")
		}
		fam := name
		for _, suf := range []string{"_bucket", "_sum", "_count"} {
			if base, ok := strings.CutSuffix(name, suf); ok && types[base] == "histogram" {
				fam = base
			}
		}
		if types[fam] == "" {
			return nil, fail("sample without TYPE")
		}
		if err := enter(fam); err != nil {
			return nil, fail("%v", err)
		}
		series := line[:len(line)-len(rest)]
		if _, ok := samples[series]; ok {
			return nil, fail("duplicate series")
		}
		samples[series] = v
		if types[fam] == "histogram" {
			var key strings.Builder
			le := ""
			for _, l := range labels {
				if l[0] == "le" {
					le = l[1]
				} else {
					fmt.Fprintf(&key, "%s=%q,", l[0], l[1])
				}
			}
			id := fam + "{" + key.String()
			switch {
			case name == fam+"_bucket":
				bound, err := strconv.ParseFloat(le, 64)
				if err != nil {
					return nil, fail("bad le")
				}
				if prev, ok := lastLE[id]; ok && bound <= prev {
					return nil, fail("le not ascending")
				}
				if v < lastBucket[id] {
					return nil, fail("buckets not cumulative")
				}
				lastLE[id], lastBucket[id] = bound, v
			case name == fam+"_count":
				if !math.IsInf(lastLE[id], 1) || lastBucket[id] != v {
					return nil, fail("count %v does not match the +Inf bucket %v", v, lastBucket[id])
				}
			}
		}
	}
	return samples, nil
}

func TestHTTPAppendJSONString(t *testing.T) {
	cases := []string{"", "plain", "<&>", "\"\\", "\b\f\n\r\t\x00\x01\x1f\x7f", "\u2028\u2029", "\xff\xfe", "é€𝄞", "\xe2\x80", "a\xc3"}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		b := make([]byte, rng.IntN(12))
		for i := range b {
			b[i] = byte(rng.IntN(256))
		}
		cases = append(cases, string(b))
	}
	for _, s := range cases {
		want, _ := json.Marshal(s)
		if got := httpAppendJSONString(nil, []byte(s)); string(got) != string(want) {
			t.Errorf("httpAppendJSONString(%q) = %s, want %s", s, got, want)
		}
	}
}

func TestHTTPConfig(t *testing.T) {
	if err := DefaultHTTPConfig().Validate(); err != nil {
		t.Error(err)
	}
	if err := (HTTPConfig{}).Validate(); err != nil {
		t.Error(err)
	}
	err := HTTPConfig{MaxKeySize: -1, RequestTimeout: -1}.Validate()
	if err == nil || !strings.Contains(err.Error(), "MaxKeySize") || !strings.Contains(err.Error(), "RequestTimeout") {
		t.Errorf("Validate = %v", err)
	}
	if got := (HTTPConfig{MaxKeySize: -5}).withDefaults(); got != DefaultHTTPConfig() {
		t.Errorf("withDefaults = %+v", got)
	}
}

func BenchmarkHTTPHandler(b *testing.B) {
	for _, size := range []int{16, 4096} {
		api := newHTTPFakeAPI(HTTPConfig{})
		api.quiet = true
		h := NewHTTPHandler(api, HTTPConfig{})
		value := bytes.Repeat([]byte("v"), size)
		b.Run(fmt.Sprintf("put/value=%d", size), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(size))
			for b.Loop() {
				req := httptest.NewRequest("PUT", "/kv/key?w=quorum", bytes.NewReader(value))
				h.ServeHTTP(httptest.NewRecorder(), req)
			}
		})
		b.Run(fmt.Sprintf("get/value=%d", size), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(size))
			for b.Loop() {
				req := httptest.NewRequest("GET", "/kv/key", nil)
				h.ServeHTTP(httptest.NewRecorder(), req)
			}
		})
	}
	b.Run("range/records=10000", func(b *testing.B) {
		api := newHTTPFakeAPI(HTTPConfig{})
		api.quiet = true
		for i := range 10000 {
			api.set(fmt.Sprintf("key%06d", i), strings.Repeat("v", 100))
		}
		h := NewHTTPHandler(api, HTTPConfig{})
		b.ReportAllocs()
		for b.Loop() {
			h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/kv", nil))
		}
	})
}

// A native write with X-Kvstore-After moves the node's clock past the token
// before the write is versioned; a bad token is refused and writes nothing.
func TestHTTPCausalityToken(t *testing.T) {
	tests := []struct {
		name, method, target, body, token string
		code                              int
		calls                             []string // the API calls, in order
	}{
		{"put", "PUT", "/kv/a", "v", "5000", 200, []string{"observe 5000", "put a"}},
		{"delete", "DELETE", "/kv/a", "", "5000", 200, []string{"observe 5000", "delete a"}},
		{"batch", "POST", "/kv", `{"records":[{"key":"YQ==","value":"dg=="}]}`, "5000", 200, []string{"observe 5000", "batch 1"}},
		{"no token", "PUT", "/kv/a", "v", "", 200, []string{"put a"}},
		{"not a number", "PUT", "/kv/a", "v", "12x", 400, nil},
		{"negative", "PUT", "/kv/a", "v", "-1", 400, nil},
		{"too far ahead", "PUT", "/kv/a", "v", strconv.FormatUint(httpFakeMaxToken+1, 10), 400, []string{fmt.Sprintf("observe %d", uint64(httpFakeMaxToken+1))}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := newHTTPFakeAPI(HTTPConfig{})
			h := NewHTTPHandler(api, HTTPConfig{})
			req := httptest.NewRequest(tt.method, tt.target, strings.NewReader(tt.body))
			if tt.token != "" {
				req.Header.Set(HeaderAfter, tt.token)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tt.code {
				t.Fatalf("status %d, want %d: %s", rec.Code, tt.code, rec.Body)
			}
			if fmt.Sprint(api.calls) != fmt.Sprint(tt.calls) {
				t.Fatalf("calls %v, want %v", api.calls, tt.calls)
			}
			if tt.code != 200 {
				if len(api.data) != 0 {
					t.Fatalf("a refused write stored %d records", len(api.data))
				}
				return
			}
			if v, _ := strconv.ParseUint(rec.Header().Get(HeaderVersion), 10, 64); tt.method == "PUT" && tt.token != "" && v <= 5000 {
				t.Fatalf("write version %d, want above the token 5000", v)
			}
		})
	}
}
