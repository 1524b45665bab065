//go:build unix

package vfs

import (
	"os"
	"syscall"
)

// lockFile takes a non-blocking exclusive flock on f. flock locks belong to
// the open file description, so a second descriptor of the same file, even in
// this process, conflicts.
func lockFile(f *os.File) error {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		switch err {
		case nil:
			return nil
		case syscall.EINTR:
			continue
		case syscall.EWOULDBLOCK:
			return ErrLocked
		}
		return err
	}
}
