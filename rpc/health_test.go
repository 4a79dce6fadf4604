package rpc_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/prism/controlplane/cluster"
	"github.com/prism/controlplane/internal/testcluster"
	"github.com/prism/controlplane/rpc/client"
	"github.com/prism/controlplane/rpc/rpcpb"
)

// awaitHealth reads a health Watch stream until it reports want.
func awaitHealth(t *testing.T, st healthpb.Health_WatchClient, want healthpb.HealthCheckResponse_ServingStatus) {
	t.Helper()
	for {
		r, err := st.Recv()
		if err != nil {
			t.Fatalf("health watch ended before %v: %v", want, err)
		}
		if r.Status == want {
			return
		}
	}
}

// TestHealthFollowsQuorum: a node's gRPC health ("" and each service) is
// SERVING with a leader and NOT_SERVING once its quorum is gone.
func TestHealthFollowsQuorum(t *testing.T) {
	c := testcluster.Start(t, 3)
	ctx := testcluster.Ctx(t, 60*time.Second)
	keep := c.Follower()
	hc := healthpb.NewHealthClient(dial(t, c.Endpoint(keep)))
	all, err := hc.Watch(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	ns, err := hc.Watch(ctx, &healthpb.HealthCheckRequest{Service: rpcpb.NamespaceService_ServiceDesc.ServiceName})
	if err != nil {
		t.Fatal(err)
	}
	awaitHealth(t, all, healthpb.HealthCheckResponse_SERVING)
	awaitHealth(t, ns, healthpb.HealthCheckResponse_SERVING)
	for i := range c.Servers {
		if i != keep {
			c.Stop(i, false)
		}
	}
	awaitHealth(t, all, healthpb.HealthCheckResponse_NOT_SERVING)
	awaitHealth(t, ns, healthpb.HealthCheckResponse_NOT_SERVING)
	if r, err := hc.Check(ctx, &healthpb.HealthCheckRequest{}); err != nil || r.Status != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("Check without quorum: %v %v", r, err)
	}
}

// TestHealthFollowsDiskStall: a node whose raft log write stalls reports
// NOT_SERVING, and SERVING again once the write returns.
func TestHealthFollowsDiskStall(t *testing.T) {
	c := testcluster.StartWith(t, 3, func(cc *cluster.Config) { cc.DiskStallThreshold = time.Second })
	ctx := testcluster.Ctx(t, 60*time.Second)
	old := c.Leader()
	hw, err := healthpb.NewHealthClient(dial(t, c.Endpoint(old))).Watch(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	awaitHealth(t, hw, healthpb.HealthCheckResponse_SERVING)
	c.Servers[old].Node.StallDiskForTest(4 * time.Second)
	// The next write gets stuck in the leader's log write.
	go func() { _, _ = c.Client().Apply(ctx, &rpcpb.ApplyRequest{Spec: nsSpec("stuck")}) }()
	awaitHealth(t, hw, healthpb.HealthCheckResponse_NOT_SERVING)
	awaitHealth(t, hw, healthpb.HealthCheckResponse_SERVING)
}

// TestGracefulStopEndsWatches: a graceful stop turns health NOT_SERVING and
// ends watch streams (Watches, Watch, health Watch) with Unavailable "node
// stopping" instead of waiting out its timeout; a client watch on the
// stopped node resumes on another one.
func TestGracefulStopEndsWatches(t *testing.T) {
	c := testcluster.Start(t, 3)
	ctx := testcluster.Ctx(t, 60*time.Second)
	stop := c.Follower()
	others := []int{}
	for i := range c.Servers {
		if i != stop {
			others = append(others, i)
		}
	}
	writer := c.Client(others...)
	first, err := writer.Apply(ctx, &rpcpb.ApplyRequest{Spec: nsSpec("first")})
	if err != nil {
		t.Fatal(err)
	}

	// A client whose first endpoint is the node that stops.
	watcher, err := client.New(client.Config{Endpoints: []string{c.Endpoint(stop), c.Endpoint(others[0]), c.Endpoint(others[1])}})
	if err != nil {
		t.Fatal(err)
	}
	defer watcher.Close()
	events := make(chan string, 1024)
	wctx, wcancel := context.WithCancel(ctx)
	defer wcancel()
	go func() {
		_ = watcher.Watch(wctx, &rpcpb.WatchRequest{FromRevision: first.Revision - 1, Kinds: []string{"namespace"}}, func(e *rpcpb.WatchEvent) error {
			if e.Type == "put" {
				events <- e.Name
			}
			return nil
		})
	}()
	if got := <-events; got != "first" {
		t.Fatalf("watch got %q first", got)
	}

	// Raw streams on the node that stops, to see how each ends.
	cc := dial(t, c.Endpoint(stop))
	ws, err := rpcpb.NewWatchServiceClient(cc).Watches(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := ws.Send(&rpcpb.WatchesRequest{Op: &rpcpb.WatchesRequest_Create{Create: &rpcpb.WatchCreate{WatchId: 1,
		Request: &rpcpb.WatchRequest{FromRevision: first.Revision}}}}); err != nil {
		t.Fatal(err)
	}
	legacy, err := rpcpb.NewWatchServiceClient(cc).Watch(ctx, &rpcpb.WatchRequest{FromRevision: first.Revision})
	if err != nil {
		t.Fatal(err)
	}
	hw, err := healthpb.NewHealthClient(cc).Watch(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	awaitHealth(t, hw, healthpb.HealthCheckResponse_SERVING)

	stopped := make(chan time.Duration, 1)
	go func() {
		start := time.Now()
		c.Stop(stop, true)
		stopped <- time.Since(start)
	}()
	awaitHealth(t, hw, healthpb.HealthCheckResponse_NOT_SERVING)
	for name, recv := range map[string]func() error{
		"health watch": func() error { _, err := hw.Recv(); return err },
		"Watches":      func() error { _, err := ws.Recv(); return err },
		"Watch":        func() error { _, err := legacy.Recv(); return err },
	} {
		var err error
		for err == nil {
			err = recv()
		}
		if status.Code(err) != codes.Unavailable || !strings.Contains(status.Convert(err).Message(), "node stopping") {
			t.Fatalf("%s ended with %v; want Unavailable, node stopping", name, err)
		}
	}
	t.Logf("graceful stop with open watches took %v", <-stopped)

	// The client's watch resumed on another node.
	if _, err := writer.Apply(ctx, &rpcpb.ApplyRequest{Spec: nsSpec("second")}); err != nil {
		t.Fatal(err)
	}
	for {
		select {
		case got := <-events:
			if got == "second" {
				return
			}
		case <-ctx.Done():
			t.Fatal("the client watch did not resume on another node")
		}
	}
}
