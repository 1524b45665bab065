package node

import (
	"context"
	"path/filepath"
	"time"

	"kvstore/gossip"
	"kvstore/hintedhandoff"
	"kvstore/node/wire"
	"kvstore/storage"
)

// hintsDir is where a node keeps hints for other nodes, inside its data
// directory (the engine ignores directories it does not know).
const hintsDir = "hints"

func (n *Node) openHints() error {
	if n.cfg.DisableHintedHandoff {
		return nil
	}
	hc := n.cfg.Hints
	if hc.ReplayRate == 0 {
		hc = hintedhandoff.DefaultConfig()
	}
	if hc.Now == nil {
		hc.Now = n.cfg.Now
	}
	h, err := hintedhandoff.Open(filepath.Join(n.cfg.DataDir, hintsDir), hc, storage.Options{
		FS:           n.cfg.Storage.FS,
		Shards:       1,
		MemtableSize: 4 << 20,
		CacheSize:    4 << 20,
		Sync:         n.cfg.Storage.Sync,
	})
	if err != nil {
		return err
	}
	n.hints = h
	return nil
}

// keepHints stores records on this node as hints for target.
func (n *Node) keepHints(target string, recs []wire.Record) error {
	hs := make([]hintedhandoff.Record, len(recs))
	for i, r := range recs {
		hs[i] = hintedhandoff.Record{Key: r.Key, Value: r.Value, Version: r.Version, Tombstone: r.Tombstone}
		n.clock.Observe(storage.Version(r.Version))
	}
	err := n.hints.Add(target, hs)
	if err != nil {
		n.metrics.hintsRefused.Add(int64(len(recs)))
	}
	return err
}

// hintSender delivers hints to their target as ordinary replica writes.
type hintSender struct{ n *Node }

func (s hintSender) SendHints(ctx context.Context, target string, recs []hintedhandoff.Record) error {
	ws := make([]wire.Record, len(recs))
	for i, r := range recs {
		ws[i] = wire.Record{Key: r.Key, Value: r.Value, Version: r.Version, Tombstone: r.Tombstone}
	}
	rctx, cancel := context.WithTimeout(ctx, s.n.cfg.ReplicaTimeout)
	defer cancel()
	_, err := s.n.call(rctx, target, &wire.WriteRequest{Records: ws})
	return err
}

// hintLoop replays hints to their targets whenever gossip reports them up
// (checked on every membership change and every second), drops the hints
// of nodes that left the ring, and expires old hints.
func (n *Node) hintLoop() {
	defer n.wg.Done()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	lastExpire := time.Now()
	replaying := map[string]bool{}
	done := make(chan string)
	for {
		select {
		case <-n.bg.Done():
			for len(replaying) > 0 {
				delete(replaying, <-done)
			}
			return
		case target := <-done:
			delete(replaying, target)
			continue
		case <-tick.C:
		}
		if time.Since(lastExpire) > time.Minute {
			n.hints.Expire()
			lastExpire = time.Now()
		}
		view := n.peers.Load()
		for _, ts := range n.hints.Targets() {
			if ts.Count == 0 || replaying[ts.Name] {
				continue
			}
			p := view.byName[ts.Name]
			if p != nil && p.inLedger && (p.ring == gossip.Left || p.ring == gossip.Removed) {
				n.hints.Drop(ts.Name) // its data belongs to other nodes now
				continue
			}
			if p == nil || !p.up() || p.rpc == "" {
				continue
			}
			replaying[ts.Name] = true
			go func(target string) {
				sent, err := n.hints.Replay(n.bg, target, hintSender{n})
				n.metrics.hintsReplayed.Add(int64(sent))
				if err != nil && n.bg.Err() == nil {
					n.log.Printf("hint replay to %s: %d sent, stopped: %v", target, sent, err)
				}
				done <- target
			}(ts.Name)
		}
	}
}
