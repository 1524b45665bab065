package gossiptest

import (
	"testing"
	"time"
)

// TestSendsNeverBlock checks that sending to a full or shut-down transport
// returns instead of waiting for the receiver.
func TestSendsNeverBlock(t *testing.T) {
	nw := NewNetwork()
	defer nw.Close()
	a, b := nw.Transport("a"), nw.Transport("b")
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 2 * packetBuffer { // nobody reads b: the excess is dropped
			if _, err := a.WriteTo([]byte("x"), "127.0.0.1:2"); err != nil {
				t.Error(err)
				return
			}
		}
		_ = b.Shutdown()
		for range 2 * packetBuffer {
			if _, err := a.WriteTo([]byte("x"), "127.0.0.1:2"); err != nil {
				t.Error(err)
				return
			}
		}
		if c, err := a.DialTimeout("127.0.0.1:2", time.Second); err == nil {
			buf := make([]byte, 1)
			if _, err := c.Read(buf); err == nil {
				t.Error("read from a stream to a dead transport succeeded")
			}
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("sends blocked")
	}
	if got := len(b.PacketCh()); got != packetBuffer {
		t.Errorf("b buffered %d packets, want %d", got, packetBuffer)
	}
}
