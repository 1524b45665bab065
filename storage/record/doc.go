// Package record frames the records of a write-ahead log and reads them back,
// stopping cleanly at a torn tail.
//
// # Format
//
// A log is a sequence of records, each a header and a payload:
//
//	+------------+------------+------------------+
//	| CRC uint32 | len uint32 | payload len bytes|
//	+------------+------------+------------------+
//	 0          4            8                 8+len
//
// Both header fields are little-endian. CRC is the CRC-32C (Castagnoli) of the
// 4 length bytes followed by the payload, so a corrupt length is caught like a
// corrupt payload. len is at most MaxRecordSize. An empty payload is a valid
// record (its CRC is not 0). Records follow each other with no padding.
//
// # End of log
//
// A log ends where the bytes end, or at a header of 8 zero bytes (a
// preallocated or zero-filled tail): Reader.Next reports io.EOF there. Any
// other record that cannot be read whole and intact - a header or payload cut
// short, a length over MaxRecordSize, a CRC mismatch - is a torn tail, the
// trace of a write a crash interrupted: Next reports an error wrapping
// ErrTornTail. Either way Reader.Offset is where the intact log ends, which is
// where a writer reopening the log must truncate it before appending (bytes
// after a zero header would otherwise stay unreachable). A torn tail is not
// corruption (base.ErrCorruption): a log is only trusted up to its last synced
// record, and whatever follows may legitimately be garbage.
//
// # Writing
//
// Append encodes a record onto a buffer; Seal does so in place for a payload
// already encoded after HeaderSize reserved bytes. Writing the buffer,
// batching and syncing are the caller's business.
package record
