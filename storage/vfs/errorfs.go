package vfs

import (
	"io"
	"io/fs"
	"os"
	"slices"
	"strconv"
	"sync/atomic"
)

// OpKind names an operation that ErrorFS can fail.
type OpKind uint8

const (
	OpCreate        OpKind = iota + 1 // FS.Create
	OpOpen                            // FS.Open
	OpOpenReadWrite                   // FS.OpenReadWrite
	OpRemove                          // FS.Remove
	OpRename                          // FS.Rename (the path passed is oldname)
	OpMkdirAll                        // FS.MkdirAll
	OpList                            // FS.List
	OpStat                            // FS.Stat
	OpSyncDir                         // FS.SyncDir
	OpLock                            // FS.Lock
	OpRead                            // File.Read and File.ReadAt
	OpWrite                           // File.Write
	OpSync                            // File.Sync and SyncData
	OpTruncate                        // File.Truncate
	OpSize                            // File.Size
	OpClose                           // File.Close
)

var opNames = [...]string{
	OpCreate: "create", OpOpen: "open", OpOpenReadWrite: "open-rw",
	OpRemove: "remove", OpRename: "rename", OpMkdirAll: "mkdirall",
	OpList: "list", OpStat: "stat", OpSyncDir: "syncdir", OpLock: "lock",
	OpRead: "read", OpWrite: "write", OpSync: "sync", OpTruncate: "truncate",
	OpSize: "size", OpClose: "close",
}

func (k OpKind) String() string {
	if int(k) < len(opNames) && opNames[k] != "" {
		return opNames[k]
	}
	return "op(" + strconv.Itoa(int(k)) + ")"
}

// InjectFunc decides whether an operation fails: it is called before every
// operation of an ErrorFS and its files, with the kind and the name the FS
// method or the file's opening was given, and a non-nil result is returned
// instead of performing the operation. It must be safe for concurrent use.
type InjectFunc func(kind OpKind, path string) error

// ErrorFS wraps an FS and fails the operations its InjectFunc selects. An
// operation that fails is not performed, with one exception: File.Close
// closes the underlying file and then returns the injected error. Injected
// errors are returned wrapped in *fs.PathError, so errors.Is(err,
// ErrInjected) holds for those from FailNth and FailFrom.
//
// ErrorFS is safe for concurrent use; its files follow the File contract.
type ErrorFS struct {
	fs     FS
	inject atomic.Pointer[InjectFunc]
}

var _ FS = (*ErrorFS)(nil)

// NewErrorFS returns an ErrorFS over fs that consults inject, which may be
// nil (nothing fails).
func NewErrorFS(fs FS, inject InjectFunc) *ErrorFS {
	e := &ErrorFS{fs: fs}
	e.SetInject(inject)
	return e
}

// SetInject replaces the InjectFunc, for example to let a workload start
// cleanly and fail later; nil stops injecting. Operations already past their
// check are not affected.
func (e *ErrorFS) SetInject(inject InjectFunc) {
	if inject == nil {
		e.inject.Store(nil)
		return
	}
	e.inject.Store(&inject)
}

func (e *ErrorFS) check(kind OpKind, path string) error {
	p := e.inject.Load()
	if p == nil {
		return nil
	}
	if err := (*p)(kind, path); err != nil {
		return &fs.PathError{Op: kind.String(), Path: path, Err: err}
	}
	return nil
}

// FailNth returns an InjectFunc that fails with ErrInjected the nth operation
// (counting from 1) whose kind is among kinds, or among all kinds if none are
// given, and no other.
func FailNth(n int64, kinds ...OpKind) InjectFunc {
	var count atomic.Int64
	return func(kind OpKind, path string) error {
		if len(kinds) > 0 && !slices.Contains(kinds, kind) {
			return nil
		}
		if count.Add(1) == n {
			return ErrInjected
		}
		return nil
	}
}

// FailFrom is like FailNth but fails the nth matching operation and every
// matching one after it, like a disk that has died or filled up.
func FailFrom(n int64, kinds ...OpKind) InjectFunc {
	var count atomic.Int64
	return func(kind OpKind, path string) error {
		if len(kinds) > 0 && !slices.Contains(kinds, kind) {
			return nil
		}
		if count.Add(1) >= n {
			return ErrInjected
		}
		return nil
	}
}

