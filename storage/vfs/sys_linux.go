package vfs

import (
	"io/fs"
	"os"
	"syscall"
)

// syncData calls fdatasync, retrying on EINTR as os.File.Sync does for fsync.
func syncData(f *os.File) error {
	fd := int(f.Fd()) // regular files are never in non-blocking mode
	for {
		err := syscall.Fdatasync(fd)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return &fs.PathError{Op: "fdatasync", Path: f.Name(), Err: err}
		}
		return nil
	}
}
