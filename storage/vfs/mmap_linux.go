package vfs

import (
	"io/fs"
	"syscall"
)

// MapWrite implements Mapper: it allocates size bytes for the file
// (fallocate, so later stores into the mapping cannot fail for lack of
// space) and maps them shared and writable.
func (o *osFile) MapWrite(size int64) ([]byte, error) {
	if !o.writable {
		return nil, &fs.PathError{Op: "mmap", Path: o.f.Name(), Err: ErrReadOnly}
	}
	fd := int(o.f.Fd())
	for {
		err := syscall.Fallocate(fd, 0, 0, size)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return nil, &fs.PathError{Op: "fallocate", Path: o.f.Name(), Err: err}
		}
		break
	}
	b, err := syscall.Mmap(fd, 0, int(size), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	if err != nil {
		return nil, &fs.PathError{Op: "mmap", Path: o.f.Name(), Err: err}
	}
	return b, nil
}

// Unmap implements Mapper.
func (o *osFile) Unmap(b []byte) error {
	if err := syscall.Munmap(b); err != nil {
		return &fs.PathError{Op: "munmap", Path: o.f.Name(), Err: err}
	}
	return nil
}

// Release implements Mapper: madvise(MADV_DONTNEED) drops the pages from
// the process; for a shared file mapping their contents, dirty or not, stay
// in the page cache and reach the file as usual.
func (o *osFile) Release(b []byte) error {
	if err := syscall.Madvise(b, syscall.MADV_DONTNEED); err != nil {
		return &fs.PathError{Op: "madvise", Path: o.f.Name(), Err: err}
	}
	return nil
}

var _ Mapper = (*osFile)(nil)
