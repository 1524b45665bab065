package sstable

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"testing"

	"kvstore/storage/cache"
	"kvstore/storage/internal/base"
)

var updateSeeds = flag.Bool("update-fuzz-seeds", false, "rewrite the seed corpora in testdata/fuzz")

// seedTables returns a few valid tables for seeding FuzzTable.
func seedTables(t testing.TB) [][]byte {
	recs := genRecords(rand.New(rand.NewPCG(12, 12)), 12)
	for i := range recs {
		recs[i].value = recs[i].value[:min(len(recs[i].value), 8)]
	}
	return [][]byte{
		mustBuild(t, recs, WriterOptions{BlockSize: 100, RestartInterval: 2}),
		mustBuild(t, recs[:1], WriterOptions{BloomBitsPerKey: -1}),
		mustBuild(t, nil, WriterOptions{}),
	}
}

// seedBlocks returns a few data blocks, without trailers, for FuzzBlock.
func seedBlocks(t testing.TB) [][]byte {
	var blocks [][]byte
	for _, data := range seedTables(t)[:2] {
		r := openTable(t, data, ReaderOptions{})
		for i := 0; i < r.index.numBlocks(); i++ {
			b, err := r.readBlock(i, false, nil)
			if err != nil {
				t.Fatal(err)
			}
			blocks = append(blocks, b)
		}
	}
	return append(blocks, []byte{0, 0, 0, 0}, []byte{1, 0, 0, 0})
}

func FuzzBlock(f *testing.F) {
	for _, b := range seedBlocks(f) {
		f.Add(b, []byte("p01/5"))
	}
	f.Fuzz(func(t *testing.T, block, key []byte) {
		var it blockIter
		if it.init(block) != nil {
			if _, _, _, _, err := blockGet(block, key); err == nil || !errors.Is(err, base.ErrCorruption) {
				t.Fatalf("blockGet on a block init rejects: err %v", err)
			}
			return
		}
		var recs []rec
		sorted := true
		for ok := it.first(); ok; ok = it.nextEntry() {
			if len(recs) > 0 && bytes.Compare(recs[len(recs)-1].key, it.key) >= 0 {
				sorted = false
			}
			recs = append(recs, rec{bytes.Clone(it.key), it.version, it.kind, it.value})
			if len(recs) > len(block) {
				t.Fatal("more entries than bytes")
			}
		}
		if it.err != nil && !errors.Is(it.err, base.ErrCorruption) {
			t.Fatalf("iteration error %v does not wrap ErrCorruption", it.err)
		}
		if _, _, _, _, err := blockGet(block, key); err != nil && !errors.Is(err, base.ErrCorruption) {
			t.Fatalf("blockGet error %v does not wrap ErrCorruption", err)
		}
		if it.seekGE(key) && bytes.Compare(it.key, key) < 0 {
			t.Fatalf("seekGE(%q) landed on smaller key %q", key, it.key)
		}
		if it.err != nil && !errors.Is(it.err, base.ErrCorruption) {
			t.Fatalf("seekGE error %v does not wrap ErrCorruption", it.err)
		}
		if !sorted || len(recs) == 0 {
			return
		}
		// Re-encode what was decoded and check lookups in the new block.
		for _, ri := range []int{1, 2, 16} {
			bb := blockBuilder{restartInterval: ri}
			var nb []byte
			for _, r := range recs {
				nb = bb.add(nb, 0, r.key, r.version, r.kind, r.value)
			}
			nb = bb.finish(nb)
			for _, want := range recs {
				value, version, kind, found, err := blockGet(nb, want.key)
				if err != nil || !found || !bytes.Equal(value, want.value) || version != want.version || kind != want.kind {
					t.Fatalf("re-encoded block: blockGet(%q) = %v, %v", want.key, found, err)
				}
			}
			var it2 blockIter
			if err := it2.init(nb); err != nil {
				t.Fatal(err)
			}
			i := 0
			for i < len(recs) && bytes.Compare(recs[i].key, key) < 0 {
				i++
			}
			_, _, _, found, _ := blockGet(nb, key)
			if found != (i < len(recs) && bytes.Equal(recs[i].key, key)) {
				t.Fatalf("re-encoded block: blockGet(%q) found=%v", key, found)
			}
			ok := it2.seekGE(key)
			if ok != (i < len(recs)) || ok && !bytes.Equal(it2.key, recs[i].key) {
				t.Fatalf("re-encoded block: seekGE(%q) = %v %q, want record %d", key, ok, it2.key, i)
			}
		}
	})
}

