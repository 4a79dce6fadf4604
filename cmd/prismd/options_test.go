package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestOptionsPrecedence(t *testing.T) {
	file := filepath.Join(t.TempDir(), "prismd.yaml")
	os.WriteFile(file, []byte("node-id: from-file\ngrpc-addr: 127.0.0.1:1\nhttp-addr: 127.0.0.1:2\nbootstrap-expect: 3\n"), 0o644)
	o, err := parseOptions([]string{"--config", file, "--grpc-addr", "127.0.0.1:9"},
		env(map[string]string{"PRISMD_HTTP_ADDR": "127.0.0.1:8", "PRISMD_NODE_ID": ""}))
	if err != nil {
		t.Fatal(err)
	}
	if o.grpcAddr != "127.0.0.1:9" || o.httpAddr != "127.0.0.1:8" || o.nodeID != "from-file" || o.bootstrapExpect != 3 {
		t.Fatalf("flag > env > file not honoured: %+v", o)
	}
	if o.dataDir != filepath.Join("data", "from-file") {
		t.Fatalf("default data dir %q", o.dataDir)
	}
}

func TestOptionsRejectUnknownAndBad(t *testing.T) {
	file := filepath.Join(t.TempDir(), "prismd.yaml")
	os.WriteFile(file, []byte("node-id: x\nbogus: 1\n"), 0o644)
	_, err := parseOptions([]string{"--config", file}, env(map[string]string{"PRISMD_BOOTSTRAP_EXPECT": "many"}))
	if err == nil || !strings.Contains(err.Error(), `unknown key "bogus"`) || !strings.Contains(err.Error(), "PRISMD_BOOTSTRAP_EXPECT") {
		t.Fatalf("want both problems reported, got %v", err)
	}
	if _, err := parseOptions([]string{"--no-such-flag"}, env(nil)); err == nil {
		t.Fatal("an unsupported flag must be an error")
	}
	if _, err := parseOptions([]string{"extra"}, env(nil)); err == nil {
		t.Fatal("a stray argument must be an error")
	}
}

func TestDevIsLoopbackOnly(t *testing.T) {
	o, err := parseOptions([]string{"--dev", "--grpc-addr", "0.0.0.0:7400"}, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := o.serverConfig(); err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Fatalf("--dev on a public address: %v", err)
	}
}
