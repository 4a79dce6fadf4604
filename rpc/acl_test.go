//lint:file-ignore SA1019 the server still registers reflection v1alpha, and the ACL matrix calls every registered method.

package rpc_test

import (
	"context"
	"io"
	"sort"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	reflv1 "google.golang.org/grpc/reflection/grpc_reflection_v1"
	reflv1alpha "google.golang.org/grpc/reflection/grpc_reflection_v1alpha"
	"google.golang.org/grpc/status"

	"github.com/prism/controlplane/fsm/fsmpb"
	"github.com/prism/controlplane/internal/server"
	"github.com/prism/controlplane/internal/testcluster"
	"github.com/prism/controlplane/rpc"
	"github.com/prism/controlplane/rpc/rpcpb"
)

// aclCluster is a one-node cluster with ACLs on, bootstrapped, with a
// token per identity of the matrix and a namespace "orders" owned by
// team/orders, consumed by service/billing, pinned to shard s1.
type aclCluster struct {
	c      *testcluster.Cluster
	cc     *grpc.ClientConn
	tokens map[string]string // identity -> secret ("anonymous": none)
}

// identities of the matrix, in order.
var identities = []string{"anonymous", "admin", "operator", "viewer", "owner", "other-team", "consumer", "shard-s1"}

func startACLCluster(t *testing.T, n int) *aclCluster {
	t.Helper()
	c := testcluster.StartServers(t, n, func(_ int, cfg *server.Config) {
		cfg.RPC = rpc.DefaultConfig()
		cfg.RPC.ACL = true
	}, nil)
	a := &aclCluster{c: c, cc: dial(t, c.Endpoint(c.Leader())), tokens: map[string]string{"anonymous": ""}}
	ctx := testcluster.Ctx(t, 10*time.Second)
	boot, err := rpcpb.NewAclServiceClient(a.cc).Bootstrap(ctx, &rpcpb.AclBootstrapRequest{})
	if err != nil {
		t.Fatalf("bootstrap: %v", err)
	}
	a.tokens["admin"] = boot.Secret
	for id, subject := range map[string][2]string{
		"operator": {"role", "operator"}, "viewer": {"role", "viewer"}, "owner": {"team", "orders"},
		"other-team": {"team", "payments"}, "consumer": {"service", "billing"}, "shard-s1": {"shard", "s1"},
	} {
		r, err := rpcpb.NewAclServiceClient(a.cc).CreateToken(a.as(ctx, "admin"), &rpcpb.CreateTokenRequest{Kind: subject[0], Name: subject[1]})
		if err != nil {
			t.Fatalf("create token %s: %v", id, err)
		}
		a.tokens[id] = r.Secret
	}
	spec := nsSpec("orders")
	spec.Access = &fsmpb.Access{Owners: []*fsmpb.Owner{{Kind: "team", Name: "orders"}},
		Consumers: []*fsmpb.Consumer{{Service: "billing", Access: "read-only"}}}
	if _, err := rpcpb.NewNamespaceServiceClient(a.cc).Apply(a.as(ctx, "owner"), &rpcpb.ApplyRequest{Spec: spec}); err != nil {
		t.Fatalf("owner creates orders: %v", err)
	}
	if _, err := rpcpb.NewShardServiceClient(a.cc).Register(a.as(ctx, "shard-s1"), &rpcpb.RegisterShardRequest{Spec: shardSpec("s1")}); err != nil {
		t.Fatalf("s1 registers: %v", err)
	}
	if _, err := rpcpb.NewPlacementServiceClient(a.cc).Assign(a.as(ctx, "operator"), &rpcpb.AssignRequest{Name: "orders", ShardId: "s1"}); err != nil {
		t.Fatalf("assign orders to s1: %v", err)
	}
	return a
}

func shardSpec(id string) *fsmpb.ShardSpec {
	return &fsmpb.ShardSpec{Id: id, Endpoints: []string{"127.0.0.1:9"}, Backends: []string{"postgres"},
		Capacity: &fsmpb.ShardCapacity{ReadRps: 100000, WriteRps: 100000, DataGb: 1000}}
}

// as is ctx carrying identity's token.
func (a *aclCluster) as(ctx context.Context, identity string) context.Context {
	if tok := a.tokens[identity]; tok != "" {
		return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+tok)
	}
	return ctx
}

// call makes one harmless call of a method: authorized, it fails for
// some other reason or changes nothing that matters to the matrix.
type call func(ctx context.Context, cc *grpc.ClientConn) error

