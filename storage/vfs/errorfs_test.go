package vfs

import (
	"errors"
	"io"
	"testing"
)

func TestErrorFSFailsEachOp(t *testing.T) {
	setup := func(t *testing.T) (*MemFS, *ErrorFS) {
		m := NewMem()
		writeFile(t, m, "f", "abc")
		must(t, m.MkdirAll("d", 0o755))
		return m, NewErrorFS(m, nil)
	}
	openRW := func(t *testing.T, e *ErrorFS) File {
		f, err := e.OpenReadWrite("f")
		must(t, err)
		return f
	}
	tests := []struct {
		kind OpKind
		run  func(t *testing.T, e *ErrorFS) error
		// check verifies the operation was not performed.
		check func(t *testing.T, m *MemFS)
	}{
		{OpCreate, func(t *testing.T, e *ErrorFS) error { _, err := e.Create("g"); return err },
			func(t *testing.T, m *MemFS) {
				if _, err := m.Stat("g"); err == nil {
					t.Error("file created")
				}
			}},
		{OpOpen, func(t *testing.T, e *ErrorFS) error { _, err := e.Open("f"); return err }, nil},
		{OpOpenReadWrite, func(t *testing.T, e *ErrorFS) error { _, err := e.OpenReadWrite("f"); return err }, nil},
		{OpRemove, func(t *testing.T, e *ErrorFS) error { return e.Remove("f") },
			func(t *testing.T, m *MemFS) { must(t, func() error { _, err := m.Stat("f"); return err }()) }},
		{OpRename, func(t *testing.T, e *ErrorFS) error { return e.Rename("f", "g") },
			func(t *testing.T, m *MemFS) { must(t, func() error { _, err := m.Stat("f"); return err }()) }},
		{OpMkdirAll, func(t *testing.T, e *ErrorFS) error { return e.MkdirAll("x/y", 0o755) },
			func(t *testing.T, m *MemFS) {
				if _, err := m.Stat("x"); err == nil {
					t.Error("dir created")
				}
			}},
		{OpList, func(t *testing.T, e *ErrorFS) error { _, err := e.List("/"); return err }, nil},
		{OpStat, func(t *testing.T, e *ErrorFS) error { _, err := e.Stat("f"); return err }, nil},
		{OpSyncDir, func(t *testing.T, e *ErrorFS) error { return e.SyncDir("/") },
			func(t *testing.T, m *MemFS) {
				if got := contents(t, m.CrashClone()); len(got) != 0 {
					t.Errorf("dir synced: %q", got)
				}
			}},
		{OpLock, func(t *testing.T, e *ErrorFS) error { _, err := e.Lock("LOCK"); return err }, nil},
		{OpRead, func(t *testing.T, e *ErrorFS) error {
			_, err := openRW(t, e).Read(make([]byte, 1))
			return err
		}, nil},
		{OpRead, func(t *testing.T, e *ErrorFS) error {
			_, err := openRW(t, e).ReadAt(make([]byte, 1), 0)
			return err
		}, nil},
		{OpWrite, func(t *testing.T, e *ErrorFS) error {
			_, err := openRW(t, e).Write([]byte("zz"))
			return err
		}, func(t *testing.T, m *MemFS) {
			if got := readFile(t, m, "f"); got != "abc" {
				t.Errorf("written: %q", got)
			}
		}},
		{OpSync, func(t *testing.T, e *ErrorFS) error { return openRW(t, e).Sync() }, nil},
		{OpSync, func(t *testing.T, e *ErrorFS) error { return SyncData(openRW(t, e)) }, nil},
		{OpTruncate, func(t *testing.T, e *ErrorFS) error { return openRW(t, e).Truncate(0) },
			func(t *testing.T, m *MemFS) {
				if got := readFile(t, m, "f"); got != "abc" {
					t.Errorf("truncated: %q", got)
				}
			}},
		{OpSize, func(t *testing.T, e *ErrorFS) error { _, err := openRW(t, e).Size(); return err }, nil},
		{OpClose, func(t *testing.T, e *ErrorFS) error {
			f := openRW(t, e)
			err := f.Close()
			if _, rerr := f.(*errorFile).f.Read(nil); rerr == nil {
				t.Error("underlying file not closed")
			}
			return err
		}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.kind.String(), func(t *testing.T) {
			m, e := setup(t)
			// Other kinds pass.
			var calls int
			e.SetInject(func(kind OpKind, path string) error {
				calls++
				if kind == tc.kind {
					return ErrInjected
				}
				return nil
			})
			err := tc.run(t, e)
			if !errors.Is(err, ErrInjected) {
				t.Fatalf("got %v, want ErrInjected", err)
			}
			if calls == 0 {
				t.Fatal("inject func not called")
			}
			if tc.check != nil {
				tc.check(t, m)
			}
			// Without injection the same operation succeeds.
			_, e = setup(t)
			if err := tc.run(t, e); err != nil {
				t.Fatalf("without injection: %v", err)
			}
		})
	}
}

func TestFailNth(t *testing.T) {
	tests := []struct {
		name   string
		inject InjectFunc
		want   []bool // whether each of 5 writes fails
	}{
		{"nth write", FailNth(3, OpWrite), []bool{false, false, true, false, false}},
		{"nth of any kind", FailNth(2), []bool{false, true, false, false, false}},
		{"from nth write", FailFrom(4, OpWrite), []bool{false, false, false, true, true}},
		{"other kind only", FailNth(1, OpSync), []bool{false, false, false, false, false}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := NewMem()
			f, err := m.Create("f") // before injecting: not counted
			must(t, err)
			e := NewErrorFS(m, tc.inject)
			f = &errorFile{e: e, f: f, name: "f"}
			var want string
			for i, fail := range tc.want {
				_, err := f.Write([]byte{byte('a' + i)})
				if got := err != nil; got != fail {
					t.Fatalf("write %d: err = %v, want failure %v", i+1, err, fail)
				}
				if !fail {
					want += string(rune('a' + i))
				}
			}
			e.SetInject(nil)
			g, err := e.Open("f")
			must(t, err)
			b, err := io.ReadAll(g)
			must(t, err)
			if string(b) != want {
				t.Fatalf("contents %q, want %q", b, want)
			}
		})
	}
}
