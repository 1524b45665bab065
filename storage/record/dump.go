package record

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Dump writes a line per record of the log in r (offset, payload length, CRC
// and the start of the payload) and a last line saying how the log ends. It
// is a debugging aid; its output is not a stable format. It returns the first
// error writing to w or reading r, but not the log's ending.
func Dump(w io.Writer, r io.Reader) error {
	rd := NewReader(r)
	for {
		off := rd.Offset()
		p, err := rd.Next()
		if err != nil {
			var line string
			switch {
			case err == io.EOF:
				line = fmt.Sprintf("end at offset %d\n", off)
			case errors.Is(err, ErrTornTail):
				line = fmt.Sprintf("%v\n", err)
			default:
				return err
			}
			_, werr := io.WriteString(w, line)
			return werr
		}
		// The header of a good record is still in the buffer before p.
		sum := binary.LittleEndian.Uint32(rd.buf[rd.pos-len(p)-HeaderSize:])
		const show = 24
		q := fmt.Sprintf("%q", p[:min(len(p), show)])
		if len(p) > show {
			q += "..."
		}
		if _, err := fmt.Fprintf(w, "offset %d: len %d crc %#08x %s\n", off, len(p), sum, q); err != nil {
			return err
		}
	}
}
