package vfs

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

const lockChildEnv = "KVSTORE_VFS_LOCK_CHILD"

// TestLockChild is the child half of TestLockAcrossProcesses: it tries the
// lock named by the environment and reports through its exit status.
func TestLockChild(t *testing.T) {
	name := os.Getenv(lockChildEnv)
	if name == "" {
		t.Skip("run by TestLockAcrossProcesses")
	}
	l, err := Default.Lock(name)
	switch {
	case errors.Is(err, ErrLocked):
		os.Exit(3)
	case err != nil:
		os.Exit(4)
	}
	l.Close()
	os.Exit(0)
}

func TestLockAcrossProcesses(t *testing.T) {
	name := filepath.Join(t.TempDir(), "LOCK")
	child := func() int {
		cmd := exec.Command(os.Args[0], "-test.run=^TestLockChild$")
		cmd.Env = append(os.Environ(), lockChildEnv+"="+name)
		err := cmd.Run()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0
	}
	l, err := Default.Lock(name)
	must(t, err)
	if got := child(); got != 3 {
		t.Fatalf("child locking a held lock exited %d, want 3 (ErrLocked)", got)
	}
	must(t, l.Close())
	if got := child(); got != 0 {
		t.Fatalf("child locking a free lock exited %d, want 0", got)
	}
}
