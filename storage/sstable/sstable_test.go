package sstable

import (
	"bytes"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"

	"kvstore/storage/cache"
	"kvstore/storage/internal/base"
)

type rec struct {
	key     []byte
	version uint64
	kind    base.Kind
	value   []byte
}

// genRecords returns n records with distinct sorted keys of random length
// (sharing prefixes, as partition-prefixed keys do), random values including
// empty ones, and some tombstones.
func genRecords(rng *rand.Rand, n int) []rec {
	seen := map[string]bool{}
	var recs []rec
	for len(recs) < n {
		k := fmt.Sprintf("p%02d/%0*d", rng.IntN(4), 1+rng.IntN(12), rng.IntN(1<<30))
		if seen[k] {
			continue
		}
		seen[k] = true
		r := rec{key: []byte(k), version: rng.Uint64(), kind: base.KindValue}
		switch rng.IntN(10) {
		case 0:
			r.kind = base.KindTombstone
		case 1:
			r.value = []byte{}
		default:
			r.value = make([]byte, rng.IntN(300))
			for i := range r.value {
				r.value[i] = byte(rng.IntN(256))
			}
		}
		recs = append(recs, r)
	}
	sort.Slice(recs, func(i, j int) bool { return bytes.Compare(recs[i].key, recs[j].key) < 0 })
	return recs
}

func buildTable(t testing.TB, recs []rec, opts WriterOptions) ([]byte, Properties) {
	t.Helper()
	var buf bytes.Buffer
	w := NewWriter(&buf, opts)
	for _, r := range recs {
		if err := w.Add(r.key, r.version, r.kind, r.value); err != nil {
			t.Fatalf("Add(%q): %v", r.key, err)
		}
	}
	est := w.EstimatedSize()
	props, err := w.Finish()
	if err != nil {
		t.Fatalf("Finish: %v", err)
	}
	if props.FileSize != uint64(buf.Len()) {
		t.Fatalf("FileSize = %d, wrote %d bytes", props.FileSize, buf.Len())
	}
	if d := float64(est) - float64(props.FileSize); d < -0.1*float64(props.FileSize)-200 || d > 0.1*float64(props.FileSize)+300 {
		t.Errorf("EstimatedSize before Finish = %d, file is %d bytes", est, props.FileSize)
	}
	return buf.Bytes(), props
}

