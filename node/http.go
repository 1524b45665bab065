package node

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"kvstore/storage"
)

// HTTPConfig holds the limits and deadlines of the HTTP API. A zero or
// negative field takes its default (see DefaultHTTPConfig).
type HTTPConfig struct {
	// MaxKeySize is the largest key, in bytes. Default 64 KiB.
	MaxKeySize int
	// MaxValueSize is the largest value, in bytes. Default 1 MiB.
	MaxValueSize int
	// MaxBodySize is the largest request body of the batch endpoints, in
	// bytes. Default 16 MiB.
	MaxBodySize int64
	// MaxBatchKeys is the most records one batch may carry. Default 10000.
	MaxBatchKeys int
	// MaxRangeLimit is the most records one page of GET /kv may return; a
	// larger limit parameter is lowered to it. Default 10000.
	MaxRangeLimit int
	// RequestTimeout bounds the work done for a request: the whole request
	// for single-key and batch operations, and each page fetched from the
	// coordinator for the streamed range endpoints. Default 5 s.
	RequestTimeout time.Duration
}

// DefaultHTTPConfig returns the default limits.
func DefaultHTTPConfig() HTTPConfig {
	return HTTPConfig{
		MaxKeySize:     64 << 10,
		MaxValueSize:   1 << 20,
		MaxBodySize:    16 << 20,
		MaxBatchKeys:   10000,
		MaxRangeLimit:  10000,
		RequestTimeout: 5 * time.Second,
	}
}

// Validate reports every field that is negative (zero means the default).
func (c HTTPConfig) Validate() error {
	var errs []error
	check := func(name string, bad bool) {
		if bad {
			errs = append(errs, fmt.Errorf("node: HTTPConfig.%s must not be negative", name))
		}
	}
	check("MaxKeySize", c.MaxKeySize < 0)
	check("MaxValueSize", c.MaxValueSize < 0)
	check("MaxBodySize", c.MaxBodySize < 0)
	check("MaxBatchKeys", c.MaxBatchKeys < 0)
	check("MaxRangeLimit", c.MaxRangeLimit < 0)
	check("RequestTimeout", c.RequestTimeout < 0)
	return errors.Join(errs...)
}

func (c HTTPConfig) withDefaults() HTTPConfig {
	d := DefaultHTTPConfig()
	if c.MaxKeySize <= 0 {
		c.MaxKeySize = d.MaxKeySize
	}
	if c.MaxValueSize <= 0 {
		c.MaxValueSize = d.MaxValueSize
	}
	if c.MaxBodySize <= 0 {
		c.MaxBodySize = d.MaxBodySize
	}
	if c.MaxBatchKeys <= 0 {
		c.MaxBatchKeys = d.MaxBatchKeys
	}
	if c.MaxRangeLimit <= 0 {
		c.MaxRangeLimit = d.MaxRangeLimit
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = d.RequestTimeout
	}
	return c
}

// Response headers of the native single-key endpoints.
const (
	// HeaderVersion is the decimal uint64 version of the record written
	// or read (0 when a read found none).
	HeaderVersion = "X-Kvstore-Version"
	// HeaderReplicas is how many replicas acknowledged a write or answered
	// a read.
	HeaderReplicas = "X-Kvstore-Replicas"
	// HeaderRequired is how many the consistency level asked for.
	HeaderRequired = "X-Kvstore-Required"
	// HeaderReadRepair is "true" when a read sent read repair.
	HeaderReadRepair = "X-Kvstore-Read-Repair"
	// HeaderAfter, on a native write request (PUT, DELETE, batch), is the
	// client's causality token: the highest X-Kvstore-Version it has seen,
	// decimal. The write gets a newer version than that (API.ObserveVersion),
	// so a client's writes through different nodes keep their order even
	// when the nodes' clocks disagree.
	HeaderAfter = "X-Kvstore-After"
)

// observeAfter applies the request's HeaderAfter, if any; on a bad token it
// answers 400 and returns false.
func (h *httpHandler) observeAfter(w http.ResponseWriter, r *http.Request) bool {
	s := r.Header.Get(HeaderAfter)
	if s == "" {
		return true
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		httpError(w, http.StatusBadRequest, fmt.Sprintf("node: %s: %q is not a version (a decimal uint64)", HeaderAfter, s))
		return false
	}
	if err := h.api.ObserveVersion(storage.Version(v)); err != nil {
		httpError(w, http.StatusBadRequest, err.Error())
		return false
	}
	return true
}

const (
	// httpRangeChunk is the most records the range endpoints ask the
	// coordinator for at once (never more than MaxRangeLimit); it bounds a
	// streamed range's memory.
	httpRangeChunk = 1000
	// httpCursorSlack is how much longer than MaxKeySize a decoded range
	// cursor may be.
	httpCursorSlack = 1024
	// httpStreamBuffer is the write buffer of the streamed endpoints.
	httpStreamBuffer = 32 << 10
)

