package main

import (
	"flag"
	"io"
	"testing"
)

// The sizing flags of "kvstore serve" reach the node's configuration.
func TestServeFlagsConfig(t *testing.T) {
	for _, tc := range []struct {
		args      []string
		cacheSize int64
		scanRate  int64
	}{
		{nil, 64 << 20, 32 << 20},
		{[]string{"-cache-mib", "512"}, 512 << 20, 32 << 20},
		{[]string{"-cache-mib", "0"}, -1, 32 << 20},
		{[]string{"-ae-scan-mib", "-1"}, 64 << 20, -1},
		{[]string{"-ae-scan-mib", "8"}, 64 << 20, 8 << 20},
	} {
		var f serveFlags
		fs := flag.NewFlagSet("serve", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		f.register(fs)
		if err := fs.Parse(append([]string{"-data", t.TempDir()}, tc.args...)); err != nil {
			t.Fatal(err)
		}
		cfg, err := f.config(io.Discard)
		if err != nil {
			t.Fatalf("%v: %v", tc.args, err)
		}
		if cfg.Storage.CacheSize != tc.cacheSize || cfg.AntiEntropy.ScanBytesPerSecond != tc.scanRate {
			t.Errorf("%v: cache %d, scan rate %d; want %d, %d", tc.args,
				cfg.Storage.CacheSize, cfg.AntiEntropy.ScanBytesPerSecond, tc.cacheSize, tc.scanRate)
		}
	}
}
