package record

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"testing/iotest"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata")

// encode returns the log of payloads and the end offset of each record.
func encode(payloads [][]byte) ([]byte, []int64) {
	var log []byte
	ends := make([]int64, len(payloads))
	for i, p := range payloads {
		log = Append(log, p)
		ends[i] = int64(len(log))
	}
	return log, ends
}

// readAll reads records until an error and returns them with that error.
func readAll(t *testing.T, r io.Reader) ([][]byte, *Reader, error) {
	t.Helper()
	rd := NewReader(r)
	var got [][]byte
	for {
		p, err := rd.Next()
		if err != nil {
			return got, rd, err
		}
		got = append(got, bytes.Clone(p))
	}
}

func TestAppendLayout(t *testing.T) {
	tests := []struct {
		payload string
		want    string // hex of the record
	}{
		// CRC-32C("\x00\x00\x00\x00") = 0x48674bc7.
		{"", "c74b674800000000"},
		{"hello", fmt.Sprintf("%08x", bswap(crcOf("\x05\x00\x00\x00hello"))) + "05000000" + "68656c6c6f"},
	}
	for _, tc := range tests {
		t.Run(tc.payload, func(t *testing.T) {
			got := fmt.Sprintf("%x", Append(nil, []byte(tc.payload)))
			if got != tc.want {
				t.Errorf("Append(%q) = %s, want %s", tc.payload, got, tc.want)
			}
			sealed := append(make([]byte, HeaderSize), tc.payload...)
			Seal(sealed)
			if got := fmt.Sprintf("%x", sealed); got != tc.want {
				t.Errorf("Seal(%q) = %s, want %s", tc.payload, got, tc.want)
			}
		})
	}
	if got := fmt.Sprintf("%08x", crcOf("123456789")); got != "e3069283" {
		t.Fatalf("CRC-32C check value = %s, want e3069283", got)
	}
}

func crcOf(s string) uint32 {
	return crc32cBitwise([]byte(s))
}

// crc32cBitwise is an independent, table-free CRC-32C.
func crc32cBitwise(b []byte) uint32 {
	crc := ^uint32(0)
	for _, c := range b {
		crc ^= uint32(c)
		for range 8 {
			if crc&1 != 0 {
				crc = crc>>1 ^ 0x82f63b78
			} else {
				crc >>= 1
			}
		}
	}
	return ^crc
}

func bswap(x uint32) uint32 {
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], x)
	return binary.BigEndian.Uint32(b[:])
}

func TestRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var payloads [][]byte
	for range 300 {
		var n int
		switch rng.IntN(10) {
		case 0:
			n = 0
		case 1:
			n = rng.IntN(1<<20 + 1) // up to 1 MiB
		default:
			n = rng.IntN(300)
		}
		p := make([]byte, n)
		for i := range p {
			p[i] = byte(rng.Uint32())
		}
		payloads = append(payloads, p)
	}
	log, ends := encode(payloads)
	readers := []struct {
		name string
		r    func() io.Reader
	}{
		{"bytes", func() io.Reader { return bytes.NewReader(log) }},
		{"half", func() io.Reader { return iotest.HalfReader(bytes.NewReader(log)) }},
		{"data-err", func() io.Reader { return iotest.DataErrReader(bytes.NewReader(log)) }},
		{"one-byte", func() io.Reader { return iotest.OneByteReader(bytes.NewReader(log[:ends[40]])) }},
	}
	for _, tc := range readers {
		t.Run(tc.name, func(t *testing.T) {
			rd := NewReader(tc.r())
			for i, want := range payloads {
				got, err := rd.Next()
				if tc.name == "one-byte" && i == 41 {
					if err != io.EOF {
						t.Fatalf("record %d: got err %v, want EOF", i, err)
					}
					return
				}
				if err != nil {
					t.Fatalf("record %d: %v", i, err)
				}
				if !bytes.Equal(got, want) {
					t.Fatalf("record %d: payload differs (len %d, want %d)", i, len(got), len(want))
				}
				if rd.Offset() != ends[i] {
					t.Fatalf("record %d: Offset = %d, want %d", i, rd.Offset(), ends[i])
				}
			}
			if _, err := rd.Next(); err != io.EOF {
				t.Fatalf("after last record: %v, want EOF", err)
			}
			if _, err := rd.Next(); err != io.EOF {
				t.Fatalf("EOF not sticky: %v", err)
			}
		})
	}
}

