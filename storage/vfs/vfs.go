package vfs

import (
	"errors"
	"io"
	"os"
)

// File is an open file. See the package documentation for the read and write
// offsets and for which methods may run concurrently.
type File interface {
	// Read reads from the read offset, which starts at 0, and advances it.
	// Write does not move it.
	io.Reader
	// ReadAt reads len(p) bytes at off, following the io.ReaderAt contract.
	// It may be called concurrently with any method but Close.
	io.ReaderAt
	// Write appends p at the end of the file (its size when opened, grown by
	// each Write through this handle and set by Truncate). It fails with
	// ErrReadOnly on a File from FS.Open. Data written is not durable until
	// Sync.
	io.Writer
	// Close releases the file. Later calls of any method, Close included,
	// fail with fs.ErrClosed. Close does not sync.
	io.Closer
	// Sync makes the contents and metadata (size) durable: fsync.
	Sync() error
	// Truncate sets the size, cutting or zero-extending the contents, and
	// moves the write position to size. It does not move the read offset.
	Truncate(size int64) error
	// Size returns the current size in bytes.
	Size() (int64, error)
}

// DataSyncer is the optional capability of a File to make its contents
// durable without flushing metadata that is not needed to read them back:
// fdatasync on Linux. Use the SyncData function rather than asserting it.
type DataSyncer interface {
	// SyncData is Sync, except that it may skip metadata such as the
	// modification time. A size change is still made durable.
	SyncData() error
}

// SyncData syncs f with its SyncData method if it has one, else with Sync.
func SyncData(f File) error {
	if ds, ok := f.(DataSyncer); ok {
		return ds.SyncData()
	}
	return f.Sync()
}

// FS is a file system. Every implementation is safe for concurrent use.
// Names are paths as in package os (the separator is '/'); an FS does not
// resolve them against anything but its own root or working directory.
type FS interface {
	// Create creates the named file, or truncates it if it exists, and opens
	// it for reading and writing. The parent directory must exist. The new
	// directory entry is durable only after SyncDir of its directory.
	Create(name string) (File, error)
	// Open opens an existing file for reading only.
	Open(name string) (File, error)
	// OpenReadWrite opens an existing file for reading and writing without
	// truncating it: Read starts at offset 0 and Write appends at the end.
	OpenReadWrite(name string) (File, error)
	// Remove removes a file or an empty directory. Open handles keep
	// working. The removal is durable only after SyncDir of the directory.
	Remove(name string) error
	// Rename renames oldname to newname, atomically replacing newname if it
	// is a file. The change is durable only after SyncDir of both
	// directories.
	Rename(oldname, newname string) error
	// MkdirAll creates dir and any missing parents with permission perm. It
	// succeeds if dir already is a directory. A new directory's entry is
	// durable only after SyncDir of its parent.
	MkdirAll(dir string, perm os.FileMode) error
	// List returns the names (not paths) of the entries of dir, sorted.
	List(dir string) ([]string, error)
	// Stat describes the named file or directory.
	Stat(name string) (os.FileInfo, error)
	// SyncDir makes the entries of dir (creates, renames and removes in it)
	// durable.
	SyncDir(dir string) error
	// Lock creates the named lock file if needed and takes an exclusive
	// lock on it, failing at once with an error wrapping ErrLocked if any
	// holder has it, be it this process or another. Closing the returned
	// Closer releases the lock. On the OS file system it is an advisory
	// flock, released by the kernel if the process dies.
	Lock(name string) (io.Closer, error)
}

var (
	// ErrLocked is returned (wrapped) by FS.Lock when the lock is held.
	ErrLocked = errors.New("vfs: lock held by another holder")
	// ErrReadOnly is returned (wrapped) by File.Write and File.Truncate on a
	// file opened with FS.Open.
	ErrReadOnly = errors.New("vfs: file is open read-only")
	// ErrInjected is the error that FailNth and FailFrom inject.
	ErrInjected = errors.New("vfs: injected error")
)

// Mapper is the optional capability of a writable File to be written
// through a shared memory mapping (OS files on Linux). Bytes stored into the
// mapping are in the operating system's page cache at once: they survive a
// crash of the process, and Sync or SyncData makes them durable. The WAL
// uses it to acknowledge writes without a system call each.
type Mapper interface {
	// MapWrite sets the file's size to size bytes, allocating its blocks,
	// and returns a writable shared mapping of them.
	MapWrite(size int64) ([]byte, error)
	// Unmap releases a mapping returned by MapWrite.
	Unmap(b []byte) error
	// Release drops a page-aligned part of a mapping from the process's
	// resident memory, keeping its contents; later accesses read them back.
	Release(b []byte) error
}
