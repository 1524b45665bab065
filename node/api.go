package node

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"kvstore/storage"
)

// Level is a per-request consistency level: how many replicas must answer.
// Positive values are explicit counts; the named levels resolve against the
// partition's replica count when the request runs.
type Level int

const (
	// LevelDefault uses the node's configured R or W.
	LevelDefault Level = 0
	// LevelOne waits for one replica.
	LevelOne Level = 1
	// LevelQuorum waits for a majority of the replicas.
	LevelQuorum Level = -1
	// LevelAll waits for every replica.
	LevelAll Level = -2
)

// ParseLevel parses "one", "quorum", "all" or a positive number; "" is
// LevelDefault.
func ParseLevel(s string) (Level, error) {
	switch s {
	case "":
		return LevelDefault, nil
	case "one":
		return LevelOne, nil
	case "quorum":
		return LevelQuorum, nil
	case "all":
		return LevelAll, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 64 {
		return 0, fmt.Errorf("%w: consistency level %q (want one, quorum, all or 1..64)", ErrBadRequest, s)
	}
	return Level(n), nil
}

func (l Level) String() string {
	switch l {
	case LevelDefault:
		return "default"
	case LevelQuorum:
		return "quorum"
	case LevelAll:
		return "all"
	}
	return strconv.Itoa(int(l))
}

// resolve returns how many of n replicas the level asks for, given the
// configured default def.
func (l Level) resolve(n, def int) int {
	switch l {
	case LevelDefault:
		return min(def, n)
	case LevelQuorum:
		return n/2 + 1
	case LevelAll:
		return n
	}
	return int(l)
}

// Errors returned by the coordinator; the HTTP layer maps them to status
// codes (ErrBadRequest 400, ErrTooLarge 413, ErrUnavailable 503).
var (
	ErrBadRequest  = errors.New("node: bad request")
	ErrTooLarge    = errors.New("node: request too large")
	ErrUnavailable = errors.New("node: quorum unavailable")
	ErrNotFound    = errors.New("node: not found")
	ErrClosed      = errors.New("node: closed")
)

// Mutation is one write of a batch: a put, or a delete when Delete is set.
type Mutation struct {
	Key    []byte
	Value  []byte
	Delete bool
}

// WriteResult reports a write of one key.
type WriteResult struct {
	Key     []byte
	Version storage.Version
	// Acks is how many replicas acknowledged the write durably; Required is
	// how many the consistency level asked for.
	Acks, Required int
	// Err is nil when Acks >= Required; otherwise it wraps ErrUnavailable
	// with the reason.
	Err error
}

// ReadResult reports a read of one key.
type ReadResult struct {
	// Found is false when no replica that answered holds a value (absent or
	// deleted).
	Found   bool
	Value   []byte
	Version storage.Version // version of the newest record seen (0 if none)
	// Replies is how many replicas answered in time; Required is how many
	// the consistency level asked for.
	Replies, Required int
	// RepairSent is set when the coordinator sent the newest record to
	// replicas that answered with an older one (read repair).
	RepairSent bool
}

// KV is one record of a range read.
type KV struct {
	Key     []byte
	Value   []byte
	Version storage.Version
}

// RangeRequest asks for the live keys in [Start, End] (both inclusive; a nil
// End is unbounded), at most Limit of them (0: no limit), starting after
// Cursor when set (a Cursor is the Next of a previous page).
type RangeRequest struct {
	Start, End []byte
	Limit      int
	Cursor     []byte
	Level      Level
}

// RangePage is one page of a range read, in ascending key order.
type RangePage struct {
	Records []KV
	// Next is the cursor of the following page; nil when the range is done.
	Next []byte
	// RepairSent is set when read repair was sent for any key of the page.
	RepairSent bool
}

// API is what the HTTP layer serves: the coordinator's operations. Every
// method is safe for concurrent use and honours ctx's deadline. Writes keep
// reading their keys and values after they return (replicas beyond the
// quorum are written in the background): callers must not modify them.
type API interface {
	Put(ctx context.Context, key, value []byte, w Level) WriteResult
	Delete(ctx context.Context, key []byte, w Level) WriteResult
	Get(ctx context.Context, key []byte, r Level) (ReadResult, error)
	// Batch writes every mutation and reports each key separately.
	Batch(ctx context.Context, muts []Mutation, w Level) []WriteResult
	// Range returns one page of a range read; it returns an error wrapping
	// ErrUnavailable when some partition could not be read at the level.
	Range(ctx context.Context, req RangeRequest) (RangePage, error)
	// ObserveVersion moves the node's clock past v, a version the client
	// has seen (its causality token, sent as HeaderAfter): writes the node
	// coordinates afterwards are newer than v whatever the wall clocks of
	// the nodes involved. A v more than MaxVersionLead ahead of the node's
	// wall clock is refused with an error wrapping ErrBadRequest.
	ObserveVersion(v storage.Version) error
	// Status describes the node and the cluster as this node sees it.
	Status() Status
	// Metrics writes the node's metrics in the Prometheus text format.
	WriteMetrics(w MetricsWriter)
}

// MetricsWriter receives metrics; the HTTP layer renders them in the
// Prometheus text exposition format.
type MetricsWriter interface {
	// Counter and Gauge write one sample; labels alternate name, value.
	Counter(name, help string, value float64, labels ...string)
	Gauge(name, help string, value float64, labels ...string)
}

// Status is the JSON body of GET /status.
type Status struct {
	Node       string `json:"node"`
	HTTPAddr   string `json:"http_addr"`
	RPCAddr    string `json:"rpc_addr"`
	GossipAddr string `json:"gossip_addr"`
	N          int    `json:"n"`
	R          int    `json:"r"`
	W          int    `json:"w"`
	// EffectiveN is N clamped to the ring's size; Clamped is set when it is
	// smaller than N (a single dev node, or a cluster being built).
	EffectiveN int            `json:"effective_n"`
	Clamped    bool           `json:"clamped"`
	Partitions int            `json:"partitions"`
	Members    []MemberStatus `json:"members"`
	// RingSize is how many members the ring table this node places keys
	// with has (the Active and Leaving ones). Just after a change it can
	// trail Members for a moment, while the node builds the new table.
	RingSize int `json:"ring_size"`
	// Owned is how many partitions this node replicates, and Primary how
	// many it is first in the preference list of.
	Owned   int           `json:"partitions_owned"`
	Primary int           `json:"partitions_primary"`
	Storage StorageStatus `json:"storage"`
	// Hints are the hints this node keeps for other nodes.
	Hints HintStatus `json:"hints"`
	// AntiEntropy is the progress of the background Merkle exchanges this
	// node starts.
	AntiEntropy AntiEntropyStatus `json:"anti_entropy"`
	// Movement is the streaming of partitions by joins, catch-ups and
	// leaves, and the dropping of partitions that moved away.
	Movement MoveStatus `json:"movement"`
}

// AntiEntropyStatus reports anti-entropy on this node.
type AntiEntropyStatus struct {
	Enabled            bool    `json:"enabled"`
	Passes             uint64  `json:"passes"`
	PassItems          int     `json:"pass_items"`
	PassPosition       int     `json:"pass_position"`
	LastFullPass       string  `json:"last_full_pass,omitempty"` // RFC 3339
	LastPassSeconds    float64 `json:"last_pass_seconds"`
	PartitionsCompared uint64  `json:"partitions_compared"`
	RootMatches        uint64  `json:"root_matches"`
	KeysRepaired       uint64  `json:"keys_repaired"`
	Errors             uint64  `json:"errors"`
	Skipped            uint64  `json:"skipped"`
}

// HintStatus reports hinted handoff on this node.
type HintStatus struct {
	Enabled bool               `json:"enabled"`
	Pending int64              `json:"pending"`
	Bytes   int64              `json:"bytes"`
	Targets []HintTargetStatus `json:"targets"`
}

// HintTargetStatus reports the hints kept for one node.
type HintTargetStatus struct {
	Node    string `json:"node"`
	Pending int64  `json:"pending"`
	Bytes   int64  `json:"bytes"`
}

// RingSettled reports whether the node places keys with a ring of exactly
// n members, all of them active: no join or leave it knows of is in
// progress and its table has caught up with the ledger.
func (s Status) RingSettled(n int) bool {
	active := 0
	for _, m := range s.Members {
		switch m.Ring {
		case "active":
			active++
		case "joining", "leaving":
			return false
		}
	}
	return active == n && s.RingSize == n
}

// MemberStatus is one member as this node sees it.
type MemberStatus struct {
	Name string `json:"name"`
	// State is the liveness: "alive", "suspect", "dead" or "left".
	State string `json:"state"`
	// Ring is the ring membership: "joining", "active", "leaving", "left",
	// "removed", or "" for a live node that is not in the ring.
	Ring       string `json:"ring"`
	HTTPAddr   string `json:"http_addr"`
	RPCAddr    string `json:"rpc_addr"`
	GossipAddr string `json:"gossip_addr"`
	Partitions int    `json:"partitions"`
}

// StorageStatus summarizes the local engine.
type StorageStatus struct {
	TableBytes         int64   `json:"table_bytes"`
	WALBytes           int64   `json:"wal_bytes"`
	WriteAmplification float64 `json:"write_amplification"`
	CacheHitRatio      float64 `json:"cache_hit_ratio"`
	PendingCompaction  int64   `json:"pending_compaction_bytes"`
	WriteStalls        int64   `json:"write_stalls"`
}