// firstRecv opens a stream and waits for its first message or its end.
func firstRecv(recv func() error) error {
	err := recv()
	if err == io.EOF {
		return nil
	}
	return err
}

var calls = map[string]call{
	"/prism.v1.NamespaceService/Apply": func(ctx context.Context, cc *grpc.ClientConn) error {
		spec := nsSpec("orders")
		spec.Access = &fsmpb.Access{Owners: []*fsmpb.Owner{{Kind: "team", Name: "orders"}}}
		_, err := rpcpb.NewNamespaceServiceClient(cc).Apply(ctx, &rpcpb.ApplyRequest{Spec: spec, DryRun: true})
		return err
	},
	"/prism.v1.NamespaceService/Get": func(ctx context.Context, cc *grpc.ClientConn) error {
		_, err := rpcpb.NewNamespaceServiceClient(cc).Get(ctx, &rpcpb.GetRequest{Name: "orders"})
		return err
	},
	"/prism.v1.NamespaceService/List": func(ctx context.Context, cc *grpc.ClientConn) error {
		_, err := rpcpb.NewNamespaceServiceClient(cc).List(ctx, &rpcpb.ListRequest{})
		return err
	},
	"/prism.v1.NamespaceService/Delete": func(ctx context.Context, cc *grpc.ClientConn) error {
		rev := int64(1 << 40) // a mismatch: authorized, nothing deleted
		_, err := rpcpb.NewNamespaceServiceClient(cc).Delete(ctx, &rpcpb.DeleteRequest{Name: "orders", ExpectedRevision: &rev})
		return err
	},
	"/prism.v1.NamespaceService/Reconcile": func(ctx context.Context, cc *grpc.ClientConn) error {
		_, err := rpcpb.NewNamespaceServiceClient(cc).Reconcile(ctx, &rpcpb.ReconcileRequest{Name: "orders"})
		return err
	},
	"/prism.v1.ShardService/Register": func(ctx context.Context, cc *grpc.ClientConn) error {
		_, err := rpcpb.NewShardServiceClient(cc).Register(ctx, &rpcpb.RegisterShardRequest{Spec: shardSpec("s1")})
		return err
	},
	"/prism.v1.ShardService/Get": func(ctx context.Context, cc *grpc.ClientConn) error {
		_, err := rpcpb.NewShardServiceClient(cc).Get(ctx, &rpcpb.GetShardRequest{Id: "s1"})
		return err
	},
	"/prism.v1.ShardService/List": func(ctx context.Context, cc *grpc.ClientConn) error {
		_, err := rpcpb.NewShardServiceClient(cc).List(ctx, &rpcpb.ListShardsRequest{})
		return err
	},
	"/prism.v1.ShardService/Drain": func(ctx context.Context, cc *grpc.ClientConn) error {
		_, err := rpcpb.NewShardServiceClient(cc).Drain(ctx, &rpcpb.ShardIDRequest{Id: "ghost"})
		return err
	},
	"/prism.v1.ShardService/Undrain": func(ctx context.Context, cc *grpc.ClientConn) error {
		_, err := rpcpb.NewShardServiceClient(cc).Undrain(ctx, &rpcpb.ShardIDRequest{Id: "ghost"})
		return err
	},
	"/prism.v1.ShardService/Remove": func(ctx context.Context, cc *grpc.ClientConn) error {
		_, err := rpcpb.NewShardServiceClient(cc).Remove(ctx, &rpcpb.ShardIDRequest{Id: "ghost"})
		return err
	},
	"/prism.v1.ShardService/Heartbeat": func(ctx context.Context, cc *grpc.ClientConn) error {
		_, err := rpcpb.NewShardServiceClient(cc).Heartbeat(ctx, &rpcpb.HeartbeatRequest{ShardId: "s1"})
		return err
	},
	"/prism.v1.PlacementService/Assign": func(ctx context.Context, cc *grpc.ClientConn) error {
		_, err := rpcpb.NewPlacementServiceClient(cc).Assign(ctx, &rpcpb.AssignRequest{Name: "ghost", ShardId: "s1"})
		return err
	},
	"/prism.v1.PlacementService/Plan": func(ctx context.Context, cc *grpc.ClientConn) error {
		_, err := rpcpb.NewPlacementServiceClient(cc).Plan(ctx, &rpcpb.PlanRequest{})
		return err
	},
	"/prism.v1.PlacementService/Explain": func(ctx context.Context, cc *grpc.ClientConn) error {
		_, err := rpcpb.NewPlacementServiceClient(cc).Explain(ctx, &rpcpb.ExplainRequest{Name: "orders"})
		return err
	},
	"/prism.v1.PlacementService/Rebalance": func(ctx context.Context, cc *grpc.ClientConn) error {
		_, err := rpcpb.NewPlacementServiceClient(cc).Rebalance(ctx, &rpcpb.RebalanceRequest{DryRun: true})
		return err
	},
	"/prism.v1.WatchService/Watch": func(ctx context.Context, cc *grpc.ClientConn) error {
		st, err := rpcpb.NewWatchServiceClient(cc).Watch(ctx, &rpcpb.WatchRequest{})
		if err != nil {
			return err
		}
		return firstRecv(func() error { _, err := st.Recv(); return err })
	},
	"/prism.v1.WatchService/Watches": func(ctx context.Context, cc *grpc.ClientConn) error {
		st, err := rpcpb.NewWatchServiceClient(cc).Watches(ctx)
		if err != nil {
			return err
		}
		if err := st.Send(&rpcpb.WatchesRequest{Op: &rpcpb.WatchesRequest_Create{Create: &rpcpb.WatchCreate{WatchId: 1, Request: &rpcpb.WatchRequest{}}}}); err != nil && err != io.EOF {
			return err
		}
		return firstRecv(func() error { _, err := st.Recv(); return err })
	},
	"/prism.v1.ClusterService/Status": func(ctx context.Context, cc *grpc.ClientConn) error {
		_, err := rpcpb.NewClusterServiceClient(cc).Status(ctx, &rpcpb.StatusRequest{})
		return err
	},
	"/prism.v1.ClusterService/Members": func(ctx context.Context, cc *grpc.ClientConn) error {
		_, err := rpcpb.NewClusterServiceClient(cc).Members(ctx, &rpcpb.MembersRequest{})
		return err
	},
	"/prism.v1.ClusterService/TransferLeader": func(ctx context.Context, cc *grpc.ClientConn) error {
		_, err := rpcpb.NewClusterServiceClient(cc).TransferLeader(ctx, &rpcpb.TransferLeaderRequest{ToId: "ghost"})
		return err
	},
	"/prism.v1.ClusterService/RemovePeer": func(ctx context.Context, cc *grpc.ClientConn) error {
		_, err := rpcpb.NewClusterServiceClient(cc).RemovePeer(ctx, &rpcpb.RemovePeerRequest{Id: "ghost"})
		return err
	},
	"/prism.v1.SnapshotService/Save": func(ctx context.Context, cc *grpc.ClientConn) error {
		st, err := rpcpb.NewSnapshotServiceClient(cc).Save(ctx, &rpcpb.SnapshotSaveRequest{})
		if err != nil {
			return err
		}
		return firstRecv(func() error { _, err := st.Recv(); return err })
	},
	"/prism.v1.SnapshotService/Restore": func(ctx context.Context, cc *grpc.ClientConn) error {
		st, err := rpcpb.NewSnapshotServiceClient(cc).Restore(ctx)
		if err != nil {
			return err
		}
		_ = st.Send(&rpcpb.SnapshotChunk{Data: []byte("not a snapshot")})
		_, err = st.CloseAndRecv()
		return err
	},
	"/prism.v1.ArchiveService/Status": func(ctx context.Context, cc *grpc.ClientConn) error {
		_, err := rpcpb.NewArchiveServiceClient(cc).Status(ctx, &rpcpb.ArchiveStatusRequest{})
		return err
	},
	"/prism.v1.ArchiveService/History": func(ctx context.Context, cc *grpc.ClientConn) error {
		_, err := rpcpb.NewArchiveServiceClient(cc).History(ctx, &rpcpb.HistoryRequest{Name: "orders"})
		return err
	},
	"/prism.v1.AclService/Bootstrap": func(ctx context.Context, cc *grpc.ClientConn) error {
		_, err := rpcpb.NewAclServiceClient(cc).Bootstrap(ctx, &rpcpb.AclBootstrapRequest{})
		return err
	},
	"/prism.v1.AclService/CreateToken": func(ctx context.Context, cc *grpc.ClientConn) error {
		_, err := rpcpb.NewAclServiceClient(cc).CreateToken(ctx, &rpcpb.CreateTokenRequest{Kind: "nobody"})
		return err
	},
	"/prism.v1.AclService/ListTokens": func(ctx context.Context, cc *grpc.ClientConn) error {
		_, err := rpcpb.NewAclServiceClient(cc).ListTokens(ctx, &rpcpb.ListTokensRequest{})
		return err
	},
	"/prism.v1.AclService/RevokeToken": func(ctx context.Context, cc *grpc.ClientConn) error {
		_, err := rpcpb.NewAclServiceClient(cc).RevokeToken(ctx, &rpcpb.RevokeTokenRequest{Id: strings.Repeat("0", 32)})
		return err
	},
	"/prism.v1.AclService/WhoAmI": func(ctx context.Context, cc *grpc.ClientConn) error {
		_, err := rpcpb.NewAclServiceClient(cc).WhoAmI(ctx, &rpcpb.WhoAmIRequest{})
		return err
	},
	"/grpc.health.v1.Health/Check": func(ctx context.Context, cc *grpc.ClientConn) error {
		_, err := healthpb.NewHealthClient(cc).Check(ctx, &healthpb.HealthCheckRequest{})
		return err
	},
	"/grpc.health.v1.Health/List": func(ctx context.Context, cc *grpc.ClientConn) error {
		_, err := healthpb.NewHealthClient(cc).List(ctx, &healthpb.HealthListRequest{})
		return err
	},
	"/grpc.health.v1.Health/Watch": func(ctx context.Context, cc *grpc.ClientConn) error {
		st, err := healthpb.NewHealthClient(cc).Watch(ctx, &healthpb.HealthCheckRequest{})
		if err != nil {
			return err
		}
		return firstRecv(func() error { _, err := st.Recv(); return err })
	},
	"/grpc.reflection.v1.ServerReflection/ServerReflectionInfo": func(ctx context.Context, cc *grpc.ClientConn) error {
		st, err := reflv1.NewServerReflectionClient(cc).ServerReflectionInfo(ctx)
		if err != nil {
			return err
		}
		_ = st.Send(&reflv1.ServerReflectionRequest{MessageRequest: &reflv1.ServerReflectionRequest_ListServices{}})
		return firstRecv(func() error { _, err := st.Recv(); return err })
	},
	"/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo": func(ctx context.Context, cc *grpc.ClientConn) error {
		st, err := reflv1alpha.NewServerReflectionClient(cc).ServerReflectionInfo(ctx)
		if err != nil {
			return err
		}
		_ = st.Send(&reflv1alpha.ServerReflectionRequest{MessageRequest: &reflv1alpha.ServerReflectionRequest_ListServices{}})
		return firstRecv(func() error { _, err := st.Recv(); return err })
	},
}

