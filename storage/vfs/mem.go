package vfs

import (
	"io"
	"io/fs"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// MemFS is an in-memory FS for tests. Names are resolved from its root: "a/b"
// and "/a/b" are the same file, and ".." at the root stays there.
//
// It keeps, besides the live state, what a crash would preserve: each file's
// contents as of its last Sync and each directory's entries as of its last
// SyncDir. CrashClone and CrashCloneTorn return that state as a new MemFS, so
// a test can "crash" at any point, reopen the engine on the clone and check
// what survived. All methods, and those of its files, are safe for concurrent
// use.
type MemFS struct {
	mu   sync.Mutex // guards the tree: every directory's children and synced maps, and lock flags
	root *memNode
}

var _ FS = (*MemFS)(nil)

// NewMem returns an empty MemFS holding only its root directory.
func NewMem() *MemFS {
	return &MemFS{root: newDir()}
}

// memNode is a file or a directory, like an inode: directory maps point at
// nodes, so a renamed or removed file keeps its contents for open handles and
// for the synced maps that still name it.
type memNode struct {
	isDir bool

	// Directories; guarded by MemFS.mu.
	children map[string]*memNode
	synced   map[string]*memNode // children as of the last SyncDir

	locked bool // a Lock holds this file; guarded by MemFS.mu

	mu sync.RWMutex // guards the file fields below
	// data is the live contents. Bytes of its backing array below len(data)
	// are never modified in place (a shrinking Truncate copies), so
	// syncedData and ops can share the array without copying.
	data       []byte
	syncedData []byte  // contents as of the last Sync
	ops        []memOp // writes and truncations since the last Sync, in order
	modTime    time.Time
}

// memOp is one change to a file since its last Sync, kept to model torn
// writes: a Write of data (at the then end of the file) or, if trunc, a
// Truncate to size.
type memOp struct {
	data  []byte
	trunc bool
	size  int64
}

func newDir() *memNode {
	return &memNode{isDir: true, children: map[string]*memNode{}}
}

// split cleans name into path components; the root has none.
func split(name string) []string {
	name = filepath.ToSlash(filepath.Clean("/" + name))
	if name == "/" {
		return nil
	}
	return strings.Split(name[1:], "/")
}

// walk returns the node for parts. It requires m.mu.
func (m *MemFS) walk(parts []string) (*memNode, error) {
	n := m.root
	for _, p := range parts {
		if !n.isDir {
			return nil, syscall.ENOTDIR
		}
		c, ok := n.children[p]
		if !ok {
			return nil, fs.ErrNotExist
		}
		n = c
	}
	return n, nil
}

// parent returns the directory holding name and the name's last component.
// It requires m.mu.
func (m *MemFS) parent(op, name string) (*memNode, string, error) {
	parts := split(name)
	if len(parts) == 0 {
		return nil, "", &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	dir, err := m.walk(parts[:len(parts)-1])
	if err == nil && !dir.isDir {
		err = syscall.ENOTDIR
	}
	if err != nil {
		return nil, "", &fs.PathError{Op: op, Path: name, Err: err}
	}
	return dir, parts[len(parts)-1], nil
}

// lookup returns the node named name. It requires m.mu.
func (m *MemFS) lookup(op, name string) (*memNode, error) {
	n, err := m.walk(split(name))
	if err != nil {
		return nil, &fs.PathError{Op: op, Path: name, Err: err}
	}
	return n, nil
}

// Create implements FS.
func (m *MemFS) Create(name string) (File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	dir, base, err := m.parent("open", name)
	if err != nil {
		return nil, err
	}
	n, ok := dir.children[base]
	if ok {
		if n.isDir {
			return nil, &fs.PathError{Op: "open", Path: name, Err: syscall.EISDIR}
		}
		n.mu.Lock()
		n.truncate(0)
		n.mu.Unlock()
	} else {
		n = &memNode{modTime: time.Now()}
		dir.children[base] = n
	}
	return &memFile{n: n, name: name, writable: true}, nil
}

// Open implements FS.
func (m *MemFS) Open(name string) (File, error) { return m.open(name, false) }

// OpenReadWrite implements FS.
func (m *MemFS) OpenReadWrite(name string) (File, error) { return m.open(name, true) }

func (m *MemFS) open(name string, writable bool) (File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.lookup("open", name)
	if err != nil {
		return nil, err
	}
	if n.isDir && writable {
		return nil, &fs.PathError{Op: "open", Path: name, Err: syscall.EISDIR}
	}
	return &memFile{n: n, name: name, writable: writable}, nil
}

// Remove implements FS.
func (m *MemFS) Remove(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	dir, base, err := m.parent("remove", name)
	if err != nil {
		return err
	}
	n, ok := dir.children[base]
	if !ok {
		return &fs.PathError{Op: "remove", Path: name, Err: fs.ErrNotExist}
	}
	if n.isDir && len(n.children) > 0 {
		return &fs.PathError{Op: "remove", Path: name, Err: syscall.ENOTEMPTY}
	}
	delete(dir.children, base)
	return nil
}

// Rename implements FS. Like rename(2) it replaces a file, or an empty
// directory with a directory, and refuses to move a directory below itself.
func (m *MemFS) Rename(oldname, newname string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	lerr := func(err error) error {
		return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: err}
	}
	odir, obase, err := m.parent("rename", oldname)
	if err != nil {
		return lerr(err.(*fs.PathError).Err)
	}
	n, ok := odir.children[obase]
	if !ok {
		return lerr(fs.ErrNotExist)
	}
	ndir, nbase, err := m.parent("rename", newname)
	if err != nil {
		return lerr(err.(*fs.PathError).Err)
	}
	if t, ok := ndir.children[nbase]; ok {
		switch {
		case t == n:
			return nil
		case t.isDir && !n.isDir:
			return lerr(syscall.EISDIR)
		case !t.isDir && n.isDir:
			return lerr(syscall.ENOTDIR)
		case t.isDir && len(t.children) > 0:
			return lerr(syscall.ENOTEMPTY)
		}
	}
	if n.isDir {
		// The new parent must not be n or lie below it.
		parts := split(newname)
		d := m.root
		for _, p := range parts[:len(parts)-1] {
			if d == n {
				break
			}
			d = d.children[p]
		}
		if d == n {
			return lerr(syscall.EINVAL)
		}
	}
	delete(odir.children, obase)
	ndir.children[nbase] = n
	return nil
}

// MkdirAll implements FS. perm is ignored.
func (m *MemFS) MkdirAll(dir string, perm os.FileMode) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := m.root
	for _, p := range split(dir) {
		c, ok := n.children[p]
		if !ok {
			c = newDir()
			c.modTime = time.Now()
			n.children[p] = c
		} else if !c.isDir {
			return &fs.PathError{Op: "mkdir", Path: dir, Err: syscall.ENOTDIR}
		}
		n = c
	}
	return nil
}

