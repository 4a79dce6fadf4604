package main

import (
	"strings"
	"testing"
)

func TestLimitFlags(t *testing.T) {
	o, err := parseOptions([]string{"--max-watches-per-stream", "5", "--node-id", "a"},
		env(map[string]string{"PRISMD_MAX_SNAPSHOT_BYTES": "2097152"}))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := o.serverConfig()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.RPC.MaxWatchesPerStream != 5 || cfg.RPC.MaxSnapshotBytes != 2<<20 || cfg.RPC.MaxConcurrentStreams != 256 {
		t.Fatalf("limits not taken from flag, env and defaults: %+v", cfg.RPC)
	}
	o, err = parseOptions([]string{"--max-watches-per-stream", "0", "--max-recv-msg-bytes", "10", "--node-id", "a"}, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := o.serverConfig(); err == nil || !strings.Contains(err.Error(), "watches per stream") || !strings.Contains(err.Error(), "message size") {
		t.Fatalf("want both bad limits reported, got %v", err)
	}
}
