// Package vfs is the file system the storage engine works through. The
// engine never calls package os directly: it takes an FS, so that tests can
// run it over MemFS, an in-memory file system that can simulate a crash
// (MemFS.CrashClone), or over ErrorFS, a wrapper that makes chosen operations
// fail.
//
// # Implementations
//
//   - Default is the operating system's file system.
//   - NewMem returns a MemFS, for deterministic tests. It tracks what was made
//     durable (File.Sync for contents, FS.SyncDir for directory entries) and
//     CrashClone returns only that, optionally with a torn, random part of
//     what was not (CrashCloneTorn).
//   - NewErrorFS wraps any FS and fails the operations an InjectFunc selects.
//
// # File contract
//
// A File has no Seek. Read reads sequentially from a read offset that starts
// at 0 and that only Read moves; ReadAt reads at an absolute offset. Write
// always appends at the end of the file: at the size the file had when it was
// opened, plus what this handle wrote since, or at the size last given to
// Truncate. So the engine recovers a write-ahead log with
//
//	f, _ := fs.OpenReadWrite(name)
//	r := record.NewReader(f)   // reads from offset 0
//	for { ... r.Next() ... }   // until io.EOF or a torn tail
//	f.Truncate(r.Offset())     // cut what is not a whole record
//	f.Write(next)              // lands right after the last good record
//
// Contents reach stable storage only through Sync (or SyncData); a new,
// renamed or removed directory entry only through SyncDir on its directory.
//
// Every FS is safe for concurrent use. A File's ReadAt and Size may be called
// concurrently with each other and with one goroutine using the other
// methods; the other methods must not be called concurrently with each other.
//
// # Errors
//
// Operations on missing or existing names return *fs.PathError values that
// satisfy errors.Is(err, fs.ErrNotExist) or errors.Is(err, fs.ErrExist) for
// every implementation. Writing through a read-only File fails with
// ErrReadOnly; locking a held lock fails with ErrLocked; any use of a closed
// File fails with fs.ErrClosed.
package vfs
