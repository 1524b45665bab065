package node

import (
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"net"
	"strconv"
	"time"

	"kvstore/gossip"
)

// deriveKey derives a purpose-specific key from the cluster secret, so the
// secret itself is never used directly and the gossip key and RPC secret
// are independent.
func deriveKey(secret []byte, purpose string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("kvstore " + purpose + " v1"))
	return m.Sum(nil)
}

// startGossip starts memberlist-based membership on cfg.GossipAddr and joins
// the seeds. When no seed answers, it keeps trying in the background: a
// cluster started all at once converges as its nodes come up.
func (n *Node) startGossip(meta []byte) (*gossip.Gossip, error) {
	gc := n.cfg.Gossip
	if gc.ProbeInterval == 0 {
		gc = gossip.DefaultConfig()
	}
	gc.Name = n.cfg.Name
	gc.Meta = meta
	if n.cfg.Insecure {
		gc.Insecure = true
	} else {
		gc.SecretKey = deriveKey(n.cfg.Secret, "gossip")
	}
	if n.cfg.GossipAddr != "" {
		host, port, err := net.SplitHostPort(n.cfg.GossipAddr)
		if err != nil {
			return nil, fmt.Errorf("node: gossip address %q: %w", n.cfg.GossipAddr, err)
		}
		p, err := strconv.Atoi(port)
		if err != nil {
			return nil, fmt.Errorf("node: gossip port %q: %w", port, err)
		}
		gc.BindAddr, gc.BindPort = host, p
		if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
			gc.BindAddr = "0.0.0.0"
			adv := n.cfg.AdvertiseHost
			if adv == "" {
				adv = defaultAdvertiseHost()
			}
			gc.AdvertiseAddr, gc.AdvertisePort = adv, p
		}
	}
	if gc.Logger == nil {
		gc.Logger = n.log
	}
	g, err := gossip.Start(gc)
	if err != nil {
		return nil, err
	}
	if len(n.cfg.Join) > 0 {
		if _, err := g.Join(n.cfg.Join); err != nil {
			n.log.Printf("join %v: %v; retrying in the background", n.cfg.Join, err)
			n.wg.Add(1)
			go n.retryJoin(g)
		}
	}
	return g, nil
}

func (n *Node) retryJoin(g *gossip.Gossip) {
	defer n.wg.Done()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-n.bg.Done():
			return
		case <-t.C:
			if _, err := g.Join(n.cfg.Join); err == nil {
				n.log.Printf("joined the cluster through %v", n.cfg.Join)
				return
			}
		}
	}
}
