// Package node is a kvstore node: it owns the local storage engine, the
// node-to-node transport, membership and the ring, coordinates client
// requests (quorum reads and writes, read repair, range reads) and serves
// them over HTTP.
package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"kvstore/antientropy"
	"kvstore/gossip"
	"kvstore/hintedhandoff"
	"kvstore/node/transport"
	"kvstore/node/wire"
	"kvstore/ring"
	"kvstore/storage"
)

// Config configures a node. Zero fields take the defaults documented on
// them (see DefaultConfig).
type Config struct {
	// Name identifies the node in the cluster; it must be unique and stable
	// across restarts.
	Name string
	// DataDir holds the storage engine's files.
	DataDir string
	// HTTPAddr, RPCAddr and GossipAddr are the listen addresses of the
	// client API, node-to-node RPC and gossip. HTTPAddr "" serves no HTTP
	// (tests use Handler).
	HTTPAddr, RPCAddr, GossipAddr string
	// AdvertiseHost is the host peers and clients reach this node at when a
	// listen address has no specific host (":8080", "0.0.0.0:8080").
	// Default: the first non-loopback IPv4 address of the machine, or
	// 127.0.0.1 if it has none.
	AdvertiseHost string
	// Join lists gossip addresses of existing members; empty starts a new
	// cluster.
	Join []string

	// N, R and W are the replication factor and the default read and write
	// quorums. Defaults 3, 2, 2.
	N, R, W int
	// Partitions is the fixed partition count of the cluster. Default 1024.
	Partitions int

	// Secret is the cluster secret: RPC peers prove they know it, and gossip
	// is encrypted with a key derived from it. Required unless Insecure.
	Secret   []byte
	Insecure bool

	// ReplicaTimeout bounds one replica RPC. Default 2s.
	ReplicaTimeout time.Duration
	// ReadSpeculation is how long a read waits for its first replies
	// before asking one more replica than the level needs. Default 50ms.
	ReadSpeculation time.Duration
	// DisableHintedHandoff makes quorums strict: a write counts only
	// acknowledgements of the key's own replicas, and nothing is kept for a
	// replica that is down (anti-entropy repairs it later).
	DisableHintedHandoff bool
	// Hints bounds the hints this node keeps for others (size, age) and
	// paces their replay.
	Hints hintedhandoff.Config
	// DisableAntiEntropy turns off the background Merkle-tree exchanges.
	DisableAntiEntropy bool
	// AntiEntropy paces them. Defaults: 200 exchanges per second, 8 MiB/s
	// exchanged, 32 MiB/s of records read to build trees, a full pass over
	// every shared partition every 30 s (longer when the caps need it).
	AntiEntropy antientropy.Config
	// JoinSettle is how long a joining node waits, after streaming its
	// partitions, for every coordinator to have seen it joining before it
	// exchanges them once more and starts serving reads. Default 2s.
	JoinSettle time.Duration
	// DropDelay is how long a node keeps a partition it no longer
	// replicates once the ring has settled, before it confirms the new
	// replicas hold its records and drops it. Default 1 minute.
	DropDelay time.Duration
	// Storage configures the engine; ShardPrefixLen is set by the node.
	Storage storage.Options
	// HTTP configures the client API's limits.
	HTTP HTTPConfig

	// Transport and Membership replace the TCP transport and gossip (tests
	// run whole clusters in one process with them).
	Transport  transport.Transport
	Membership Membership
	// Gossip tunes the gossip layer when Membership is nil.
	Gossip gossip.Config

	// Logger receives operational messages. Default: stderr with the node
	// name as prefix.
	Logger *log.Logger
	// Now is the wall clock. Default time.Now.
	Now func() time.Time
}

// Membership is what the node needs from the membership layer: liveness of
// members (with their metadata), the replicated ring ledger, and a signal
// when either changes. gossip.Gossip implements it.
type Membership interface {
	Members() []gossip.Member
	Ledger() []gossip.Entry
	SetEntry(e gossip.Entry) error
	// Changes receives a value after any change of Members or Ledger.
	Changes() <-chan struct{}
	UpdateMeta(meta []byte, timeout time.Duration) error
	Leave(timeout time.Duration) error
	Shutdown() error
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		N:              3,
		R:              2,
		W:              2,
		Partitions:     1024,
		ReplicaTimeout: 2 * time.Second,
	}
}

