// Package client is a Go client for a kvstore node's HTTP API: the native,
// binary-safe API (/kv) and the original service's API (/, /batchput,
// /range), plus /status and /healthz. Any node accepts any request.
//
// A Client is safe for concurrent use and meant to be shared: it keeps
// connections alive and reuses them, so one Client serves many goroutines
// issuing requests in parallel.
//
//	c, err := client.New("http://127.0.0.1:8080", client.Options{})
//	if err != nil { ... }
//	defer c.Close()
//	res, err := c.Put(ctx, []byte("k"), []byte("v"), "quorum")
//	value, res, err := c.Get(ctx, []byte("k"), "")
//	if errors.Is(err, client.ErrNotFound) { ... }
//	for kv, err := range c.RangeAll(ctx, []byte("a"), []byte("z"), "") { ... }
//
// # Requests on the wire
//
// Keys are sent percent-encoded in the path (/kv/{key}): every byte except
// A-Z a-z 0-9 - _ ~ is written as %XX, so "/" and "." in a key never look
// like path structure. Range bounds go in the query string as
// url.QueryEscape writes them. Consistency levels are passed through as the
// w or r parameter: "one", "quorum", "all", a number, or "" for the node's
// default. The node's package documentation (kvstore/node, NewHTTPHandler)
// describes every response byte by byte; this package decodes them.
//
// # Sessions
//
// A Session remembers the highest record version its Clients have seen in
// a response (a write's, a single-key read's, a batch's), and they send it
// with every native write as the X-Kvstore-After header. The coordinating
// node versions the write above it, so the writes of one Session keep the
// order they were issued in, and a write is newer than every value the
// Session read, even when they go through different nodes whose clocks
// disagree. Each Client has a Session of its own unless Options.Session
// gives it one to share: an application that spreads its requests over
// several nodes gives their Clients one Session.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Errors. An *HTTPError matches ErrNotFound (404) or ErrUnavailable (503)
// under errors.Is.
var (
	// ErrNotFound: the key does not exist (HTTP 404).
	ErrNotFound = errors.New("client: not found")
	// ErrUnavailable: the node could not reach the consistency level in
	// time (HTTP 503).
	ErrUnavailable = errors.New("client: unavailable")
	// ErrRangeInterrupted: a range response failed after it had started;
	// the records before the failure are valid and the returned cursor
	// resumes after them.
	ErrRangeInterrupted = errors.New("client: range interrupted")
	// ErrProtocol: the node answered something this client cannot decode.
	ErrProtocol = errors.New("client: bad response")
)

// HTTPError is an error response from a node.
type HTTPError struct {
	// Status is the HTTP status code.
	Status int
	// Message is the node's error message.
	Message string
	// Replicas and Required describe a request that missed its consistency
	// level (503): how many replicas acknowledged or answered and how many
	// were required. Both are 0 otherwise.
	Replicas, Required int
}

func (e *HTTPError) Error() string {
	if e.Message == "" {
		return fmt.Sprintf("client: HTTP %d", e.Status)
	}
	return fmt.Sprintf("client: HTTP %d: %s", e.Status, e.Message)
}

// Is makes a 404 match ErrNotFound and a 503 match ErrUnavailable.
func (e *HTTPError) Is(target error) bool {
	switch target {
	case ErrNotFound:
		return e.Status == http.StatusNotFound
	case ErrUnavailable:
		return e.Status == http.StatusServiceUnavailable
	}
	return false
}

// Result describes one single-key read or write, from the response headers.
type Result struct {
	// Version is the version of the record written or read (0 when a read
	// found none).
	Version uint64
	// Replicas is how many replicas acknowledged the write or answered the
	// read; Required is how many the consistency level asked for.
	Replicas, Required int
	// ReadRepair is set when a read sent the newest record to stale
	// replicas.
	ReadRepair bool
}

// Mutation is one record of a batch: a put, or a delete when Delete is set.
type Mutation struct {
	Key, Value []byte
	Delete     bool
}

