package node_test

import (
	"testing"

	"kvstore/node"
)

func TestStatusRingSettled(t *testing.T) {
	members := func(rings ...string) []node.MemberStatus {
		var out []node.MemberStatus
		for _, r := range rings {
			out = append(out, node.MemberStatus{Ring: r})
		}
		return out
	}
	tests := []struct {
		name     string
		st       node.Status
		n        int
		expected bool
	}{
		{"settled", node.Status{Members: members("active", "active", "active"), RingSize: 3}, 3, true},
		{"table behind the ledger", node.Status{Members: members("active", "active", "active"), RingSize: 2}, 3, false},
		{"a member joining", node.Status{Members: members("active", "active", "active", "joining"), RingSize: 3}, 3, false},
		{"a member leaving", node.Status{Members: members("active", "active", "leaving"), RingSize: 3}, 2, false},
		{"left and removed members do not count", node.Status{Members: members("active", "active", "left", "removed", ""), RingSize: 2}, 2, true},
		{"fewer members", node.Status{Members: members("active", "active"), RingSize: 2}, 3, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.st.RingSettled(tt.n); got != tt.expected {
				t.Fatalf("RingSettled(%d) = %v, want %v", tt.n, got, tt.expected)
			}
		})
	}
}
