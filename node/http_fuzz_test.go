package node

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// httpFuzzLimits are small so that fuzzed requests reach them.
var httpFuzzLimits = HTTPConfig{
	MaxKeySize:     16,
	MaxValueSize:   32,
	MaxBodySize:    512,
	MaxBatchKeys:   4,
	MaxRangeLimit:  8,
	RequestTimeout: time.Second,
}

// FuzzHTTPParams sends arbitrary methods, request targets and bodies through
// the handler: it must never panic (other than aborting a range whose later
// page fails), must answer every request, must answer errors with a JSON
// error body, and must never call the API with input over the limits (the
// fake API checks every call).
func FuzzHTTPParams(f *testing.F) {
	f.Add("GET", "/?key=a", []byte(nil), false, uint8(0))
	f.Add("PUT", "/?key=a&value=b", []byte(nil), false, uint8(0))
	f.Add("DELETE", "/?key=aaaaaaaaaaaaaaaaaaaaa", []byte(nil), false, uint8(1))
	f.Add("POST", "/batchput", []byte(`{"Keys":["a","b"],"Values":["1","2"]}`), true, uint8(0))
	f.Add("POST", "/batchput", []byte(`{"Keys":["a","b","c","d","e"],"Values":["1","2","3","4","5"]}`), false, uint8(0))
	f.Add("GET", "/range?start=a&end=z", []byte(nil), false, uint8(4))
	f.Add("PUT", "/kv/%00%ff?w=all", []byte("value"), false, uint8(2))
	f.Add("PUT", "/kv/k", []byte(strings.Repeat("v", 40)), true, uint8(0))
	f.Add("GET", "/kv/a/b?r=quorum", []byte(nil), false, uint8(0))
	f.Add("HEAD", "/kv/a", []byte(nil), false, uint8(0))
	f.Add("POST", "/kv?w=2", []byte(`{"records":[{"key":"YQ==","value":"Yg=="},{"key":"Yw==","delete":true}]}`), false, uint8(0))
	f.Add("POST", "/kv", []byte(`{"records":[{"key":"YWFhYWFhYWFhYWFhYWFhYWFhYWE="}]}`), false, uint8(0))
	f.Add("GET", "/kv?start=a&end=%ff&limit=3&r=one", []byte(nil), false, uint8(0))
	f.Add("GET", "/kv?cursor=YQ&limit=100", []byte(nil), false, uint8(8))
	f.Add("GET", "/metrics", []byte(nil), false, uint8(0))
	f.Add("GET", "/status", []byte(nil), false, uint8(0))
	f.Add("OPTIONS", "*", []byte(nil), false, uint8(0))
	f.Add("GET", "http://host/kv/x?r=9", []byte(nil), false, uint8(0))
	f.Fuzz(func(t *testing.T, method, target string, body []byte, chunked bool, mode uint8) {
		var raw strings.Builder
		fmt.Fprintf(&raw, "%s %s HTTP/1.1\r\nHost: kvstore\r\n", method, target)
		if chunked {
			raw.WriteString("Transfer-Encoding: chunked\r\n\r\n")
			if len(body) > 0 {
				fmt.Fprintf(&raw, "%x\r\n%s\r\n", len(body), body)
			}
			raw.WriteString("0\r\n\r\n")
		} else {
			fmt.Fprintf(&raw, "Content-Length: %d\r\n\r\n%s", len(body), body)
		}
		req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw.String())))
		if err != nil {
			return
		}
		api := newHTTPFakeAPI(httpFuzzLimits)
		for _, k := range []string{"a", "b", "c", "d", "e", "f", "\x00", "\xff"} {
			api.set(k, "v")
		}
		api.pageCap = 3
		api.acks = int(mode % 4)
		if mode&4 != 0 {
			api.rangeErr, api.rangeOK = fmt.Errorf("%w: fuzz", ErrUnavailable), int(mode>>3)%3
		}
		rec := httptest.NewRecorder()
		aborted := func() (aborted bool) {
			defer func() {
				if p := recover(); p != nil {
					if p != http.ErrAbortHandler {
						panic(p)
					}
					aborted = true
				}
			}()
			NewHTTPHandler(api, httpFuzzLimits).ServeHTTP(rec, req)
			return false
		}()
		api.checkViolations(t)
		if aborted {
			if req.URL.Path != "/range" || api.rangeErr == nil {
				t.Fatalf("%s %s aborted", method, target)
			}
			return
		}
		if rec.Code < 200 || rec.Code > 599 {
			t.Fatalf("status %d", rec.Code)
		}
		if rec.Code >= 400 {
			var e struct {
				Error *string `json:"error"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error == nil {
				t.Fatalf("%d with body %q: %v", rec.Code, rec.Body, err)
			}
			return
		}
		if req.URL.Path == "/kv" && req.Method == "GET" {
			// Every line is JSON and the last one ends the stream.
			lines := strings.Split(strings.TrimSuffix(rec.Body.String(), "\n"), "\n")
			var last httpRangeLine
			for _, l := range lines {
				last = httpRangeLine{}
				if err := json.Unmarshal([]byte(l), &last); err != nil {
					t.Fatalf("line %q: %v", l, err)
				}
			}
			if last.Next == nil {
				t.Fatalf("range body %q does not end with a next cursor", rec.Body)
			}
		}
	})
}