// Verdicts of the matrix: allowed (any answer but the two below),
// PermissionDenied, Unauthenticated.
const (
	ok     = "ok"
	denied = "denied"
	unauth = "unauth"
)

// expect is the verdict for identity on method; one row per method,
// one column per identity (in identities' order).
var expect = map[string][]string{
	//                                         anonymous admin operator viewer owner other-team consumer shard-s1
	"/prism.v1.NamespaceService/Apply":     {unauth, ok, denied, denied, ok, denied, denied, denied},
	"/prism.v1.NamespaceService/Get":       {unauth, ok, ok, ok, ok, denied, ok, ok},
	"/prism.v1.NamespaceService/List":      {unauth, ok, ok, ok, ok, ok, ok, ok},
	"/prism.v1.NamespaceService/Delete":    {unauth, ok, denied, denied, ok, denied, denied, denied},
	"/prism.v1.NamespaceService/Reconcile": {unauth, ok, denied, denied, ok, denied, denied, denied},

	"/prism.v1.ShardService/Register":  {unauth, ok, ok, denied, denied, denied, denied, ok},
	"/prism.v1.ShardService/Get":       {unauth, ok, ok, ok, ok, denied, ok, ok}, // s1 serves orders
	"/prism.v1.ShardService/List":      {unauth, ok, ok, ok, denied, denied, denied, denied},
	"/prism.v1.ShardService/Drain":     {unauth, ok, ok, denied, denied, denied, denied, denied},
	"/prism.v1.ShardService/Undrain":   {unauth, ok, ok, denied, denied, denied, denied, denied},
	"/prism.v1.ShardService/Remove":    {unauth, ok, ok, denied, denied, denied, denied, denied},
	"/prism.v1.ShardService/Heartbeat": {unauth, ok, ok, denied, denied, denied, denied, ok},

	"/prism.v1.PlacementService/Assign":    {unauth, ok, ok, denied, denied, denied, denied, denied},
	"/prism.v1.PlacementService/Plan":      {unauth, ok, ok, ok, denied, denied, denied, denied},
	"/prism.v1.PlacementService/Explain":   {unauth, ok, ok, ok, denied, denied, denied, denied},
	"/prism.v1.PlacementService/Rebalance": {unauth, ok, ok, denied, denied, denied, denied, denied},

	"/prism.v1.WatchService/Watch":   {unauth, ok, ok, ok, ok, ok, ok, ok},
	"/prism.v1.WatchService/Watches": {unauth, ok, ok, ok, ok, ok, ok, ok},

	"/prism.v1.ClusterService/Status":         {unauth, ok, ok, ok, denied, denied, denied, denied},
	"/prism.v1.ClusterService/Members":        {unauth, ok, ok, ok, denied, denied, denied, denied},
	"/prism.v1.ClusterService/TransferLeader": {unauth, ok, ok, denied, denied, denied, denied, denied},
	"/prism.v1.ClusterService/RemovePeer":     {unauth, ok, ok, denied, denied, denied, denied, denied},

	"/prism.v1.SnapshotService/Save":    {unauth, ok, ok, denied, denied, denied, denied, denied},
	"/prism.v1.SnapshotService/Restore": {unauth, ok, denied, denied, denied, denied, denied, denied},

	"/prism.v1.ArchiveService/Status":  {unauth, ok, ok, ok, denied, denied, denied, denied},
	"/prism.v1.ArchiveService/History": {unauth, ok, ok, ok, denied, denied, denied, denied},

	"/prism.v1.AclService/Bootstrap":   {ok, ok, ok, ok, ok, ok, ok, ok}, // answered FailedPrecondition: done already
	"/prism.v1.AclService/CreateToken": {unauth, ok, denied, denied, denied, denied, denied, denied},
	"/prism.v1.AclService/ListTokens":  {unauth, ok, denied, denied, denied, denied, denied, denied},
	"/prism.v1.AclService/RevokeToken": {unauth, ok, denied, denied, denied, denied, denied, denied},
	"/prism.v1.AclService/WhoAmI":      {unauth, ok, ok, ok, ok, ok, ok, ok},

	"/grpc.health.v1.Health/Check":                                   {ok, ok, ok, ok, ok, ok, ok, ok},
	"/grpc.health.v1.Health/List":                                    {ok, ok, ok, ok, ok, ok, ok, ok},
	"/grpc.health.v1.Health/Watch":                                   {ok, ok, ok, ok, ok, ok, ok, ok},
	"/grpc.reflection.v1.ServerReflection/ServerReflectionInfo":      {ok, ok, ok, ok, ok, ok, ok, ok},
	"/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo": {ok, ok, ok, ok, ok, ok, ok, ok},
}