func smallLog() ([][]byte, []byte, []int64) {
	var payloads [][]byte
	for i := range 12 {
		payloads = append(payloads, bytes.Repeat([]byte{byte('a' + i)}, i*3))
	}
	log, ends := encode(payloads)
	return payloads, log, ends
}

// TestTruncateEverywhere cuts a log at every byte: the records wholly before
// the cut come back, then io.EOF at a record boundary or ErrTornTail inside a
// record, with Offset at the last boundary.
func TestTruncateEverywhere(t *testing.T) {
	payloads, log, ends := smallLog()
	for cut := 0; cut <= len(log); cut++ {
		got, rd, err := readAll(t, bytes.NewReader(log[:cut]))
		whole := 0
		for whole < len(ends) && ends[whole] <= int64(cut) {
			whole++
		}
		if len(got) != whole {
			t.Fatalf("cut %d: got %d records, want %d", cut, len(got), whole)
		}
		for i := range got {
			if !bytes.Equal(got[i], payloads[i]) {
				t.Fatalf("cut %d: record %d differs", cut, i)
			}
		}
		var boundary int64
		if whole > 0 {
			boundary = ends[whole-1]
		}
		if rd.Offset() != boundary {
			t.Fatalf("cut %d: Offset = %d, want %d", cut, rd.Offset(), boundary)
		}
		if int64(cut) == boundary {
			if err != io.EOF {
				t.Fatalf("cut %d at a boundary: err %v, want EOF", cut, err)
			}
		} else if !errors.Is(err, ErrTornTail) {
			t.Fatalf("cut %d inside a record: err %v, want ErrTornTail", cut, err)
		}
	}
}

// TestBitFlips flips every bit of a small log: the records before the flipped
// one come back intact and the log ends at the flipped record.
func TestBitFlips(t *testing.T) {
	payloads, log, ends := smallLog()
	for bit := 0; bit < len(log)*8; bit++ {
		bad := bytes.Clone(log)
		bad[bit/8] ^= 1 << (bit % 8)
		victim := 0
		for ends[victim] <= int64(bit/8) {
			victim++
		}
		got, rd, err := readAll(t, bytes.NewReader(bad))
		if !errors.Is(err, ErrTornTail) {
			t.Fatalf("bit %d: err %v, want ErrTornTail", bit, err)
		}
		if len(got) != victim {
			t.Fatalf("bit %d in record %d: got %d records", bit, victim, len(got))
		}
		for i := range got {
			if !bytes.Equal(got[i], payloads[i]) {
				t.Fatalf("bit %d: record %d differs", bit, i)
			}
		}
		var want int64
		if victim > 0 {
			want = ends[victim-1]
		}
		if rd.Offset() != want {
			t.Fatalf("bit %d: Offset %d, want %d", bit, rd.Offset(), want)
		}
	}
}

func TestTails(t *testing.T) {
	_, log, ends := smallLog()
	end := ends[len(ends)-1]
	zeros := func(n int) []byte { return make([]byte, n) }
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	big := make([]byte, HeaderSize)
	binary.LittleEndian.PutUint32(big[0:], 1)
	binary.LittleEndian.PutUint32(big[4:], MaxRecordSize+1)
	justMax := bytes.Clone(big)
	binary.LittleEndian.PutUint32(justMax[4:], MaxRecordSize)
	tests := []struct {
		name     string
		log      []byte
		wantErr  error
		wantOff  int64
		wantRecs int
	}{
		{"empty", nil, io.EOF, 0, 0},
		{"zero header only", zeros(8), io.EOF, 0, 0},
		{"zero tail", cat(log, zeros(8)), io.EOF, end, 12},
		{"long zero tail", cat(log, zeros(1<<16)), io.EOF, end, 12},
		{"zero tail then junk", cat(log, zeros(8), []byte("junk")), io.EOF, end, 12},
		{"short zero tail", cat(log, zeros(3)), ErrTornTail, end, 12},
		{"zero length, bad crc", cat(log, []byte{1, 0, 0, 0, 0, 0, 0, 0}), ErrTornTail, end, 12},
		{"zero crc, nonzero length", cat(log, []byte{0, 0, 0, 0, 1, 0, 0, 0, 0}), ErrTornTail, end, 12},
		{"length over max", cat(log, big, zeros(100)), ErrTornTail, end, 12},
		{"max length, short", cat(log, justMax, zeros(100)), ErrTornTail, end, 12},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, rd, err := readAll(t, bytes.NewReader(tc.log))
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if rd.Offset() != tc.wantOff || len(got) != tc.wantRecs {
				t.Fatalf("Offset %d, %d records; want %d, %d", rd.Offset(), len(got), tc.wantOff, tc.wantRecs)
			}
		})
	}
}

