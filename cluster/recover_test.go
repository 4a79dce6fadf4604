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
	// An acknowledged write is on a quorum, not necessarily on this
	// follower yet: wait until the survivor has it, as recover's runbook
	// says to pick the most up-to-date survivor.
	scl := c.Client(survivor)
	testcluster.Eventually(t, 5*time.Second, func() error {
		_, err := scl.Get(testcluster.Ctx(t, time.Second), &rpcpb.GetRequest{Name: "survives", Consistency: rpcpb.Consistency_CONSISTENCY_STALE})
		return err
	})
	scl.Close()
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
