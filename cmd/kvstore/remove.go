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
	if _, err := postAdmin(*addr, "/admin/remove?node="+url.QueryEscape(fs.Arg(0)), 10*time.Second); err != nil {
		fmt.Fprintln(stderr, "kvstore remove:", err)
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
	body, err := postAdmin(*addr, "/admin/leave", *timeout)
	if err != nil {
		fmt.Fprintln(stderr, "kvstore leave:", err)
		return 1
	}
	fmt.Fprintln(stdout, body)
	return 0
}

// postAdmin POSTs to an admin endpoint of the node at addr and returns the
// answer's body; a status other than 200 is an error carrying the body.
func postAdmin(addr, path string, timeout time.Duration) (string, error) {
	c := &http.Client{Timeout: timeout}
	resp, err := c.Post(strings.TrimRight(addr, "/")+path, "", nil)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	text := strings.TrimSpace(string(body))
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s: %s", resp.Status, text)
	}
	return text, nil
}