func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.N == 0 {
		c.N = d.N
	}
	if c.R == 0 {
		c.R = d.R
	}
	if c.W == 0 {
		c.W = d.W
	}
	if c.Partitions == 0 {
		c.Partitions = d.Partitions
	}
	if c.ReplicaTimeout == 0 {
		c.ReplicaTimeout = d.ReplicaTimeout
	}
	if c.JoinSettle == 0 {
		c.JoinSettle = defaultJoinSettle
	}
	if c.DropDelay == 0 {
		c.DropDelay = defaultDropDelay
	}
	if c.ReadSpeculation == 0 {
		c.ReadSpeculation = 50 * time.Millisecond
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = log.New(log.Writer(), c.Name+": ", log.LstdFlags)
	}
	return c
}

// Validate reports every problem with c.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	check := func(bad bool, format string, args ...any) {
		if bad {
			errs = append(errs, fmt.Errorf("node: "+format, args...))
		}
	}
	check(c.Name == "" || len(c.Name) > 128, "Name must have 1 to 128 bytes")
	check(c.DataDir == "", "DataDir is required")
	check(c.N < 1 || c.N > 16, "N %d out of range [1, 16]", c.N)
	check(c.R < 1 || c.R > c.N, "R %d out of range [1, N=%d]", c.R, c.N)
	check(c.W < 1 || c.W > c.N, "W %d out of range [1, N=%d]", c.W, c.N)
	check(c.Partitions < 1 || c.Partitions > 1<<16, "Partitions %d out of range [1, 65536]", c.Partitions)
	check(len(c.Secret) == 0 && !c.Insecure, "a cluster secret is required (or Insecure for tests)")
	check(c.ReplicaTimeout < 0, "ReplicaTimeout is negative")
	grace := c.Storage.TombstoneGrace
	if grace == 0 {
		grace = storage.DefaultTombstoneGrace
	}
	hintAge := c.Hints.MaxAge
	if hintAge == 0 {
		hintAge = hintedhandoff.DefaultConfig().MaxAge
	}
	// A hint replayed after its tombstone's grace could bring a delete back.
	check(!c.DisableHintedHandoff && hintAge >= grace, "Hints.MaxAge %v must be shorter than the tombstone grace period %v", hintAge, grace)
	return errors.Join(errs...)
}

// Node is a running kvstore node. Its methods are safe for concurrent use.
type Node struct {
	cfg     Config
	log     *log.Logger
	db      *storage.DB
	clock   *Clock
	tr      transport.Transport
	ownTr   bool // tr was created here and is closed by Close
	rpcAddr string
	members Membership
	rep     *replica
	hints   *hintedhandoff.Store // nil with hinted handoff disabled

	aeReplica *aeReplica             // serves peers: partitions this node replicates
	aeLocal   *aeReplica             // this node's side of its own exchanges: any partition
	aeServer  *antientropy.Server    // serves peers' exchanges and joins
	aeSched   *antientropy.Scheduler // nil with anti-entropy disabled
	aeScan    *antientropy.Pacer     // paces the record reads of tree builds

	// table is the read table and target the target table (see move.go);
	// they are the same table when no partition is moving.
	table  atomic.Pointer[ring.Table]
	target atomic.Pointer[ring.Table]
	mv     mover
	fresh  bool // the data directory was new: this start may be a join
	peers  atomic.Pointer[peerView]
	// writeQueues holds a *writeQueue per writeQueueKey (writebatch.go).
	writeQueues sync.Map

	httpSrv     *http.Server
	httpLn      net.Listener
	handlerOnce sync.Once
	handler     http.Handler

	metrics metrics

	// bg bounds background work (replica writes past the quorum, read
	// repair); Close cancels it and waits.
	bg       context.Context
	bgCancel context.CancelFunc
	wg       sync.WaitGroup

	closeOnce sync.Once
	closeErr  error

	left     chan struct{} // closed when the node has left the ring
	leftOnce sync.Once
}

// peer is what the node knows of a member.
type peer struct {
	name       string
	state      gossip.State
	ring       gossip.Status
	inLedger   bool
	rpc, http  string
	gossipAddr string
}

// up reports whether requests should be sent to the peer: alive or merely
// suspected.
func (p *peer) up() bool { return p.state == gossip.StateAlive || p.state == gossip.StateSuspect }

type peerView struct {
	byName map[string]*peer
}

// memberMeta is the metadata a node gossips about itself.
type memberMeta struct {
	RPC  string `json:"rpc"`
	HTTP string `json:"http"`
}

