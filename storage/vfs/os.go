package vfs

import (
	"io"
	"io/fs"
	"os"
)

// Default is the operating system's file system. Its files are *os.File
// underneath; on Linux they implement DataSyncer with fdatasync.
var Default FS = osFS{}

type osFS struct{}

var _ FS = osFS{}

func (osFS) Create(name string) (File, error) {
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, err
	}
	return &osFile{f: f, writable: true}, nil
}

func (osFS) Open(name string) (File, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	return &osFile{f: f}, nil
}

func (osFS) OpenReadWrite(name string) (File, error) {
	f, err := os.OpenFile(name, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	return &osFile{f: f, writable: true, end: fi.Size()}, nil
}

func (osFS) Remove(name string) error                    { return os.Remove(name) }
func (osFS) Rename(oldname, newname string) error        { return os.Rename(oldname, newname) }
func (osFS) MkdirAll(dir string, perm os.FileMode) error { return os.MkdirAll(dir, perm) }
func (osFS) Stat(name string) (os.FileInfo, error)       { return os.Stat(name) }

func (osFS) List(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir) // sorted by name
	if err != nil {
		return nil, err
	}
	names := make([]string, len(ents))
	for i, e := range ents {
		names[i] = e.Name()
	}
	return names, nil
}

func (osFS) SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	if err := d.Sync(); err != nil {
		d.Close()
		return err
	}
	return d.Close()
}

func (osFS) Lock(name string) (io.Closer, error) {
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	if err := lockFile(f); err != nil {
		f.Close()
		return nil, &fs.PathError{Op: "lock", Path: name, Err: err}
	}
	return f, nil // closing the descriptor releases the lock
}

// osFile adds the package's write contract (Write appends at the tracked end,
// independently of the read offset) to an *os.File.
type osFile struct {
	f        *os.File
	writable bool
	end      int64 // where the next Write lands; used by Write and Truncate only
}

var (
	_ File       = (*osFile)(nil)
	_ DataSyncer = (*osFile)(nil)
)

func (o *osFile) Read(p []byte) (int, error)              { return o.f.Read(p) }
func (o *osFile) ReadAt(p []byte, off int64) (int, error) { return o.f.ReadAt(p, off) }
func (o *osFile) Close() error                            { return o.f.Close() }
func (o *osFile) Sync() error                             { return o.f.Sync() }

func (o *osFile) Write(p []byte) (int, error) {
	if !o.writable {
		return 0, &fs.PathError{Op: "write", Path: o.f.Name(), Err: ErrReadOnly}
	}
	n, err := o.f.WriteAt(p, o.end) // pwrite: leaves the read offset alone
	o.end += int64(n)
	return n, err
}

func (o *osFile) Truncate(size int64) error {
	if !o.writable {
		return &fs.PathError{Op: "truncate", Path: o.f.Name(), Err: ErrReadOnly}
	}
	if err := o.f.Truncate(size); err != nil {
		return err
	}
	o.end = size
	return nil
}

func (o *osFile) Size() (int64, error) {
	fi, err := o.f.Stat()
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

func (o *osFile) SyncData() error { return syncData(o.f) }
