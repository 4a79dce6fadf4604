package main

import (
	"log/slog"
	"os"
	"path/filepath"
	"slices"
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

func writeConfig(t *testing.T, yaml string) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "prismd.yaml")
	if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}

// A YAML sequence for a list flag is that list, in both YAML styles; the
// comma string form still works.
func TestConfigListIsList(t *testing.T) {
	want := []string{"a:7600", "b:7600"}
	for _, y := range []string{
		"join: [a:7600, b:7600]\n",
		"join:\n  - a:7600\n  - b:7600\n",
		"join: a:7600,b:7600\n",
	} {
		o, err := parseOptions([]string{"--config", writeConfig(t, y), "--node-id", "n1"}, env(nil))
		if err != nil {
			t.Fatalf("%q: %v", y, err)
		}
		cfg, err := o.serverConfig()
		if err != nil {
			t.Fatalf("%q: %v", y, err)
		}
		if !slices.Equal(cfg.Cluster.Join, want) {
			t.Fatalf("%q: join %q, want %q", y, cfg.Cluster.Join, want)
		}
	}
}

// A sequence or mapping for a scalar setting, or a list item that is itself
// a list, is an error naming the key.
func TestConfigRejectsNonScalars(t *testing.T) {
	for _, c := range []struct{ yaml, want string }{
		{"node-id: [a, b]\n", "node-id: a list is not a value of this setting"},
		{"grpc-addr: {host: x}\n", "grpc-addr: a mapping is not a value of this setting"},
		{"voters:\n", "voters: no value"},
		{"join: [[a:1, b:1]]\n", "join: item 0: a list is not a value"},
		{"join: [\"a:1,b:1\"]\n", "join: item 0 \"a:1,b:1\": an item holds no comma"},
	} {
		_, err := parseOptions([]string{"--config", writeConfig(t, c.yaml)}, env(nil))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Fatalf("%q: got %v, want an error containing %q", c.yaml, err, c.want)
		}
	}
}

// An invalid log level or format is an error wherever it comes from.
func TestLogLevelAndFormatChecked(t *testing.T) {
	if _, err := parseOptions([]string{"--log-level", "verbose"}, env(nil)); err == nil || !strings.Contains(err.Error(), `--log-level "verbose"`) {
		t.Fatalf("--log-level verbose: %v", err)
	}
	if _, err := parseOptions(nil, env(map[string]string{"PRISMD_LOG_LEVEL": "loud"})); err == nil || !strings.Contains(err.Error(), `--log-level "loud"`) {
		t.Fatalf("PRISMD_LOG_LEVEL=loud: %v", err)
	}
	if _, err := parseOptions([]string{"--config", writeConfig(t, "log-format: xml\n")}, env(nil)); err == nil || !strings.Contains(err.Error(), `--log-format "xml"`) {
		t.Fatalf("log-format: xml: %v", err)
	}
	o, err := parseOptions([]string{"--log-level", "warn"}, env(nil))
	if err != nil || o.level != slog.LevelWarn {
		t.Fatalf("--log-level warn: level %v, err %v", o.level, err)
	}
}
