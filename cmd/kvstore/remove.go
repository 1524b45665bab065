package main

import (
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// runRemove asks a node to remove a failed member from the ring.
func runRemove(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("kvstore remove", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "http://127.0.0.1:8080", "HTTP address of any live node")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: kvstore remove [-addr URL] NODE\n\nRemoves a failed node from the ring; its partitions move to other nodes.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return 2
	}
	c := &http.Client{Timeout: 10 * time.Second}
	u := strings.TrimRight(*addr, "/") + "/admin/remove?node=" + url.QueryEscape(fs.Arg(0))
	resp, err := c.Post(u, "", nil)
	if err != nil {
		fmt.Fprintln(stderr, "kvstore remove:", err)
		return 1
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(stderr, "kvstore remove: %s: %s\n", resp.Status, strings.TrimSpace(string(body)))
		return 1
	}
	fmt.Fprintf(stdout, "removed %s\n", fs.Arg(0))
	return 0
}

// runLeave asks a node to leave the ring: it hands its partitions to their
// new owners, leaves, and its process stops.
func runLeave(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("kvstore leave", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "http://127.0.0.1:8080", "HTTP address of the node that leaves")
	timeout := fs.Duration("timeout", time.Hour, "how long the hand-off may take")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 0 {
		fmt.Fprintln(stderr, "usage: kvstore leave [-addr URL]")
		return 2
	}
	c := &http.Client{Timeout: *timeout}
	resp, err := c.Post(strings.TrimRight(*addr, "/")+"/admin/leave", "", nil)
	if err != nil {
		fmt.Fprintln(stderr, "kvstore leave:", err)
		return 1
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(stderr, "kvstore leave: %s: %s\n", resp.Status, strings.TrimSpace(string(body)))
		return 1
	}
	fmt.Fprintln(stdout, strings.TrimSpace(string(body)))
	return 0
}