// BatchResult is the outcome of one record of a batch.
type BatchResult struct {
	Key      []byte `json:"key"`
	OK       bool   `json:"ok"`
	Version  uint64 `json:"version"`
	Acks     int    `json:"acks"`
	Required int    `json:"required"`
	// Error says why the key failed; "" when OK.
	Error string `json:"error"`
}

// KV is one record of a range.
type KV struct {
	Key, Value []byte
	Version    uint64
}

// LegacyKV is one record of the original API's range.
type LegacyKV struct {
	Key   string
	Value string
}

// Options configures a Client.
type Options struct {
	// Timeout bounds each call, including reading its response; zero
	// means DefaultTimeout and a negative value no limit beyond the ctx
	// passed in. For RangeAll it bounds each page.
	Timeout time.Duration
	// HTTPClient, if not nil, sends the requests; otherwise the Client
	// builds one with a keep-alive transport sized for many concurrent
	// requests to few hosts (see Close).
	HTTPClient *http.Client
	// Session, if not nil, is shared with other Clients (see Sessions);
	// otherwise the Client has its own.
	Session *Session
}

// Session is a causality token shared by Clients: the highest record
// version they have seen. It is safe for concurrent use.
type Session struct {
	seen atomic.Uint64
}

// NewSession returns an empty Session.
func NewSession() *Session { return new(Session) }

// Token returns the highest version seen, 0 if none.
func (s *Session) Token() uint64 { return s.seen.Load() }

// Observe raises the token to v; a Client calls it for every version it
// sees, and an application may for versions it learns elsewhere.
func (s *Session) Observe(v uint64) {
	for {
		cur := s.seen.Load()
		if v <= cur || s.seen.CompareAndSwap(cur, v) {
			return
		}
	}
}

// DefaultTimeout is the per-call timeout when Options.Timeout is zero.
const DefaultTimeout = 30 * time.Second

// Client talks to one node. It is safe for concurrent use.
type Client struct {
	base    url.URL // scheme, host and path prefix; no query
	hc      *http.Client
	own     *http.Transport // the transport New built, or nil
	timeout time.Duration
	bufs    sync.Pool // of *bytes.Buffer, for reading error responses
	session *Session
}

// Session returns the Session whose causality token the Client sends.
func (c *Client) Session() *Session { return c.session }

// headerAfter carries the causality token (node.HeaderAfter).
const headerAfter = "X-Kvstore-After"