// NewHTTPHandler returns the HTTP API of a node, serving api. It is safe
// for concurrent use. Serve it as the server's root handler: a ServeMux in
// front would clean paths and so change keys that contain "//", "." or "..".
//
// Every limit is checked before api is called: a declared Content-Length
// over the limit is refused before the body is read, and bodies are read
// through http.MaxBytesReader. Errors are JSON objects {"error":"<message>"}
// with the status code of the error: 400 bad input (ErrBadRequest), 404
// missing key or unknown path (ErrNotFound), 405 wrong method (with an Allow
// header), 413 a key, value, body or batch over the limit (ErrTooLarge), 503
// a quorum not reached, a timeout or a closing node (ErrUnavailable), 500
// anything else.
//
// # Original API
//
// Kept exactly as the service kvstore replaces had it; keys and values are
// strings (the query string is percent-decoded), levels are the node's
// defaults.
//
//	PUT    /?key=K&value=V   200, empty body. A missing value is "".
//	GET    /?key=K           200, the value as the body (text/plain); 404 absent.
//	DELETE /?key=K           200, empty body.
//	POST   /batchput         body {"Keys":["a","b"],"Values":["1","2"]} (field
//	                         names case-insensitive, unknown fields ignored);
//	                         200 empty body; 400 on bad JSON or when the lengths
//	                         differ; 503 when any key missed its quorum (the
//	                         others may have been written).
//	GET    /range?start=A&end=B
//	                         200, a JSON array [{"Key":"a","Value":"1"},...] in
//	                         key order, both ends inclusive; a missing or empty
//	                         start or end leaves that side unbounded. Streamed
//	                         page by page; if a later page fails, the connection
//	                         is aborted so the client sees an incomplete array
//	                         instead of a short one. Strings are written as
//	                         encoding/json writes them (bytes that are not
//	                         UTF-8 become U+FFFD): binary data belongs on the
//	                         native API.
//
// A missing or empty key is 400. A write that misses its quorum is 503 with
// the body of the native API.
//
// # Native API
//
// Binary-safe: a key is the rest of the path after "/kv/", percent-decoded
// (any bytes; "/" within a key may be sent as is or as %2F). The consistency
// level is the query parameter w (writes) or r (reads): "one", "quorum",
// "all" or a number; absent means the node's default (see ParseLevel).
//
//	PUT    /kv/{key}?w=L     body: the raw value. 200, empty body.
//	GET    /kv/{key}?r=L     200, the raw value (application/octet-stream); 404 absent.
//	HEAD   /kv/{key}?r=L     as GET without the body.
//	DELETE /kv/{key}?w=L     200, empty body.
//
// These set the headers X-Kvstore-Version (decimal version of the record
// written or read, 0 if none), X-Kvstore-Replicas (acknowledgements of a
// write, answers to a read), X-Kvstore-Required (what the level asked for)
// and, on reads, X-Kvstore-Read-Repair (true or false), also on 404 and 503.
// A write that misses its quorum is 503 with
// {"error":"...","acks":1,"required":2}; a read that does is 503 with
// {"error":"...","replicas":1,"required":2}.
//
// Batch:
//
//	POST /kv?w=L
//	{"records":[{"key":"<base64>","value":"<base64>","delete":false},...]}
//
// key and value are standard base64 with padding (RFC 4648 §4), as Go's
// encoding/json writes []byte; a record with "delete":true deletes its key
// and ignores value; unknown fields are 400. The answer is 200 whenever the
// batch was well-formed and within limits, even if some keys failed; each
// key's outcome is in its result, in the order of the request:
//
//	{"results":[{"key":"<base64>","ok":true,"version":123,"acks":2,"required":2,"error":""},...]}
//
// ok is true when acks >= required. Malformed JSON, an empty key or unknown
// field is 400; more than MaxBatchKeys records, a key or value over its limit
// or a body over MaxBodySize is 413, and nothing is written.
//
// Range:
//
//	GET /kv?start=S&end=E&limit=N&cursor=C&r=L
//
// start and end are raw key bytes, percent-encoded in the query string (as
// url.QueryEscape writes them); both are inclusive, and a missing or empty
// one leaves that side unbounded. limit is the most records in this response
// (absent or 0: MaxRangeLimit; more than MaxRangeLimit is lowered to it;
// negative or not a number is 400). cursor is the "next" of a previous
// response, opaque to clients: unpadded base64url (RFC 4648 §5) of the
// coordinator's cursor; the response continues after it. The answer is 200
// with Content-Type application/x-ndjson: one JSON object per line, each
// line ending in "\n", flushed page by page so a long range is never held
// whole in memory:
//
//	{"key":"<base64>","value":"<base64>","version":123}   one per record, in key order
//	{"next":"<cursor>","repair":false}                    last line
//
// next is "" when the range is done, else the cursor of the following page.
// repair is true when read repair was sent for any key of the response. If a
// page fails after the first line was written, the last line is instead
// {"error":"<message>","next":"<cursor>"}, where next resumes the range
// after the last record written. A response without either last line was
// cut off. An error before the first record is a plain error response.
//
// # Operations
//
//	GET /healthz   200 "ok" (HEAD too).
//	GET /status    200, the JSON of api.Status().
//	GET /metrics   200, the Prometheus text format 0.0.4: api.WriteMetrics's
//	               samples plus kvstore_http_requests_total{route,code},
//	               kvstore_http_request_duration_seconds{route,code} (a
//	               histogram) and kvstore_http_requests_in_flight, where
//	               route names the endpoint (legacy_get, kv_put, kv_range,
//	               ..., other for unknown paths and wrong methods) and code
//	               is the status class: 1xx, 2xx, 3xx, 4xx or 5xx.
func NewHTTPHandler(api API, cfg HTTPConfig) http.Handler {
	h := &httpHandler{api: api, cfg: cfg.withDefaults()}
	h.bufs.New = func() any { return bufio.NewWriterSize(nil, httpStreamBuffer) }
	return h
}

