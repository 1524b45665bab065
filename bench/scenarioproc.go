package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"kvstore/client"
)

// scenarioSecretFile is the cluster secret's file in the data directory.
const scenarioSecretFile = "cluster.secret"

// Timings of the cluster's management.
const (
	scenarioPollHTTP    = 20 * time.Millisecond  // GET /healthz while a node starts
	scenarioPollStatus  = 100 * time.Millisecond // GET /status while waiting for readiness
	scenarioPollTimeout = 2 * time.Second        // one poll
	scenarioKillWait    = 10 * time.Second       // a SIGKILLed process to be reaped
)

// scenarioCluster is the cluster of kvstore processes a scenario runs.
// It is used by one goroutine; each process has a goroutine that waits
// for its exit, which close waits for.
type scenarioCluster struct {
	cfg    *ScenarioConfig
	client *http.Client // for /healthz, /status and /admin; requests carry their own deadlines
	event  func(format string, args ...any)
	nodes  []*scenarioNode // by index; nil until added
}

// scenarioNode is one node: its addresses, and its current process.
type scenarioNode struct {
	name              string
	slot              int
	http, rpc, gossip string         // loopback host:port
	api               *client.Client // its HTTP API: /healthz and /status
	data, logPath     string
	proc              *scenarioProc // nil while it is not running
	member            bool          // it was ready once and has not left: a target of the load
	gone              bool          // it left the cluster
}

// scenarioProc is one process of a node.
type scenarioProc struct {
	cmd     *exec.Cmd
	started time.Time
	exited  chan struct{} // closed once the process exited and was reaped
	err     error         // cmd.Wait's result, once exited is closed
}

func (n *scenarioNode) pid() int {
	if n.proc == nil {
		return 0
	}
	return n.proc.cmd.Process.Pid
}

func newScenarioCluster(cfg *ScenarioConfig, tr *http.Transport, event func(string, ...any)) *scenarioCluster {
	return &scenarioCluster{cfg: cfg, client: &http.Client{Transport: tr}, event: event}
}

// node returns node i, which add created.
func (c *scenarioCluster) node(i int) *scenarioNode { return c.nodes[i] }

// add creates node i (not yet started) with its ports.
func (c *scenarioCluster) add(i int) error {
	for len(c.nodes) <= i {
		c.nodes = append(c.nodes, nil)
	}
	name := fmt.Sprintf("n%d", i+1)
	n := &scenarioNode{
		name:    name,
		slot:    i,
		data:    filepath.Join(c.cfg.DataDir, name),
		logPath: filepath.Join(c.cfg.DataDir, name+".log"),
	}
	if p := c.cfg.BasePort; p > 0 {
		p += 3 * i
		n.http, n.rpc, n.gossip = loopback(p), loopback(p+1), loopback(p+2)
	} else {
		ports, err := FreeLoopbackPorts(3)
		if err != nil {
			return fmt.Errorf("ports of %s: %w", name, err)
		}
		n.http, n.rpc, n.gossip = loopback(ports[0]), loopback(ports[1]), loopback(ports[2])
	}
	api, err := client.New(n.http, client.Options{HTTPClient: c.client, Timeout: scenarioPollTimeout})
	if err != nil {
		return err
	}
	n.api = api
	c.nodes[i] = n
	return nil
}

func loopback(port int) string { return fmt.Sprintf("127.0.0.1:%d", port) }

// FreeLoopbackPorts returns n distinct loopback ports that were free for
// TCP and UDP (gossip uses both) a moment ago, for the nodes of a local
// cluster. Where the kernel says which ports it picks for outgoing
// connections (Linux: ip_local_port_range), they are chosen at random
// below that range: no client connection can take a node's port between
// this check and the node binding it, nor while a killed node restarts.
// Elsewhere the kernel picks them.
func FreeLoopbackPorts(n int) ([]int, error) {
	var ports []int
	var closers []io.Closer
	defer func() {
		for _, c := range closers {
			c.Close()
		}
	}()
	low := ephemeralPortsStart()
	for tries := 0; len(ports) < n; tries++ {
		if tries > 100+10*n {
			return nil, errors.New("bench: no free loopback ports")
		}
		port := 0 // the kernel's choice
		if low > minLocalPort+n {
			port = minLocalPort + rand.IntN(low-minLocalPort)
		}
		ln, err := net.Listen("tcp", loopback(port))
		if err != nil {
			continue
		}
		closers = append(closers, ln)
		port = ln.Addr().(*net.TCPAddr).Port
		pc, err := net.ListenPacket("udp", loopback(port))
		if err != nil {
			continue
		}
		closers = append(closers, pc)
		ports = append(ports, port)
	}
	return ports, nil
}