// New returns a Client for the node at baseURL ("http://host:port", or
// "host:port"). A path in baseURL prefixes every request path.
func New(baseURL string, opts Options) (*Client, error) {
	if !strings.Contains(baseURL, "://") {
		baseURL = "http://" + baseURL
	}
	u, err := url.Parse(baseURL)
	if err != nil {
		return nil, fmt.Errorf("client: base URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("client: base URL %q: want http://host:port", baseURL)
	}
	c := &Client{timeout: opts.Timeout, hc: opts.HTTPClient, session: opts.Session}
	if c.session == nil {
		c.session = NewSession()
	}
	c.base = url.URL{Scheme: u.Scheme, Host: u.Host, User: u.User, Path: strings.TrimSuffix(u.Path, "/")}
	if c.timeout == 0 {
		c.timeout = DefaultTimeout
	}
	if c.hc == nil {
		c.own = newTransport()
		c.hc = &http.Client{Transport: c.own}
	}
	c.bufs.New = func() any { return new(bytes.Buffer) }
	return c, nil
}

// newTransport returns a transport for many concurrent requests to a few
// nodes: a large idle pool per host so that connections are reused rather
// than redialled, no compression (values are opaque bytes).
func newTransport() *http.Transport {
	return &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: (&net.Dialer{
			Timeout:   5 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		MaxIdleConns:          4096,
		MaxIdleConnsPerHost:   1024,
		IdleConnTimeout:       90 * time.Second,
		ExpectContinueTimeout: time.Second,
		DisableCompression:    true,
		ForceAttemptHTTP2:     false,
		WriteBufferSize:       32 << 10,
		ReadBufferSize:        32 << 10,
	}
}

// Close releases the idle connections of the transport New built. The
// Client stays usable. Close does nothing to a caller's Options.HTTPClient.
func (c *Client) Close() {
	if c.own != nil {
		c.own.CloseIdleConnections()
	}
}

// keyEscape percent-encodes key for a path segment: every byte but
// A-Z a-z 0-9 - _ ~ becomes %XX.
func keyEscape(dst []byte, key []byte) []byte {
	const hex = "0123456789ABCDEF"
	for _, b := range key {
		if 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9' || b == '-' || b == '_' || b == '~' {
			dst = append(dst, b)
		} else {
			dst = append(dst, '%', hex[b>>4], hex[b&0xf])
		}
	}
	return dst
}

// keyURL is the URL of /kv/{key} with the level parameter name=level.
func (c *Client) keyURL(key []byte, name, level string) *url.URL {
	u := c.base
	raw := make([]byte, 0, len(c.base.Path)+4+3*len(key))
	raw = append(raw, c.base.EscapedPath()...)
	raw = append(raw, "/kv/"...)
	raw = keyEscape(raw, key)
	u.RawPath = string(raw)
	u.Path = c.base.Path + "/kv/" + string(key)
	if level != "" {
		u.RawQuery = name + "=" + url.QueryEscape(level)
	}
	return &u
}

// pathURL is the URL of path with query q.
func (c *Client) pathURL(path string, q url.Values) *url.URL {
	u := c.base
	u.Path += path
	u.RawPath = ""
	if q != nil {
		u.RawQuery = q.Encode()
	}
	return &u
}

// do sends one request. For a 2xx response it calls handle (if not nil)
// with the response; any other status becomes an *HTTPError. Either way it
// returns the response headers (nil if no response arrived). The body is
// drained and closed before do returns, so the connection is reused.
func (c *Client) do(ctx context.Context, method string, u *url.URL, body []byte, contentType string, handle func(*http.Response) error) (http.Header, error) {
	if c.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, "", rd)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	req.URL, req.Host = u, u.Host
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if method != http.MethodGet {
		if v := c.session.Token(); v > 0 {
			req.Header.Set(headerAfter, strconv.FormatUint(v, 10))
		}
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("client: %s %s: %w", method, u.Redacted(), err)
	}
	defer func() {
		// Drain a little so the connection can be reused; a long
		// unread remainder is cheaper to drop with the connection.
		io.CopyN(io.Discard, resp.Body, 64<<10)
		resp.Body.Close()
	}()
	if resp.StatusCode/100 != 2 {
		return resp.Header, c.httpError(resp)
	}
	if handle == nil {
		return resp.Header, nil
	}
	return resp.Header, handle(resp)
}

// httpError decodes an error response.
func (c *Client) httpError(resp *http.Response) error {
	buf := c.bufs.Get().(*bytes.Buffer)
	defer func() {
		buf.Reset()
		c.bufs.Put(buf)
	}()
	buf.Reset()
	buf.ReadFrom(io.LimitReader(resp.Body, 64<<10))
	e := &HTTPError{Status: resp.StatusCode}
	var body struct {
		Error    string `json:"error"`
		Acks     *int   `json:"acks"`
		Replicas *int   `json:"replicas"`
		Required int    `json:"required"`
	}
	if json.Unmarshal(buf.Bytes(), &body) == nil && body.Error != "" {
		e.Message, e.Required = body.Error, body.Required
		switch {
		case body.Acks != nil:
			e.Replicas = *body.Acks
		case body.Replicas != nil:
			e.Replicas = *body.Replicas
		}
	} else {
		e.Message = strings.TrimSpace(buf.String())
		if len(e.Message) > 200 {
			e.Message = e.Message[:200]
		}
	}
	return e
}

// resultOf reads a Result from the response headers of a native request,
// and raises the session's token to its version.
func (c *Client) resultOf(h http.Header) Result {
	var r Result
	r.Version, _ = strconv.ParseUint(h.Get("X-Kvstore-Version"), 10, 64)
	c.session.Observe(r.Version)
	r.Replicas, _ = strconv.Atoi(h.Get("X-Kvstore-Replicas"))
	r.Required, _ = strconv.Atoi(h.Get("X-Kvstore-Required"))
	r.ReadRepair = h.Get("X-Kvstore-Read-Repair") == "true"
	return r
}

