package bench

import (
	"bytes"
	"os"
	"strconv"
)

// ReadRSS returns the current resident set size (VmRSS) and its peak
// (VmHWM) of this process in bytes, from /proc/self/status. Values it cannot
// read are 0, as on systems without /proc.
func ReadRSS() (current, peak int64) {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, 0
	}
	return parseProcStatus(data)
}

// ResetPeakRSS resets the process's peak resident set size to its current
// size, so that a later ReadRSS reports the peak since the reset. It needs
// Linux 4.0 or later; elsewhere it returns an error and the peak keeps
// covering the life of the process.
func ResetPeakRSS() error {
	// Writing "5" to clear_refs resets VmHWM (see proc(5)).
	f, err := os.OpenFile("/proc/self/clear_refs", os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = f.Write([]byte("5"))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// parseProcStatus extracts VmRSS and VmHWM, in bytes, from the text of
// /proc/<pid>/status. Missing or malformed fields yield 0.
func parseProcStatus(data []byte) (rss, hwm int64) {
	for len(data) > 0 {
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			data = nil
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		switch string(name) {
		case "VmRSS":
			rss = parseKB(value)
		case "VmHWM":
			hwm = parseKB(value)
		}
	}
	return rss, hwm
}

// parseKB parses a value like "\t  1928 kB" into bytes, or returns 0.
func parseKB(v []byte) int64 {
	f := bytes.Fields(v)
	if len(f) != 2 || string(f[1]) != "kB" {
		return 0
	}
	n, err := strconv.ParseInt(string(f[0]), 10, 64)
	if err != nil || n < 0 || n > 1<<53 {
		return 0
	}
	return n * 1024
}
