package base

// Iterator walks records in ascending bytewise key order, at most one record
// per key (the newest the source holds). Memtables, tables and the engine's
// merging iterators all implement it.
//
// A new iterator is unpositioned: call First or SeekGE before Key. The
// positioning methods return Valid(). Key and Value return slices that stay
// valid only until the next positioning call or Close; callers copy what they
// keep. An Iterator is not safe for concurrent use.
type Iterator interface {
	// First moves to the smallest key.
	First() bool
	// SeekGE moves to the smallest key >= key.
	SeekGE(key []byte) bool
	// Next moves to the next key. It must only be called when Valid.
	Next() bool
	// Valid reports whether the iterator is positioned on a record.
	Valid() bool
	Key() []byte
	Value() []byte
	Version() uint64
	Kind() Kind
	// Err returns the first error met; an iterator that met one is not Valid.
	Err() error
	// Close releases resources; it returns Err().
	Close() error
}
