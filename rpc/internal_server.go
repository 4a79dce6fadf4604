package rpc

import (
	"context"
	"log/slog"
	"time"

	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/recovery"
	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"

	"github.com/prism/controlplane/cluster"
	"github.com/prism/controlplane/rpc/rpcpb"
)

// NewInternalGRPCServer builds the server of the node-to-node Internal
// service, to be served on node.InternalListener() (the raft port). It
// registers nothing else: no public service, no reflection. Every call
// must come from a node of this cluster (cluster.Node.AuthorizeInternal);
// a handler panic answers Internal, as on the public port. extra options
// come last.
func NewInternalGRPCServer(node *cluster.Node, cfg Config, m *Metrics, log *slog.Logger, extra ...grpc.ServerOption) *grpc.Server {
	auth := func(ctx context.Context) error {
		if err := node.AuthorizeInternal(ctx); err != nil {
			return toStatus(err)
		}
		return nil
	}
	il := newInternalLogger(log.With("component", "rpc-internal", "node", node.ID()))
	s := grpc.NewServer(append([]grpc.ServerOption{
		grpc.MaxConcurrentStreams(cfg.MaxConcurrentStreams),
		// A forwarded request is one the public port accepted (at most its
		// largest allowed message) plus a little framing.
		grpc.MaxRecvMsgSize(maxRecvMsgBytesLimit + 64<<10),
		grpc.ChainUnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			if err := auth(ctx); err != nil {
				return nil, err
			}
			return h(ctx, req)
		}, il.unary, recovery.UnaryServerInterceptor(m.recoveryOpt())),
		grpc.ChainStreamInterceptor(func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			if err := auth(ss.Context()); err != nil {
				return err
			}
			return h(srv, ss)
		}, il.stream, recovery.StreamServerInterceptor(m.recoveryOpt())),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 5 * time.Second, PermitWithoutStream: true}),
	}, extra...)...)
	rpcpb.RegisterInternalServer(s, node.Internal())
	return s
}