// List implements FS.
func (m *MemFS) List(dir string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.lookup("open", dir)
	if err != nil {
		return nil, err
	}
	if !n.isDir {
		return nil, &fs.PathError{Op: "readdirent", Path: dir, Err: syscall.ENOTDIR}
	}
	return slices.Sorted(maps.Keys(n.children)), nil
}

// Stat implements FS.
func (m *MemFS) Stat(name string) (os.FileInfo, error) {
	m.mu.Lock()
	n, err := m.lookup("stat", name)
	m.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return n.stat(name), nil
}

// SyncDir implements FS: it records dir's current entries as durable.
func (m *MemFS) SyncDir(dir string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.lookup("sync", dir)
	if err != nil {
		return err
	}
	if !n.isDir {
		return &fs.PathError{Op: "sync", Path: dir, Err: syscall.ENOTDIR}
	}
	n.synced = maps.Clone(n.children)
	return nil
}

// Lock implements FS. The lock belongs to the file (it follows renames) and
// is not carried into crash clones.
func (m *MemFS) Lock(name string) (io.Closer, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	dir, base, err := m.parent("lock", name)
	if err != nil {
		return nil, err
	}
	n, ok := dir.children[base]
	if !ok {
		n = &memNode{modTime: time.Now()}
		dir.children[base] = n
	} else if n.isDir {
		return nil, &fs.PathError{Op: "lock", Path: name, Err: syscall.EISDIR}
	}
	if n.locked {
		return nil, &fs.PathError{Op: "lock", Path: name, Err: ErrLocked}
	}
	n.locked = true
	return &memLock{m: m, n: n, name: name}, nil
}

type memLock struct {
	m      *MemFS
	n      *memNode
	name   string
	closed atomic.Bool
}