// Start opens the node's storage, starts RPC, joins the cluster and serves
// HTTP. The node is in the ring when Start returns.
func Start(cfg Config) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	n := &Node{cfg: cfg, log: cfg.Logger, clock: NewClock(cfg.Name, cfg.Now), left: make(chan struct{})}
	n.mv = mover{wake: make(chan struct{}, 1), catchUp: map[int]bool{}, lostSince: map[int]time.Time{}}
	n.bg, n.bgCancel = context.WithCancel(context.Background())
	ok := false
	defer func() {
		if !ok {
			n.shutdown(false)
		}
	}()

	grace := cfg.Storage.TombstoneGrace
	if grace == 0 {
		grace = storage.DefaultTombstoneGrace
	}
	fresh, err := n.checkAway(grace)
	if err != nil {
		return nil, err
	}
	n.fresh = fresh
	sopts := cfg.Storage
	sopts.ShardPrefixLen = partitionPrefixLen
	db, err := storage.Open(cfg.DataDir, sopts)
	if err != nil {
		return nil, err
	}
	n.db = db
	n.rep = &replica{db: db, clock: n.clock, parts: func(key []byte) int { return ring.PartitionOf(key, cfg.Partitions) },
		gens: make([]atomic.Uint64, cfg.Partitions)}

	// Everything ServeRPC reads exists before the listener starts.
	if err := n.openHints(); err != nil {
		return nil, err
	}
	if err := n.newAntiEntropy(); err != nil {
		return nil, err
	}

	n.tr = cfg.Transport
	if n.tr == nil {
		n.tr = transport.NewTCP(transport.Config{Name: cfg.Name, Secret: deriveKey(cfg.Secret, "rpc")})
		n.ownTr = true
	}
	addr, err := n.tr.Listen(cfg.RPCAddr, rpcServer{n})
	if err != nil {
		return nil, fmt.Errorf("node: listen for RPC on %s: %w", cfg.RPCAddr, err)
	}
	n.rpcAddr = advertised(addr.String(), cfg.AdvertiseHost)

	if cfg.HTTPAddr != "" {
		ln, err := net.Listen("tcp", cfg.HTTPAddr)
		if err != nil {
			return nil, fmt.Errorf("node: listen for HTTP on %s: %w", cfg.HTTPAddr, err)
		}
		n.httpLn = ln
	}
	meta, _ := json.Marshal(memberMeta{RPC: n.rpcAddr, HTTP: n.HTTPAddr()})
	if len(meta) > gossip.MaxMetaSize {
		return nil, fmt.Errorf("node: addresses too long to gossip: %s", meta)
	}

	n.members = cfg.Membership
	if n.members == nil {
		g, err := n.startGossip(meta)
		if err != nil {
			return nil, err
		}
		n.members = g
	} else if err := n.members.UpdateMeta(meta, time.Second); err != nil {
		return nil, err
	}
	if err := n.enterRing(); err != nil {
		return nil, err
	}
	n.refresh()
	if err := n.markAlive(); err != nil {
		return nil, err
	}
	n.wg.Add(1)
	go n.aliveLoop()
	if n.hints != nil {
		n.wg.Add(1)
		go n.hintLoop()
	}
	if n.aeSched != nil {
		if err := n.aeSched.Start(); err != nil {
			return nil, err
		}
	}
	n.wg.Add(2)
	go n.watchMembership()
	go n.moveLoop()
	if n.mv.leaving.Load() {
		n.wg.Add(1)
		go n.resumeLeave()
	}

	if n.httpLn != nil {
		n.httpSrv = &http.Server{
			Handler:           n.Handler(),
			ReadHeaderTimeout: 10 * time.Second,
			// A request body (at most HTTPConfig.MaxBodySize) must arrive
			// within a minute; responses (range streams) are not bounded.
			ReadTimeout: time.Minute,
			IdleTimeout: 2 * time.Minute,
		}
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			if err := n.httpSrv.Serve(n.httpLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
				n.log.Printf("http server: %v", err)
			}
		}()
	}
	ok = true
	return n, nil
}

// watchMembership rebuilds the ring table and peer view on every change.
func (n *Node) watchMembership() {
	defer n.wg.Done()
	ch := n.members.Changes()
	for {
		select {
		case <-n.bg.Done():
			return
		case <-ch:
			n.refresh()
		}
	}
}