// httpHandler implements NewHTTPHandler. Its fields are read-only after
// construction; metrics and bufs are safe for concurrent use.
type httpHandler struct {
	api     API
	cfg     HTTPConfig
	metrics httpMetrics
	bufs    sync.Pool // of *bufio.Writer, for the streamed endpoints
}

// httpStatusWriter records the status code a handler writes.
type httpStatusWriter struct {
	http.ResponseWriter
	code int // 0 until the header is written
	// aborted is set while the handler runs and cleared when it returns,
	// so a panic leaves it set.
	aborted bool
}

func (w *httpStatusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *httpStatusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Flush sends buffered data to the client, if the underlying writer can.
func (w *httpStatusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *httpStatusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *httpStatusWriter) status() int {
	switch {
	case w.aborted:
		return http.StatusInternalServerError
	case w.code == 0:
		return http.StatusOK
	}
	return w.code
}

func (h *httpHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	h.metrics.inFlight.Add(1)
	sw := &httpStatusWriter{ResponseWriter: w}
	route, allow := httpRouteOf(r)
	defer func() {
		h.metrics.inFlight.Add(-1)
		h.metrics.observe(route, sw.status(), time.Since(start))
	}()
	// A panic (an API bug, or an aborted stream) counts as a 5xx; the
	// server recovers it and drops the connection.
	sw.aborted = true
	h.serve(sw, r, route, allow)
	sw.aborted = false
}

// httpRouteOf returns the route of r, or httpRouteOther with the methods
// the path allows ("" for an unknown path).
func httpRouteOf(r *http.Request) (httpRoute, string) {
	path, m := r.URL.Path, r.Method
	switch {
	case path == "/":
		switch m {
		case http.MethodGet:
			return httpRouteLegacyGet, ""
		case http.MethodPut:
			return httpRouteLegacyPut, ""
		case http.MethodDelete:
			return httpRouteLegacyDelete, ""
		}
		return httpRouteOther, "GET, PUT, DELETE"
	case path == "/batchput":
		if m == http.MethodPost {
			return httpRouteLegacyBatchPut, ""
		}
		return httpRouteOther, "POST"
	case path == "/range":
		if m == http.MethodGet {
			return httpRouteLegacyRange, ""
		}
		return httpRouteOther, "GET"
	case path == "/kv":
		switch m {
		case http.MethodGet:
			return httpRouteKVRange, ""
		case http.MethodPost:
			return httpRouteKVBatch, ""
		}
		return httpRouteOther, "GET, POST"
	case strings.HasPrefix(path, "/kv/"):
		switch m {
		case http.MethodGet, http.MethodHead:
			return httpRouteKVGet, ""
		case http.MethodPut:
			return httpRouteKVPut, ""
		case http.MethodDelete:
			return httpRouteKVDelete, ""
		}
		return httpRouteOther, "GET, HEAD, PUT, DELETE"
	case path == "/healthz":
		if m == http.MethodGet || m == http.MethodHead {
			return httpRouteHealthz, ""
		}
		return httpRouteOther, "GET, HEAD"
	case path == "/status":
		if m == http.MethodGet {
			return httpRouteStatus, ""
		}
		return httpRouteOther, "GET"
	case path == "/metrics":
		if m == http.MethodGet {
			return httpRouteMetrics, ""
		}
		return httpRouteOther, "GET"
	}
	return httpRouteOther, ""
}

// serve runs the handler of route.
func (h *httpHandler) serve(w *httpStatusWriter, r *http.Request, route httpRoute, allow string) {
	key := strings.TrimPrefix(r.URL.Path, "/kv/")
	switch route {
	case httpRouteLegacyGet:
		h.legacyGet(w, r)
	case httpRouteLegacyPut:
		h.legacyWrite(w, r, false)
	case httpRouteLegacyDelete:
		h.legacyWrite(w, r, true)
	case httpRouteLegacyBatchPut:
		h.legacyBatchPut(w, r)
	case httpRouteLegacyRange:
		h.legacyRange(w, r)
	case httpRouteKVGet:
		h.kvGet(w, r, key)
	case httpRouteKVPut:
		h.kvWrite(w, r, key, false)
	case httpRouteKVDelete:
		h.kvWrite(w, r, key, true)
	case httpRouteKVBatch:
		h.kvBatch(w, r)
	case httpRouteKVRange:
		h.kvRange(w, r)
	case httpRouteHealthz:
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "ok")
	case httpRouteStatus:
		httpWriteJSON(w, http.StatusOK, h.api.Status())
	case httpRouteMetrics:
		h.serveMetrics(w)
	default:
		if allow != "" {
			httpNotAllowed(w, allow)
		} else {
			httpError(w, http.StatusNotFound, "node: no such endpoint: "+r.URL.Path)
		}
	}
}