// minLocalPort is the lowest port FreeLoopbackPorts picks itself: above
// the well-known and most registered services' ports.
const minLocalPort = 10000

// ephemeralPortsStart returns the first port of the range the kernel picks
// outgoing connections' ports from, or 0 if it cannot tell.
func ephemeralPortsStart() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0
	}
	var low, high int
	if _, err := fmt.Sscan(string(b), &low, &high); err != nil {
		return 0
	}
	return low
}

// targets returns the nodes the load sends requests to: every member,
// running or not.
func (c *scenarioCluster) targets() []scenarioTarget {
	var ts []scenarioTarget
	for _, n := range c.nodes {
		if n != nil && n.member {
			ts = append(ts, scenarioTarget{name: n.name, host: n.http, slot: n.slot})
		}
	}
	return ts
}

// live returns the nodes whose process runs and that have not left.
func (c *scenarioCluster) live() []*scenarioNode {
	var ns []*scenarioNode
	for _, n := range c.nodes {
		if n != nil && n.proc != nil && !n.gone {
			ns = append(ns, n)
		}
	}
	return ns
}

func (c *scenarioCluster) liveNames() []string {
	var names []string
	for _, n := range c.live() {
		names = append(names, n.name)
	}
	return names
}

// startAll adds and starts nodes 0 to n-1: the first, then the others
// joining it, and waits until the cluster is ready.
func (c *scenarioCluster) startAll(ctx context.Context, n int) error {
	for i := range n {
		if err := c.add(i); err != nil {
			return err
		}
	}
	t0 := time.Now()
	first := c.nodes[0]
	c.event("start %s (http %s, rpc %s, gossip %s)", first.name, first.http, first.rpc, first.gossip)
	if err := c.start(first, nil); err != nil {
		return err
	}
	if _, err := c.waitHTTP(ctx, first); err != nil {
		return err
	}
	for _, n := range c.nodes[1:] {
		c.event("start %s (http %s, rpc %s, gossip %s), joining %s", n.name, n.http, n.rpc, n.gossip, first.name)
		if err := c.start(n, []string{first.gossip}); err != nil {
			return err
		}
	}
	if err := c.waitReady(ctx); err != nil {
		return err
	}
	for _, n := range c.nodes {
		n.member = true
	}
	c.event("cluster ready in %s: %s", FormatDuration(time.Since(t0)), strings.Join(c.liveNames(), " "))
	return nil
}

// start starts a process for n, joining the given gossip addresses.
// Its output is appended to n's log.
func (c *scenarioCluster) start(n *scenarioNode, join []string) error {
	if n.proc != nil {
		return fmt.Errorf("%s is already running (pid %d)", n.name, n.pid())
	}
	args := []string{"serve", "-node", n.name, "-data", n.data,
		"-http", n.http, "-rpc", n.rpc, "-gossip", n.gossip, "-advertise", "127.0.0.1",
		"-secret-file", filepath.Join(c.cfg.DataDir, scenarioSecretFile), "-sync", "always"}
	if len(join) > 0 {
		args = append(args, "-join", strings.Join(join, ","))
	}
	logf, err := os.OpenFile(n.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("%s: %w", n.name, err)
	}
	defer logf.Close() // the child has its own descriptor
	fmt.Fprintf(logf, "=== %s: %s %s\n", time.Now().Format(time.RFC3339Nano), c.cfg.Binary, strings.Join(args, " "))
	cmd := exec.Command(c.cfg.Binary, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = scenarioProcAttr()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", n.name, err)
	}
	p := &scenarioProc{cmd: cmd, started: time.Now(), exited: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.exited)
	}()
	n.proc = p
	return nil
}

// joinAddrs returns the gossip addresses of the live nodes other than n.
func (c *scenarioCluster) joinAddrs(n *scenarioNode) []string {
	var addrs []string
	for _, m := range c.live() {
		if m != n {
			addrs = append(addrs, m.gossip)
		}
	}
	return addrs
}

// restart starts n (again, or for the first time: a join), waits until it
// serves HTTP, makes it a member and calls onHTTP (if not nil), then
// waits until the cluster is ready. It returns both times since the
// process started.
func (c *scenarioCluster) restart(ctx context.Context, n *scenarioNode, onHTTP func()) (httpUp, ready time.Duration, err error) {
	if err := c.start(n, c.joinAddrs(n)); err != nil {
		return 0, 0, err
	}
	started := n.proc.started
	if httpUp, err = c.waitHTTP(ctx, n); err != nil {
		return httpUp, 0, err
	}
	n.member = true
	if onHTTP != nil {
		onHTTP()
	}
	if err := c.waitReady(ctx); err != nil {
		return httpUp, time.Since(started), err
	}
	return httpUp, time.Since(started), nil
}

