package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"time"

	"kvstore/client"
)

// The client subcommands talk to a running node over its HTTP API:
//
//	kvstore put    [-addr URL] [-w LEVEL] KEY VALUE
//	kvstore get    [-addr URL] [-r LEVEL] [-n] KEY
//	kvstore delete [-addr URL] [-w LEVEL] KEY
//	kvstore range  [-addr URL] [-r LEVEL] [-limit N] START END
//	kvstore status [-addr URL]
//
// Flags may also follow the arguments; "--" ends the flags, for keys and
// values that start with "-". Exit status: 0 success, 1 the operation
// failed (including a key not found), 2 bad usage.

const defaultClientAddr = "http://127.0.0.1:8080"

// clientCmd is what every client subcommand parses.
type clientCmd struct {
	name    string
	fs      *flag.FlagSet
	addr    *string
	timeout *time.Duration
	stderr  io.Writer
}

func newClientCmd(name, argsUsage string, stderr io.Writer) *clientCmd {
	fs := flag.NewFlagSet("kvstore "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	c := &clientCmd{name: name, fs: fs, stderr: stderr}
	c.addr = fs.String("addr", defaultClientAddr, "HTTP address of any node")
	c.timeout = fs.Duration("timeout", 10*time.Second, "timeout of each request")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: kvstore %s [flags] %s\n\nflags:\n", name, argsUsage)
		fs.PrintDefaults()
	}
	return c
}

// levelFlag adds the consistency flag name (w or r).
func (c *clientCmd) levelFlag(name, what string) *string {
	return c.fs.String(name, "", what+" consistency: one, quorum, all or a number (default: the node's)")
}

// parse parses args, flags anywhere, and checks there are nargs
// positional arguments.
func (c *clientCmd) parse(args []string, nargs int) ([]string, bool) {
	var pos []string
	for {
		if err := c.fs.Parse(args); err != nil {
			return nil, false
		}
		rest := c.fs.Args()
		consumed := len(args) - len(rest)
		if consumed > 0 && args[consumed-1] == "--" {
			pos = append(pos, rest...)
			break
		}
		if len(rest) == 0 {
			break
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
	if len(pos) != nargs {
		fmt.Fprintf(c.stderr, "kvstore %s: want %d arguments, got %d\n", c.name, nargs, len(pos))
		c.fs.Usage()
		return nil, false
	}
	return pos, true
}

// client returns a client of -addr and a context cancelled on interrupt.
func (c *clientCmd) client() (*client.Client, context.Context, func(), bool) {
	cl, err := client.New(*c.addr, client.Options{Timeout: *c.timeout})
	if err != nil {
		c.fail(err)
		return nil, nil, nil, false
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	return cl, ctx, func() { stop(); cl.Close() }, true
}

func (c *clientCmd) fail(err error) int {
	fmt.Fprintf(c.stderr, "kvstore %s: %v\n", c.name, err)
	return 1
}

func runPut(args []string, stdout, stderr io.Writer) int {
	c := newClientCmd("put", "KEY VALUE", stderr)
	w := c.levelFlag("w", "write")
	verbose := c.fs.Bool("v", false, "print the version and acknowledgements to stderr")
	pos, ok := c.parse(args, 2)
	if !ok {
		return 2
	}
	cl, ctx, done, ok := c.client()
	if !ok {
		return 1
	}
	defer done()
	res, err := cl.Put(ctx, []byte(pos[0]), []byte(pos[1]), *w)
	if err != nil {
		return c.fail(err)
	}
	if *verbose {
		fmt.Fprintf(stderr, "version %d, %d of %d replicas required\n", res.Version, res.Replicas, res.Required)
	}
	return 0
}

func runGet(args []string, stdout, stderr io.Writer) int {
	c := newClientCmd("get", "KEY", stderr)
	r := c.levelFlag("r", "read")
	noNewline := c.fs.Bool("n", false, "do not print a newline after the value")
	verbose := c.fs.Bool("v", false, "print the version, answers and read repair to stderr")
	pos, ok := c.parse(args, 1)
	if !ok {
		return 2
	}
	cl, ctx, done, ok := c.client()
	if !ok {
		return 1
	}
	defer done()
	value, res, err := cl.Get(ctx, []byte(pos[0]), *r)
	if errors.Is(err, client.ErrNotFound) {
		fmt.Fprintf(stderr, "kvstore get: %q not found\n", pos[0])
		return 1
	}
	if err != nil {
		return c.fail(err)
	}
	if !*noNewline {
		value = append(value, '\n')
	}
	if _, err := stdout.Write(value); err != nil {
		return c.fail(err)
	}
	if *verbose {
		fmt.Fprintf(stderr, "version %d, %d of %d replicas required, read repair %v\n", res.Version, res.Replicas, res.Required, res.ReadRepair)
	}
	return 0
}

func runDelete(args []string, stdout, stderr io.Writer) int {
	c := newClientCmd("delete", "KEY", stderr)
	w := c.levelFlag("w", "write")
	pos, ok := c.parse(args, 1)
	if !ok {
		return 2
	}
	cl, ctx, done, ok := c.client()
	if !ok {
		return 1
	}
	defer done()
	if _, err := cl.Delete(ctx, []byte(pos[0]), *w); err != nil {
		return c.fail(err)
	}
	return 0
}

func runRange(args []string, stdout, stderr io.Writer) int {
	c := newClientCmd("range", "START END   (both inclusive; \"\" for unbounded)", stderr)
	r := c.levelFlag("r", "read")
	limit := c.fs.Int("limit", 0, "records per page (0: the node's maximum)")
	pos, ok := c.parse(args, 2)
	if !ok {
		return 2
	}
	cl, ctx, done, ok := c.client()
	if !ok {
		return 1
	}
	defer done()
	bw := bufio.NewWriter(stdout)
	cursor := ""
	for {
		recs, next, err := cl.Range(ctx, []byte(pos[0]), []byte(pos[1]), *limit, cursor, *r)
		for _, kv := range recs {
			bw.Write(kv.Key)
			bw.WriteByte('\t')
			bw.Write(kv.Value)
			bw.WriteByte('\n')
		}
		if err != nil {
			bw.Flush()
			return c.fail(err)
		}
		if next == "" {
			break
		}
		cursor = next
	}
	if err := bw.Flush(); err != nil {
		return c.fail(err)
	}
	return 0
}

func runStatus(args []string, stdout, stderr io.Writer) int {
	c := newClientCmd("status", "", stderr)
	if _, ok := c.parse(args, 0); !ok {
		return 2
	}
	cl, ctx, done, ok := c.client()
	if !ok {
		return 1
	}
	defer done()
	st, err := cl.Status(ctx)
	if err != nil {
		return c.fail(err)
	}
	var b bytes.Buffer
	if err := json.Indent(&b, bytes.TrimSpace(st.Raw), "", "  "); err != nil {
		return c.fail(err)
	}
	b.WriteByte('\n')
	if _, err := stdout.Write(b.Bytes()); err != nil {
		return c.fail(err)
	}
	return 0
}