func openTable(t testing.TB, data []byte, opts ReaderOptions) *Reader {
	t.Helper()
	r, err := Open(bytes.NewReader(data), int64(len(data)), opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return r
}

func checkRec(t testing.TB, what string, gotKey, gotValue []byte, gotVersion uint64, gotKind base.Kind, want rec) {
	t.Helper()
	if !bytes.Equal(gotKey, want.key) || !bytes.Equal(gotValue, want.value) || gotVersion != want.version || gotKind != want.kind {
		t.Fatalf("%s = (%q, %d, %v, %d bytes), want (%q, %d, %v, %d bytes)", what,
			gotKey, gotVersion, gotKind, len(gotValue), want.key, want.version, want.kind, len(want.value))
	}
}

var optionVariants = []struct {
	name string
	w    WriterOptions
	r    func() ReaderOptions
}{
	{"defaults", WriterOptions{}, func() ReaderOptions { return ReaderOptions{} }},
	{"cached", WriterOptions{}, func() ReaderOptions { return ReaderOptions{Cache: cache.New(1 << 20), CacheID: 7} }},
	{"tiny-blocks", WriterOptions{BlockSize: 1, RestartInterval: 1}, func() ReaderOptions { return ReaderOptions{} }},
	{"small-blocks", WriterOptions{BlockSize: 300, RestartInterval: 3}, func() ReaderOptions { return ReaderOptions{Cache: cache.New(64 << 10)} }},
	{"big-blocks-no-filter", WriterOptions{BlockSize: 64 << 10, RestartInterval: 100, BloomBitsPerKey: -1}, func() ReaderOptions { return ReaderOptions{} }},
}

func TestRoundTrip(t *testing.T) {
	for _, n := range []int{1, 17, 2000} {
		for _, v := range optionVariants {
			t.Run(fmt.Sprintf("%s/n=%d", v.name, n), func(t *testing.T) {
				recs := genRecords(rand.New(rand.NewPCG(uint64(n), 1)), n)
				data, props := buildTable(t, recs, v.w)
				r := openTable(t, data, v.r())
				defer r.Close()

				if got := r.Properties(); got.NumEntries != uint64(n) || !bytes.Equal(got.Smallest, recs[0].key) ||
					!bytes.Equal(got.Largest, recs[n-1].key) || got.FileSize != props.FileSize {
					t.Errorf("Properties = %+v", got)
				}
				for _, want := range recs {
					value, version, kind, found, err := r.Get(want.key)
					if err != nil || !found {
						t.Fatalf("Get(%q) = found %v, err %v", want.key, found, err)
					}
					checkRec(t, "Get", want.key, value, version, kind, want)
				}

				for _, noCache := range []bool{false, true} {
					it := r.NewIter(IterOptions{NoCache: noCache})
					i := 0
					for ok := it.First(); ok; ok = it.Next() {
						checkRec(t, fmt.Sprintf("iter[%d]", i), it.Key(), it.Value(), it.Version(), it.Kind(), recs[i])
						i++
					}
					if err := it.Close(); err != nil || i != n {
						t.Fatalf("noCache=%v: iterated %d records, want %d; err %v", noCache, i, n, err)
					}
				}

				it := r.NewIter(IterOptions{})
				defer it.Close()
				for i, want := range recs {
					if !it.SeekGE(want.key) {
						t.Fatalf("SeekGE(%q) invalid, err %v", want.key, it.Err())
					}
					checkRec(t, "SeekGE", it.Key(), it.Value(), it.Version(), it.Kind(), want)
					// A key just below want seeks to want as well.
					below := []byte{}
					if i > 0 {
						below = append(append([]byte(nil), recs[i-1].key...), 0)
					}
					if !it.SeekGE(below) || !bytes.Equal(it.Key(), want.key) {
						t.Fatalf("SeekGE(%q) = %q, want %q", below, it.Key(), want.key)
					}
				}
				if it.SeekGE(append(append([]byte(nil), recs[n-1].key...), 0)) {
					t.Fatalf("SeekGE past the last key = %q, want invalid", it.Key())
				}
				if it.SeekGE(nil) != true || !bytes.Equal(it.Key(), recs[0].key) {
					t.Fatalf("SeekGE(nil) = %q, want %q", it.Key(), recs[0].key)
				}
			})
		}
	}
}

func TestGetAbsent(t *testing.T) {
	recs := []rec{
		{key: []byte("b"), version: 1, kind: base.KindValue, value: []byte("1")},
		{key: []byte("d"), version: 2, kind: base.KindTombstone},
		{key: []byte("f"), version: 3, kind: base.KindValue, value: []byte("3")},
		{key: []byte("fa"), version: 4, kind: base.KindValue, value: []byte("4")},
	}
	for _, v := range optionVariants {
		t.Run(v.name, func(t *testing.T) {
			r := openTable(t, mustBuild(t, recs, v.w), v.r())
			tests := []struct {
				name, key string
			}{
				{"empty", ""},
				{"before-first", "a"},
				{"between", "c"},
				{"prefix-of-next", "f\x00"},
				{"extension", "ba"},
				{"between-2", "e"},
				{"after-last", "z"},
				{"after-last-extension", "fab"},
			}
			for _, tc := range tests {
				if _, _, _, found, err := r.Get([]byte(tc.key)); found || err != nil {
					t.Errorf("%s: Get(%q) = found %v, err %v; want not found", tc.name, tc.key, found, err)
				}
			}
			// A tombstone is found, as a tombstone.
			if _, _, kind, found, err := r.Get([]byte("d")); !found || err != nil || kind != base.KindTombstone {
				t.Errorf("Get(d) = %v, %v, %v; want tombstone", kind, found, err)
			}
		})
	}
}

func mustBuild(t testing.TB, recs []rec, opts WriterOptions) []byte {
	data, _ := buildTable(t, recs, opts)
	return data
}

func TestWriterRejects(t *testing.T) {
	tests := []struct {
		name string
		prev string
		key  string
		kind base.Kind
		want error
	}{
		{"smaller", "b", "a", base.KindValue, ErrKeyOrder},
		{"equal", "b", "b", base.KindValue, ErrKeyOrder},
		{"empty-after", "b", "", base.KindValue, ErrKeyOrder},
		{"bad-kind", "b", "c", 7, ErrInvalidKind},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			w := NewWriter(&buf, WriterOptions{})
			if err := w.Add([]byte(tc.prev), 1, base.KindValue, nil); err != nil {
				t.Fatal(err)
			}
			if err := w.Add([]byte(tc.key), 1, tc.kind, nil); !errors.Is(err, tc.want) {
				t.Fatalf("Add(%q) = %v, want %v", tc.key, err, tc.want)
			}
			// The Writer stays usable.
			if err := w.Add([]byte("z"), 1, base.KindValue, nil); err != nil {
				t.Fatalf("Add after rejected record: %v", err)
			}
			props, err := w.Finish()
			if err != nil || props.NumEntries != 2 {
				t.Fatalf("Finish = %+v, %v", props, err)
			}
			if err := w.Add([]byte("zz"), 1, base.KindValue, nil); !errors.Is(err, ErrFinished) {
				t.Errorf("Add after Finish = %v, want ErrFinished", err)
			}
			if _, err := w.Finish(); !errors.Is(err, ErrFinished) {
				t.Errorf("second Finish = %v, want ErrFinished", err)
			}
		})
	}
}