// stop sends sig to n's process and waits for it to exit (killing it
// after ReadyTimeout). It returns the time to the exit and the exit
// status.
func (c *scenarioCluster) stop(n *scenarioNode, sig os.Signal) (time.Duration, string, error) {
	p := n.proc
	if p == nil {
		return 0, "", fmt.Errorf("%s is not running", n.name)
	}
	t0 := time.Now()
	if err := p.cmd.Process.Signal(sig); err != nil {
		return 0, "", fmt.Errorf("signal %s: %w", n.name, err)
	}
	timer := time.NewTimer(c.cfg.ReadyTimeout)
	defer timer.Stop()
	select {
	case <-p.exited:
	case <-timer.C:
		c.kill(n)
		return time.Since(t0), exitStatus(p), fmt.Errorf("%s did not exit within %v of %v; killed%s", n.name, c.cfg.ReadyTimeout, sig, logTail(n.logPath))
	}
	n.proc = nil
	return time.Since(t0), exitStatus(p), nil
}

// kill SIGKILLs n's process, if any, and waits for it to be reaped.
func (c *scenarioCluster) kill(n *scenarioNode) {
	p := n.proc
	if p == nil {
		return
	}
	p.cmd.Process.Kill()
	select {
	case <-p.exited:
	case <-time.After(scenarioKillWait):
	}
	n.proc = nil
}

// checkExits reports the live nodes whose process exited on its own, and
// forgets those processes.
func (c *scenarioCluster) checkExits() error {
	var errs []error
	for _, n := range c.live() {
		select {
		case <-n.proc.exited:
			errs = append(errs, exitedErr(n, n.proc))
			n.proc = nil
		default:
		}
	}
	return errors.Join(errs...)
}

// close kills every process still running.
func (c *scenarioCluster) close() {
	for _, n := range c.nodes {
		if n != nil {
			c.kill(n)
		}
	}
}

// exitStatus describes how p exited.
func exitStatus(p *scenarioProc) string {
	select {
	case <-p.exited:
	default:
		return "running"
	}
	if p.err == nil {
		return "exit status 0"
	}
	var ee *exec.ExitError
	if errors.As(p.err, &ee) {
		return ee.ProcessState.String()
	}
	return p.err.Error()
}

// exitedErr is the error of a node whose process exited while it was
// expected to run.
func exitedErr(n *scenarioNode, p *scenarioProc) error {
	return fmt.Errorf("%s exited (%s)%s", n.name, exitStatus(p), logTail(n.logPath))
}

// waitHTTP waits until n answers GET /healthz with 200, and returns the
// time since its process started.
func (c *scenarioCluster) waitHTTP(ctx context.Context, n *scenarioNode) (time.Duration, error) {
	p := n.proc
	deadline := time.Now().Add(c.cfg.ReadyTimeout)
	for {
		if n.api.Health(ctx) == nil {
			return time.Since(p.started), nil
		}
		select {
		case <-p.exited:
			return time.Since(p.started), exitedErr(n, p)
		default:
		}
		if time.Now().After(deadline) {
			return time.Since(p.started), fmt.Errorf("%s did not serve HTTP within %v%s", n.name, c.cfg.ReadyTimeout, logTail(n.logPath))
		}
		if err := sleepCtx(ctx, scenarioPollHTTP); err != nil {
			return time.Since(p.started), err
		}
	}
}

// waitReady waits until every live node's /status shows the same ring:
// the live nodes, each "active" in the ring and "alive".
func (c *scenarioCluster) waitReady(ctx context.Context) error {
	deadline := time.Now().Add(c.cfg.ReadyTimeout)
	why := ""
	for {
		live := c.live()
		names := make([]string, len(live))
		views := make(map[string]*client.Status, len(live))
		for i, n := range live {
			names[i] = n.name
			select {
			case <-n.proc.exited:
				return exitedErr(n, n.proc)
			default:
			}
			st, err := n.api.Status(ctx)
			if err != nil {
				why = fmt.Sprintf("%s: %v", n.name, err)
				continue
			}
			views[n.name] = st
		}
		ok, reason := clusterReady(names, views)
		if ok {
			return nil
		}
		if reason != "" {
			why = reason
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the cluster was not ready within %v: %s", c.cfg.ReadyTimeout, why)
		}
		if err := sleepCtx(ctx, scenarioPollStatus); err != nil {
			return err
		}
	}
}

