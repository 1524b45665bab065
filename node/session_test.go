package node_test

import (
	"net/http/httptest"
	"testing"
	"time"

	"kvstore/client"
	"kvstore/node/nodetest"
)

// A client writes a key through n0, then again through n1, whose wall
// clock is 5 s behind and which has not seen the first write (a lagging
// replica). Last-writer-wins by version then keeps the first write, unless
// the client sends its session's causality token with the second: n1
// versions that write above the first, and the writes keep their order.
func TestSessionOrdersWritesAcrossSkewedClocks(t *testing.T) {
	c := nodetest.Start(t, nodetest.Options{Nodes: 3, DisableHints: true, DisableAntiEntropy: true,
		ClockSkew: []time.Duration{0, -5 * time.Second, 0}})
	srv0 := httptest.NewServer(c.Node(0).Handler())
	defer srv0.Close()
	srv1 := httptest.NewServer(c.Node(1).Handler())
	defer srv1.Close()
	c.Net.Block(c.Name(0), c.Name(1))

	tests := []struct {
		name   string
		shared bool // both clients share one session
		want   string
	}{
		{"separate sessions", false, "first"},
		{"one session", true, "second"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s *client.Session
			if tt.shared {
				s = client.NewSession()
			}
			c0, err := client.New(srv0.URL, client.Options{Session: s})
			if err != nil {
				t.Fatal(err)
			}
			defer c0.Close()
			c1, err := client.New(srv1.URL, client.Options{Session: s})
			if err != nil {
				t.Fatal(err)
			}
			defer c1.Close()
			key := []byte("key " + tt.name)
			r1, err := c0.Put(ctxT(t), key, []byte("first"), "quorum")
			if err != nil {
				t.Fatal(err)
			}
			r2, err := c1.Put(ctxT(t), key, []byte("second"), "quorum")
			if err != nil {
				t.Fatal(err)
			}
			if ordered := r2.Version > r1.Version; ordered != tt.shared {
				t.Fatalf("second write's version %d vs first %d: ordered %v, want %v", r2.Version, r1.Version, ordered, tt.shared)
			}
			got, _, err := c1.Get(ctxT(t), key, "quorum")
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Fatalf("read %q, want %q", got, tt.want)
			}
		})
	}
}