func (l *memLock) Close() error {
	if l.closed.Swap(true) {
		return &fs.PathError{Op: "unlock", Path: l.name, Err: fs.ErrClosed}
	}
	l.m.mu.Lock()
	l.n.locked = false
	l.m.mu.Unlock()
	return nil
}

// CrashClone returns a new MemFS holding only what a crash of the machine
// would have kept: every directory's entries as of its last SyncDir (entries
// never synced are absent; removed or renamed ones are back under their old
// names) and every file's contents as of its last Sync (a file never synced is
// empty). The root directory always exists. Locks are not carried over. m is
// unchanged and stays usable, as do its open files.
func (m *MemFS) CrashClone() *MemFS { return m.crashClone(nil) }

// CrashCloneTorn is CrashClone, except that each file also keeps a random
// part of what happened to it since its last Sync, modeling a device that
// wrote some of the unsynced pages in order and then lost power: the file's
// writes and truncations since the sync are replayed in order up to a random
// point, and the last write replayed may be cut short. The choices come from a
// generator seeded with seed, visiting files in name order, so the same seed
// on the same history gives the same clone. Directory entries follow the
// strict rule of CrashClone.
func (m *MemFS) CrashCloneTorn(seed uint64) *MemFS {
	return m.crashClone(rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)))
}

func (m *MemFS) crashClone(rng *rand.Rand) *MemFS {
	m.mu.Lock()
	defer m.mu.Unlock()
	seen := map[*memNode]*memNode{}
	var clone func(n *memNode) *memNode
	clone = func(n *memNode) *memNode {
		if c, ok := seen[n]; ok {
			return c // named twice by synced maps after an unsynced move
		}
		if n.isDir {
			c := newDir()
			c.modTime = n.modTime
			seen[n] = c
			for _, name := range slices.Sorted(maps.Keys(n.synced)) {
				c.children[name] = clone(n.synced[name])
			}
			c.synced = maps.Clone(c.children)
			return c
		}
		n.mu.RLock()
		data := n.crashData(rng)
		modTime := n.modTime
		n.mu.RUnlock()
		c := &memNode{data: data, syncedData: data, modTime: modTime}
		seen[n] = c
		return c
	}
	root := newDir()
	seen[m.root] = root
	for _, name := range slices.Sorted(maps.Keys(m.root.synced)) {
		root.children[name] = clone(m.root.synced[name])
	}
	root.synced = maps.Clone(root.children)
	return &MemFS{root: root}
}

// crashData returns a fresh copy of the contents a crash leaves: the synced
// contents, then, if rng is not nil, a random prefix of the operations since.
// It requires n.mu held for reading.
func (n *memNode) crashData(rng *rand.Rand) []byte {
	data := slices.Clone(n.syncedData)
	if data == nil {
		data = []byte{}
	}
	if rng == nil || len(n.ops) == 0 {
		return data
	}
	k := rng.IntN(len(n.ops) + 1) // ops replayed in full
	for _, op := range n.ops[:k] {
		data = op.apply(data)
	}
	if k < len(n.ops) && !n.ops[k].trunc {
		part := n.ops[k].data
		data = append(data, part[:rng.IntN(len(part)+1)]...)
	}
	return data
}

func (op memOp) apply(data []byte) []byte {
	if !op.trunc {
		return append(data, op.data...)
	}
	if op.size <= int64(len(data)) {
		return data[:op.size]
	}
	return append(data, make([]byte, op.size-int64(len(data)))...)
}

// truncate sets the size of a file node. It requires n.mu.
func (n *memNode) truncate(size int64) {
	if size < int64(len(n.data)) {
		// Copy rather than reslice: later appends would otherwise overwrite
		// bytes that syncedData or ops may share.
		n.data = append([]byte(nil), n.data[:size]...)
	} else if size > int64(len(n.data)) {
		n.data = append(n.data, make([]byte, size-int64(len(n.data)))...)
	}
	n.ops = append(n.ops, memOp{trunc: true, size: size})
	n.modTime = time.Now()
}

func (n *memNode) stat(name string) os.FileInfo {
	fi := &memFileInfo{name: filepath.Base(name), isDir: n.isDir}
	if !n.isDir {
		n.mu.RLock()
		fi.size = int64(len(n.data))
		fi.modTime = n.modTime
		n.mu.RUnlock()
	}
	return fi
}

