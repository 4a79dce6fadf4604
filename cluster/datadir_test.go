package cluster_test

import (
	"os"
	"testing"

	"github.com/prism/controlplane/cluster"
	"github.com/prism/controlplane/internal/testcluster"
)

// The data dir is readable by its owner only, even when it existed
// with wider permissions.
func TestDataDirIsOwnerOnly(t *testing.T) {
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	c := testcluster.StartWith(t, 1, func(cc *cluster.Config) { cc.DataDir = dir })
	defer c.StopAll()
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o700 {
		t.Fatalf("data dir mode %v, want 0700", perm)
	}
}
