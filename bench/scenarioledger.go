package bench

import (
	"strconv"
	"sync/atomic"
)

// The keys and values of a scenario (RunScenario), and the ledger of what
// the cluster acknowledged.
//
// Key i of the key space [0, Keys) is "k" followed by i in eight-digit
// zero-padded decimal ("k00000042"). It has exactly one writer, worker
// i mod Concurrency, which writes it one request at a time, so the
// order of its values is the order of their sequence numbers. A value
// is, in ASCII,
//
//	offset  size  content
//	0       1     'k'
//	1       8     key index, zero-padded decimal
//	9       2     " w"
//	11      4     writer (worker) number, zero-padded decimal
//	15      2     " s"
//	17      10    sequence number of the write within its key, from 1,
//	              zero-padded decimal
//	27      1     '|'
//	28      ...   filler up to the value size: '.' bytes
//
// so a value read back names the key, writer and write it came from, and
// a value of the wrong key, of a write never sent or with a damaged
// header is detected.
const (
	scenarioValueHeader = 28 // bytes before the filler
	scenarioKeyDigits   = 8
	scenarioMaxKeys     = 100_000_000 // 10^scenarioKeyDigits
	scenarioMaxWorkers  = 10_000
	scenarioMaxSeq      = 9_999_999_999
)

// scenarioKey appends the key of index i to dst.
func scenarioKey(dst []byte, i int) []byte {
	dst = append(dst, 'k')
	return appendPadded(dst, uint64(i), scenarioKeyDigits)
}

// appendPadded appends v in decimal, zero-padded to width digits.
func appendPadded(dst []byte, v uint64, width int) []byte {
	var b [20]byte
	s := strconv.AppendUint(b[:0], v, 10)
	for range width - len(s) {
		dst = append(dst, '0')
	}
	return append(dst, s...)
}

// encodeScenarioValue appends the value of write seq of key by worker to
// dst, padded to size bytes (at least the header).
func encodeScenarioValue(dst []byte, key, worker int, seq uint64, size int) []byte {
	start := len(dst)
	dst = scenarioKey(dst, key)
	dst = append(dst, " w"...)
	dst = appendPadded(dst, uint64(worker), 4)
	dst = append(dst, " s"...)
	dst = appendPadded(dst, seq, 10)
	dst = append(dst, '|')
	for len(dst)-start < size {
		dst = append(dst, '.')
	}
	return dst
}

// scenarioValue is a decoded value.
type scenarioValue struct {
	key, worker int
	seq         uint64
}

// parseScenarioValue decodes a value written by encodeScenarioValue; ok
// is false if b is not one. It does not check the filler.
func parseScenarioValue(b []byte) (v scenarioValue, ok bool) {
	if len(b) < scenarioValueHeader || b[0] != 'k' || b[9] != ' ' || b[10] != 'w' ||
		b[15] != ' ' || b[16] != 's' || b[27] != '|' {
		return v, false
	}
	key, ok1 := parseDigits(b[1:9])
	worker, ok2 := parseDigits(b[11:15])
	seq, ok3 := parseDigits(b[17:27])
	if !ok1 || !ok2 || !ok3 {
		return v, false
	}
	return scenarioValue{key: int(key), worker: int(worker), seq: seq}, true
}

// parseDigits parses b, decimal digits only.
func parseDigits(b []byte) (uint64, bool) {
	var v uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + uint64(c-'0')
	}
	return v, true
}

// ledger records, for every key of a scenario, the highest sequence
// number its writer has sent and the highest the cluster acknowledged.
//
// A ledger is safe for concurrent use: each key's writer calls attempt
// and ack, in that order for each write; anyone may read. Sequence
// numbers of a key only grow.
type ledger struct {
	workers int
	keys    []ledgerKey
}

type ledgerKey struct {
	attempted atomic.Uint64 // highest sequence number sent, 0: none
	acked     atomic.Uint64 // highest sequence number acknowledged, 0: none
	version   atomic.Uint64 // X-Kvstore-Version of the acknowledgement of acked
}

func newLedger(keys, workers int) *ledger {
	return &ledger{workers: workers, keys: make([]ledgerKey, keys)}
}

// writer returns the worker that owns key.
func (l *ledger) writer(key int) int { return key % l.workers }

// next returns the sequence number of key's next write and records it
// as attempted. Only key's writer calls it.
func (l *ledger) next(key int) uint64 {
	k := &l.keys[key]
	seq := k.attempted.Load() + 1
	k.attempted.Store(seq)
	return seq
}

// ack records that write seq of key was acknowledged with version.
func (l *ledger) ack(key int, seq, version uint64) {
	k := &l.keys[key]
	if seq > k.acked.Load() {
		k.version.Store(version)
		k.acked.Store(seq)
	}
}

// acked returns the highest acknowledged sequence number of key (0: none)
// and its version.
func (l *ledger) acked(key int) (seq, version uint64) {
	k := &l.keys[key]
	seq = k.acked.Load()
	return seq, k.version.Load()
}

// attempted returns the highest sequence number of key sent so far.
func (l *ledger) attempted(key int) uint64 { return l.keys[key].attempted.Load() }

// readVerdict is what a read of a key shows about the cluster.
type readVerdict uint8

const (
	readOK      readVerdict = iota // the acknowledged value or a later write
	readMissing                    // not found although a write was acknowledged
	readOlder                      // a value older than the acknowledged one
	readCorrupt                    // not a value any write of the key sent
	numReadVerdicts
)

var readVerdictNames = [numReadVerdicts]string{"ok", "missing", "older", "corrupt"}

func (v readVerdict) String() string {
	if v < numReadVerdicts {
		return readVerdictNames[v]
	}
	return "readVerdict(" + strconv.Itoa(int(v)) + ")"
}

// judgeRead classifies a read of key that found value (found false: 404).
// ackedBefore is the key's acknowledged sequence number when the read
// started, attemptedAfter its attempted one when the read returned;
// writer is the key's writer. Any value between the two is correct: a
// write not (yet) acknowledged may have landed.
func judgeRead(key, writer int, ackedBefore, attemptedAfter uint64, found bool, value []byte) (readVerdict, uint64) {
	if !found {
		if ackedBefore > 0 {
			return readMissing, 0
		}
		return readOK, 0
	}
	v, ok := parseScenarioValue(value)
	if !ok || v.key != key || v.worker != writer || v.seq == 0 || v.seq > attemptedAfter {
		return readCorrupt, v.seq
	}
	if v.seq < ackedBefore {
		return readOlder, v.seq
	}
	return readOK, v.seq
}
