package cluster_test

import (
	"fmt"
	"math"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/prism/controlplane/cluster"
	"github.com/prism/controlplane/fsm/fsmpb"
	"github.com/prism/controlplane/internal/testcluster"
	"github.com/prism/controlplane/rpc/rpcpb"
)

// internalClient dials a node's Internal service as an outsider would:
// at the raft port, where nodes serve it, with no token.
func internalClient(t *testing.T, addr string) rpcpb.InternalClient {
	t.Helper()
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return rpcpb.NewInternalClient(cc)
}

// TestMalformedForwardApplyCommitsNothing: commands no client may send,
// sent straight to the leader's Internal service, are refused as invalid
// and commit nothing. Before validation at the proposer, ForwardApply{}
// crashed the leader and ForwardApply{command:{}} committed an entry that
// crashed every replica on every restart.
func TestMalformedForwardApplyCommitsNothing(t *testing.T) {
	c := testcluster.Start(t, 3)
	ctx := testcluster.Ctx(t, 30*time.Second)
	cl := c.Client()
	if _, err := cl.Apply(ctx, &rpcpb.ApplyRequest{Spec: spec("before", 1)}); err != nil {
		t.Fatal(err)
	}
	testcluster.Eventually(t, 10*time.Second, func() error { // the reconciler is done with it
		r, err := cl.Get(ctx, &rpcpb.GetRequest{Name: "before"})
		if err == nil && r.Namespace.Status != fsmpb.NamespaceStatus_NAMESPACE_STATUS_ACTIVE {
			err = fmt.Errorf("status %v", r.Namespace.Status)
		}
		return err
	})
	leader := c.Servers[c.Leader()].Node
	ic := internalClient(t, leader.RaftAddr())
	before := leader.FSM().Revision()
	bad := map[string]*fsmpb.Command{
		"nil command":    nil,
		"empty body":     {},
		"revision floor": {Body: &fsmpb.Command_Noop{Noop: &fsmpb.Noop{RevisionFloor: math.MaxInt64}}},
		"skip provisioning": {Body: &fsmpb.Command_SetNamespaceStatus{SetNamespaceStatus: &fsmpb.SetNamespaceStatus{
			Name: "before", Status: fsmpb.NamespaceStatus_NAMESPACE_STATUS_ACTIVE}}},
		"purge":           {Body: &fsmpb.Command_PurgeNamespace{PurgeNamespace: &fsmpb.PurgeNamespace{Name: "before"}}},
		"huge request id": {RequestId: string(make([]byte, 1<<16)), Body: &fsmpb.Command_DeleteNamespace{DeleteNamespace: &fsmpb.DeleteNamespace{Name: "before"}}},
	}
	for name, cmd := range bad {
		resp, err := ic.ForwardApply(ctx, &rpcpb.ForwardApplyRequest{Command: cmd})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if resp.GetResult().GetError().GetKind() != fsmpb.Error_KIND_INVALID {
			t.Fatalf("%s: answered %v, want an invalid-command error", name, resp)
		}
	}
	if got := leader.FSM().Revision(); got != before {
		t.Fatalf("revision went from %d to %d", before, got)
	}
	// Every node is alive and the cluster still takes writes and reads.
	if _, err := cl.Apply(ctx, &rpcpb.ApplyRequest{Spec: spec("after", 1)}); err != nil {
		t.Fatal(err)
	}
	for i := range c.Servers {
		if _, err := c.Client(i).Get(ctx, &rpcpb.GetRequest{Name: "after"}); err != nil {
			t.Fatalf("node %d: %v", i, err)
		}
	}
	// A restarted node replays its log without a panic.
	f := c.Follower()
	c.Stop(f, false)
	c.Restart(f)
	testcluster.Eventually(t, 10*time.Second, func() error {
		_, err := c.Client(f).Get(ctx, &rpcpb.GetRequest{Name: "after"})
		return err
	})
}

// TestInternalNotOnThePublicPort: the API port does not serve Internal.
func TestInternalNotOnThePublicPort(t *testing.T) {
	c := testcluster.Start(t, 1)
	ctx := testcluster.Ctx(t, 10*time.Second)
	ic := internalClient(t, c.Endpoint(0))
	_, err := ic.ForwardApply(ctx, &rpcpb.ForwardApplyRequest{})
	if status.Code(err) != codes.Unimplemented {
		t.Fatalf("ForwardApply on the API port: %v, want Unimplemented", err)
	}
}

// TestInternalNeedsTheClusterToken: with a gossip key, an Internal call
// without the cluster's node token is refused; the nodes' own calls work.
func TestInternalNeedsTheClusterToken(t *testing.T) {
	c := testcluster.StartWith(t, 3, func(cc *cluster.Config) { cc.GossipKey = []byte("0123456789abcdef") })
	ctx := testcluster.Ctx(t, 20*time.Second)
	for _, s := range c.Servers {
		_, err := internalClient(t, s.Node.RaftAddr()).NodeProgress(ctx, &rpcpb.NodeProgressRequest{})
		if status.Code(err) != codes.Unauthenticated {
			t.Fatalf("NodeProgress without the token: %v, want Unauthenticated", err)
		}
	}
	// A write on a follower is forwarded to the leader with the token.
	if _, err := c.Client(c.Follower()).Apply(ctx, &rpcpb.ApplyRequest{Spec: spec("forwarded", 1)}); err != nil {
		t.Fatal(err)
	}
}