// write sends a native PUT or DELETE.
func (c *Client) write(ctx context.Context, method string, key, value []byte, w string) (Result, error) {
	hdr, err := c.do(ctx, method, c.keyURL(key, "w", w), value, "", nil)
	res := c.resultOf(hdr)
	var herr *HTTPError
	if errors.As(err, &herr) && herr.Required > 0 {
		res.Replicas, res.Required = herr.Replicas, herr.Required
	}
	return res, err
}

// Put stores value under key, waiting for the consistency level w ("" for
// the node's default). value is sent as is and must not be modified until
// Put returns. A write that missed w returns an *HTTPError matching
// ErrUnavailable, with the Result's Replicas and Required filled in; the
// write may still have reached some replicas.
func (c *Client) Put(ctx context.Context, key, value []byte, w string) (Result, error) {
	if value == nil {
		value = []byte{}
	}
	return c.write(ctx, http.MethodPut, key, value, w)
}

// Delete deletes key, waiting for the consistency level w; see Put.
func (c *Client) Delete(ctx context.Context, key []byte, w string) (Result, error) {
	return c.write(ctx, http.MethodDelete, key, nil, w)
}

// Get reads key at consistency level r ("" for the node's default). It
// returns an error matching ErrNotFound when the key does not exist, with
// the Result still filled in. The value is a new slice owned by the caller.
func (c *Client) Get(ctx context.Context, key []byte, r string) ([]byte, Result, error) {
	var value []byte
	hdr, err := c.do(ctx, http.MethodGet, c.keyURL(key, "r", r), nil, "", func(resp *http.Response) error {
		var err error
		value, err = readAll(resp)
		return err
	})
	res := c.resultOf(hdr)
	var herr *HTTPError
	if errors.As(err, &herr) && herr.Required > 0 {
		res.Replicas, res.Required = herr.Replicas, herr.Required
	}
	return value, res, err
}

// readAll reads a response body into a new slice, allocating once when the
// length is known.
func readAll(resp *http.Response) ([]byte, error) {
	if n := resp.ContentLength; n >= 0 && n <= 1<<30 {
		b := make([]byte, n)
		if _, err := io.ReadFull(resp.Body, b); err != nil {
			return nil, fmt.Errorf("client: reading the response: %w", err)
		}
		return b, nil
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("client: reading the response: %w", err)
	}
	if b == nil {
		b = []byte{}
	}
	return b, nil
}

// batchRecord is one record of a POST /kv body.
type batchRecord struct {
	Key    []byte `json:"key"`
	Value  []byte `json:"value,omitempty"`
	Delete bool   `json:"delete,omitempty"`
}