// memFile is an open handle on a memNode.
type memFile struct {
	n        *memNode
	name     string
	writable bool
	closed   atomic.Bool

	mu   sync.Mutex // guards rpos
	rpos int64      // read offset
}

var (
	_ File       = (*memFile)(nil)
	_ DataSyncer = (*memFile)(nil)
)

func (f *memFile) errClosed(op string) error {
	return &fs.PathError{Op: op, Path: f.name, Err: fs.ErrClosed}
}

func (f *memFile) Read(p []byte) (int, error) {
	if f.closed.Load() {
		return 0, f.errClosed("read")
	}
	if f.n.isDir {
		return 0, &fs.PathError{Op: "read", Path: f.name, Err: syscall.EISDIR}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n.mu.RLock()
	defer f.n.mu.RUnlock()
	if f.rpos >= int64(len(f.n.data)) {
		return 0, io.EOF
	}
	k := copy(p, f.n.data[f.rpos:])
	f.rpos += int64(k)
	return k, nil
}

func (f *memFile) ReadAt(p []byte, off int64) (int, error) {
	if f.closed.Load() {
		return 0, f.errClosed("read")
	}
	if f.n.isDir {
		return 0, &fs.PathError{Op: "read", Path: f.name, Err: syscall.EISDIR}
	}
	if off < 0 {
		return 0, &fs.PathError{Op: "readat", Path: f.name, Err: fs.ErrInvalid}
	}
	f.n.mu.RLock()
	defer f.n.mu.RUnlock()
	if off >= int64(len(f.n.data)) {
		return 0, io.EOF
	}
	k := copy(p, f.n.data[off:])
	if k < len(p) {
		return k, io.EOF
	}
	return k, nil
}

func (f *memFile) Write(p []byte) (int, error) {
	if f.closed.Load() {
		return 0, f.errClosed("write")
	}
	if !f.writable {
		return 0, &fs.PathError{Op: "write", Path: f.name, Err: ErrReadOnly}
	}
	if len(p) == 0 {
		return 0, nil
	}
	n := f.n
	n.mu.Lock()
	off := len(n.data)
	n.data = append(n.data, p...)
	n.ops = append(n.ops, memOp{data: n.data[off:len(n.data):len(n.data)]})
	n.modTime = time.Now()
	n.mu.Unlock()
	return len(p), nil
}

func (f *memFile) Truncate(size int64) error {
	if f.closed.Load() {
		return f.errClosed("truncate")
	}
	if !f.writable {
		return &fs.PathError{Op: "truncate", Path: f.name, Err: ErrReadOnly}
	}
	if size < 0 {
		return &fs.PathError{Op: "truncate", Path: f.name, Err: fs.ErrInvalid}
	}
	f.n.mu.Lock()
	f.n.truncate(size)
	f.n.mu.Unlock()
	return nil
}

func (f *memFile) Size() (int64, error) {
	if f.closed.Load() {
		return 0, f.errClosed("stat")
	}
	f.n.mu.RLock()
	defer f.n.mu.RUnlock()
	return int64(len(f.n.data)), nil
}

// Sync records the current contents as durable.
func (f *memFile) Sync() error {
	if f.closed.Load() {
		return f.errClosed("sync")
	}
	n := f.n
	if n.isDir {
		return nil
	}
	n.mu.Lock()
	n.syncedData = n.data[:len(n.data):len(n.data)]
	clear(n.ops)
	n.ops = n.ops[:0]
	n.mu.Unlock()
	return nil
}

// SyncData is Sync.
func (f *memFile) SyncData() error { return f.Sync() }

func (f *memFile) Close() error {
	if f.closed.Swap(true) {
		return f.errClosed("close")
	}
	return nil
}

type memFileInfo struct {
	name    string
	size    int64
	isDir   bool
	modTime time.Time
}

func (fi *memFileInfo) Name() string { return fi.name }
func (fi *memFileInfo) Size() int64  { return fi.size }
func (fi *memFileInfo) Mode() fs.FileMode {
	if fi.isDir {
		return fs.ModeDir | 0o755
	}
	return 0o644
}
func (fi *memFileInfo) ModTime() time.Time { return fi.modTime }
func (fi *memFileInfo) IsDir() bool        { return fi.isDir }
func (fi *memFileInfo) Sys() any           { return nil }
