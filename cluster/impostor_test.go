package cluster_test

import (
	"encoding/json"
	"io"
	"log"
	"net"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/prism/controlplane/internal/testcluster"
	"github.com/prism/controlplane/rpc/rpcpb"
)

// impostorDelegate gossips fixed prism metadata.
type impostorDelegate struct{ meta []byte }

func (d impostorDelegate) NodeMeta(int) []byte                  { return d.meta }
func (impostorDelegate) NotifyMsg([]byte)                       {}
func (impostorDelegate) GetBroadcasts(int, int) [][]byte        { return nil }
func (impostorDelegate) LocalState(bool) []byte                 { return nil }
func (impostorDelegate) MergeRemoteState(buf []byte, join bool) {}

// TestGossipImpostorIsIgnored: a gossip member that claims the leader's
// id under a name of its own (and its own addresses) is ignored: followers
// keep forwarding to the real leader and raft keeps its configuration.
// Before, followers forwarded writes to the impostor and autopilot
// re-addressed the leader's vote to it.
func TestGossipImpostorIsIgnored(t *testing.T) {
	c := testcluster.Start(t, 3)
	ctx := testcluster.Ctx(t, 30*time.Second)
	li := c.Leader()
	leader := c.Servers[li].Node
	st := leader.Status()
	// The impostor's "raft" and "grpc" addresses accept and say nothing.
	trap, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer trap.Close()
	go func() {
		for {
			conn, err := trap.Accept()
			if err != nil {
				return
			}
			go func() { _, _ = io.Copy(io.Discard, conn) }()
		}
	}()
	meta, _ := json.Marshal(map[string]any{"cluster": "prism", "cluster_id": st.ClusterID, "id": leader.ID(),
		"raft": trap.Addr().String(), "grpc": trap.Addr().String(), "http": trap.Addr().String(), "bootstrapped": true})
	mc := memberlist.DefaultLANConfig()
	mc.Name = "impostor"
	mc.BindAddr, mc.BindPort, mc.AdvertiseAddr = "127.0.0.1", 0, "127.0.0.1"
	mc.Label = "prism/prism"
	mc.Delegate = impostorDelegate{meta: meta}
	mc.Logger = log.New(io.Discard, "", 0)
	ml, err := memberlist.Create(mc)
	if err != nil {
		t.Fatal(err)
	}
	defer ml.Shutdown()
	var seeds []string
	for _, s := range c.Servers {
		seeds = append(seeds, s.Node.GossipAddr())
	}
	// Join does a full state exchange with each seed: when it returns,
	// every node has been told of the impostor.
	if n, err := ml.Join(seeds); err != nil || n != len(seeds) {
		t.Fatalf("impostor joined %d of %d: %v", n, len(seeds), err)
	}
	for i, s := range c.Servers {
		for _, m := range s.Node.Members() {
			if m.ID == leader.ID() && m.RaftAddr != leader.RaftAddr() {
				t.Fatalf("node %d believes %s is at %s", i, m.ID, m.RaftAddr)
			}
		}
	}
	// Writes on every follower still reach the real leader.
	for i := range c.Servers {
		if i == li {
			continue
		}
		if _, err := c.Client(i).Apply(ctx, &rpcpb.ApplyRequest{Spec: spec("real-leader", int64(i+1))}); err != nil {
			t.Fatalf("write on node %d: %v", i, err)
		}
	}
	for _, s := range leader.Status().Servers {
		if s.ID == leader.ID() && s.RaftAddr != leader.RaftAddr() {
			t.Fatalf("raft re-addressed the leader to %s", s.RaftAddr)
		}
	}
}
