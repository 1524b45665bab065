package bench

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The ceiling is the throughput of the load generator against a bare
// net/http server that does no work, in its own process on the same
// machine: an upper bound for any HTTP service measured the same way, so
// a store's figure can be read as a fraction of what HTTP itself allows
// here.
//
// The ceiling server is a child process (StartCeiling) running
// CeilingServerMain. Its protocol on the pipes, in full:
//
//	stdout: one line, the address it listens on ("127.0.0.1:40123\n"),
//	        once it accepts connections; nothing else.
//	stdin:  nothing is read; end of file (the parent closed the pipe or
//	        died) makes the server close its listener and exit with 0.

// ErrCeilingStart is returned, wrapped, when the ceiling server process
// cannot be started or does not report its address.
var ErrCeilingStart = errors.New("bench: ceiling server did not start")

// ceilingStartTimeout bounds the wait for the ceiling server's address.
const ceilingStartTimeout = 10 * time.Second

// ceilingStopTimeout bounds the wait for the ceiling server to exit once
// its stdin is closed, before it is killed.
const ceilingStopTimeout = 5 * time.Second

// The bodies of range answers of the ceiling handler: an empty page of
// each API.
var (
	ceilingRangeNative   = []byte(`{"next":"","repair":false}` + "\n")
	ceilingRangeOriginal = []byte("[]")
)

// CeilingHandler returns the ceiling server's handler: it reads and
// discards the request body and answers 200, with an empty body to writes,
// valueSize bytes to point reads (any other GET), and an empty, complete
// range to GET /kv and GET /range. It is safe for concurrent use and
// allocates nothing of its own per request.
func CeilingHandler(valueSize int) http.Handler {
	value := make([]byte, max(valueSize, 0))
	for i := range value {
		value[i] = 'v'
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		if r.Method != http.MethodGet {
			return
		}
		switch r.URL.Path {
		case "/kv":
			w.Write(ceilingRangeNative)
		case "/range":
			w.Write(ceilingRangeOriginal)
		default:
			w.Write(value)
		}
	})
}