// refresh rebuilds the peer view and, when ring membership changed, the
// ring table.
func (n *Node) refresh() {
	view := &peerView{byName: map[string]*peer{}}
	get := func(name string) *peer {
		p := view.byName[name]
		if p == nil {
			p = &peer{name: name, state: gossip.StateDead}
			view.byName[name] = p
		}
		return p
	}
	for _, m := range n.members.Members() {
		p := get(m.Name)
		p.state = m.State
		p.gossipAddr = m.Addr
		var meta memberMeta
		if json.Unmarshal(m.Meta, &meta) == nil {
			p.rpc, p.http = meta.RPC, meta.HTTP
		}
	}
	ledger := n.members.Ledger()
	readMembers, targetMembers := ringMembers(ledger, n.cfg.Name)
	for _, e := range ledger {
		p := get(e.Name)
		p.ring, p.inLedger = e.Status, true
	}
	self := get(n.cfg.Name)
	self.state, self.rpc, self.http = gossip.StateAlive, n.rpcAddr, n.HTTPAddr()
	n.peers.Store(view)

	read, changedRead := n.buildTable(n.table.Load(), readMembers)
	target := read
	if !equalStrings(readMembers, targetMembers) {
		target, _ = n.buildTable(n.target.Load(), targetMembers)
	}
	if read == nil || target == nil {
		return
	}
	if changedRead || target != n.target.Load() {
		// target first: a reader that sees the new read table must not pair
		// it with a stale target.
		n.target.Store(target)
		n.table.Store(read)
		n.metrics.ringChanges.Add(1)
		n.wakeMover()
	}
}

// buildTable returns old when it already has members (sorted), else a new
// table of them (old, logged, if the ring cannot be built); changed reports
// a new table.
func (n *Node) buildTable(old *ring.Table, members []string) (t *ring.Table, changed bool) {
	if old != nil && equalStrings(old.Members(), members) {
		return old, false
	}
	t, err := ring.Build(ring.Config{Partitions: n.cfg.Partitions, Replicas: n.cfg.N}, members)
	if err != nil {
		n.log.Printf("ring: %v", err)
		return old, false
	}
	return t, true
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// HTTPAddr returns the address clients reach the HTTP API at ("" if the
// node serves none).
func (n *Node) HTTPAddr() string {
	if n.httpLn == nil {
		return ""
	}
	return advertised(n.httpLn.Addr().String(), n.cfg.AdvertiseHost)
}

// advertised replaces an unspecified host in a listen address with the host
// others should use.
func advertised(addr, host string) string {
	h, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(h); h != "" && (ip == nil || !ip.IsUnspecified()) {
		return addr
	}
	if host == "" {
		host = defaultAdvertiseHost()
	}
	return net.JoinHostPort(host, port)
}

// defaultAdvertiseHost returns the first non-loopback IPv4 address of the
// machine, or 127.0.0.1.
func defaultAdvertiseHost() string {
	addrs, err := net.InterfaceAddrs()
	if err == nil {
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && !ipn.IP.IsLoopback() && ipn.IP.To4() != nil {
				return ipn.IP.String()
			}
		}
	}
	return "127.0.0.1"
}

// RPCAddr returns the address node-to-node RPC listens on.
func (n *Node) RPCAddr() string { return n.rpcAddr }

// Name returns the node's name.
func (n *Node) Name() string { return n.cfg.Name }

// Handler returns the node's HTTP handler: the client API, and operator
// actions under /admin/. It is built once, so its request metrics cover
// every request.
func (n *Node) Handler() http.Handler {
	n.handlerOnce.Do(func() {
		api, admin := NewHTTPHandler(n, n.cfg.HTTP), n.adminHandler()
		// No ServeMux in front of the API: it would clean paths, and keys
		// are paths.
		n.handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasPrefix(r.URL.Path, "/admin/") {
				admin.ServeHTTP(w, r)
				return
			}
			api.ServeHTTP(w, r)
		})
	})
	return n.handler
}

// DB returns the node's storage engine (tests inspect replicas through it).
func (n *Node) DB() *storage.DB { return n.db }

// ServeRPC serves a request from another node.
func (n *Node) ServeRPC(ctx context.Context, from string, req wire.Message) (wire.Message, error) {
	if resp, handled, err := n.serveAE(ctx, req); handled {
		return resp, err
	}
	switch m := req.(type) {
	case *wire.WriteRequest:
		if m.Hint != "" && m.Hint != n.cfg.Name {
			if n.hints == nil {
				return nil, fmt.Errorf("%w: hinted handoff is disabled on %s", ErrUnavailable, n.cfg.Name)
			}
			if err := n.keepHints(m.Hint, m.Records); err != nil {
				return nil, err
			}
			return &wire.WriteResponse{}, nil
		}
		if err := n.rep.apply(m.Records); err != nil {
			return nil, err
		}
		n.metrics.replicaWrites.Add(int64(len(m.Records)))
		n.metrics.replicaWriteRequests.Add(1)
		return &wire.WriteResponse{}, nil
	case *wire.ReadRequest:
		res, err := n.rep.read(m.Keys)
		if err != nil {
			return nil, err
		}
		return &wire.ReadResponse{Results: res}, nil
	case *wire.RangeRequest:
		if err := n.checkPartitions(m.Partitions); err != nil {
			return nil, err
		}
		recs, more, err := n.rep.scan(ctx, m.Partitions, m.Start, nilIfEmpty(m.End), m.Limit)
		if err != nil {
			return nil, err
		}
		return &wire.RangeResponse{Records: recs, More: more}, nil
	case *wire.Ping:
		return &wire.Pong{Name: n.cfg.Name}, nil
	}
	return nil, fmt.Errorf("%w: unexpected message %T", ErrBadRequest, req)
}