// A huge length at the end of a short log must not allocate the length.
func TestBoundedAllocation(t *testing.T) {
	hdr := make([]byte, HeaderSize)
	binary.LittleEndian.PutUint32(hdr[0:], 0xdeadbeef)
	binary.LittleEndian.PutUint32(hdr[4:], 60<<20)
	for _, size := range []int{100, 100 << 10} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			log := append(bytes.Clone(hdr), make([]byte, size)...)
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, _, err := readAll(t, bytes.NewReader(log))
			runtime.ReadMemStats(&after)
			if !errors.Is(err, ErrTornTail) {
				t.Fatalf("err = %v", err)
			}
			// Allow the buffer's doubling plus a little slack.
			if got, limit := after.TotalAlloc-before.TotalAlloc, uint64(4*size+64<<10); got > limit {
				t.Fatalf("allocated %d bytes reading a %d-byte log, limit %d", got, len(log), limit)
			}
		})
	}
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

type zeroReader struct{}

func (zeroReader) Read([]byte) (int, error) { return 0, nil }

func TestReadErrors(t *testing.T) {
	boom := errors.New("disk on fire")
	_, log, ends := smallLog()
	tests := []struct {
		name string
		r    io.Reader
		want error
		recs int
	}{
		{"error at once", errReader{boom}, boom, 0},
		{"error after records", io.MultiReader(bytes.NewReader(log[:ends[2]+3]), errReader{boom}), boom, 3},
		{"no progress", zeroReader{}, io.ErrNoProgress, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, _, err := readAll(t, tc.r)
			if !errors.Is(err, tc.want) || errors.Is(err, ErrTornTail) {
				t.Fatalf("err = %v, want %v and not ErrTornTail", err, tc.want)
			}
			if len(got) != tc.recs {
				t.Fatalf("%d records, want %d", len(got), tc.recs)
			}
		})
	}
}

func TestReset(t *testing.T) {
	payloads, log, _ := smallLog()
	rd := NewReader(bytes.NewReader(log[:5]))
	if _, err := rd.Next(); !errors.Is(err, ErrTornTail) {
		t.Fatalf("err = %v", err)
	}
	rd.Reset(bytes.NewReader(log))
	for i, want := range payloads {
		got, err := rd.Next()
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("record %d after Reset: %v", i, err)
		}
	}
	if _, err := rd.Next(); err != io.EOF {
		t.Fatalf("err = %v", err)
	}
}

func TestDumpGolden(t *testing.T) {
	log := Append(nil, nil)
	log = Append(log, []byte("hello"))
	log = Append(log, bytes.Repeat([]byte("0123456789"), 4))
	cases := []struct {
		name string
		log  []byte
	}{
		{"clean", log},
		{"zero-tail", append(bytes.Clone(log), make([]byte, 16)...)},
		{"torn", log[:len(log)-3]},
	}
	var out bytes.Buffer
	for _, c := range cases {
		fmt.Fprintf(&out, "# %s: %x\n", c.name, c.log)
		if err := Dump(&out, bytes.NewReader(c.log)); err != nil {
			t.Fatal(err)
		}
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
		t.Fatalf("Dump output differs from %s (run with -update):\n%s", golden, out.Bytes())
	}
}

var sizes = []int{16, 128, 1 << 10, 16 << 10}

func BenchmarkAppend(b *testing.B) {
	for _, size := range sizes {
		b.Run(fmt.Sprint(size), func(b *testing.B) {
			payload := make([]byte, size)
			buf := make([]byte, 0, 1<<20)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				if len(buf)+HeaderSize+size > cap(buf) {
					buf = buf[:0]
				}
				buf = Append(buf, payload)
			}
		})
	}
}

func BenchmarkReader(b *testing.B) {
	for _, size := range sizes {
		b.Run(fmt.Sprint(size), func(b *testing.B) {
			payload := make([]byte, size)
			var log []byte
			for len(log) < 4<<20 {
				log = Append(log, payload)
			}
			br := bytes.NewReader(log)
			rd := NewReader(br)
			b.SetBytes(int64(len(log)))
			b.ReportAllocs()
			for b.Loop() {
				br.Reset(log)
				rd.Reset(br)
				for {
					if _, err := rd.Next(); err != nil {
						if err != io.EOF {
							b.Fatal(err)
						}
						break
					}
				}
			}
		})
	}
}
