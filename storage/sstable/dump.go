package sstable

import (
	"encoding/binary"
	"fmt"
	"io"
)

// Dump writes a human-readable description of the size-byte table in f to
// w: footer, properties, filter and index summaries, and every data block
// entry by entry, with restart points and shared prefix lengths. It is a
// debugging aid; the output format may change. Dump stops at the first
// problem and returns it (wrapping base.ErrCorruption for bad bytes).
func Dump(w io.Writer, f io.ReaderAt, size int64) error {
	r, err := Open(f, size, ReaderOptions{})
	if err != nil {
		return err
	}
	var fb [footerLen]byte
	if err := readFull(f, fb[:], uint64(size)-footerLen); err != nil {
		return err
	}
	ft, err := decodeFooter(fb[:], uint64(size))
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "footer @%d: version %d, filter {%d, %d}, index {%d, %d}, properties {%d, %d}\n",
		size-footerLen, ft.version, ft.filter.offset, ft.filter.length, ft.index.offset, ft.index.length,
		ft.props.offset, ft.props.length)
	p := r.Properties()
	fmt.Fprintf(w, "properties: %d entries (%d tombstones), keys %q..%q, versions %d..%d\n",
		p.NumEntries, p.NumTombstones, p.Smallest, p.Largest, p.MinVersion, p.MaxVersion)
	fmt.Fprintf(w, "  raw key bytes %d, raw value bytes %d; data %d, index %d, filter %d, file %d bytes\n",
		p.RawKeyBytes, p.RawValueBytes, p.DataBytes, p.IndexBytes, p.FilterBytes, p.FileSize)
	if r.filter.nlines == 0 {
		fmt.Fprintf(w, "filter: none\n")
	} else {
		fmt.Fprintf(w, "filter: %d lines, %d probes\n", r.filter.nlines, r.filter.k)
	}
	fmt.Fprintf(w, "index: %d blocks\n", r.index.numBlocks())
	for i := 0; i < r.index.numBlocks(); i++ {
		h := r.index.handle(i)
		fmt.Fprintf(w, "  block %d {%d, %d} separator %q\n", i, h.offset, h.length, r.index.sep(i))
	}
	for i := 0; i < r.index.numBlocks(); i++ {
		b, err := r.readBlock(i, false, nil)
		if err != nil {
			return err
		}
		restartsOff, n, err := blockLayout(b)
		if err != nil {
			return err
		}
		restarts := make([]uint32, n)
		for j := range restarts {
			restarts[j] = binary.LittleEndian.Uint32(b[restartsOff+4*j:])
		}
		fmt.Fprintf(w, "data block %d @%d: %d bytes, restarts %v\n", i, r.index.offs[i], len(b), restarts)
		data := b[:restartsOff]
		var it blockIter
		if err := it.init(b); err != nil {
			return err
		}
		off := 0
		for ok := it.first(); ok; ok = it.nextEntry() {
			shared, _, _, _, _ := decodeHeader(data, off)
			fmt.Fprintf(w, "  +%d %q shared %d, version %d, %v, value %q\n",
				off, it.key, shared, it.version, it.kind, it.value)
			off = it.next
		}
		if it.err != nil {
			return it.err
		}
	}
	return nil
}