// clusterReady reports whether the views (by node name) show a ready
// cluster of exactly the expected nodes: every expected node has a view,
// and in each the ring members (joining, active or leaving) are the
// expected nodes, each "active" and "alive", and the node places keys with
// a ring of them. If not, it says why.
func clusterReady(expected []string, views map[string]*client.Status) (bool, string) {
	for _, name := range expected {
		st := views[name]
		if st == nil {
			return false, name + ": no status"
		}
		for _, want := range expected {
			i := slices.IndexFunc(st.Members, func(m client.Member) bool { return m.Name == want })
			if i < 0 {
				return false, fmt.Sprintf("%s does not see %s", name, want)
			}
			if m := st.Members[i]; m.Ring != "active" || m.State != "alive" {
				return false, fmt.Sprintf("%s sees %s %s in the ring, %s", name, want, orNone(m.Ring), orNone(m.State))
			}
		}
		for _, m := range st.Members {
			switch m.Ring {
			case "joining", "active", "leaving":
				if !slices.Contains(expected, m.Name) {
					return false, fmt.Sprintf("%s still has %s in the ring (%s, %s)", name, m.Name, m.Ring, orNone(m.State))
				}
			}
		}
		if st.RingSize != len(expected) {
			// The ledger is settled but the node still places keys with
			// the table it had before.
			return false, fmt.Sprintf("%s places keys with a ring of %d members", name, st.RingSize)
		}
	}
	return true, ""
}

func orNone(s string) string {
	if s == "" {
		return `""`
	}
	return s
}

// leave makes n leave the ring (POST /admin/leave) and waits for its
// process to exit, as it does once it has left. It returns the answer,
// the time the leave took, the time from the answer to the exit and the
// exit status.
func (c *scenarioCluster) leave(ctx context.Context, n *scenarioNode) (answer string, left, exited time.Duration, status string, err error) {
	p := n.proc
	if p == nil {
		return "", 0, 0, "", fmt.Errorf("%s is not running", n.name)
	}
	t0 := time.Now()
	rctx, cancel := context.WithTimeout(ctx, c.cfg.ReadyTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, "http://"+n.http+"/admin/leave", nil)
	if err != nil {
		return "", 0, 0, "", err
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return "", time.Since(t0), 0, "", fmt.Errorf("leave %s: %w", n.name, err)
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	left = time.Since(t0)
	answer = string(bytes.TrimSpace(body))
	if resp.StatusCode != http.StatusOK {
		return answer, left, 0, "", fmt.Errorf("leave %s: HTTP %d: %s", n.name, resp.StatusCode, answer)
	}
	t1 := time.Now()
	timer := time.NewTimer(c.cfg.ReadyTimeout)
	defer timer.Stop()
	select {
	case <-p.exited:
	case <-timer.C:
		c.kill(n)
		return answer, left, time.Since(t1), exitStatus(p), fmt.Errorf("%s did not exit within %v of leaving; killed%s", n.name, c.cfg.ReadyTimeout, logTail(n.logPath))
	case <-ctx.Done():
		return answer, left, time.Since(t1), "", ctx.Err()
	}
	n.proc, n.gone, n.member = nil, true, false
	return answer, left, time.Since(t1), exitStatus(p), nil
}

// drainHints waits until every live node reports no pending hints,
// bounded by ReadyTimeout.
func (c *scenarioCluster) drainHints(ctx context.Context) ScenarioHints {
	deadline := time.Now().Add(c.cfg.ReadyTimeout)
	for {
		h := ScenarioHints{Drained: true}
		for _, n := range c.live() {
			st, err := n.api.Status(ctx)
			if err != nil {
				h.Drained = false
				continue
			}
			if st.Hints.Pending > 0 {
				h.Drained = false
				h.Pending += st.Hints.Pending
				if h.ByNode == nil {
					h.ByNode = make(map[string]int64)
				}
				h.ByNode[n.name] = st.Hints.Pending
			}
		}
		if h.Drained || time.Now().After(deadline) || sleepCtx(ctx, scenarioPollStatus) != nil {
			return h
		}
	}
}

// logTail returns the last lines of a node's log, indented, after a
// newline; "" if there are none.
func logTail(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	const tail = 2048
	if fi, err := f.Stat(); err == nil && fi.Size() > tail {
		f.Seek(fi.Size()-tail, io.SeekStart)
	}
	b, _ := io.ReadAll(f)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > 1 && len(b) == tail {
		lines = lines[1:] // the first may be cut
	}
	if len(lines) > 8 {
		lines = lines[len(lines)-8:]
	}
	if len(lines) == 0 || (len(lines) == 1 && lines[0] == "") {
		return ""
	}
	return "\n    " + path + ":\n      " + strings.Join(lines, "\n      ")
}
