package storage

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"path/filepath"

	"kvstore/storage/internal/base"
	"kvstore/storage/vfs"
)

// File names. Every name the engine writes comes from these functions.
const (
	engineFileName   = "ENGINE"
	lockFileName     = "LOCK"
	manifestFileName = "MANIFEST"
	manifestTmpName  = "MANIFEST.tmp"
)

func shardDirName(i int) string       { return fmt.Sprintf("shard-%03d", i) }
func tableFileName(num uint64) string { return fmt.Sprintf("%06d.sst", num) }
func walFileName(num uint64) string   { return fmt.Sprintf("%06d.wal", num) }

// parseFileName returns the number and type (".sst" or ".wal") of a table or
// WAL file name.
func parseFileName(name string) (num uint64, ext string, ok bool) {
	ext = filepath.Ext(name)
	if ext != ".sst" && ext != ".wal" {
		return 0, "", false
	}
	if _, err := fmt.Sscanf(name[:len(name)-len(ext)], "%d", &num); err != nil {
		return 0, "", false
	}
	return num, ext, tableFileName(num) == name || walFileName(num) == name
}

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// Manifest format (one per shard, the file MANIFEST, replaced whole on every
// change by writing MANIFEST.tmp, fsyncing it, renaming it over MANIFEST and
// fsyncing the shard directory):
//
//	magic          8 bytes "kvsmanif"
//	formatVersion  uint32 little-endian, 1
//	nextFileNum    uvarint: every file number in use is below it
//	minLogNum      uvarint: WAL files numbered below it are obsolete
//	numTables      uvarint
//	numTables times:
//	  level, fileNum, fileSize, numEntries, numTombstones   uvarints
//	  minVersion, maxVersion                                uint64 little-endian
//	  smallestKey, largestKey                               uvarint length, bytes
//	crc            uint32 little-endian CRC32C of every byte before it
const (
	manifestMagic   = "kvsmanif"
	manifestVersion = 1
	maxManifestSize = 64 << 20
)

type manifest struct {
	nextFileNum uint64
	minLogNum   uint64
	tables      []manifestTable
}

type manifestTable struct {
	level int
	meta  tableMeta
}

// tableMeta describes a table file as the manifest records it.
type tableMeta struct {
	fileNum       uint64
	size          uint64
	numEntries    uint64
	numTombstones uint64
	minVersion    uint64
	maxVersion    uint64
	smallest      []byte
	largest       []byte
}

func (m *manifest) encode() []byte {
	b := []byte(manifestMagic)
	b = binary.LittleEndian.AppendUint32(b, manifestVersion)
	b = binary.AppendUvarint(b, m.nextFileNum)
	b = binary.AppendUvarint(b, m.minLogNum)
	b = binary.AppendUvarint(b, uint64(len(m.tables)))
	for _, t := range m.tables {
		b = binary.AppendUvarint(b, uint64(t.level))
		b = binary.AppendUvarint(b, t.meta.fileNum)
		b = binary.AppendUvarint(b, t.meta.size)
		b = binary.AppendUvarint(b, t.meta.numEntries)
		b = binary.AppendUvarint(b, t.meta.numTombstones)
		b = binary.LittleEndian.AppendUint64(b, t.meta.minVersion)
		b = binary.LittleEndian.AppendUint64(b, t.meta.maxVersion)
		b = binary.AppendUvarint(b, uint64(len(t.meta.smallest)))
		b = append(b, t.meta.smallest...)
		b = binary.AppendUvarint(b, uint64(len(t.meta.largest)))
		b = append(b, t.meta.largest...)
	}
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, crcTable))
}

// decodeManifest parses a manifest. Errors wrap ErrCorruption.
func decodeManifest(b []byte) (*manifest, error) {
	if len(b) < len(manifestMagic)+8 || string(b[:len(manifestMagic)]) != manifestMagic {
		return nil, base.CorruptionErrorf("manifest: bad magic or size %d", len(b))
	}
	body, sum := b[:len(b)-4], binary.LittleEndian.Uint32(b[len(b)-4:])
	if crc32.Checksum(body, crcTable) != sum {
		return nil, base.CorruptionErrorf("manifest: checksum mismatch")
	}
	if v := binary.LittleEndian.Uint32(body[len(manifestMagic):]); v != manifestVersion {
		return nil, base.CorruptionErrorf("manifest: unknown format version %d", v)
	}
	d := decoder{b: body[len(manifestMagic)+4:]}
	m := &manifest{nextFileNum: d.uvarint(), minLogNum: d.uvarint()}
	n := d.uvarint()
	if n > uint64(len(d.b)) { // every table takes more than one byte
		return nil, base.CorruptionErrorf("manifest: table count %d exceeds size", n)
	}
	m.tables = make([]manifestTable, 0, n)
	for i := uint64(0); i < n && d.err == nil; i++ {
		var t manifestTable
		level := d.uvarint()
		if level >= numLevels {
			return nil, base.CorruptionErrorf("manifest: level %d out of range", level)
		}
		t.level = int(level)
		t.meta.fileNum = d.uvarint()
		t.meta.size = d.uvarint()
		t.meta.numEntries = d.uvarint()
		t.meta.numTombstones = d.uvarint()
		t.meta.minVersion = d.uint64()
		t.meta.maxVersion = d.uint64()
		t.meta.smallest = d.bytes(MaxKeySize)
		t.meta.largest = d.bytes(MaxKeySize)
		if d.err == nil && bytes.Compare(t.meta.smallest, t.meta.largest) > 0 {
			return nil, base.CorruptionErrorf("manifest: table %d has smallest > largest", t.meta.fileNum)
		}
		if d.err == nil && t.meta.fileNum >= m.nextFileNum {
			return nil, base.CorruptionErrorf("manifest: table %d not below nextFileNum %d", t.meta.fileNum, m.nextFileNum)
		}
		m.tables = append(m.tables, t)
	}
	if d.err != nil {
		return nil, d.err
	}
	if len(d.b) != 0 {
		return nil, base.CorruptionErrorf("manifest: %d trailing bytes", len(d.b))
	}
	return m, nil
}

