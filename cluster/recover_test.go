package cluster_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prism/controlplane/cluster"
	"github.com/prism/controlplane/internal/testcluster"
	"github.com/prism/controlplane/rpc/rpcpb"
)

func TestRecoverSurvivorAfterQuorumLoss(t *testing.T) {
	c := testcluster.Start(t, 3)
	want := mustApply(t, c.Client(), spec("survives", 3))
	survivor := c.Follower()
	// As recover's runbook says: pick a survivor that has the write.
	c.WaitNamespace(survivor, "survives", 5*time.Second)
	for i := range c.Servers {
		c.Stop(i, false) // two are lost for good; the survivor is stopped to recover it
	}
	cfg := c.Config(survivor)
	peers := []cluster.Peer{{ID: cfg.Cluster.NodeID, Address: cfg.Cluster.RaftAddr}}
	b, _ := json.Marshal(peers)
	file := filepath.Join(t.TempDir(), "peers.json")
	if err := os.WriteFile(file, b, 0o644); err != nil {
		t.Fatal(err)
	}
	list, err := cluster.ReadPeersFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := cluster.Recover(cfg.Cluster.DataDir, cfg.Cluster.NodeID, list, testcluster.Logger(t)); err != nil {
		t.Fatal(err)
	}
	c.Restart(survivor)
	if l := c.WaitLeader(10 * time.Second); l != survivor {
		t.Fatalf("leader %d, want the survivor %d", l, survivor)
	}
	cl := c.Client(survivor)
	got, err := cl.Get(testcluster.Ctx(t, 5*time.Second), &rpcpb.GetRequest{Name: "survives"})
	if err != nil || got.Namespace.CreateRevision != want.Namespace.CreateRevision {
		t.Fatalf("recovered node lost data: %v %v", got, err)
	}
	mustApply(t, cl, spec("after-recovery", 1))
}
