package node_test

import (
	"errors"
	"log"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"kvstore/hintedhandoff"
	"kvstore/node"
	"kvstore/node/nodetest"
	"kvstore/node/transport/memnet"
	"kvstore/storage"
)

// A node whose data is older than the tombstone grace period refuses to
// rejoin (its values could resurrect deletes the others purged) and says
// what to do; with its data moved away it starts empty.
func TestRefuseRejoinAfterGrace(t *testing.T) {
	dir := t.TempDir()
	net := memnet.New(1)
	hub := nodetest.NewHub()
	now := time.Now()
	var stopped []interface{ Close() error }
	start := func() (*node.Node, error) {
		tr := net.Transport("a")
		t.Cleanup(func() { tr.Close() })
		n, err := node.Start(node.Config{
			Name: "a", DataDir: dir, RPCAddr: "a", Insecure: true, N: 1, R: 1, W: 1, Partitions: 16,
			Transport: tr, Membership: hub.View("a"),
			Storage: storage.Options{TombstoneGrace: time.Hour},
			Hints:   hintedhandoff.Config{MaxAge: 30 * time.Minute},
			Logger:  log.New(discardWriter{}, "", 0),
			Now:     func() time.Time { return now },
		})
		if err != nil {
			tr.Close()
			return nil, err
		}
		stopped = append(stopped, tr)
		return n, nil
	}
	n, err := start()
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	closeAll(stopped)
	now = now.Add(30 * time.Minute)
	if n, err = start(); err != nil {
		t.Fatalf("restart within the grace period: %v", err)
	}
	n.Close()
	closeAll(stopped)

	now = now.Add(2 * time.Hour)
	if _, err := start(); !errors.Is(err, node.ErrAwayTooLong) {
		t.Fatalf("restart after the grace period: %v, want ErrAwayTooLong", err)
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	n, err = start()
	if err != nil {
		t.Fatalf("start on an emptied data directory: %v", err)
	}
	n.Close()
	b, err := os.ReadFile(filepath.Join(dir, "last-alive"))
	if err != nil {
		t.Fatal(err)
	}
	if ms, _ := strconv.ParseInt(string(b[:len(b)-1]), 10, 64); ms != now.UnixMilli() {
		t.Errorf("last-alive = %s, want %d", b, now.UnixMilli())
	}
}

func closeAll(cs []interface{ Close() error }) {
	for _, c := range cs {
		c.Close()
	}
}

type discardWriter struct{}

func (discardWriter) Write(p []byte) (int, error) { return len(p), nil }
