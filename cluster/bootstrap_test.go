package cluster_test

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prism/controlplane/cluster"
	"github.com/prism/controlplane/internal/server"
	"github.com/prism/controlplane/internal/testcluster"
)

// TestBootstrapNeverSplits starts five servers at once, all expecting three.
// Whatever happens, no two of them may bootstrap different configurations.
func TestBootstrapNeverSplits(t *testing.T) {
	var seed string
	servers := make([]*server.Server, 5)
	for i := range servers {
		cc := cluster.DefaultConfig()
		cc.NodeID, cc.DataDir = fmt.Sprintf("b%d", i+1), t.TempDir()
		cc.RaftAddr, cc.GossipAddr = "127.0.0.1:0", "127.0.0.1:0"
		cc.BootstrapExpect = 3
		cc.JoinRetryInterval = 100 * time.Millisecond
		if seed != "" {
			cc.Join = []string{seed}
		}
		s, err := server.Start(server.Config{Cluster: cc, GRPCAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0"}, testcluster.Logger(t), nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Stop(false) })
		if seed == "" {
			seed = s.Node.GossipAddr()
		}
		servers[i] = s
	}
	// A negative check: wait until each server has raft state, or has run
	// bootstrap rounds for four settle periods (at 250 ms a round) without
	// bootstrapping.
	start := make([]uint64, len(servers))
	for i, s := range servers {
		start[i] = s.Node.BootstrapRounds()
	}
	testcluster.Eventually(t, 30*time.Second, func() error {
		for i, s := range servers {
			if n := s.Node.BootstrapRounds() - start[i]; n < 16 && len(s.Node.Status().Servers) == 0 {
				return fmt.Errorf("%s: no raft configuration after %d bootstrap rounds", s.Node.ID(), n)
			}
		}
		return nil
	})
	configs := map[string][]string{}
	for _, s := range servers {
		st := s.Node.Status()
		if len(st.Servers) == 0 {
			continue
		}
		var ids []string
		for _, srv := range st.Servers {
			ids = append(ids, srv.ID)
		}
		sort.Strings(ids)

		configs[strings.Join(ids, ",")] = append(configs[strings.Join(ids, ",")], st.NodeID)

	}
	if len(configs) > 1 {
		t.Fatalf("servers bootstrapped different configurations: %v", configs)
	}
	t.Logf("configurations: %v", configs)
}