type failWriter struct{ n int }

func (f *failWriter) Write(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, errors.New("disk full")
	}
	f.n--
	return len(p), nil
}

func TestWriterStickyWriteError(t *testing.T) {
	w := NewWriter(&failWriter{}, WriterOptions{})
	var err error
	big := make([]byte, 100<<10)
	for i := 0; i < 10 && err == nil; i++ {
		err = w.Add([]byte{byte(i)}, 1, base.KindValue, big)
	}
	if err == nil {
		t.Fatal("no error from a failing writer")
	}
	if err2 := w.Add([]byte{99}, 1, base.KindValue, nil); err2 != err {
		t.Errorf("Add after write error = %v, want %v", err2, err)
	}
	if _, err2 := w.Finish(); err2 != err {
		t.Errorf("Finish after write error = %v, want %v", err2, err)
	}
}

func TestEmptyTable(t *testing.T) {
	data, props := buildTable(t, nil, WriterOptions{})
	if props.NumEntries != 0 || props.Smallest != nil {
		t.Fatalf("props = %+v", props)
	}
	r := openTable(t, data, ReaderOptions{})
	if _, _, _, found, err := r.Get([]byte("a")); found || err != nil {
		t.Errorf("Get = %v, %v", found, err)
	}
	it := r.NewIter(IterOptions{})
	if it.First() || it.SeekGE(nil) || it.Close() != nil {
		t.Error("iterator over an empty table is valid or failed")
	}
}

func TestProperties(t *testing.T) {
	recs := []rec{
		{key: []byte("a"), version: 5, kind: base.KindValue, value: []byte("xyz")},
		{key: []byte("bb"), version: 3, kind: base.KindTombstone},
		{key: []byte("ccc"), version: 9, kind: base.KindValue, value: []byte("w")},
	}
	data, props := buildTable(t, recs, WriterOptions{})
	want := Properties{
		NumEntries: 3, NumTombstones: 1, Smallest: []byte("a"), Largest: []byte("ccc"),
		MinVersion: 3, MaxVersion: 9, RawKeyBytes: 6, RawValueBytes: 4,
		DataBytes: props.DataBytes, IndexBytes: props.IndexBytes, FilterBytes: props.FilterBytes,
		FileSize: uint64(len(data)),
	}
	got := openTable(t, data, ReaderOptions{}).Properties()
	for name, p := range map[string]Properties{"Finish": props, "Reader": got} {
		if fmt.Sprint(p) != fmt.Sprint(want) {
			t.Errorf("%s properties = %+v, want %+v", name, p, want)
		}
	}
	if props.FilterBytes != 64+1+blockTrailerLen || props.DataBytes+props.FilterBytes+props.IndexBytes+footerLen >= props.FileSize {
		t.Errorf("byte counts inconsistent: %+v", props)
	}
}