// decoder reads uvarints, fixed integers and length-prefixed bytes, keeping
// the first error.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = base.CorruptionErrorf("manifest: truncated or invalid %s", what)
	}
	d.b = nil
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("uvarint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) uint64() uint64 {
	if len(d.b) < 8 {
		d.fail("uint64")
		return 0
	}
	v := binary.LittleEndian.Uint64(d.b)
	d.b = d.b[8:]
	return v
}

func (d *decoder) bytes(limit int) []byte {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if n > uint64(limit) || n > uint64(len(d.b)) {
		d.fail("length")
		return nil
	}
	v := bytes.Clone(d.b[:n])
	d.b = d.b[n:]
	return v
}

// readManifest reads dir/MANIFEST. It returns (nil, nil) when there is none.
func readManifest(fs vfs.FS, dir string) (*manifest, error) {
	b, err := readFile(fs, filepath.Join(dir, manifestFileName), maxManifestSize)
	if err != nil {
		if isNotExist(fs, filepath.Join(dir, manifestFileName)) {
			return nil, nil
		}
		return nil, err
	}
	m, err := decodeManifest(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, manifestFileName), err)
	}
	return m, nil
}

// writeManifest atomically replaces dir/MANIFEST with m.
func writeManifest(fs vfs.FS, dir string, m *manifest) error {
	return writeFileAtomic(fs, dir, manifestTmpName, manifestFileName, m.encode())
}

// writeFileAtomic writes data to dir/tmp, fsyncs it, renames it to dir/name
// and fsyncs dir, so a crash leaves either the old or the new file whole.
func writeFileAtomic(fs vfs.FS, dir, tmp, name string, data []byte) error {
	tmpPath := filepath.Join(dir, tmp)
	f, err := fs.Create(tmpPath)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := fs.Rename(tmpPath, filepath.Join(dir, name)); err != nil {
		return err
	}
	return fs.SyncDir(dir)
}

func readFile(fs vfs.FS, path string, limit int64) ([]byte, error) {
	f, err := fs.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		return nil, err
	}
	if size > limit {
		return nil, base.CorruptionErrorf("%s: size %d over limit %d", path, size, limit)
	}
	b := make([]byte, size)
	if _, err := io.ReadFull(io.NewSectionReader(f, 0, size), b); err != nil {
		return nil, err
	}
	return b, nil
}

func isNotExist(fs vfs.FS, path string) bool {
	_, err := fs.Stat(path)
	return err != nil && isNotExistErr(err)
}

// Engine file format (the file ENGINE at the top of the store, written once
// when the store is created):
//
//	magic          8 bytes "kvsengin"
//	formatVersion  uint32 little-endian, 1
//	shards         uvarint
//	shardPrefixLen uvarint
//	crc            uint32 little-endian CRC32C of every byte before it
const (
	engineMagic   = "kvsengin"
	engineVersion = 1
)

type engineFile struct {
	shards         int
	shardPrefixLen int
}

func (e engineFile) encode() []byte {
	b := []byte(engineMagic)
	b = binary.LittleEndian.AppendUint32(b, engineVersion)
	b = binary.AppendUvarint(b, uint64(e.shards))
	b = binary.AppendUvarint(b, uint64(e.shardPrefixLen))
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, crcTable))
}

func decodeEngineFile(b []byte) (engineFile, error) {
	var e engineFile
	if len(b) < len(engineMagic)+8 || string(b[:len(engineMagic)]) != engineMagic {
		return e, base.CorruptionErrorf("engine file: bad magic or size %d", len(b))
	}
	body, sum := b[:len(b)-4], binary.LittleEndian.Uint32(b[len(b)-4:])
	if crc32.Checksum(body, crcTable) != sum {
		return e, base.CorruptionErrorf("engine file: checksum mismatch")
	}
	if v := binary.LittleEndian.Uint32(body[len(engineMagic):]); v != engineVersion {
		return e, base.CorruptionErrorf("engine file: unknown format version %d", v)
	}
	d := decoder{b: body[len(engineMagic)+4:]}
	shards, prefix := d.uvarint(), d.uvarint()
	if d.err != nil || len(d.b) != 0 || shards < 1 || shards > maxShards || prefix > MaxKeySize {
		return e, base.CorruptionErrorf("engine file: invalid body")
	}
	return engineFile{shards: int(shards), shardPrefixLen: int(prefix)}, nil
}