// context returns the context of one unit of work for r.
func (h *httpHandler) context(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), h.cfg.RequestTimeout)
}

// checkKey reports why key cannot be used, as a status code and message,
// or 0.
func (h *httpHandler) checkKey(key string) (int, string) {
	if key == "" {
		return http.StatusBadRequest, "node: missing key"
	}
	if len(key) > h.cfg.MaxKeySize {
		return http.StatusRequestEntityTooLarge, fmt.Sprintf("node: key of %d bytes is larger than %d", len(key), h.cfg.MaxKeySize)
	}
	return 0, ""
}

func (h *httpHandler) checkValue(n int64) (int, string) {
	if n > int64(h.cfg.MaxValueSize) {
		return http.StatusRequestEntityTooLarge, fmt.Sprintf("node: value of %d bytes is larger than %d", n, h.cfg.MaxValueSize)
	}
	return 0, ""
}

// httpParseQuery parses r's query string strictly (a malformed escape is an
// error rather than a dropped parameter).
func httpParseQuery(w http.ResponseWriter, r *http.Request) (url.Values, bool) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		httpError(w, http.StatusBadRequest, "node: bad query string: "+err.Error())
		return nil, false
	}
	return q, true
}

// httpParseLevel parses the level parameter name of q.
func httpParseLevel(w http.ResponseWriter, q url.Values, name string) (Level, bool) {
	l, err := ParseLevel(q.Get(name))
	if err != nil {
		httpError(w, http.StatusBadRequest, err.Error())
		return 0, false
	}
	return l, true
}

// Original API.

func (h *httpHandler) legacyKey(w http.ResponseWriter, q url.Values) (string, bool) {
	key := q.Get("key")
	if code, msg := h.checkKey(key); code != 0 {
		if code == http.StatusBadRequest {
			msg = "node: missing key parameter"
		}
		httpError(w, code, msg)
		return "", false
	}
	return key, true
}

func (h *httpHandler) legacyGet(w http.ResponseWriter, r *http.Request) {
	q, ok := httpParseQuery(w, r)
	if !ok {
		return
	}
	key, ok := h.legacyKey(w, q)
	if !ok {
		return
	}
	ctx, cancel := h.context(r)
	defer cancel()
	res, err := h.api.Get(ctx, []byte(key), LevelDefault)
	if err == nil && !res.Found {
		err = ErrNotFound
	}
	if err != nil {
		httpReadError(w, res, err)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", "text/plain; charset=utf-8")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Content-Length", strconv.Itoa(len(res.Value)))
	w.WriteHeader(http.StatusOK)
	w.Write(res.Value)
}