func verdict(err error) string {
	switch status.Code(err) {
	case codes.PermissionDenied:
		return denied
	case codes.Unauthenticated:
		return unauth
	}
	return ok
}

// TestACLMatrix: every method of every service the server registers
// (from its descriptors), called as every identity, answers as the
// matrix says; a method without a row fails the test.
func TestACLMatrix(t *testing.T) {
	a := startACLCluster(t, 1)
	var methods []string
	for svc, info := range a.c.Servers[0].GRPCServiceInfo() {
		for _, md := range info.Methods {
			methods = append(methods, "/"+svc+"/"+md.Name)
		}
	}
	sort.Strings(methods)
	if len(methods) < 35 {
		t.Fatalf("only %d methods registered", len(methods))
	}
	for _, m := range methods {
		row, hasRow := expect[m]
		do, hasCall := calls[m]
		if !hasRow || !hasCall {
			t.Errorf("%s has no row in the ACL matrix (expect and calls in acl_test.go)", m)
			continue
		}
		if _, ok := rpc.RuleOf(m); !ok {
			t.Errorf("%s has no ACL rule in rpc/classes.go", m)
		}
		for i, id := range identities {
			ctx, cancel := context.WithTimeout(a.as(context.Background(), id), 5*time.Second)
			err := do(ctx, a.cc)
			cancel()
			if got := verdict(err); got != row[i] {
				t.Errorf("%s as %s: %s (%v), want %s", m, id, got, err, row[i])
			}
		}
	}
}