func FuzzTable(f *testing.F) {
	for _, data := range seedTables(f) {
		f.Add(data, []byte("p01/5"))
	}
	f.Fuzz(func(t *testing.T, data, key []byte) {
		r, err := Open(bytes.NewReader(data), int64(len(data)), ReaderOptions{})
		if err != nil {
			if !errors.Is(err, base.ErrCorruption) {
				t.Fatalf("Open: %v does not wrap ErrCorruption", err)
			}
			return
		}
		if _, _, _, _, err := r.Get(key); err != nil && !errors.Is(err, base.ErrCorruption) {
			t.Fatalf("Get: %v does not wrap ErrCorruption", err)
		}
		// Through a block cache: GetCached answers nothing but what Get
		// does, and answers once Get has cached the block.
		rc, err := Open(bytes.NewReader(data), int64(len(data)), ReaderOptions{Cache: cache.New(1 << 20), CacheID: 1})
		if err != nil {
			t.Fatalf("second Open: %v", err)
		}
		if v, ver, k, found, err := rc.GetCached(key); err != nil && !errors.Is(err, ErrNotCached) && !errors.Is(err, base.ErrCorruption) {
			t.Fatalf("GetCached before Get: %v", err)
		} else if err == nil && found {
			t.Fatalf("GetCached found %q (%d, %v, %q) in a block nobody cached", key, ver, k, v)
		}
		v, ver, k, found, err := rc.Get(key)
		cv, cver, ck, cfound, cerr := rc.GetCached(key)
		if err == nil && (cerr != nil || cfound != found || cver != ver || ck != k || !bytes.Equal(cv, v)) {
			t.Fatalf("after Get (%q %d %v %v): GetCached %q %d %v %v, %v", v, ver, k, found, cv, cver, ck, cfound, cerr)
		}
		for _, noCache := range []bool{false, true} {
			it := r.NewIter(IterOptions{NoCache: noCache})
			n := 0
			for ok := it.First(); ok && n <= len(data); ok = it.Next() {
				n++
				if _, _, _, found, err := r.Get(it.Key()); err == nil && !found {
					t.Fatalf("iterated key %q not found by Get", it.Key())
				}
			}
			if it.SeekGE(key) && bytes.Compare(it.Key(), key) < 0 {
				t.Fatalf("SeekGE(%q) landed on smaller key %q", key, it.Key())
			}
			if err := it.Close(); err != nil && !errors.Is(err, base.ErrCorruption) {
				t.Fatalf("iterator: %v does not wrap ErrCorruption", err)
			}
		}
	})
}

// FuzzFooter decodes footers; with fix set, the checksum and magic are
// patched so that the handle checks are exercised.
func FuzzFooter(f *testing.F) {
	for _, data := range seedTables(f) {
		f.Add(data[len(data)-footerLen:], uint64(len(data)), false)
		f.Add(data[len(data)-footerLen:], uint64(len(data)), true)
	}
	f.Fuzz(func(t *testing.T, b []byte, size uint64, fix bool) {
		b = bytes.Clone(b)
		if fix && len(b) == footerLen {
			binary.LittleEndian.PutUint32(b[52:], crc32.Checksum(b[:52], crcTable))
			copy(b[56:], magic)
		}
		ft, err := decodeFooter(b, size)
		if err != nil {
			if !errors.Is(err, base.ErrCorruption) {
				t.Fatalf("%v does not wrap ErrCorruption", err)
			}
			return
		}
		if ft.props.end() != size-footerLen || ft.index.end() != ft.props.offset || ft.filter.end() != ft.index.offset {
			t.Fatalf("accepted footer %+v does not tile a %d-byte file", ft, size)
		}
		if got := ft.encode(nil); !bytes.Equal(got, b) {
			t.Fatalf("re-encoded footer differs:\n%x\n%x", got, b)
		}
	})
}

