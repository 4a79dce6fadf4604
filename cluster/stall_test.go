package cluster_test

import (
	"testing"
	"time"

	"github.com/prism/controlplane/cluster"
	"github.com/prism/controlplane/internal/testcluster"
)

func TestDiskStallMovesLeadership(t *testing.T) {
	c := testcluster.StartWith(t, 3, func(cc *cluster.Config) { cc.DiskStallThreshold = time.Second })
	cl := c.Client()
	mustApply(t, cl, spec("before", 1))
	old := c.Leader()
	c.Servers[old].Node.StallDiskForTest(6 * time.Second)
	// The next write gets stuck in the leader's log write.
	go cl.Apply(testcluster.Ctx(t, 10*time.Second), applyReq("stuck", 1))
	testcluster.Eventually(t, 5*time.Second, func() error {
		if !c.Servers[old].Node.DiskStalled() || c.Servers[old].Node.Ready() {
			return errNotYet
		}
		return nil
	})
	// Another server takes over and writes commit without the stalled one.
	start := time.Now()
	testcluster.Eventually(t, 5*time.Second, func() error {
		for i, s := range c.Servers {
			if i != old && s.Node.IsLeader() {
				return nil
			}
		}
		return errNotYet
	})
	t.Logf("new leader %v after the stall was detected", time.Since(start))
	mustApply(t, c.Client(c.Follower(old)), spec("during-stall", 1))
	// Once the write returns, the node is a ready follower again.
	testcluster.Eventually(t, 15*time.Second, func() error {
		n := c.Servers[old].Node
		if n.DiskStalled() || !n.Ready() || n.IsLeader() {
			return errNotYet
		}
		return nil
	})
}
