package cluster_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/prism/controlplane/cluster"
	"github.com/prism/controlplane/internal/server"
	"github.com/prism/controlplane/internal/testcluster"
)

// startLone starts one node that bootstraps alone and points its gossip at seed.
func startLone(t *testing.T, id, seed string, tweak func(*cluster.Config)) *server.Server {
	cc := cluster.DefaultConfig()
	cc.NodeID, cc.DataDir = id, t.TempDir()
	cc.RaftAddr, cc.GossipAddr = "127.0.0.1:0", "127.0.0.1:0"
	cc.BootstrapExpect = 1
	cc.Join = []string{seed}
	cc.JoinRetryInterval = 100 * time.Millisecond
	if tweak != nil {
		tweak(&cc)
	}
	s, err := server.Start(server.Config{Cluster: cc, GRPCAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0"}, testcluster.Logger(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Stop(false) })
	return s
}

func TestOtherClustersNeverMerge(t *testing.T) {
	key := []byte("0123456789abcdef")
	c := testcluster.StartWith(t, 3, func(cc *cluster.Config) { cc.GossipKey = key })
	seed := c.Servers[0].Node.GossipAddr()
	// Another name, another key, no key, and the same name and key but its
	// own (already bootstrapped) cluster.
	others := []*server.Server{
		startLone(t, "other-name", seed, func(cc *cluster.Config) { cc.ClusterName = "other"; cc.GossipKey = key }),
		startLone(t, "other-key", seed, func(cc *cluster.Config) { cc.GossipKey = []byte("fedcba9876543210") }),
		startLone(t, "no-key", seed, nil),
		startLone(t, "other-id", seed, func(cc *cluster.Config) { cc.GossipKey = key }),
	}
	// Give gossip and the leader's reconciler several rounds.
	testcluster.Eventually(t, 10*time.Second, func() error {
		for _, o := range others {
			if o.Node.Status().ClusterID == "" {
				return errNotYet
			}
		}
		return nil
	})
	// A negative check: three membership rounds of our leader and of each
	// other cluster's leader (each lone node leads its own), in which none
	// may add another cluster's server.
	leader := c.Servers[c.WaitLeader(10*time.Second)].Node
	nodes := []*cluster.Node{leader}
	for _, o := range others {
		nodes = append(nodes, o.Node)
	}
	start := make([]uint64, len(nodes))
	for i, n := range nodes {
		start[i] = n.AutopilotRounds()
	}
	testcluster.Eventually(t, 20*time.Second, func() error {
		for i, n := range nodes {
			if got := n.AutopilotRounds() - start[i]; got < 3 {
				return fmt.Errorf("%s ran %d of 3 membership rounds", n.ID(), got)
			}
		}
		return nil
	})
	for _, srv := range leader.Status().Servers {
		switch srv.ID {
		case "n1", "n2", "n3":
		default:
			t.Fatalf("server %s of another cluster was added to raft", srv.ID)
		}
	}
	for _, o := range others {
		if st := o.Node.Status(); len(st.Servers) != 1 {
			t.Fatalf("%s's raft configuration grew: %+v", st.NodeID, st.Servers)
		}
	}
}

var errNotYet = errors.New("not yet")
