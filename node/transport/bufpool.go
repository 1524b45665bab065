package transport

import "sync"

// Frame buffers are pooled; buffers that grew beyond maxPooledBuf are left
// to the garbage collector so the pool never pins large frames.
const (
	initialBufSize = 4 << 10
	maxPooledBuf   = 1 << 20
)

var bufPool = sync.Pool{New: func() any {
	b := make([]byte, 0, initialBufSize)
	return &b
}}

// getBuf returns a pooled buffer of length n.
func getBuf(n int) *[]byte {
	bp := bufPool.Get().(*[]byte)
	if cap(*bp) < n {
		*bp = make([]byte, n)
	}
	*bp = (*bp)[:n]
	return bp
}

func putBuf(bp *[]byte) {
	if bp == nil || cap(*bp) > maxPooledBuf {
		return
	}
	*bp = (*bp)[:0]
	bufPool.Put(bp)
}
