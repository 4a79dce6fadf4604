package cluster_test

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prism/controlplane/cluster"
	"github.com/prism/controlplane/internal/testcluster"
	"github.com/prism/controlplane/rpc/client"
	"github.com/prism/controlplane/rpc/rpcpb"
)

func fastAutopilot(voters int) func(*cluster.Config) {
	return func(cc *cluster.Config) {
		cc.Voters = voters
		cc.MinQuorum = 3
		cc.ServerStabilization = 500 * time.Millisecond
		cc.DeadServerCleanup = 2 * time.Second
	}
}

// suffrage maps server id to voter|nonvoter as the leader sees it.
func suffrage(c *testcluster.Cluster) map[string]string {
	out := map[string]string{}
	if l := c.Leader(); l >= 0 {
		for _, s := range c.Servers[l].Node.Status().Servers {
			out[s.ID] = s.Suffrage
		}
	}
	return out
}

func expectSuffrage(t *testing.T, c *testcluster.Cluster, want map[string]string) {
	t.Helper()
	testcluster.Eventually(t, 15*time.Second, func() error {
		got := suffrage(c)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			return fmt.Errorf("suffrage %v, want %v", got, want)
		}
		return nil
	})
}

// writeLoad applies writes until stop is closed and counts failures.
func writeLoad(t *testing.T, c *testcluster.Cluster, stop chan struct{}) (*sync.WaitGroup, *atomic.Int64) {
	var wg sync.WaitGroup
	var failures atomic.Int64
	cl := c.Client()
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := cl.Apply(testcluster.Ctx(t, 5*time.Second), applyReq(fmt.Sprintf("load-%d", i%50), int64(i))); err != nil {
				failures.Add(1)
				t.Logf("write failed: %v", err)
			}
		}
	}()
	return &wg, &failures
}

func TestAutopilotGrowsToFiveVoters(t *testing.T) {
	c := testcluster.StartWith(t, 3, fastAutopilot(5))
	stop := make(chan struct{})
	wg, failures := writeLoad(t, c, stop)
	c.Add(fastAutopilot(5))
	c.Add(fastAutopilot(5))
	expectSuffrage(t, c, map[string]string{"n1": "voter", "n2": "voter", "n3": "voter", "n4": "voter", "n5": "voter"})
	close(stop)
	wg.Wait()
	if n := failures.Load(); n != 0 {
		t.Fatalf("%d writes failed while the cluster grew", n)
	}
}

func TestAutopilotStandbysReplaceADeadVoter(t *testing.T) {
	c := testcluster.StartWith(t, 3, fastAutopilot(3))
	c.Add(fastAutopilot(3))
	c.Add(fastAutopilot(3))
	// Beyond --voters 3, new servers are hot standbys.
	expectSuffrage(t, c, map[string]string{"n1": "voter", "n2": "voter", "n3": "voter", "n4": "nonvoter", "n5": "nonvoter"})
	victim := c.Follower(3, 4)
	id := c.Servers[victim].Node.ID()
	c.Stop(victim, false)
	// After the cleanup period: a standby is promoted, then the dead voter removed.
	testcluster.Eventually(t, 20*time.Second, func() error {
		got := suffrage(c)
		voters := 0
		for _, s := range got {
			if s == "voter" {
				voters++
			}
		}
		if _, still := got[id]; still || voters != 3 {
			return fmt.Errorf("suffrage %v", got)
		}
		return nil
	})
	// It comes back as a nonvoter.
	c.Restart(victim)
	testcluster.Eventually(t, 30*time.Second, func() error {
		if s := suffrage(c)[id]; s != "nonvoter" {
			l := c.Leader()
			if l < 0 {
				return fmt.Errorf("%s is %q; no leader", id, s)
			}
			return fmt.Errorf("%s is %q; leader n%d sees gossip %+v; %s knows cluster id %q",
				id, s, l+1, c.Servers[l].Node.Members(), id, c.Servers[victim].Node.Status().ClusterID)
		}
		return nil
	})
}

func TestAutopilotKeepsMinimumQuorum(t *testing.T) {
	const interval, cleanup = 200 * time.Millisecond, 2 * time.Second
	c := testcluster.StartWith(t, 3, func(cc *cluster.Config) {
		fastAutopilot(3)(cc)
		cc.ReconcileInterval, cc.DeadServerCleanup = interval, cleanup
	})
	victim := c.Follower()
	id := c.Servers[victim].Node.ID()
	c.Stop(victim, false)
	leader := c.Servers[c.WaitLeader(10*time.Second)].Node
	// Autopilot counts a server dead from the round gossip reports it
	// failed; then it gets rounds for twice the cleanup period (a negative
	// check: rounds, so a slow machine cannot shorten it).
	testcluster.Eventually(t, 20*time.Second, func() error {
		for _, m := range leader.Members() {
			if m.ID == id && m.Status == "alive" {
				return fmt.Errorf("gossip still sees %s alive", id)
			}
		}
		return nil
	})
	testcluster.WaitRounds(t, 30*time.Second, uint64(2*cleanup/interval)+1, leader.AutopilotRounds)
	if _, ok := suffrage(c)[id]; !ok {
		t.Fatalf("dead voter %s removed although 2 voters < min quorum 3", id)
	}
}

func applyReq(name string, rps int64) *rpcpb.ApplyRequest {
	return &rpcpb.ApplyRequest{Spec: spec(name, rps)}
}

func clientReason(err error) string { return client.Reason(err) }