func TestShortSeparator(t *testing.T) {
	tests := []struct{ a, b, want string }{
		{"abc", "abd", "abc"},
		{"abc", "abz", "abd"},
		{"abc", "b", "abc"},
		{"a", "c", "b"},
		{"ab", "abc", "ab"},
		{"a\xff", "b", "a\xff"},
		{"", "a", ""},
		{"key0001xyz", "key0009", "key0002"},
	}
	for _, tc := range tests {
		got := string(shortSeparator(nil, []byte(tc.a), []byte(tc.b)))
		if got != tc.want {
			t.Errorf("shortSeparator(%q, %q) = %q, want %q", tc.a, tc.b, got, tc.want)
		}
		if got < tc.a || got >= tc.b {
			t.Errorf("shortSeparator(%q, %q) = %q out of [a, b)", tc.a, tc.b, got)
		}
	}
}

func TestCompareLCP(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	for i := 0; i < 10000; i++ {
		a := make([]byte, rng.IntN(24))
		b := make([]byte, rng.IntN(24))
		for j := range a {
			a[j] = byte(rng.IntN(3))
		}
		for j := range b {
			b[j] = byte(rng.IntN(3))
		}
		c, l := compareLCP(a, b)
		wantL := 0
		for wantL < len(a) && wantL < len(b) && a[wantL] == b[wantL] {
			wantL++
		}
		if c != bytes.Compare(a, b) || l != wantL {
			t.Fatalf("compareLCP(%x, %x) = %d, %d; want %d, %d", a, b, c, l, bytes.Compare(a, b), wantL)
		}
	}
}

func TestBloomFalsePositiveRate(t *testing.T) {
	tests := []struct {
		bitsPerKey int
		maxRate    float64
	}{
		{10, 0.015},
		{16, 0.002},
		{5, 0.12},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.bitsPerKey), func(t *testing.T) {
			const n = 20000
			hashes := make([]uint64, n)
			for i := range hashes {
				hashes[i] = base.Hash64([]byte(fmt.Sprintf("key-%08d", i)))
			}
			f, err := decodeFilter(appendFilter(nil, hashes, tc.bitsPerKey))
			if err != nil {
				t.Fatal(err)
			}
			for i, h := range hashes {
				if !f.mayContain(h) {
					t.Fatalf("false negative for key %d", i)
				}
			}
			const probes = 200000
			fp := 0
			for i := 0; i < probes; i++ {
				if f.mayContain(base.Hash64([]byte(fmt.Sprintf("absent-%08d", i)))) {
					fp++
				}
			}
			rate := float64(fp) / probes
			t.Logf("bits/key %d, %d probes: false-positive rate %.3f%%", tc.bitsPerKey, f.k, 100*rate)
			if rate > tc.maxRate {
				t.Errorf("false-positive rate %.4f > %.4f", rate, tc.maxRate)
			}
		})
	}
}

// The filter format is frozen: these bits must never change.
func TestFilterGolden(t *testing.T) {
	hashes := []uint64{base.Hash64([]byte("a")), base.Hash64([]byte("key-0000000000001"))}
	f := appendFilter(nil, hashes, 10)
	if len(f) != 65 || f[64] != 7 {
		t.Fatalf("filter is %d bytes with k=%d", len(f), f[len(f)-1])
	}
	var set []int
	for i := 0; i < 512; i++ {
		if f[i/8]&(1<<(i%8)) != 0 {
			set = append(set, i)
		}
	}
	want := "[4 7 28 36 144 253 269 286 300 308 393 410 471 506]"
	if got := fmt.Sprint(set); got != want {
		t.Errorf("bits set = %s, want %s", got, want)
	}
}

