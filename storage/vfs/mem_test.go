package vfs

import (
	"errors"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"
	"testing"
)

// contents returns every file of m with its contents, by path.
func contents(t *testing.T, m *MemFS) map[string]string {
	t.Helper()
	out := map[string]string{}
	var walk func(dir string)
	walk = func(dir string) {
		names, err := m.List(dir)
		must(t, err)
		for _, n := range names {
			p := strings.TrimPrefix(path.Join(dir, n), "/")
			fi, err := m.Stat(p)
			must(t, err)
			if fi.IsDir() {
				out[p+"/"] = ""
				walk("/" + p)
				continue
			}
			out[p] = readFile(t, m, p)
		}
	}
	walk("/")
	return out
}

func appendTo(t *testing.T, f File, s string) {
	t.Helper()
	if _, err := f.Write([]byte(s)); err != nil {
		t.Fatal(err)
	}
}

func TestCrashClone(t *testing.T) {
	tests := []struct {
		name string
		run  func(t *testing.T, m *MemFS)
		want map[string]string
	}{
		{"nothing synced", func(t *testing.T, m *MemFS) {
			must(t, m.MkdirAll("d", 0o755))
			writeFile(t, m, "f", "data")
		}, map[string]string{}},
		{"entry synced, data not", func(t *testing.T, m *MemFS) {
			writeFile(t, m, "f", "data")
			must(t, m.SyncDir("/"))
		}, map[string]string{"f": ""}},
		{"data synced, entry not", func(t *testing.T, m *MemFS) {
			f, err := m.Create("f")
			must(t, err)
			appendTo(t, f, "data")
			must(t, f.Sync())
		}, map[string]string{}},
		{"synced kept, unsynced tail lost", func(t *testing.T, m *MemFS) {
			f, err := m.Create("f")
			must(t, err)
			must(t, m.SyncDir("/"))
			appendTo(t, f, "synced")
			must(t, SyncData(f))
			appendTo(t, f, "+lost")
		}, map[string]string{"f": "synced"}},
		{"unsynced truncate lost", func(t *testing.T, m *MemFS) {
			f, err := m.Create("f")
			must(t, err)
			must(t, m.SyncDir("/"))
			appendTo(t, f, "0123456789")
			must(t, f.Sync())
			must(t, f.Truncate(4))
			appendTo(t, f, "abc")
		}, map[string]string{"f": "0123456789"}},
		{"synced truncate kept", func(t *testing.T, m *MemFS) {
			f, err := m.Create("f")
			must(t, err)
			must(t, m.SyncDir("/"))
			appendTo(t, f, "0123456789")
			must(t, f.Sync())
			must(t, f.Truncate(4))
			appendTo(t, f, "abc")
			must(t, f.Sync())
		}, map[string]string{"f": "0123abc"}},
		{"unsynced rename lost", func(t *testing.T, m *MemFS) {
			f, err := m.Create("tmp")
			must(t, err)
			appendTo(t, f, "v2")
			must(t, f.Sync())
			must(t, m.SyncDir("/"))
			must(t, m.Rename("tmp", "CURRENT"))
		}, map[string]string{"tmp": "v2"}},
		{"synced rename kept", func(t *testing.T, m *MemFS) {
			writeFile(t, m, "CURRENT", "v1")
			f, err := m.Create("tmp")
			must(t, err)
			appendTo(t, f, "v2")
			must(t, f.Sync())
			must(t, m.Rename("tmp", "CURRENT"))
			must(t, m.SyncDir("/"))
		}, map[string]string{"CURRENT": "v2"}},
		{"unsynced remove lost", func(t *testing.T, m *MemFS) {
			f, err := m.Create("f")
			must(t, err)
			appendTo(t, f, "x")
			must(t, f.Sync())
			must(t, m.SyncDir("/"))
			must(t, m.Remove("f"))
		}, map[string]string{"f": "x"}},
		{"synced remove kept", func(t *testing.T, m *MemFS) {
			writeFile(t, m, "f", "x")
			must(t, m.SyncDir("/"))
			must(t, m.Remove("f"))
			must(t, m.SyncDir("/"))
		}, map[string]string{}},
		{"create over synced file truncates only in memory", func(t *testing.T, m *MemFS) {
			f, err := m.Create("f")
			must(t, err)
			appendTo(t, f, "old")
			must(t, f.Sync())
			must(t, m.SyncDir("/"))
			g, err := m.Create("f")
			must(t, err)
			appendTo(t, g, "new")
		}, map[string]string{"f": "old"}},
		{"nested dirs need parent syncs", func(t *testing.T, m *MemFS) {
			must(t, m.MkdirAll("a/b", 0o755))
			f, err := m.Create("a/b/f")
			must(t, err)
			appendTo(t, f, "x")
			must(t, f.Sync())
			must(t, m.SyncDir("a/b"))
			must(t, m.SyncDir("/")) // a is durable, a/b is not
		}, map[string]string{"a/": ""}},
		{"nested dirs all synced", func(t *testing.T, m *MemFS) {
			must(t, m.MkdirAll("a/b", 0o755))
			f, err := m.Create("a/b/f")
			must(t, err)
			appendTo(t, f, "x")
			must(t, f.Sync())
			must(t, m.SyncDir("a/b"))
			must(t, m.SyncDir("a"))
			must(t, m.SyncDir("/"))
		}, map[string]string{"a/": "", "a/b/": "", "a/b/f": "x"}},
		{"move across dirs with only target synced", func(t *testing.T, m *MemFS) {
			must(t, m.MkdirAll("a", 0o755))
			must(t, m.MkdirAll("b", 0o755))
			f, err := m.Create("a/f")
			must(t, err)
			appendTo(t, f, "x")
			must(t, f.Sync())
			must(t, m.SyncDir("a"))
			must(t, m.SyncDir("/"))
			must(t, m.Rename("a/f", "b/f"))
			must(t, m.SyncDir("b"))
		}, map[string]string{"a/": "", "b/": "", "a/f": "x", "b/f": "x"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := NewMem()
			tc.run(t, m)
			before := contents(t, m)
			c := m.CrashClone()
			if got := contents(t, c); !mapsEqual(got, tc.want) {
				t.Errorf("crash clone = %q, want %q", got, tc.want)
			}
			// The clone is itself fully synced: cloning it again loses nothing.
			if got := contents(t, c.CrashClone()); !mapsEqual(got, tc.want) {
				t.Errorf("clone of clone = %q, want %q", got, tc.want)
			}
			// The original is unchanged.
			if got := contents(t, m); !mapsEqual(got, before) {
				t.Errorf("original changed: %q, want %q", got, before)
			}
		})
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func TestCrashCloneIndependent(t *testing.T) {
	m := NewMem()
	f, err := m.Create("f")
	must(t, err)
	appendTo(t, f, "abc")
	must(t, f.Sync())
	must(t, m.SyncDir("/"))
	c := m.CrashClone()
	g, err := c.OpenReadWrite("f")
	must(t, err)
	appendTo(t, g, "clone")
	appendTo(t, f, "orig")
	if got := readFile(t, m, "f"); got != "abcorig" {
		t.Errorf("original = %q", got)
	}
	if got := readFile(t, c, "f"); got != "abcclone" {
		t.Errorf("clone = %q", got)
	}
	// Locks are not carried over.
	l, err := m.Lock("LOCK")
	must(t, err)
	defer l.Close()
	must(t, m.SyncDir("/"))
	l2, err := m.CrashClone().Lock("LOCK")
	must(t, err)
	must(t, l2.Close())
}

func TestCrashCloneTorn(t *testing.T) {
	t.Run("appends", func(t *testing.T) {
		m := NewMem()
		f, err := m.Create("wal")
		must(t, err)
		must(t, m.SyncDir("/"))
		appendTo(t, f, "synced|")
		must(t, f.Sync())
		full := "synced|"
		for _, s := range []string{"one|", "two|", "three|"} {
			appendTo(t, f, s)
			full += s
		}
		lengths := map[int]bool{}
		for seed := range uint64(200) {
			got := readFile(t, m.CrashCloneTorn(seed), "wal")
			if !strings.HasPrefix(full, got) || len(got) < len("synced|") {
				t.Fatalf("seed %d: %q is not synced data plus a prefix of the rest", seed, got)
			}
			lengths[len(got)] = true
			if again := readFile(t, m.CrashCloneTorn(seed), "wal"); again != got {
				t.Fatalf("seed %d not deterministic: %q then %q", seed, got, again)
			}
		}
		if len(lengths) < 5 {
			t.Errorf("only %d distinct torn lengths over 200 seeds", len(lengths))
		}
		if got := readFile(t, m.CrashClone(), "wal"); got != "synced|" {
			t.Errorf("strict clone = %q", got)
		}
	})
	t.Run("truncate then append", func(t *testing.T) {
		m := NewMem()
		f, err := m.Create("wal")
		must(t, err)
		must(t, m.SyncDir("/"))
		appendTo(t, f, "good|torn")
		must(t, f.Sync())
		must(t, f.Truncate(5))
		appendTo(t, f, "new")
		// Every state the ops pass through, with the write cut anywhere.
		valid := []string{"good|torn", "good|", "good|n", "good|ne", "good|new"}
		seen := map[string]bool{}
		for seed := range uint64(100) {
			got := readFile(t, m.CrashCloneTorn(seed), "wal")
			if !slices.Contains(valid, got) {
				t.Fatalf("seed %d: unreachable state %q", seed, got)
			}
			seen[got] = true
		}
		if len(seen) < 3 {
			t.Errorf("saw only %v", seen)
		}
	})
}

func TestMemFSErrors(t *testing.T) {
	m := NewMem()
	writeFile(t, m, "f", "x")
	must(t, m.MkdirAll("d", 0o755))
	tests := []struct {
		name string
		err  error
		want error
	}{
		{"create root", func() error { _, err := m.Create("/"); return err }(), fs.ErrInvalid},
		{"create over dir", func() error { _, err := m.Create("d"); return err }(), nil},
		{"open-rw dir", func() error { _, err := m.OpenReadWrite("d"); return err }(), nil},
		{"below a file", func() error { _, err := m.Create("f/g"); return err }(), nil},
		{"syncdir of file", m.SyncDir("f"), nil},
		{"rename file over dir", m.Rename("f", "d"), nil},
		{"rename dir over file", m.Rename("d", "f"), nil},
		{"lock a dir", func() error { _, err := m.Lock("d"); return err }(), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.err == nil {
				t.Fatal("no error")
			}
			if tc.want != nil && !errors.Is(tc.err, tc.want) {
				t.Fatalf("got %v, want %v", tc.err, tc.want)
			}
		})
	}
	// Reading a directory handle fails, but opening it read-only works.
	d, err := m.Open("d")
	must(t, err)
	if _, err := d.Read(make([]byte, 1)); err == nil || err == io.EOF {
		t.Fatalf("Read of a directory: %v", err)
	}
	must(t, d.Close())
	// Paths are cleaned and rooted.
	if got := readFile(t, m, "/d/../f"); got != "x" {
		t.Fatalf("got %q", got)
	}
}