// rpcServer serves the node's peers: a read that memory answers is served
// inline, on the connection's reader; everything else in a goroutine.
type rpcServer struct{ n *Node }

func (s rpcServer) ServeRPC(ctx context.Context, from string, req wire.Message) (wire.Message, error) {
	return s.n.serveRemote(ctx, from, req)
}

// maxInlineReadKeys bounds the keys of a read served inline, so that the
// connection's other requests never wait long behind one.
const maxInlineReadKeys = 16

// ServeInline answers a read of a few keys that are all in memory; any
// other request, and a read that needs the disk or fails, goes to
// ServeRPC.
func (s rpcServer) ServeInline(ctx context.Context, from string, req wire.Message) (wire.Message, bool, error) {
	m, ok := req.(*wire.ReadRequest)
	if !ok || len(m.Keys) > maxInlineReadKeys {
		return nil, false, nil
	}
	res, err := s.n.rep.readCached(m.Keys)
	if err != nil {
		return nil, false, nil
	}
	return &wire.ReadResponse{Results: res}, true, nil
}

// serveRemote serves a peer's request, giving its errors the wire codes
// that tell the caller whether retrying elsewhere can help.
func (n *Node) serveRemote(ctx context.Context, from string, req wire.Message) (wire.Message, error) {
	resp, err := n.ServeRPC(ctx, from, req)
	switch {
	case err == nil:
		return resp, nil
	case errors.Is(err, ErrBadRequest):
		return nil, transport.NewError(wire.CodeBadRequest, "%v", err)
	case errors.Is(err, ErrTooLarge):
		return nil, transport.NewError(wire.CodeTooLarge, "%v", err)
	case errors.Is(err, storage.ErrClosed), errors.Is(err, ErrClosed):
		return nil, transport.NewError(wire.CodeUnavailable, "%v", err)
	}
	return nil, err
}

func nilIfEmpty(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

func (n *Node) checkPartitions(ps []int) error {
	if len(ps) > n.cfg.Partitions {
		return fmt.Errorf("%w: %d partitions requested", ErrBadRequest, len(ps))
	}
	for _, p := range ps {
		if p < 0 || p >= n.cfg.Partitions {
			return fmt.Errorf("%w: partition %d out of range", ErrBadRequest, p)
		}
	}
	return nil
}

// Close stops the node gracefully: HTTP stops accepting and finishes
// in-flight requests, peers are told the node is going down (it stays in the
// ring: a restart is not a leave), background work ends, and the engine
// flushes. Close is idempotent.
func (n *Node) Close() error {
	n.closeOnce.Do(func() { n.closeErr = n.shutdown(true) })
	return n.closeErr
}

func (n *Node) shutdown(graceful bool) error {
	var errs []error
	if n.httpSrv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := n.httpSrv.Shutdown(ctx); err != nil {
			errs = append(errs, err)
		}
		cancel()
	} else if n.httpLn != nil {
		n.httpLn.Close()
	}
	if n.members != nil {
		if graceful {
			if err := n.members.Leave(2 * time.Second); err != nil {
				n.log.Printf("gossip leave: %v", err)
			}
		}
		if err := n.members.Shutdown(); err != nil {
			errs = append(errs, err)
		}
	}
	if n.aeSched != nil {
		n.aeSched.Stop()
	}
	n.bgCancel()
	n.wg.Wait()
	if n.hints != nil {
		if err := n.hints.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if n.tr != nil && n.ownTr {
		if err := n.tr.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if n.db != nil {
		if err := n.db.Close(); err != nil {
			errs = append(errs, err)
		}
		if graceful {
			if err := n.markAlive(); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

var _ io.Closer = (*Node)(nil)

// LocalRecord returns this node's own stored record of key, without asking
// other replicas (operators and tests inspect a replica with it). It
// returns storage.ErrNotFound when the node holds no record.
func (n *Node) LocalRecord(key []byte) (storage.Record, error) {
	p := ring.PartitionOf(key, n.cfg.Partitions)
	return n.db.Get(storageKey(nil, p, key))
}