func (e *ErrorFS) wrap(name string, f File, err error) (File, error) {
	if err != nil {
		return nil, err
	}
	return &errorFile{e: e, f: f, name: name}, nil
}

// Create implements FS.
func (e *ErrorFS) Create(name string) (File, error) {
	if err := e.check(OpCreate, name); err != nil {
		return nil, err
	}
	f, err := e.fs.Create(name)
	return e.wrap(name, f, err)
}

// Open implements FS.
func (e *ErrorFS) Open(name string) (File, error) {
	if err := e.check(OpOpen, name); err != nil {
		return nil, err
	}
	f, err := e.fs.Open(name)
	return e.wrap(name, f, err)
}

// OpenReadWrite implements FS.
func (e *ErrorFS) OpenReadWrite(name string) (File, error) {
	if err := e.check(OpOpenReadWrite, name); err != nil {
		return nil, err
	}
	f, err := e.fs.OpenReadWrite(name)
	return e.wrap(name, f, err)
}

// Remove implements FS.
func (e *ErrorFS) Remove(name string) error {
	if err := e.check(OpRemove, name); err != nil {
		return err
	}
	return e.fs.Remove(name)
}

// Rename implements FS. The InjectFunc sees oldname.
func (e *ErrorFS) Rename(oldname, newname string) error {
	if err := e.check(OpRename, oldname); err != nil {
		return err
	}
	return e.fs.Rename(oldname, newname)
}

// MkdirAll implements FS.
func (e *ErrorFS) MkdirAll(dir string, perm os.FileMode) error {
	if err := e.check(OpMkdirAll, dir); err != nil {
		return err
	}
	return e.fs.MkdirAll(dir, perm)
}

// List implements FS.
func (e *ErrorFS) List(dir string) ([]string, error) {
	if err := e.check(OpList, dir); err != nil {
		return nil, err
	}
	return e.fs.List(dir)
}

// Stat implements FS.
func (e *ErrorFS) Stat(name string) (os.FileInfo, error) {
	if err := e.check(OpStat, name); err != nil {
		return nil, err
	}
	return e.fs.Stat(name)
}

// SyncDir implements FS.
func (e *ErrorFS) SyncDir(dir string) error {
	if err := e.check(OpSyncDir, dir); err != nil {
		return err
	}
	return e.fs.SyncDir(dir)
}

// Lock implements FS.
func (e *ErrorFS) Lock(name string) (io.Closer, error) {
	if err := e.check(OpLock, name); err != nil {
		return nil, err
	}
	return e.fs.Lock(name)
}

type errorFile struct {
	e    *ErrorFS
	f    File
	name string
}

var (
	_ File       = (*errorFile)(nil)
	_ DataSyncer = (*errorFile)(nil)
)

func (f *errorFile) Read(p []byte) (int, error) {
	if err := f.e.check(OpRead, f.name); err != nil {
		return 0, err
	}
	return f.f.Read(p)
}

func (f *errorFile) ReadAt(p []byte, off int64) (int, error) {
	if err := f.e.check(OpRead, f.name); err != nil {
		return 0, err
	}
	return f.f.ReadAt(p, off)
}

func (f *errorFile) Write(p []byte) (int, error) {
	if err := f.e.check(OpWrite, f.name); err != nil {
		return 0, err
	}
	return f.f.Write(p)
}

func (f *errorFile) Sync() error {
	if err := f.e.check(OpSync, f.name); err != nil {
		return err
	}
	return f.f.Sync()
}

func (f *errorFile) SyncData() error {
	if err := f.e.check(OpSync, f.name); err != nil {
		return err
	}
	return SyncData(f.f)
}

func (f *errorFile) Truncate(size int64) error {
	if err := f.e.check(OpTruncate, f.name); err != nil {
		return err
	}
	return f.f.Truncate(size)
}

func (f *errorFile) Size() (int64, error) {
	if err := f.e.check(OpSize, f.name); err != nil {
		return 0, err
	}
	return f.f.Size()
}

func (f *errorFile) Close() error {
	injected := f.e.check(OpClose, f.name)
	err := f.f.Close()
	if injected != nil {
		return injected
	}
	return err
}
