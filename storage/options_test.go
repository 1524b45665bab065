package storage

import (
	"strings"
	"testing"
	"time"
)

func TestOptionsValidate(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		want string // substring of the error; "" for valid options
	}{
		{"defaults", Options{}, ""},
		{"group commit window", Options{GroupCommitWindow: 2 * time.Millisecond}, ""},
		{"negative group commit window", Options{GroupCommitWindow: -time.Millisecond}, "GroupCommitWindow -1ms is negative"},
		{"negative sync interval", Options{Sync: SyncInterval, SyncInterval: -time.Second}, "SyncInterval -1s is negative"},
		{"too many shards", Options{Shards: maxShards + 1}, "Shards 257 out of range"},
		{"tiny memtable", Options{MemtableSize: 1 << 10}, "MemtableSize 1024 out of range"},
		{"unknown sync mode", Options{Sync: SyncNone + 1}, "unknown Sync mode"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.opts.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Validate() = %v, want nil", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("Validate() = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}