// FuzzMetaBlocks decodes block bodies that checksums guard in a table: the
// index, the properties and the filter.
func FuzzMetaBlocks(f *testing.F) {
	for _, data := range seedTables(f) {
		ft, err := decodeFooter(data[len(data)-footerLen:], uint64(len(data)))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data[ft.index.offset:][:ft.index.length], ft.filter.offset)
		f.Add(data[ft.props.offset:][:ft.props.length], ft.filter.offset)
		f.Add(data[ft.filter.offset:][:ft.filter.length], ft.filter.offset)
	}
	f.Fuzz(func(t *testing.T, b []byte, dataEnd uint64) {
		x, err := decodeIndex(b, dataEnd)
		if err != nil && !errors.Is(err, base.ErrCorruption) {
			t.Fatalf("decodeIndex: %v does not wrap ErrCorruption", err)
		}
		if err == nil {
			var enc []byte
			enc = binary.AppendUvarint(enc, uint64(x.numBlocks()))
			for i := 0; i < x.numBlocks(); i++ {
				enc = appendIndexEntry(enc, x.sep(i), x.handle(i))
			}
			if x.offs[x.numBlocks()] != dataEnd {
				t.Fatalf("index does not end at %d", dataEnd)
			}
			if x2, err := decodeIndex(enc, dataEnd); err != nil || fmt.Sprint(x2) != fmt.Sprint(x) {
				t.Fatalf("re-encoded index decodes to %v, %v", x2, err)
			}
		}
		p, err := decodeProperties(b)
		if err != nil && !errors.Is(err, base.ErrCorruption) {
			t.Fatalf("decodeProperties: %v does not wrap ErrCorruption", err)
		}
		if err == nil {
			// Uvarints may be overlong: compare decoded values, not bytes.
			if p2, err := decodeProperties(p.encode(nil)); err != nil || fmt.Sprint(p2) != fmt.Sprint(p) {
				t.Fatalf("re-encoded properties decode to %+v, %v; want %+v", p2, err, p)
			}
		}
		fl, err := decodeFilter(b)
		if err != nil && !errors.Is(err, base.ErrCorruption) {
			t.Fatalf("decodeFilter: %v does not wrap ErrCorruption", err)
		}
		if err == nil {
			fl.mayContain(base.Hash64(b))
		}
	})
}