func TestReaderClosed(t *testing.T) {
	recs := genRecords(rand.New(rand.NewPCG(5, 5)), 10)
	r := openTable(t, mustBuild(t, recs, WriterOptions{}), ReaderOptions{})
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, _, _, _, err := r.Get(recs[0].key); !errors.Is(err, ErrClosed) {
		t.Errorf("Get after Close = %v, want ErrClosed", err)
	}
	it := r.NewIter(IterOptions{})
	if it.First() || !errors.Is(it.Close(), ErrClosed) {
		t.Error("iterator of a closed reader is usable")
	}
}

func TestMemoryUsage(t *testing.T) {
	recs := genRecords(rand.New(rand.NewPCG(6, 6)), 5000)
	data, props := buildTable(t, recs, WriterOptions{})
	r := openTable(t, data, ReaderOptions{})
	got := r.MemoryUsage()
	lo := int(props.IndexBytes + props.FilterBytes)
	if got < lo/2 || got > 3*lo+4096 {
		t.Errorf("MemoryUsage = %d, index+filter are %d bytes", got, lo)
	}
}

// Values larger than the read-ahead window, mixed with small ones.
func TestNoCacheIterLargeBlocks(t *testing.T) {
	var recs []rec
	for i := 0; i < 40; i++ {
		v := make([]byte, 100)
		if i%7 == 3 {
			v = make([]byte, ReadAheadSize+1000*i)
		}
		v[0] = byte(i)
		recs = append(recs, rec{key: []byte(fmt.Sprintf("k%03d", i)), version: uint64(i), kind: base.KindValue, value: v})
	}
	r := openTable(t, mustBuild(t, recs, WriterOptions{}), ReaderOptions{})
	it := r.NewIter(IterOptions{NoCache: true})
	i := 0
	for ok := it.First(); ok; ok = it.Next() {
		checkRec(t, "iter", it.Key(), it.Value(), it.Version(), it.Kind(), recs[i])
		i++
	}
	if err := it.Close(); err != nil || i != len(recs) {
		t.Fatalf("iterated %d of %d, err %v", i, len(recs), err)
	}
	it = r.NewIter(IterOptions{NoCache: true})
	defer it.Close()
	for _, j := range []int{30, 3, 39, 0, 17} {
		if !it.SeekGE(recs[j].key) {
			t.Fatalf("SeekGE(%q): %v", recs[j].key, it.Err())
		}
		checkRec(t, "SeekGE", it.Key(), it.Value(), it.Version(), it.Kind(), recs[j])
	}
}

// countingReaderAt counts the bytes read through it.
type countingReaderAt struct {
	r     io.ReaderAt
	bytes int
}

func (c *countingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.r.ReadAt(p, off)
	c.bytes += n
	return n, err
}

