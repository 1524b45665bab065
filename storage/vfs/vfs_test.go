package vfs

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"path/filepath"
	"slices"
	"sync"
	"testing"
)

// impls are the FS implementations every table test runs against. Each
// returns a fresh FS and an existing, empty directory in it.
var impls = []struct {
	name  string
	newFS func(t *testing.T) (FS, string)
}{
	{"os", func(t *testing.T) (FS, string) { return Default, t.TempDir() }},
	{"mem", func(t *testing.T) (FS, string) {
		m := NewMem()
		if err := m.MkdirAll("/base", 0o755); err != nil {
			t.Fatal(err)
		}
		return m, "/base"
	}},
	{"errorfs-mem", func(t *testing.T) (FS, string) {
		m := NewMem()
		if err := m.MkdirAll("/base", 0o755); err != nil {
			t.Fatal(err)
		}
		return NewErrorFS(m, func(OpKind, string) error { return nil }), "/base"
	}},
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func writeFile(t *testing.T, fsys FS, name, data string) {
	t.Helper()
	f, err := fsys.Create(name)
	must(t, err)
	if _, err := f.Write([]byte(data)); err != nil {
		t.Fatal(err)
	}
	must(t, f.Close())
}

func readFile(t *testing.T, fsys FS, name string) string {
	t.Helper()
	f, err := fsys.Open(name)
	must(t, err)
	defer f.Close()
	b, err := io.ReadAll(f)
	must(t, err)
	return string(b)
}

func TestFS(t *testing.T) {
	tests := []struct {
		name string
		run  func(t *testing.T, fsys FS, dir string)
	}{
		{"create write read", func(t *testing.T, fsys FS, dir string) {
			name := filepath.Join(dir, "f")
			f, err := fsys.Create(name)
			must(t, err)
			for _, s := range []string{"hello ", "", "world"} {
				n, err := f.Write([]byte(s))
				if err != nil || n != len(s) {
					t.Fatalf("Write(%q) = %d, %v", s, n, err)
				}
			}
			if got, err := f.Size(); err != nil || got != 11 {
				t.Fatalf("Size = %d, %v, want 11", got, err)
			}
			b, err := io.ReadAll(f)
			must(t, err)
			if got, want := string(b), "hello world"; got != want {
				t.Fatalf("Read got %q, want %q", got, want)
			}
			must(t, f.Sync())
			must(t, SyncData(f))
			must(t, f.Close())
			if got := readFile(t, fsys, name); got != "hello world" {
				t.Fatalf("reopened: got %q", got)
			}
		}},
		{"read at", func(t *testing.T, fsys FS, dir string) {
			name := filepath.Join(dir, "f")
			writeFile(t, fsys, name, "0123456789")
			f, err := fsys.Open(name)
			must(t, err)
			defer f.Close()
			p := make([]byte, 4)
			if n, err := f.ReadAt(p, 3); n != 4 || err != nil || string(p) != "3456" {
				t.Fatalf("ReadAt(3) = %d, %v, %q", n, err, p)
			}
			if n, err := f.ReadAt(p, 8); n != 2 || err != io.EOF || string(p[:n]) != "89" {
				t.Fatalf("ReadAt(8) = %d, %v, %q; want 2, EOF, 89", n, err, p[:n])
			}
			if n, err := f.ReadAt(p, 10); n != 0 || err != io.EOF {
				t.Fatalf("ReadAt(10) = %d, %v; want 0, EOF", n, err)
			}
			// ReadAt does not move the read offset.
			if n, err := f.Read(p); n != 4 || err != nil || string(p) != "0123" {
				t.Fatalf("Read = %d, %v, %q", n, err, p)
			}
		}},
		{"create truncates", func(t *testing.T, fsys FS, dir string) {
			name := filepath.Join(dir, "f")
			writeFile(t, fsys, name, "long contents")
			writeFile(t, fsys, name, "short")
			if got := readFile(t, fsys, name); got != "short" {
				t.Fatalf("got %q, want %q", got, "short")
			}
		}},
		{"create in missing dir", func(t *testing.T, fsys FS, dir string) {
			_, err := fsys.Create(filepath.Join(dir, "nodir", "f"))
			if !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("got %v, want ErrNotExist", err)
			}
		}},
		{"open read-only", func(t *testing.T, fsys FS, dir string) {
			name := filepath.Join(dir, "f")
			writeFile(t, fsys, name, "abc")
			f, err := fsys.Open(name)
			must(t, err)
			defer f.Close()
			if _, err := f.Write([]byte("x")); !errors.Is(err, ErrReadOnly) {
				t.Fatalf("Write: got %v, want ErrReadOnly", err)
			}
			if err := f.Truncate(0); !errors.Is(err, ErrReadOnly) {
				t.Fatalf("Truncate: got %v, want ErrReadOnly", err)
			}
			if got := readFile(t, fsys, name); got != "abc" {
				t.Fatalf("got %q", got)
			}
		}},
		{"open missing", func(t *testing.T, fsys FS, dir string) {
			if _, err := fsys.Open(filepath.Join(dir, "nope")); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("Open: got %v, want ErrNotExist", err)
			}
			if _, err := fsys.OpenReadWrite(filepath.Join(dir, "nope")); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("OpenReadWrite: got %v, want ErrNotExist", err)
			}
		}},
		{"open read-write appends", func(t *testing.T, fsys FS, dir string) {
			name := filepath.Join(dir, "wal")
			writeFile(t, fsys, name, "good|torn")
			f, err := fsys.OpenReadWrite(name)
			must(t, err)
			p := make([]byte, 5)
			if _, err := io.ReadFull(f, p); err != nil || string(p) != "good|" {
				t.Fatalf("Read = %q, %v", p, err)
			}
			// Write goes to the end, not to the read offset.
			_, err = f.Write([]byte("+"))
			must(t, err)
			must(t, f.Truncate(5))
			_, err = f.Write([]byte("new"))
			must(t, err)
			// The read offset did not move.
			rest, err := io.ReadAll(f)
			must(t, err)
			if string(rest) != "new" {
				t.Fatalf("rest = %q, want %q", rest, "new")
			}
			must(t, f.Close())
			if got := readFile(t, fsys, name); got != "good|new" {
				t.Fatalf("got %q, want %q", got, "good|new")
			}
		}},
		{"truncate extends with zeros", func(t *testing.T, fsys FS, dir string) {
			name := filepath.Join(dir, "f")
			f, err := fsys.Create(name)
			must(t, err)
			_, err = f.Write([]byte("ab"))
			must(t, err)
			must(t, f.Truncate(4))
			_, err = f.Write([]byte("c"))
			must(t, err)
			must(t, f.Close())
			if got := readFile(t, fsys, name); got != "ab\x00\x00c" {
				t.Fatalf("got %q", got)
			}
		}},
		{"closed file", func(t *testing.T, fsys FS, dir string) {
			f, err := fsys.Create(filepath.Join(dir, "f"))
			must(t, err)
			must(t, f.Close())
			p := make([]byte, 1)
			_, rerr := f.Read(p)
			_, aerr := f.ReadAt(p, 0)
			_, werr := f.Write(p)
			_, serr := f.Size()
			for i, err := range []error{rerr, aerr, werr, f.Sync(), f.Truncate(0), serr, f.Close()} {
				if !errors.Is(err, fs.ErrClosed) {
					t.Errorf("op %d on closed file: got %v, want ErrClosed", i, err)
				}
			}
		}},
		{"remove", func(t *testing.T, fsys FS, dir string) {
			name := filepath.Join(dir, "f")
			writeFile(t, fsys, name, "x")
			must(t, fsys.Remove(name))
			if _, err := fsys.Stat(name); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("Stat after Remove: %v", err)
			}
			if err := fsys.Remove(name); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("second Remove: got %v, want ErrNotExist", err)
			}
			sub := filepath.Join(dir, "d")
			must(t, fsys.MkdirAll(sub, 0o755))
			writeFile(t, fsys, filepath.Join(sub, "g"), "")
			if err := fsys.Remove(sub); err == nil {
				t.Fatal("Remove of non-empty dir succeeded")
			}
			must(t, fsys.Remove(filepath.Join(sub, "g")))
			must(t, fsys.Remove(sub))
		}},
		{"remove keeps open handle", func(t *testing.T, fsys FS, dir string) {
			name := filepath.Join(dir, "f")
			writeFile(t, fsys, name, "data")
			f, err := fsys.Open(name)
			must(t, err)
			defer f.Close()
			must(t, fsys.Remove(name))
			b, err := io.ReadAll(f)
			if err != nil || string(b) != "data" {
				t.Fatalf("read removed file: %q, %v", b, err)
			}
		}},
		{"rename", func(t *testing.T, fsys FS, dir string) {
			a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
			writeFile(t, fsys, a, "A")
			writeFile(t, fsys, b, "B")
			must(t, fsys.Rename(a, b)) // replaces b
			if _, err := fsys.Stat(a); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("old name still there: %v", err)
			}
			if got := readFile(t, fsys, b); got != "A" {
				t.Fatalf("got %q, want A", got)
			}
			if err := fsys.Rename(a, b); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("rename missing: got %v, want ErrNotExist", err)
			}
			sub := filepath.Join(dir, "sub")
			must(t, fsys.MkdirAll(sub, 0o755))
			must(t, fsys.Rename(b, filepath.Join(sub, "c")))
			if got := readFile(t, fsys, filepath.Join(sub, "c")); got != "A" {
				t.Fatalf("got %q after move across dirs", got)
			}
			if err := fsys.Rename(sub, filepath.Join(sub, "inner")); err == nil {
				t.Fatal("moving a directory into itself succeeded")
			}
			must(t, fsys.Rename(sub, filepath.Join(dir, "sub2")))
			if got := readFile(t, fsys, filepath.Join(dir, "sub2", "c")); got != "A" {
				t.Fatalf("got %q after dir rename", got)
			}
		}},
		{"mkdirall", func(t *testing.T, fsys FS, dir string) {
			deep := filepath.Join(dir, "x", "y", "z")
			must(t, fsys.MkdirAll(deep, 0o755))
			must(t, fsys.MkdirAll(deep, 0o755)) // idempotent
			fi, err := fsys.Stat(deep)
			must(t, err)
			if !fi.IsDir() || fi.Name() != "z" {
				t.Fatalf("Stat = %v %q", fi.IsDir(), fi.Name())
			}
			file := filepath.Join(dir, "file")
			writeFile(t, fsys, file, "")
			if err := fsys.MkdirAll(filepath.Join(file, "sub"), 0o755); err == nil {
				t.Fatal("MkdirAll below a file succeeded")
			}
		}},
		{"list", func(t *testing.T, fsys FS, dir string) {
			for _, n := range []string{"c", "a", "b10", "b2"} {
				writeFile(t, fsys, filepath.Join(dir, n), n)
			}
			must(t, fsys.MkdirAll(filepath.Join(dir, "d"), 0o755))
			got, err := fsys.List(dir)
			must(t, err)
			if want := []string{"a", "b10", "b2", "c", "d"}; !slices.Equal(got, want) {
				t.Fatalf("List = %q, want %q", got, want)
			}
			if _, err := fsys.List(filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("List missing: got %v, want ErrNotExist", err)
			}
			if _, err := fsys.List(filepath.Join(dir, "a")); err == nil {
				t.Fatal("List of a file succeeded")
			}
		}},
		{"stat", func(t *testing.T, fsys FS, dir string) {
			name := filepath.Join(dir, "f")
			writeFile(t, fsys, name, "12345")
			fi, err := fsys.Stat(name)
			must(t, err)
			if fi.Name() != "f" || fi.Size() != 5 || fi.IsDir() || !fi.Mode().IsRegular() {
				t.Fatalf("Stat = %q %d %v %v", fi.Name(), fi.Size(), fi.IsDir(), fi.Mode())
			}
			if _, err := fsys.Stat(filepath.Join(dir, "g")); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("Stat missing: got %v", err)
			}
		}},
		{"syncdir", func(t *testing.T, fsys FS, dir string) {
			writeFile(t, fsys, filepath.Join(dir, "f"), "x")
			must(t, fsys.SyncDir(dir))
			if err := fsys.SyncDir(filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("SyncDir missing: got %v", err)
			}
		}},
		{"lock", func(t *testing.T, fsys FS, dir string) {
			name := filepath.Join(dir, "LOCK")
			l, err := fsys.Lock(name)
			must(t, err)
			if _, err := fsys.Lock(name); !errors.Is(err, ErrLocked) {
				t.Fatalf("second Lock: got %v, want ErrLocked", err)
			}
			other, err := fsys.Lock(filepath.Join(dir, "OTHER"))
			must(t, err)
			must(t, other.Close())
			must(t, l.Close())
			l2, err := fsys.Lock(name)
			must(t, err)
			must(t, l2.Close())
		}},
		{"concurrent readat and write", func(t *testing.T, fsys FS, dir string) {
			f, err := fsys.Create(filepath.Join(dir, "f"))
			must(t, err)
			defer f.Close()
			chunk := bytes.Repeat([]byte{7}, 512)
			_, err = f.Write(chunk)
			must(t, err)
			var wg sync.WaitGroup
			for range 2 {
				wg.Go(func() {
					p := make([]byte, 512)
					for range 200 {
						if n, err := f.ReadAt(p, 0); err != nil || n != 512 || !bytes.Equal(p, chunk) {
							t.Errorf("ReadAt = %d, %v", n, err)
							return
						}
						if _, err := f.Size(); err != nil {
							t.Error(err)
							return
						}
					}
				})
			}
			for range 200 {
				if _, err := f.Write(chunk); err != nil {
					t.Fatal(err)
				}
			}
			wg.Wait()
		}},
	}
	for _, impl := range impls {
		t.Run(impl.name, func(t *testing.T) {
			for _, tc := range tests {
				t.Run(tc.name, func(t *testing.T) {
					fsys, dir := impl.newFS(t)
					tc.run(t, fsys, dir)
				})
			}
		})
	}
}

func TestSyncDataFallback(t *testing.T) {
	// A File without SyncData is synced with Sync.
	f := &syncCounter{}
	must(t, SyncData(f))
	if f.syncs != 1 {
		t.Fatalf("syncs = %d, want 1", f.syncs)
	}
	// The OS file has the fast path.
	of, err := Default.Create(filepath.Join(t.TempDir(), "f"))
	must(t, err)
	defer of.Close()
	if _, ok := of.(DataSyncer); !ok {
		t.Fatal("OS file does not implement DataSyncer")
	}
	_, err = of.Write([]byte("x"))
	must(t, err)
	must(t, SyncData(of))
}

type syncCounter struct {
	File
	syncs int
}

func (s *syncCounter) Sync() error { s.syncs++; return nil }

func BenchmarkWriteSyncData(b *testing.B) {
	for _, bc := range []struct {
		name string
		fsys FS
		dir  string
	}{
		{"os", Default, b.TempDir()},
		{"mem", NewMem(), "/"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			f, err := bc.fsys.Create(filepath.Join(bc.dir, "f"))
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			p := make([]byte, 4096)
			b.SetBytes(int64(len(p)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := f.Write(p); err != nil {
					b.Fatal(err)
				}
				if err := SyncData(f); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
