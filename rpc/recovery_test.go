package rpc_test

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/prism/controlplane/cluster"
	"github.com/prism/controlplane/internal/testcluster"
	"github.com/prism/controlplane/rpc"
	"github.com/prism/controlplane/rpc/rpcpb"
)

// panicky is a service whose handlers panic: a stand-in for a handler bug.
type panicky struct{}

var panickyDesc = grpc.ServiceDesc{
	ServiceName: "prism.test.Panicky",
	HandlerType: (*any)(nil),
	Methods: []grpc.MethodDesc{{
		MethodName: "Unary",
		Handler: func(srv any, ctx context.Context, dec func(any) error, in grpc.UnaryServerInterceptor) (any, error) {
			req := &rpcpb.StatusRequest{}
			if err := dec(req); err != nil {
				return nil, err
			}
			h := func(context.Context, any) (any, error) { panic("unary handler bug: secret internals") }
			if in == nil {
				return h(ctx, req)
			}
			return in(ctx, req, &grpc.UnaryServerInfo{Server: srv, FullMethod: "/prism.test.Panicky/Unary"}, h)
		},
	}},
	Streams: []grpc.StreamDesc{{
		StreamName:    "Stream",
		ServerStreams: true,
		ClientStreams: true,
		Handler:       func(any, grpc.ServerStream) error { panic("stream handler bug: secret internals") },
	}},
}

// startNodeWith runs one dev node with the real gRPC server (interceptors
// and all) within cfg, after register adds to it; it returns the node,
// its gRPC address and its data dir.
func startNodeWith(t *testing.T, reg *prometheus.Registry, cfg rpc.Config, register func(*grpc.Server)) (*cluster.Node, string, string) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cc := cluster.DefaultConfig()
	cc.NodeID, cc.DataDir, cc.Dev, cc.Voters, cc.MinQuorum, cc.BootstrapExpect = "p1", t.TempDir(), true, 1, 1, 1
	cc.RaftAddr, cc.GossipAddr = "127.0.0.1:0", "127.0.0.1:0"
	cc.GRPCAdvertise, cc.HTTPAdvertise = l.Addr().String(), "127.0.0.1:1"
	log := testcluster.Logger(t)
	node, err := cluster.New(cc, cluster.Deps{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	m, err := rpc.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	s, err := rpc.NewGRPCServer(node, cfg, m, nil, log)
	if err != nil {
		t.Fatal(err)
	}
	register(s.Server)
	go func() { _ = s.Serve(l) }()
	t.Cleanup(func() {
		s.Stop()
		_ = node.Shutdown(false)
	})
	return node, l.Addr().String(), cc.DataDir
}

func TestHandlerPanicAnswersInternalAndServerKeepsServing(t *testing.T) {
	reg := prometheus.NewRegistry()
	_, addr, _ := startNodeWith(t, reg, rpc.DefaultConfig(), func(s *grpc.Server) { s.RegisterService(&panickyDesc, panicky{}) })
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	for range 3 {
		err = cc.Invoke(ctx, "/prism.test.Panicky/Unary", &rpcpb.StatusRequest{}, &rpcpb.StatusResponse{})
		checkInternal(t, "unary", err)
		st, err := cc.NewStream(ctx, &panickyDesc.Streams[0], "/prism.test.Panicky/Stream")
		if err != nil {
			t.Fatal(err)
		}
		checkInternal(t, "stream", st.RecvMsg(&rpcpb.StatusResponse{}))
	}
	// The process and the connection survived: real services still answer.
	if _, err := healthpb.NewHealthClient(cc).Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
		t.Fatalf("health after panics: %v", err)
	}
	if _, err := rpcpb.NewClusterServiceClient(cc).Status(ctx, &rpcpb.StatusRequest{}); err != nil {
		t.Fatalf("status after panics: %v", err)
	}
	if got := counterValue(t, reg, "prism_grpc_panics_total", "/prism.test.Panicky/Unary"); got != 3 {
		t.Fatalf("panics counted for Unary: %v, want 3", got)
	}
	if got := counterValue(t, reg, "prism_grpc_panics_total", "/prism.test.Panicky/Stream"); got != 3 {
		t.Fatalf("panics counted for Stream: %v, want 3", got)
	}
}

func checkInternal(t *testing.T, what string, err error) {
	t.Helper()
	st, _ := status.FromError(err)
	if st.Code() != codes.Internal {
		t.Fatalf("%s: got %v, want Internal", what, err)
	}
	if strings.Contains(st.Message(), "secret") || strings.Contains(st.Message(), "goroutine") {
		t.Fatalf("%s: the answer leaks internals: %q", what, st.Message())
	}
}

// counterValue is the counter name{method=method} in reg (0 when absent).
func counterValue(t *testing.T, reg *prometheus.Registry, name, method string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "method" && l.GetValue() == method {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}
