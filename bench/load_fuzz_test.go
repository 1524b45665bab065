package bench

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"
)

// FuzzReadBody feeds arbitrary range responses, in reads of arbitrary
// sizes, to the record counter of scans: it must not panic, must count no
// more records than the body has lines (NDJSON) or objects (JSON), and
// must fail exactly the responses without their last line or bracket.
func FuzzReadBody(f *testing.F) {
	f.Add([]byte(`{"key":"MDE=","value":"dg==","version":1}`+"\n"+`{"next":"","repair":false}`+"\n"), false, uint8(3))
	f.Add([]byte(`{"key":"MDE=","value":"","version":1}`+"\n"+`{"error":"node: timeout","next":"MDE"}`+"\n"), false, uint8(1))
	f.Add([]byte(`{"key":"MDE=","value":"","version":1}`), false, uint8(200))
	f.Add([]byte(`[{"Key":"01","Value":"a"},{"Key":"02","Value":"{\"Key\":"}]`), true, uint8(2))
	f.Add([]byte(`[{"Key":"01"`), true, uint8(0))
	f.Add([]byte{}, true, uint8(1))
	f.Fuzz(func(t *testing.T, body []byte, original bool, bufSize uint8) {
		format := scanNDJSON
		if original {
			format = scanJSON
		}
		w := &loadWorker{buf: make([]byte, int(bufSize)%64+1)}
		var r io.Reader = bytes.NewReader(body)
		if bufSize%2 == 0 {
			r = iotest.OneByteReader(r)
		}
		n, err := w.readBody(r, format)
		if err != nil && !errors.Is(err, errScanIncomplete) {
			t.Fatalf("error %v, want nil or errScanIncomplete", err)
		}
		var limit int
		if original {
			limit = bytes.Count(body, []byte(`{"Key":`))
			trimmed := bytes.TrimRight(body, " \t\r\n")
			complete := len(trimmed) > 0 && trimmed[len(trimmed)-1] == ']'
			if complete != (err == nil) {
				t.Fatalf("complete %v but error %v", complete, err)
			}
		} else {
			limit = bytes.Count(body, []byte("\n"))
		}
		if n < 0 || int(n) > limit {
			t.Fatalf("%d records, at most %d possible", n, limit)
		}
	})
}