func (h *httpHandler) legacyWrite(w http.ResponseWriter, r *http.Request, del bool) {
	q, ok := httpParseQuery(w, r)
	if !ok {
		return
	}
	key, ok := h.legacyKey(w, q)
	if !ok {
		return
	}
	var res WriteResult
	ctx, cancel := h.context(r)
	defer cancel()
	if del {
		res = h.api.Delete(ctx, []byte(key), LevelDefault)
	} else {
		value := q.Get("value")
		if code, msg := h.checkValue(int64(len(value))); code != 0 {
			httpError(w, code, msg)
			return
		}
		res = h.api.Put(ctx, []byte(key), []byte(value), LevelDefault)
	}
	if res.Err != nil {
		httpWriteError(w, res)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (h *httpHandler) legacyBatchPut(w *httpStatusWriter, r *http.Request) {
	dec, ok := h.bodyDecoder(w, r)
	if !ok {
		return
	}
	var keys, values []string
	err := httpDecodeObject(dec, func(field string) error {
		var dst *[]string
		switch {
		case strings.EqualFold(field, "Keys"):
			dst = &keys
		case strings.EqualFold(field, "Values"):
			dst = &values
		default:
			var skip json.RawMessage
			return dec.Decode(&skip)
		}
		*dst = (*dst)[:0]
		return httpDecodeArray(dec, h.cfg.MaxBatchKeys, func() error {
			var s string
			if err := dec.Decode(&s); err != nil {
				return err
			}
			*dst = append(*dst, s)
			return nil
		})
	})
	if err != nil {
		h.bodyError(w, err)
		return
	}
	if len(keys) != len(values) {
		httpError(w, http.StatusBadRequest, fmt.Sprintf("node: %d keys but %d values", len(keys), len(values)))
		return
	}
	if len(keys) == 0 {
		w.WriteHeader(http.StatusOK)
		return
	}
	muts := make([]Mutation, len(keys))
	for i, k := range keys {
		code, msg := h.checkKey(k)
		if code == 0 {
			code, msg = h.checkValue(int64(len(values[i])))
		}
		if code != 0 {
			httpError(w, code, fmt.Sprintf("%s (record %d)", msg, i))
			return
		}
		muts[i] = Mutation{Key: []byte(k), Value: []byte(values[i])}
	}
	ctx, cancel := h.context(r)
	defer cancel()
	results := h.api.Batch(ctx, muts, LevelDefault)
	failed, first := 0, -1
	for i, res := range results {
		if res.Err != nil {
			failed++
			if first < 0 {
				first = i
			}
		}
	}
	if failed > 0 {
		res := results[first]
		httpWriteJSON(w, httpStatusOf(res.Err), struct {
			Error  string `json:"error"`
			Failed int    `json:"failed"`
		}{fmt.Sprintf("%v (key %q; %d of %d keys failed)", res.Err, res.Key, failed, len(results)), failed})
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (h *httpHandler) legacyRange(w *httpStatusWriter, r *http.Request) {
	q, ok := httpParseQuery(w, r)
	if !ok {
		return
	}
	req, ok := h.rangeBounds(w, q)
	if !ok {
		return
	}
	req.Limit = min(httpRangeChunk, h.cfg.MaxRangeLimit)
	page, err := h.rangePage(r, req)
	if err != nil {
		httpError(w, httpStatusOf(err), err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	bw := h.bufs.Get().(*bufio.Writer)
	bw.Reset(w)
	defer func() {
		bw.Reset(nil)
		h.bufs.Put(bw)
	}()
	var scratch []byte
	bw.WriteByte('[')
	first := true
	for {
		for _, kv := range page.Records {
			scratch = scratch[:0]
			if !first {
				scratch = append(scratch, ',')
			}
			first = false
			scratch = append(scratch, `{"Key":`...)
			scratch = httpAppendJSONString(scratch, kv.Key)
			scratch = append(scratch, `,"Value":`...)
			scratch = httpAppendJSONString(scratch, kv.Value)
			scratch = append(scratch, '}')
			if _, err := bw.Write(scratch); err != nil {
				return // the client went away
			}
		}
		if page.Next == nil {
			break
		}
		if bw.Flush() != nil {
			return
		}
		w.Flush()
		prev := page.Next
		req.Cursor = page.Next
		page, err = h.rangePage(r, req)
		if err == nil && string(page.Next) == string(prev) {
			err = fmt.Errorf("node: range cursor did not advance")
		}
		if err != nil {
			// The status is sent: cut the response so the client cannot
			// take a prefix of the range for all of it.
			panic(http.ErrAbortHandler)
		}
	}
	bw.WriteString("]\n")
	bw.Flush()
}

// Native API.

func (h *httpHandler) kvWrite(w *httpStatusWriter, r *http.Request, key string, del bool) {
	q, ok := httpParseQuery(w, r)
	if !ok {
		return
	}
	if code, msg := h.checkKey(key); code != 0 {
		httpError(w, code, msg)
		return
	}
	level, ok := httpParseLevel(w, q, "w")
	if !ok || !h.observeAfter(w, r) {
		return
	}
	var res WriteResult
	if del {
		ctx, cancel := h.context(r)
		defer cancel()
		res = h.api.Delete(ctx, []byte(key), level)
	} else {
		value, ok := h.readValue(w, r)
		if !ok {
			return
		}
		ctx, cancel := h.context(r)
		defer cancel()
		res = h.api.Put(ctx, []byte(key), value, level)
	}
	hd := w.Header()
	hd.Set(HeaderVersion, strconv.FormatUint(uint64(res.Version), 10))
	hd.Set(HeaderReplicas, strconv.Itoa(res.Acks))
	hd.Set(HeaderRequired, strconv.Itoa(res.Required))
	if res.Err != nil {
		httpWriteError(w, res)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// readValue reads the body of a native PUT, at most MaxValueSize bytes.
func (h *httpHandler) readValue(w *httpStatusWriter, r *http.Request) ([]byte, bool) {
	if code, msg := h.checkValue(r.ContentLength); code != 0 {
		httpError(w, code, msg)
		return nil, false
	}
	body := http.MaxBytesReader(w.ResponseWriter, r.Body, int64(h.cfg.MaxValueSize))
	var value []byte
	var err error
	if r.ContentLength >= 0 {
		value = make([]byte, r.ContentLength)
		_, err = io.ReadFull(body, value)
	} else {
		value, err = io.ReadAll(body)
		if value == nil {
			value = []byte{}
		}
	}
	if err != nil {
		h.bodyError(w, err)
		return nil, false
	}
	return value, true
}

func (h *httpHandler) kvGet(w http.ResponseWriter, r *http.Request, key string) {
	q, ok := httpParseQuery(w, r)
	if !ok {
		return
	}
	if code, msg := h.checkKey(key); code != 0 {
		httpError(w, code, msg)
		return
	}
	level, ok := httpParseLevel(w, q, "r")
	if !ok {
		return
	}
	ctx, cancel := h.context(r)
	defer cancel()
	res, err := h.api.Get(ctx, []byte(key), level)
	hd := w.Header()
	hd.Set(HeaderVersion, strconv.FormatUint(uint64(res.Version), 10))
	hd.Set(HeaderReplicas, strconv.Itoa(res.Replies))
	hd.Set(HeaderRequired, strconv.Itoa(res.Required))
	hd.Set(HeaderReadRepair, strconv.FormatBool(res.RepairSent))
	if err == nil && !res.Found {
		err = ErrNotFound
	}
	if err != nil {
		httpReadError(w, res, err)
		return
	}
	hd.Set("Content-Type", "application/octet-stream")
	hd.Set("Content-Length", strconv.Itoa(len(res.Value)))
	w.WriteHeader(http.StatusOK)
	w.Write(res.Value)
}

// httpBatchRecord is one record of a POST /kv body.
type httpBatchRecord struct {
	Key    []byte `json:"key"`
	Value  []byte `json:"value"`
	Delete bool   `json:"delete"`
}

// httpBatchResult is one result of a POST /kv answer.
type httpBatchResult struct {
	Key      []byte `json:"key"`
	OK       bool   `json:"ok"`
	Version  uint64 `json:"version"`
	Acks     int    `json:"acks"`
	Required int    `json:"required"`
	Error    string `json:"error"`
}

// httpLimitError is a decoded request over a limit (413).
type httpLimitError struct{ msg string }

func (e *httpLimitError) Error() string { return e.msg }

// httpInputError is a decoded request that is well-formed JSON but invalid
// (400).
type httpInputError struct{ msg string }

func (e *httpInputError) Error() string { return e.msg }

func (h *httpHandler) kvBatch(w *httpStatusWriter, r *http.Request) {
	q, ok := httpParseQuery(w, r)
	if !ok {
		return
	}
	level, ok := httpParseLevel(w, q, "w")
	if !ok || !h.observeAfter(w, r) {
		return
	}
	dec, ok := h.bodyDecoder(w, r)
	if !ok {
		return
	}
	dec.DisallowUnknownFields()
	var muts []Mutation
	err := httpDecodeObject(dec, func(field string) error {
		if field != "records" {
			return &httpInputError{fmt.Sprintf("node: unknown field %q", field)}
		}
		muts = muts[:0]
		return httpDecodeArray(dec, h.cfg.MaxBatchKeys, func() error {
			var rec httpBatchRecord
			if err := dec.Decode(&rec); err != nil {
				return err
			}
			i := len(muts)
			code, msg := h.checkKey(string(rec.Key))
			if code == 0 && !rec.Delete {
				code, msg = h.checkValue(int64(len(rec.Value)))
			}
			switch code {
			case http.StatusBadRequest:
				return &httpInputError{fmt.Sprintf("%s (record %d)", msg, i)}
			case http.StatusRequestEntityTooLarge:
				return &httpLimitError{fmt.Sprintf("%s (record %d)", msg, i)}
			}
			m := Mutation{Key: rec.Key, Delete: rec.Delete}
			if !rec.Delete {
				m.Value = rec.Value
				if m.Value == nil {
					m.Value = []byte{}
				}
			}
			muts = append(muts, m)
			return nil
		})
	})
	if err != nil {
		h.bodyError(w, err)
		return
	}
	out := struct {
		Results []httpBatchResult `json:"results"`
	}{Results: []httpBatchResult{}}
	if len(muts) > 0 {
		ctx, cancel := h.context(r)
		defer cancel()
		results := h.api.Batch(ctx, muts, level)
		out.Results = make([]httpBatchResult, len(results))
		for i, res := range results {
			br := httpBatchResult{
				Key:      res.Key,
				OK:       res.Err == nil,
				Version:  uint64(res.Version),
				Acks:     res.Acks,
				Required: res.Required,
			}
			if res.Err != nil {
				br.Error = res.Err.Error()
			}
			out.Results[i] = br
		}
	}
	httpWriteJSON(w, http.StatusOK, out)
}

func (h *httpHandler) kvRange(w *httpStatusWriter, r *http.Request) {
	q, ok := httpParseQuery(w, r)
	if !ok {
		return
	}
	req, ok := h.rangeBounds(w, q)
	if !ok {
		return
	}
	if req.Level, ok = httpParseLevel(w, q, "r"); !ok {
		return
	}
	limit := h.cfg.MaxRangeLimit
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			httpError(w, http.StatusBadRequest, fmt.Sprintf("node: bad limit %q", s))
			return
		}
		if n > 0 && n < limit {
			limit = n
		}
	}
	if c := q.Get("cursor"); c != "" {
		if base64.RawURLEncoding.DecodedLen(len(c)) > h.cfg.MaxKeySize+httpCursorSlack {
			httpError(w, http.StatusRequestEntityTooLarge, "node: cursor too long")
			return
		}
		cur, err := base64.RawURLEncoding.DecodeString(c)
		if err != nil || len(cur) == 0 {
			httpError(w, http.StatusBadRequest, "node: bad cursor")
			return
		}
		req.Cursor = cur
	}
	req.Limit = min(limit, httpRangeChunk)
	page, err := h.rangePage(r, req)
	if err != nil {
		httpError(w, httpStatusOf(err), err.Error())
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", "application/x-ndjson")
	hd.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	bw := h.bufs.Get().(*bufio.Writer)
	bw.Reset(w)
	defer func() {
		bw.Reset(nil)
		h.bufs.Put(bw)
	}()
	var scratch []byte
	repair := false
	remaining := limit
	// resume is the cursor after the last record written.
	resume := req.Cursor
	for {
		repair = repair || page.RepairSent
		for _, kv := range page.Records {
			scratch = append(scratch[:0], `{"key":"`...)
			scratch = base64.StdEncoding.AppendEncode(scratch, kv.Key)
			scratch = append(scratch, `","value":"`...)
			scratch = base64.StdEncoding.AppendEncode(scratch, kv.Value)
			scratch = append(scratch, `","version":`...)
			scratch = strconv.AppendUint(scratch, uint64(kv.Version), 10)
			scratch = append(scratch, "}\n"...)
			if _, err := bw.Write(scratch); err != nil {
				return // the client went away
			}
		}
		remaining -= len(page.Records)
		if page.Next == nil || remaining <= 0 {
			break
		}
		if bw.Flush() != nil {
			return
		}
		w.Flush()
		resume = page.Next
		req.Cursor = page.Next
		req.Limit = min(remaining, httpRangeChunk)
		page, err = h.rangePage(r, req)
		if err == nil && string(page.Next) == string(resume) {
			err = fmt.Errorf("node: range cursor did not advance")
		}
		if err != nil {
			scratch = append(scratch[:0], `{"error":`...)
			scratch = httpAppendJSONString(scratch, []byte(err.Error()))
			scratch = append(scratch, `,"next":"`...)
			scratch = base64.RawURLEncoding.AppendEncode(scratch, resume)
			scratch = append(scratch, "\"}\n"...)
			bw.Write(scratch)
			bw.Flush()
			return
		}
	}
	scratch = append(scratch[:0], `{"next":"`...)
	scratch = base64.RawURLEncoding.AppendEncode(scratch, page.Next)
	scratch = append(scratch, `","repair":`...)
	scratch = strconv.AppendBool(scratch, repair)
	scratch = append(scratch, "}\n"...)
	bw.Write(scratch)
	bw.Flush()
}

// rangeBounds parses the start and end parameters of q.
func (h *httpHandler) rangeBounds(w http.ResponseWriter, q url.Values) (RangeRequest, bool) {
	var req RangeRequest
	for _, name := range [...]string{"start", "end"} {
		v := q.Get(name)
		if len(v) > h.cfg.MaxKeySize {
			httpError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("node: %s of %d bytes is larger than %d", name, len(v), h.cfg.MaxKeySize))
			return req, false
		}
		if v == "" {
			continue
		}
		if name == "start" {
			req.Start = []byte(v)
		} else {
			req.End = []byte(v)
		}
	}
	return req, true
}

// rangePage fetches one page under its own deadline.
func (h *httpHandler) rangePage(r *http.Request, req RangeRequest) (RangePage, error) {
	ctx, cancel := h.context(r)
	defer cancel()
	return h.api.Range(ctx, req)
}

func (h *httpHandler) serveMetrics(w http.ResponseWriter) {
	p := newPromRegistry()
	h.api.WriteMetrics(p)
	h.metrics.writeTo(p)
	w.Header().Set("Content-Type", promContentType)
	w.WriteHeader(http.StatusOK)
	p.writeTo(w)
}

// Request bodies.

// bodyDecoder checks r's declared length against MaxBodySize and returns a
// JSON decoder reading at most MaxBodySize bytes of the body.
func (h *httpHandler) bodyDecoder(w *httpStatusWriter, r *http.Request) (*json.Decoder, bool) {
	if r.ContentLength > h.cfg.MaxBodySize {
		httpError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("node: body of %d bytes is larger than %d", r.ContentLength, h.cfg.MaxBodySize))
		return nil, false
	}
	return json.NewDecoder(http.MaxBytesReader(w.ResponseWriter, r.Body, h.cfg.MaxBodySize)), true
}

// bodyError answers a request whose body could not be read or decoded.
func (h *httpHandler) bodyError(w http.ResponseWriter, err error) {
	var tooBig *http.MaxBytesError
	var limit *httpLimitError
	var input *httpInputError
	switch {
	case errors.As(err, &tooBig):
		httpError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("node: body larger than %d bytes", tooBig.Limit))
	case errors.As(err, &limit):
		httpError(w, http.StatusRequestEntityTooLarge, limit.msg)
	case errors.As(err, &input):
		httpError(w, http.StatusBadRequest, input.msg)
	default:
		httpError(w, http.StatusBadRequest, "node: bad request body: "+err.Error())
	}
}

// httpDecodeObject reads one JSON object from dec, calling field for each
// member name with dec positioned at its value (field must consume it), then
// requires the end of the input. null is an empty object.
func httpDecodeObject(dec *json.Decoder, field func(name string) error) error {
	tok, err := dec.Token()
	if err != nil {
		return httpEOF(err)
	}
	if tok != nil {
		if d, ok := tok.(json.Delim); !ok || d != '{' {
			return &httpInputError{"node: request body is not a JSON object"}
		}
		for dec.More() {
			tok, err := dec.Token()
			if err != nil {
				return httpEOF(err)
			}
			if err := field(tok.(string)); err != nil {
				return httpEOF(err)
			}
		}
		if _, err := dec.Token(); err != nil { // '}'
			return httpEOF(err)
		}
	}
	if _, err := dec.Token(); err != io.EOF {
		if err == nil {
			return &httpInputError{"node: data after the JSON object"}
		}
		return httpEOF(err)
	}
	return nil
}

// httpDecodeArray reads a JSON array from dec, calling elem for each element
// with dec positioned at it (elem must consume it); more than max elements is
// an *httpLimitError, reported before the extra element is decoded. null is
// an empty array.
func httpDecodeArray(dec *json.Decoder, max int, elem func() error) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if tok == nil {
		return nil
	}
	if d, ok := tok.(json.Delim); !ok || d != '[' {
		return &httpInputError{"node: expected a JSON array"}
	}
	for n := 0; dec.More(); n++ {
		if n == max {
			return &httpLimitError{fmt.Sprintf("node: more than %d records in a batch", max)}
		}
		if err := elem(); err != nil {
			return err
		}
	}
	_, err = dec.Token() // ']'
	return err
}

// httpEOF turns an unexpected end of the body into a descriptive error.
func httpEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// Responses.

// httpStatusOf maps an API error to its status code.
func httpStatusOf(err error) int {
	switch {
	case errors.Is(err, ErrBadRequest):
		return http.StatusBadRequest
	case errors.Is(err, ErrTooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, ErrUnavailable), errors.Is(err, ErrClosed),
		errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

func httpWriteJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		code = http.StatusInternalServerError
		b, _ = json.Marshal(struct {
			Error string `json:"error"`
		}{"node: encoding the response: " + err.Error()})
	}
	b = append(b, '\n')
	hd := w.Header()
	hd.Set("Content-Type", "application/json")
	hd.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(code)
	w.Write(b)
}

func httpError(w http.ResponseWriter, code int, msg string) {
	httpWriteJSON(w, code, struct {
		Error string `json:"error"`
	}{msg})
}

func httpNotAllowed(w http.ResponseWriter, allow string) {
	w.Header().Set("Allow", allow)
	httpError(w, http.StatusMethodNotAllowed, "node: method not allowed (allowed: "+allow+")")
}

// httpWriteError answers a failed write.
func httpWriteError(w http.ResponseWriter, res WriteResult) {
	httpWriteJSON(w, httpStatusOf(res.Err), struct {
		Error    string `json:"error"`
		Acks     int    `json:"acks"`
		Required int    `json:"required"`
	}{res.Err.Error(), res.Acks, res.Required})
}

// httpReadError answers a failed or missed read.
func httpReadError(w http.ResponseWriter, res ReadResult, err error) {
	code := httpStatusOf(err)
	if code == http.StatusNotFound {
		httpError(w, code, err.Error())
		return
	}
	httpWriteJSON(w, code, struct {
		Error    string `json:"error"`
		Replicas int    `json:"replicas"`
		Required int    `json:"required"`
	}{err.Error(), res.Replies, res.Required})
}

// httpAppendJSONString appends s as a JSON string exactly as encoding/json
// writes a Go string: HTML-safe escapes (<, >, & as \u003c, \u003e, \u0026),
// short escapes for \ " \b \f \n \r \t, \u00XX for other control bytes,
// invalid UTF-8 as \ufffd, and U+2028 and U+2029 escaped.
func httpAppendJSONString(dst, s []byte) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' && b != '<' && b != '>' && b != '&' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[b>>4], hex[b&0xf])
			}
			i++
			start = i
			continue
		}
		c, size := utf8.DecodeRune(s[i:])
		if c == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if c == '\u2028' || c == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hex[c&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