// A NoCache scan of a short key range reads about that range, not a whole
// read-ahead window, when it names where it stops; every record of the range
// is still returned, and reading on past the bound still works.
func TestNoCacheReadAheadEnd(t *testing.T) {
	recs := genRecords(rand.New(rand.NewPCG(11, 11)), 20000) // about 3 MB, 4 prefixes
	data, props := buildTable(t, recs, WriterOptions{})
	if props.DataBytes < 4*ReadAheadSize {
		t.Fatalf("table of %d data bytes is too small for the test", props.DataBytes)
	}
	lo, hi := len(recs)/3, len(recs)/3+40 // a short range in the middle
	start, end := recs[lo].key, recs[hi].key
	for _, tc := range []struct {
		name     string
		opts     IterOptions
		maxBytes int
	}{
		{"bounded", IterOptions{NoCache: true, ReadAheadEnd: end}, 6 * defaultBlockSize},
		{"unbounded", IterOptions{NoCache: true}, ReadAheadSize + ReadAheadSize/2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cr := &countingReaderAt{r: bytes.NewReader(data)}
			r, err := Open(cr, int64(len(data)), ReaderOptions{})
			if err != nil {
				t.Fatal(err)
			}
			opened := cr.bytes
			it := r.NewIter(tc.opts)
			i := lo
			for ok := it.SeekGE(start); ok && bytes.Compare(it.Key(), end) < 0; ok = it.Next() {
				checkRec(t, "scan", it.Key(), it.Value(), it.Version(), it.Kind(), recs[i])
				i++
			}
			read := cr.bytes - opened
			if i != hi {
				t.Fatalf("scanned %d records, want %d (err %v)", i-lo, hi-lo, it.Err())
			}
			if read > tc.maxBytes {
				t.Errorf("read %d bytes for %d records; want at most %d", read, hi-lo, tc.maxBytes)
			}
			if tc.opts.ReadAheadEnd == nil && read < ReadAheadSize {
				t.Errorf("unbounded read-ahead read only %d bytes", read)
			}
			t.Logf("read %d bytes for %d records", read, hi-lo)
			// Past the bound the iterator goes on, a block at a time.
			for n := 0; n < 500; n++ {
				if !it.Next() {
					t.Fatalf("Next past the bound at record %d: %v", i, it.Err())
				}
				i++
				checkRec(t, "past", it.Key(), it.Value(), it.Version(), it.Kind(), recs[i])
			}
			if err := it.Close(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestConcurrentGet(t *testing.T) {
	recs := genRecords(rand.New(rand.NewPCG(8, 8)), 3000)
	c := cache.New(32 << 10) // small: constant eviction
	r := openTable(t, mustBuild(t, recs, WriterOptions{}), ReaderOptions{Cache: c, CacheID: 1})
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 9))
			for i := 0; i < 3000; i++ {
				want := recs[rng.IntN(len(recs))]
				value, version, kind, found, err := r.Get(want.key)
				if err != nil || !found || !bytes.Equal(value, want.value) || version != want.version || kind != want.kind {
					t.Errorf("Get(%q) = %v, %v", want.key, found, err)
					return
				}
			}
		}(g)
	}
	wg.Wait()
	if st := c.Stats(); st.Hits == 0 || st.Misses == 0 {
		t.Errorf("cache stats %+v: want hits and misses", st)
	}
}

func TestGetHitDoesNotAllocate(t *testing.T) {
	recs := genRecords(rand.New(rand.NewPCG(10, 10)), 2000)
	r := openTable(t, mustBuild(t, recs, WriterOptions{}), ReaderOptions{Cache: cache.New(8 << 20), CacheID: 1})
	for _, rc := range recs {
		r.Get(rc.key) // warm the cache
	}
	i := 0
	allocs := testing.AllocsPerRun(1000, func() {
		r.Get(recs[i%len(recs)].key)
		r.Get([]byte("absent"))
		i++
	})
	if allocs != 0 {
		t.Errorf("Get allocates %.1f times per call on a cache hit", allocs)
	}
}

var update = flag.Bool("update", false, "rewrite golden files in testdata")

// The dump of a small table is a golden file: a change in it is a change
// of the on-disk format (or of the dump) and must be deliberate.
func TestDumpGolden(t *testing.T) {
	recs := []rec{
		{key: []byte("apple"), version: 5, kind: base.KindValue, value: []byte("red")},
		{key: []byte("apricot"), version: 3, kind: base.KindTombstone},
		{key: []byte("banana"), version: 9, kind: base.KindValue, value: []byte("yellow")},
		{key: []byte("blueberry"), version: 7, kind: base.KindValue, value: []byte{}},
		{key: []byte("cherry"), version: 1, kind: base.KindValue, value: []byte("dark\x00red")},
	}
	var out bytes.Buffer
	for _, opts := range []WriterOptions{
		{BlockSize: 40, RestartInterval: 2},
		{BloomBitsPerKey: -1},
	} {
		data := mustBuild(t, recs, opts)
		fmt.Fprintf(&out, "# %+v\n", opts)
		if err := Dump(&out, bytes.NewReader(data), int64(len(data))); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&out, "# bytes\n%s\n", hex.Dump(data))
	}
	golden := filepath.Join("testdata", "dump.golden")
	if *update {
		if err := os.WriteFile(golden, out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), want) {
		t.Errorf("dump differs from %s (run with -update if the change is deliberate):\n%s", golden, out.String())
	}
}