// FuzzRoundTrip writes a table from records derived from the input and
// checks that Get and the iterators return exactly those records.
func FuzzRoundTrip(f *testing.F) {
	f.Add([]byte("apple=red\xffapricot=\xffbanana=yellow\xffb\xff\xffcherry=x"), uint8(40), uint8(2), int8(0))
	f.Add([]byte("k\x00=\x00\xffk\x00\x00=1\xffk\x01="), uint8(1), uint8(1), int8(-1))
	f.Fuzz(func(t *testing.T, data []byte, blockSize, restartInterval uint8, bloom int8) {
		byKey := map[string]rec{}
		for i, chunk := range bytes.Split(data, []byte{0xff}) {
			k, v, _ := bytes.Cut(chunk, []byte("="))
			kind := base.KindValue
			if i%5 == 3 {
				kind = base.KindTombstone
			}
			byKey[string(k)] = rec{key: k, version: uint64(i) * 0x0101010101, kind: kind, value: v}
		}
		var recs []rec
		for _, r := range byKey {
			recs = append(recs, r)
		}
		sort.Slice(recs, func(i, j int) bool { return bytes.Compare(recs[i].key, recs[j].key) < 0 })
		opts := WriterOptions{BlockSize: int(blockSize), RestartInterval: int(restartInterval % 20), BloomBitsPerKey: int(bloom % 20)}
		table := mustBuild(t, recs, opts)
		r := openTable(t, table, ReaderOptions{})
		for i, want := range recs {
			value, version, kind, found, err := r.Get(want.key)
			if err != nil || !found {
				t.Fatalf("Get(%q) = %v, %v", want.key, found, err)
			}
			checkRec(t, "Get", want.key, value, version, kind, want)
			// Keys between this one and the next are absent.
			between := append(bytes.Clone(want.key), 0)
			if i+1 < len(recs) && bytes.Equal(between, recs[i+1].key) {
				continue
			}
			if _, _, _, found, err := r.Get(between); found || err != nil {
				t.Fatalf("Get(%q) of an absent key = %v, %v", between, found, err)
			}
			it := r.NewIter(IterOptions{})
			ok := it.SeekGE(between)
			if ok != (i+1 < len(recs)) || ok && !bytes.Equal(it.Key(), recs[i+1].key) {
				t.Fatalf("SeekGE(%q) = %v %q", between, ok, it.Key())
			}
			it.Close()
		}
		// A read-ahead bound only limits what is read ahead: an iterator
		// that goes past it still returns every record.
		var mid []byte
		if len(recs) > 0 {
			mid = recs[len(recs)/2].key
		}
		for _, opts := range []IterOptions{{}, {NoCache: true}, {NoCache: true, ReadAheadEnd: mid}} {
			it := r.NewIter(opts)
			i := 0
			for ok := it.First(); ok; ok = it.Next() {
				checkRec(t, "iter", it.Key(), it.Value(), it.Version(), it.Kind(), recs[i])
				i++
			}
			if err := it.Close(); err != nil || i != len(recs) {
				t.Fatalf("iterated %d of %d: %v", i, len(recs), err)
			}
		}
	})
}

// TestWriteFuzzSeeds rewrites testdata/fuzz from the seeds above when run
// with -update-fuzz-seeds.
func TestWriteFuzzSeeds(t *testing.T) {
	if !*updateSeeds {
		t.Skip("run with -update-fuzz-seeds to rewrite testdata/fuzz")
	}
	write := func(target string, i int, args ...any) {
		s := "go test fuzz v1\n"
		for _, a := range args {
			switch v := a.(type) {
			case []byte:
				s += "[]byte(" + strconv.Quote(string(v)) + ")\n"
			case uint64:
				s += fmt.Sprintf("uint64(%d)\n", v)
			case bool:
				s += fmt.Sprintf("bool(%v)\n", v)
			case uint8:
				s += fmt.Sprintf("byte(%d)\n", v)
			case int8:
				s += fmt.Sprintf("int8(%d)\n", v)
			default:
				t.Fatalf("unsupported seed type %T", a)
			}
		}
		dir := filepath.Join("testdata", "fuzz", target)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%d", i)), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for i, b := range seedBlocks(t) {
		write("FuzzBlock", i, b, []byte("p02/1"))
	}
	write("FuzzRoundTrip", 0, []byte("apple=red\xffapricot=\xffbanana=yellow\xffb\xff\xffcherry=x"), uint8(40), uint8(2), int8(0))
	write("FuzzRoundTrip", 1, []byte("p01/a=1\xffp01/ab=2\xffp01/b=\xffp02/=3"), uint8(1), uint8(1), int8(-1))
	for i, data := range seedTables(t) {
		write("FuzzTable", i, data, []byte("p02/1"))
		footer := data[len(data)-footerLen:]
		write("FuzzFooter", 2*i, footer, uint64(len(data)), false)
		write("FuzzFooter", 2*i+1, footer, uint64(len(data))+1, true)
		ft, _ := decodeFooter(footer, uint64(len(data)))
		write("FuzzMetaBlocks", 3*i, data[ft.index.offset:][:ft.index.length], ft.filter.offset)
		write("FuzzMetaBlocks", 3*i+1, data[ft.props.offset:][:ft.props.length], ft.filter.offset)
		write("FuzzMetaBlocks", 3*i+2, data[ft.filter.offset:][:ft.filter.length], ft.filter.offset)
	}
}
