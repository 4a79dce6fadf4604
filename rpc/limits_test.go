package rpc_test

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/prism/controlplane/fsm/fsmpb"
	"github.com/prism/controlplane/internal/testcluster"
	"github.com/prism/controlplane/rpc"
	"github.com/prism/controlplane/rpc/rpcpb"
)

func dial(t testing.TB, addr string) *grpc.ClientConn {
	t.Helper()
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}

func nsSpec(name string) *fsmpb.NamespaceSpec {
	return &fsmpb.NamespaceSpec{Name: name, Abstraction: "keyvalue", Backend: "postgres", Capacity: &fsmpb.Capacity{EstimatedReadRps: 5}}
}

// TestWatchesPerStreamLimit: 10,000 creates on one Watches stream; those
// beyond the limit end alone with ResourceExhausted, the others keep
// watching, and the node stays healthy.
func TestWatchesPerStreamLimit(t *testing.T) {
	c := testcluster.Start(t, 1)
	limit := rpc.DefaultConfig().MaxWatchesPerStream
	const creates = 10_000
	ctx := testcluster.Ctx(t, 60*time.Second)
	resp, err := c.Client().Apply(ctx, &rpcpb.ApplyRequest{Spec: nsSpec("before")})
	if err != nil {
		t.Fatal(err)
	}
	cc := dial(t, c.Endpoint(0))
	st, err := rpcpb.NewWatchServiceClient(cc).Watches(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sent := make(chan error, 1)
	go func() {
		for id := int64(1); id <= creates; id++ {
			req := &rpcpb.WatchesRequest{Op: &rpcpb.WatchesRequest_Create{Create: &rpcpb.WatchCreate{WatchId: id,
				Request: &rpcpb.WatchRequest{FromRevision: resp.Revision}}}}
			if err := st.Send(req); err != nil {
				sent <- err
				return
			}
		}
		sent <- nil
	}()
	exhausted := map[int64]bool{}
	for len(exhausted) < creates-limit {
		m, err := st.Recv()
		if err != nil {
			t.Fatalf("stream ended after %d of %d refusals: %v", len(exhausted), creates-limit, err)
		}
		if m.Ended == nil {
			continue
		}
		sp := &spb.Status{}
		if err := proto.Unmarshal(m.Ended, sp); err != nil {
			t.Fatal(err)
		}
		for _, id := range m.WatchIds {
			if codes.Code(sp.Code) != codes.ResourceExhausted || id <= int64(limit) {
				t.Fatalf("watch %d ended with %v %q; want only watches past %d to end, with ResourceExhausted", id, codes.Code(sp.Code), sp.Message, limit)
			}
			exhausted[id] = true
		}
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	// The node still serves: a write reaches all the watches kept, in one message.
	if _, err := c.Client().Apply(ctx, &rpcpb.ApplyRequest{Spec: nsSpec("after")}); err != nil {
		t.Fatal(err)
	}
	got := 0
	for got < limit {
		m, err := st.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if m.Ended != nil {
			t.Fatalf("watches %v ended after the limit", m.WatchIds)
		}
		if len(m.Events) > 0 && m.Events[0].Name == "after" {
			got += len(m.WatchIds)
		}
	}
	hc, err := healthpb.NewHealthClient(cc).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil || hc.Status != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health after the flood: %v %v", hc, err)
	}
}

// TestRequestOverMessageLimit: a request over MaxRecvMsgBytes is refused
// with ResourceExhausted and the node keeps serving.
func TestRequestOverMessageLimit(t *testing.T) {
	c := testcluster.Start(t, 1)
	ctx := testcluster.Ctx(t, 20*time.Second)
	big := nsSpec("big")
	big.BackendConfigJson = make([]byte, rpc.DefaultConfig().MaxRecvMsgBytes)
	_, err := rpcpb.NewNamespaceServiceClient(dial(t, c.Endpoint(0))).Apply(ctx, &rpcpb.ApplyRequest{Spec: big})
	if code := status.Code(err); code != codes.ResourceExhausted {
		t.Fatalf("oversized request: %v, want ResourceExhausted", err)
	}
	if _, err := c.Client().Apply(ctx, &rpcpb.ApplyRequest{Spec: nsSpec("small")}); err != nil {
		t.Fatal(err)
	}
}

// TestEveryMethodHasAClass: every method of every service the public
// server registers has a row in the method table (rate limits now, the
// authorization table next), so a new RPC without one fails here.
func TestEveryMethodHasAClass(t *testing.T) {
	reg := prometheus.NewRegistry()
	node, _, _ := startNodeWith(t, reg, rpc.DefaultConfig(), func(*grpc.Server) {})
	m, err := rpc.NewMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	s, err := rpc.NewGRPCServer(node, rpc.DefaultConfig(), m, nil, testcluster.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	n := 0
	for svc, info := range s.GetServiceInfo() {
		for _, md := range info.Methods {
			full := "/" + svc + "/" + md.Name
			n++
			if _, ok := rpc.ClassOf(full); !ok {
				t.Errorf("%s has no class in rpc/classes.go", full)
			}
		}
	}
	if n < 30 {
		t.Fatalf("only %d methods registered", n)
	}
}