// Batch applies muts at consistency level w and returns one result per
// mutation, in order. The call succeeds (err == nil) when the node accepted
// the batch, even if some keys missed w: check each result's OK.
func (c *Client) Batch(ctx context.Context, muts []Mutation, w string) ([]BatchResult, error) {
	recs := make([]batchRecord, len(muts))
	for i, m := range muts {
		recs[i] = batchRecord{Key: m.Key, Delete: m.Delete}
		if !m.Delete {
			recs[i].Value = m.Value
		}
	}
	// The body is not pooled: the transport may still read it after the
	// response arrived.
	body, err := json.Marshal(struct {
		Records []batchRecord `json:"records"`
	}{recs})
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	var q url.Values
	if w != "" {
		q = url.Values{"w": {w}}
	}
	var out struct {
		Results []BatchResult `json:"results"`
	}
	_, err = c.do(ctx, http.MethodPost, c.pathURL("/kv", q), body, "application/json", func(resp *http.Response) error {
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			return fmt.Errorf("%w: batch results: %v", ErrProtocol, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, r := range out.Results {
		c.session.Observe(r.Version)
	}
	if len(out.Results) != len(muts) {
		return out.Results, fmt.Errorf("%w: %d results for %d mutations", ErrProtocol, len(out.Results), len(muts))
	}
	return out.Results, nil
}

// Status is the part of GET /status that tools use; Raw holds the whole
// document.
type Status struct {
	Node       string   `json:"node"`
	HTTPAddr   string   `json:"http_addr"`
	N          int      `json:"n"`
	R          int      `json:"r"`
	W          int      `json:"w"`
	Partitions int      `json:"partitions"`
	Members    []Member `json:"members"`
	// RingSize is how many members the ring the node places keys with has;
	// just after a change it can trail Members for a moment.
	RingSize int `json:"ring_size"`
	// Hints are the hints the node keeps for others, not yet delivered.
	Hints struct {
		Pending int64 `json:"pending"`
		Bytes   int64 `json:"bytes"`
	} `json:"hints"`
	// Raw is the response as the node sent it.
	Raw json.RawMessage `json:"-"`
}

// Member is one member of the cluster as the node sees it.
type Member struct {
	Name string `json:"name"`
	// State is the liveness: "alive", "suspect", "dead" or "left".
	State string `json:"state"`
	// Ring is the ring membership: "joining", "active", "leaving", "left",
	// "removed" or "".
	Ring     string `json:"ring"`
	HTTPAddr string `json:"http_addr"`
}

// Status fetches the node's view of itself and the cluster.
func (c *Client) Status(ctx context.Context) (*Status, error) {
	var st Status
	_, err := c.do(ctx, http.MethodGet, c.pathURL("/status", nil), nil, "", func(resp *http.Response) error {
		b, err := readAll(resp)
		if err != nil {
			return err
		}
		if err := json.Unmarshal(b, &st); err != nil {
			return fmt.Errorf("%w: status: %v", ErrProtocol, err)
		}
		st.Raw = b
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &st, nil
}

// Health returns nil when the node answers GET /healthz with 200.
func (c *Client) Health(ctx context.Context) error {
	_, err := c.do(ctx, http.MethodGet, c.pathURL("/healthz", nil), nil, "", nil)
	return err
}

// The original API.

// LegacyPut stores value under key with PUT /?key=K&value=V.
func (c *Client) LegacyPut(ctx context.Context, key, value string) error {
	_, err := c.do(ctx, http.MethodPut, c.pathURL("/", url.Values{"key": {key}, "value": {value}}), nil, "", nil)
	return err
}

// LegacyGet reads key with GET /?key=K; an error matching ErrNotFound when
// it does not exist.
func (c *Client) LegacyGet(ctx context.Context, key string) (string, error) {
	var value string
	_, err := c.do(ctx, http.MethodGet, c.pathURL("/", url.Values{"key": {key}}), nil, "", func(resp *http.Response) error {
		b, err := readAll(resp)
		value = string(b)
		return err
	})
	return value, err
}

// LegacyDelete deletes key with DELETE /?key=K.
func (c *Client) LegacyDelete(ctx context.Context, key string) error {
	_, err := c.do(ctx, http.MethodDelete, c.pathURL("/", url.Values{"key": {key}}), nil, "", nil)
	return err
}

// LegacyBatchPut stores values[i] under keys[i] with POST /batchput.
func (c *Client) LegacyBatchPut(ctx context.Context, keys, values []string) error {
	body, err := json.Marshal(struct{ Keys, Values []string }{keys, values})
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	_, err = c.do(ctx, http.MethodPost, c.pathURL("/batchput", nil), body, "application/json", nil)
	return err
}

// LegacyRange reads the keys in [start, end] (both inclusive; "" leaves a
// side unbounded) with GET /range, in key order. The whole range is read
// into memory; RangeAll streams instead.
func (c *Client) LegacyRange(ctx context.Context, start, end string) ([]LegacyKV, error) {
	q := url.Values{}
	if start != "" {
		q.Set("start", start)
	}
	if end != "" {
		q.Set("end", end)
	}
	var out []LegacyKV
	_, err := c.do(ctx, http.MethodGet, c.pathURL("/range", q), nil, "", func(resp *http.Response) error {
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			return fmt.Errorf("%w: range: %v", ErrProtocol, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if out == nil {
		out = []LegacyKV{}
	}
	return out, nil
}
