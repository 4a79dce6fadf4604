package rpc_test

import (
	"context"
	"testing"

	"google.golang.org/grpc/metadata"

	"github.com/prism/controlplane/fsm/fsmpb"
	"github.com/prism/controlplane/internal/server"
	"github.com/prism/controlplane/internal/testcluster"
	"github.com/prism/controlplane/rpc"
	"github.com/prism/controlplane/rpc/rpcpb"
)

// BenchmarkACLCost is the per-call cost of authentication and
// authorization: the same Get and Apply against a one-node cluster
// without ACLs and one with --acl and a team token that owns the
// namespace (sequential calls over one connection, so the difference is
// the server's work per call, not contention).
func BenchmarkACLCost(b *testing.B) {
	for _, mode := range []struct {
		name string
		acl  bool
	}{{"plain", false}, {"acl", true}} {
		c := testcluster.StartServers(b, 1, func(_ int, cfg *server.Config) {
			cfg.RPC = rpc.DefaultConfig()
			cfg.RPC.ACL = mode.acl
			cfg.RPC.RateLimits = rpc.RateLimits{MaxPrincipals: 1}
		}, nil)
		cc := dial(b, c.Endpoint(0))
		ctx := context.Background()
		if mode.acl {
			boot, err := rpcpb.NewAclServiceClient(cc).Bootstrap(ctx, &rpcpb.AclBootstrapRequest{})
			if err != nil {
				b.Fatal(err)
			}
			admin := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+boot.Secret)
			tok, err := rpcpb.NewAclServiceClient(cc).CreateToken(admin, &rpcpb.CreateTokenRequest{Kind: "team", Name: "orders"})
			if err != nil {
				b.Fatal(err)
			}
			ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+tok.Secret)
		}
		spec := nsSpec("orders")
		spec.Access = &fsmpb.Access{Owners: []*fsmpb.Owner{{Kind: "team", Name: "orders"}}}
		ns := rpcpb.NewNamespaceServiceClient(cc)
		if _, err := ns.Apply(ctx, &rpcpb.ApplyRequest{Spec: spec}); err != nil {
			b.Fatal(err)
		}
		b.Run(mode.name+"/get-stale", func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if _, err := ns.Get(ctx, &rpcpb.GetRequest{Name: "orders", Consistency: rpcpb.Consistency_CONSISTENCY_STALE}); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(mode.name+"/get-linearizable", func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if _, err := ns.Get(ctx, &rpcpb.GetRequest{Name: "orders"}); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(mode.name+"/apply", func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				spec.Capacity.EstimatedReadRps = int64(i + 10)
				if _, err := ns.Apply(ctx, &rpcpb.ApplyRequest{Spec: spec}); err != nil {
					b.Fatal(err)
				}
			}
		})
		c.StopAll()
	}
}
