package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/prism/controlplane/internal/tlsutil"
)

func TestTLSCreate(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		code int
	}{
		{[]string{"tls", "ca", "create", "--dir", dir, "--cluster-name", "west"}, 0},
		{[]string{"tls", "ca", "create", "--dir", dir}, classConflict.exitCode()}, // never overwrites
		{[]string{"tls", "ca", "create", "--dir", t.TempDir(), "--cluster-name", "West!"}, classUsage.exitCode()},
		{[]string{"tls", "cert", "create", "--node", "node1", "--host", "10.0.0.1,prism-1", "--dir", dir}, 0},
		{[]string{"tls", "cert", "create", "--shard", "s1", "--dir", dir, "-o", "json"}, 0},
		{[]string{"tls", "cert", "create", "--client", "team/payments", "--dir", dir}, 0},
		{[]string{"tls", "cert", "create", "--client", "alice", "--dir", dir}, 0},
		{[]string{"tls", "cert", "create", "--client", "alice", "--dir", dir}, classConflict.exitCode()},
		{[]string{"tls", "cert", "create", "--client", "node/n2", "--dir", dir}, classUsage.exitCode()},
		{[]string{"tls", "cert", "create", "--client", "robot/r", "--dir", dir}, classUsage.exitCode()},
		{[]string{"tls", "cert", "create", "--node", "n2", "--shard", "s2", "--dir", dir}, classUsage.exitCode()},
		{[]string{"tls", "cert", "create", "--dir", dir}, classUsage.exitCode()},
		{[]string{"tls", "cert", "create", "--shard", "s2", "--host", "h", "--dir", dir}, classUsage.exitCode()},
		{[]string{"tls", "cert", "create", "--node", "n/2", "--dir", dir}, classUsage.exitCode()},
		{[]string{"tls", "cert", "create", "--node", "n2", "--dir", t.TempDir()}, classInvalid.exitCode()}, // no CA there
	} {
		if got := run(tc.args); got != tc.code {
			t.Errorf("prismctl %v: exit %d, want %d", tc.args, got, tc.code)
		}
	}
	ca, err := tlsutil.LoadCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	for stem, kind := range map[string]tlsutil.Kind{"node-node1": tlsutil.KindNode, "shard-s1": tlsutil.KindShard, "team-payments": tlsutil.KindTeam, "user-alice": tlsutil.KindUser} {
		src, err := tlsutil.NewSource(tlsutil.SourceConfig{Files: tlsutil.Files{
			CA: filepath.Join(dir, tlsutil.CACertFile), Cert: filepath.Join(dir, stem+".pem"), Key: filepath.Join(dir, stem+"-key.pem"),
		}, ClusterName: ca.ClusterName}, nil)
		if err != nil {
			t.Fatalf("%s: %v", stem, err)
		}
		if id := src.Identity(); id.Kind != kind || id.Cluster != "west" {
			t.Errorf("%s: identity %v", stem, id)
		}
		if fi, err := os.Stat(filepath.Join(dir, stem+"-key.pem")); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s key: %v %v", stem, fi.Mode(), err)
		}
	}
}