// ServeCeiling serves CeilingHandler(valueSize) on ln until ctx is done,
// then closes the server (and ln) and returns nil, or returns the error
// that stopped it earlier.
func ServeCeiling(ctx context.Context, ln net.Listener, valueSize int) error {
	srv := &http.Server{
		Handler:           CeilingHandler(valueSize),
		ReadHeaderTimeout: 10 * time.Second,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	srv.Close()
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// CeilingServerMain is the main function of the ceiling server process,
// with flags -addr (listen address, default 127.0.0.1:0) and -value-size
// (bytes of each read answer, default 100). It prints the address to
// stdout, then serves until ctx is done or, if stdin is not nil, stdin
// reaches end of file. It returns the process exit code: 0 after a clean
// stop, 1 on failure, 2 for bad flags.
//
// When stdin is not nil, a goroutine reads it until end of file; it
// outlives CeilingServerMain if the stop came from ctx (the process is
// about to exit then).
func CeilingServerMain(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ceiling server", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:0", "listen address")
	valueSize := fs.Int("value-size", 100, "bytes of each read answer")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 || *valueSize < 0 || *valueSize > maxValueSize {
		fmt.Fprintln(stderr, "ceiling server: unexpected arguments or bad -value-size")
		return 2
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(stderr, "ceiling server:", err)
		return 1
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if stdin != nil {
		go func() {
			io.Copy(io.Discard, stdin)
			cancel()
		}()
	}
	if _, err := fmt.Fprintln(stdout, ln.Addr().String()); err != nil {
		ln.Close()
		fmt.Fprintln(stderr, "ceiling server:", err)
		return 1
	}
	if err := ServeCeiling(ctx, ln, *valueSize); err != nil {
		fmt.Fprintln(stderr, "ceiling server:", err)
		return 1
	}
	return 0
}

// CeilingProcess is a running ceiling server child process. Close stops
// it; its methods are safe for concurrent use.
type CeilingProcess struct {
	// Addr is the host:port the server listens on.
	Addr string

	cmd     *exec.Cmd
	stdin   io.Closer
	drained chan struct{} // closed when the child's stdout is at EOF

	closeOnce sync.Once
	closed    chan struct{} // closed when Close has finished
	closeErr  error         // set before closed is closed
	cpu       time.Duration // user + system time of the exited child; set before closed is closed
}

// StartCeiling starts cmd, which must run CeilingServerMain (for kvstore,
// the hidden subcommand that calls it), and waits until it reports its
// address. cmd's Stdin and Stdout must be unset: StartCeiling connects
// them to pipes; the child exits when the parent closes its end of stdin
// (Close) or dies. ctx bounds the start only. Errors wrap ErrCeilingStart.
func StartCeiling(ctx context.Context, cmd *exec.Cmd) (*CeilingProcess, error) {
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCeilingStart, err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		stdin.Close()
		return nil, fmt.Errorf("%w: %v", ErrCeilingStart, err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCeilingStart, err)
	}
	p := &CeilingProcess{cmd: cmd, stdin: stdin, drained: make(chan struct{}), closed: make(chan struct{})}
	type line struct {
		s   string
		err error
	}
	first := make(chan line, 1)
	go func() {
		defer close(p.drained)
		br := bufio.NewReader(stdout)
		s, err := br.ReadString('\n')
		first <- line{s, err}
		io.Copy(io.Discard, br)
	}()
	timer := time.NewTimer(ceilingStartTimeout)
	defer timer.Stop()
	var l line
	select {
	case l = <-first:
	case <-ctx.Done():
		l.err = ctx.Err()
	case <-timer.C:
		l.err = fmt.Errorf("no address after %v", ceilingStartTimeout)
	}
	addr := strings.TrimSpace(l.s)
	if l.err == nil {
		if _, port, err := net.SplitHostPort(addr); err != nil {
			l.err = err
		} else if _, err := strconv.ParseUint(port, 10, 16); err != nil {
			l.err = fmt.Errorf("bad address %q", addr)
		}
	}
	if l.err != nil {
		p.Close()
		return nil, fmt.Errorf("%w: %v", ErrCeilingStart, l.err)
	}
	p.Addr = addr
	return p, nil
}

// Close stops the server: it closes the child's stdin, waits for it to
// exit (killing it if it has not after a few seconds) and returns the
// child's exit error, if any. Later calls return the same error.
func (p *CeilingProcess) Close() error {
	p.closeOnce.Do(func() {
		p.stdin.Close()
		timer := time.NewTimer(ceilingStopTimeout)
		defer timer.Stop()
		select {
		case <-p.drained:
		case <-timer.C:
			p.cmd.Process.Kill()
			<-p.drained
		}
		p.closeErr = p.cmd.Wait()
		if st := p.cmd.ProcessState; st != nil {
			p.cpu = st.UserTime() + st.SystemTime()
		}
		close(p.closed)
	})
	return p.closeErr
}

// CPU returns the CPU time (user and system) the server process used over
// its life, once Close has returned; 0 before, or where unknown.
func (p *CeilingProcess) CPU() time.Duration {
	select {
	case <-p.closed:
		return p.cpu
	default:
		return 0
	}
}

// RunCeiling measures the ceiling of cfg's workload: it starts the
// ceiling server with cmd (see StartCeiling; RunCeiling appends
// "-value-size N" to cmd.Args), runs cfg's workload against it (cfg.Targets
// and the load phase are ignored) with progress and the table printed to
// out, stops the server and returns the result, named "ceiling", with the
// server's CPU use. It returns an error for an invalid cfg, when the
// server cannot start, or with the result so far when ctx is done.
func RunCeiling(ctx context.Context, cfg LoadConfig, cmd *exec.Cmd, out io.Writer) (*LoadResult, error) {
	cfg.EnsureDefaults()
	cfg.Targets = []string{"127.0.0.1:1"} // replaced by the server's address
	cfg.Load = LoadPhaseOff
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cmd.Args = append(cmd.Args, "-value-size", strconv.Itoa(cfg.ValueSize))
	srv, err := StartCeiling(ctx, cmd)
	if err != nil {
		return nil, err
	}
	defer srv.Close()
	cfg.Targets = []string{"http://" + srv.Addr}
	r, err := newLoadRun(cfg, out)
	if err != nil {
		return nil, err
	}
	res := r.phase(ctx, "ceiling", false)
	r.tr.CloseIdleConnections()
	if err := srv.Close(); err != nil && ctx.Err() == nil {
		fmt.Fprintf(r.out, "ceiling server: %v\n", err)
	}
	if s := res.Elapsed.Seconds(); s > 0 {
		res.ServerCPUPercent = 100 * srv.CPU().Seconds() / s
	}
	fmt.Fprint(r.out, FormatLoadResult(res))
	return res, ctx.Err()
}
