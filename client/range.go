package client

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/http"
	"net/url"
	"strconv"
)

// rangeLine is any line of a GET /kv response (application/x-ndjson):
//
//	{"key":"<base64>","value":"<base64>","version":N}   a record
//	{"next":"<cursor>","repair":bool}                   the end of the response
//	{"error":"<message>","next":"<cursor>"}             a failure after the start
type rangeLine struct {
	Key     []byte  `json:"key"`
	Value   []byte  `json:"value"`
	Version uint64  `json:"version"`
	Next    *string `json:"next"`
	Repair  bool    `json:"repair"`
	Error   string  `json:"error"`
}

// rangeQuery is the URL of one page of GET /kv.
func (c *Client) rangeQuery(start, end []byte, limit int, cursor, r string) *url.URL {
	q := url.Values{}
	if len(start) > 0 {
		q.Set("start", string(start))
	}
	if len(end) > 0 {
		q.Set("end", string(end))
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	if r != "" {
		q.Set("r", r)
	}
	return c.pathURL("/kv", q)
}

// rangePage streams one page of GET /kv to fn as its records arrive and
// returns the page's next cursor ("" when the range is done, and on errors
// other than ErrRangeInterrupted).
func (c *Client) rangePage(ctx context.Context, start, end []byte, limit int, cursor, r string, fn func(KV) error) (next string, err error) {
	_, err = c.do(ctx, http.MethodGet, c.rangeQuery(start, end, limit, cursor, r), nil, "", func(resp *http.Response) error {
		var err error
		next, err = decodeRange(resp.Body, fn)
		return err
	})
	return next, err
}

// decodeRange decodes a GET /kv body, calling fn for each record, and
// returns the next cursor of the last line. A body without a last line is
// an error wrapping io.ErrUnexpectedEOF; a failure line is an error wrapping
// ErrRangeInterrupted, returned with the cursor that resumes after the
// records already passed to fn. An error from fn stops decoding and is
// returned as is.
func decodeRange(body io.Reader, fn func(KV) error) (next string, err error) {
	dec := json.NewDecoder(bufio.NewReaderSize(body, 32<<10))
	for {
		var l rangeLine
		if err := dec.Decode(&l); err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return "", fmt.Errorf("%w: range stream: %w", ErrProtocol, err)
		}
		switch {
		case l.Error != "":
			next := ""
			if l.Next != nil {
				next = *l.Next
			}
			return next, fmt.Errorf("%w: %s", ErrRangeInterrupted, l.Error)
		case l.Next != nil:
			if dec.More() {
				return "", fmt.Errorf("%w: range stream: data after the last line", ErrProtocol)
			}
			return *l.Next, nil
		case l.Key == nil:
			return "", fmt.Errorf("%w: range stream: record without a key", ErrProtocol)
		}
		if l.Value == nil {
			l.Value = []byte{}
		}
		if err := fn(KV{Key: l.Key, Value: l.Value, Version: l.Version}); err != nil {
			return "", err
		}
	}
}

// Range reads one page of the keys in [start, end] (both inclusive; an
// empty bound leaves that side unbounded) at consistency level r: at most
// limit records (0: the node's maximum page), starting after cursor ("" for
// the first page). next is the cursor of the following page, "" when the
// range is done. If the node fails partway, Range returns the records it
// got, the cursor that resumes after them, and an error wrapping
// ErrRangeInterrupted.
func (c *Client) Range(ctx context.Context, start, end []byte, limit int, cursor, r string) (records []KV, next string, err error) {
	next, err = c.rangePage(ctx, start, end, limit, cursor, r, func(kv KV) error {
		records = append(records, kv)
		return nil
	})
	return records, next, err
}

// RangeAll iterates over every key in [start, end] at consistency level r,
// in key order, following cursors page by page; records are yielded as they
// arrive, so memory stays bounded by the transport's buffers. Iteration
// stops at the first error, which is yielded with a zero KV. Each page is
// bounded by the Client's timeout.
//
//	for kv, err := range c.RangeAll(ctx, start, end, "") {
//		if err != nil { ... }
//		...
//	}
func (c *Client) RangeAll(ctx context.Context, start, end []byte, r string) iter.Seq2[KV, error] {
	return func(yield func(KV, error) bool) {
		errStop := errors.New("stop")
		cursor := ""
		for {
			next, err := c.rangePage(ctx, start, end, 0, cursor, r, func(kv KV) error {
				if !yield(kv, nil) {
					return errStop
				}
				return nil
			})
			if err == errStop {
				return
			}
			if err != nil {
				yield(KV{}, err)
				return
			}
			if next == "" {
				return
			}
			if next == cursor {
				yield(KV{}, fmt.Errorf("%w: range cursor did not advance", ErrProtocol))
				return
			}
			cursor = next
		}
	}
}
