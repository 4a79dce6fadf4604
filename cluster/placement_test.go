package cluster_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prism/controlplane/cluster"
	"github.com/prism/controlplane/fsm/fsmpb"
	"github.com/prism/controlplane/internal/testcluster"
	"github.com/prism/controlplane/rpc/client"
	"github.com/prism/controlplane/rpc/rpcpb"
)

func registerShard(t *testing.T, cl *client.Client, id string, backends ...string) {
	t.Helper()
	_, err := cl.RegisterShard(testcluster.Ctx(t, 10*time.Second), &fsmpb.ShardSpec{Id: id, Endpoints: []string{"10.0.0.1:8980"},
		Backends: backends, Capacity: &fsmpb.ShardCapacity{ReadRps: 50000, WriteRps: 50000, DataGb: 1000}})
	if err != nil {
		t.Fatal(err)
	}
}

func nsOf(t *testing.T, cl *client.Client, name string) *fsmpb.Namespace {
	t.Helper()
	r, err := cl.Get(testcluster.Ctx(t, 5*time.Second), &rpcpb.GetRequest{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	return r.Namespace
}

// The seed scenario of the placement issue, through the leader's loop: the
// small namespaces share one shard; video-events (200,000 RPS) never lands
// on a 50,000 RPS shard and stays provisioning with a reason.
func TestPlacementSeedScenario(t *testing.T) {
	c := testcluster.Start(t, 3)
	cl := c.Client()
	defer cl.Close()
	for i := 1; i <= 3; i++ {
		registerShard(t, cl, fmt.Sprintf("shard-%d", i), "kafka", "postgres")
	}
	for name, rps := range map[string]int64{"user-profiles": 5000, "user-preferences": 500, "user-settings": 200} {
		mustApply(t, cl, spec(name, rps))
	}
	video := spec("video-events", 200000)
	video.Backend, video.Abstraction = "kafka", "timeseries"
	mustApply(t, cl, video)
	testcluster.Eventually(t, 15*time.Second, func() error {
		shards := map[string]bool{}
		for _, name := range []string{"user-profiles", "user-preferences", "user-settings"} {
			ns := nsOf(t, cl, name)
			if ns.ShardId == "" || ns.Status != fsmpb.NamespaceStatus_NAMESPACE_STATUS_ACTIVE {
				return fmt.Errorf("%s: %s on %q", name, ns.Status, ns.ShardId)
			}
			shards[ns.ShardId] = true
		}
		if len(shards) != 1 {
			return fmt.Errorf("small namespaces spread over %v", shards)
		}
		v := nsOf(t, cl, "video-events")
		if v.ShardId != "" || v.Status != fsmpb.NamespaceStatus_NAMESPACE_STATUS_PROVISIONING ||
			!strings.Contains(v.StatusReason, "dedicated") || !strings.Contains(v.StatusReason, "200000") {
			return fmt.Errorf("video-events: %s on %q: %q", v.Status, v.ShardId, v.StatusReason)
		}
		return nil
	})
}

// A down shard's namespaces are degraded during the grace, then moved to a
// live shard and active again.
func TestPlacementRepairsDownShard(t *testing.T) {
	c := testcluster.StartWith(t, 3, func(cc *cluster.Config) {
		cc.ShardSuspectAfter = 500 * time.Millisecond
		cc.ShardDownAfter = time.Second
		cc.ShardDownGrace = 2 * time.Second
	})
	cl := c.Client()
	defer cl.Close()
	registerShard(t, cl, "a", "postgres")
	mustApply(t, cl, spec("ns-1", 100))
	testcluster.Eventually(t, 10*time.Second, func() error {
		if ns := nsOf(t, cl, "ns-1"); ns.ShardId != "a" || ns.Status != fsmpb.NamespaceStatus_NAMESPACE_STATUS_ACTIVE {
			return fmt.Errorf("ns-1: %s on %q", ns.Status, ns.ShardId)
		}
		return nil
	})
	registerShard(t, cl, "b", "postgres")
	// Shard b heartbeats; shard a never does, so it goes suspect, then down.
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
				heartbeat(cl, "b", nil)
			}
		}
	}()
	sawDegraded := false
	testcluster.Eventually(t, 20*time.Second, func() error {
		ns := nsOf(t, cl, "ns-1")
		if ns.Status == fsmpb.NamespaceStatus_NAMESPACE_STATUS_DEGRADED {
			sawDegraded = true
		}
		if ns.ShardId != "b" || ns.Status != fsmpb.NamespaceStatus_NAMESPACE_STATUS_ACTIVE {
			return fmt.Errorf("ns-1: %s on %q (%s)", ns.Status, ns.ShardId, ns.StatusReason)
		}
		return nil
	})
	if !sawDegraded {
		t.Fatal("ns-1 moved without being degraded during the grace")
	}
}

// Draining a shard moves its namespaces in phases (ADR-009): shadow on the
// target, cutover once the target says it is ready, done after the drain
// period. Both shards' watches see it; the old one sees it leave at done.
func TestPlacementMovesInPhases(t *testing.T) {
	c := testcluster.StartWith(t, 3, func(cc *cluster.Config) {
		cc.ShardSuspectAfter = 2 * time.Second
		cc.ShardDownAfter = 4 * time.Second
		cc.MoveDrainPeriod = 500 * time.Millisecond
		cc.MoveShadowTimeout = time.Minute // only the target's readiness cuts over
	})
	cl := c.Client()
	defer cl.Close()
	registerShard(t, cl, "a", "postgres")
	mustApply(t, cl, spec("ns-1", 100))
	// Placed and active before the move: the lifecycle's activation landing
	// during the shadow phase would be one more event.
	testcluster.Eventually(t, 10*time.Second, func() error {
		if ns := nsOf(t, cl, "ns-1"); ns.ShardId != "a" || ns.Status != fsmpb.NamespaceStatus_NAMESPACE_STATUS_ACTIVE {
			return fmt.Errorf("ns-1 %s on %q", ns.Status, ns.ShardId)
		}
		return nil
	})
	registerShard(t, cl, "b", "postgres")
	var mu sync.Mutex
	seen := map[string][]string{} // shard → "type:phase" of ns-1's events
	wctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, sh := range []string{"a", "b"} {
		go func(sh string) {
			_ = cl.Watch(wctx, &rpcpb.WatchRequest{ShardId: sh, Kinds: []string{"namespace"}}, func(e *rpcpb.WatchEvent) error {
				if e.Name == "ns-1" {
					mu.Lock()
					seen[sh] = append(seen[sh], e.Type+":"+e.Namespace.GetMove().GetPhase().String())
					mu.Unlock()
				}
				return nil
			})
		}(sh)
	}
	ready := make(chan []string, 1)
	ready <- nil
	stop := make(chan struct{})
	defer close(stop)
	// Shard b heartbeats, and says it is ready once ns-1 shadows to it;
	// shard a heartbeats too, so it never goes down (which would degrade
	// ns-1: one more event) however slowly the machine runs the phases.
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			heartbeat(cl, "a", nil)
			r := <-ready
			heartbeat(cl, "b", r)
			ready <- r
		}
	}()
	if _, err := cl.DrainShard(testcluster.Ctx(t, 5*time.Second), "a", true); err != nil {
		t.Fatal(err)
	}
	testcluster.Eventually(t, 10*time.Second, func() error {
		ns := nsOf(t, cl, "ns-1")
		if m := ns.Move; m == nil || m.Phase != fsmpb.MovePhase_MOVE_PHASE_SHADOW || m.To != "b" || ns.ShardId != "a" {
			return fmt.Errorf("ns-1 on %q moving %v", ns.ShardId, ns.Move)
		}
		return nil
	})
	<-ready
	ready <- []string{"ns-1"}
	testcluster.Eventually(t, 10*time.Second, func() error {
		if ns := nsOf(t, cl, "ns-1"); ns.ShardId != "b" || ns.Move != nil {
			return fmt.Errorf("ns-1 on %q moving %v", ns.ShardId, ns.Move)
		}
		return nil
	})
	testcluster.Eventually(t, 5*time.Second, func() error {
		mu.Lock()
		defer mu.Unlock()
		a, b := strings.Join(seen["a"], " "), strings.Join(seen["b"], " ")
		if !strings.HasSuffix(a, "put:MOVE_PHASE_SHADOW put:MOVE_PHASE_CUTOVER delete:MOVE_PHASE_UNSPECIFIED") ||
			b != "put:MOVE_PHASE_SHADOW put:MOVE_PHASE_CUTOVER put:MOVE_PHASE_UNSPECIFIED" {
			return fmt.Errorf("shard a saw %q, shard b saw %q", a, b)
		}
		return nil
	})
}

// heartbeat sends one heartbeat from a test goroutine (no t: it may run
// while the test ends).
func heartbeat(cl *client.Client, shard string, ready []string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, _ = cl.Heartbeat(ctx, shard, "test", ready)
}

// Every node plans from the same facts: once the leader has committed that
// a down shard is past its grace, a follower's placement input says so too
// (it used to time the grace by its own clock from whenever it first
// looked, so its plan and explain disagreed with the leader's).
func TestPlacementInputIsTheSameOnEveryNode(t *testing.T) {
	c := testcluster.StartWith(t, 3, func(cc *cluster.Config) {
		cc.ShardSuspectAfter = 300 * time.Millisecond
		cc.ShardDownAfter = 600 * time.Millisecond
		cc.ShardDownGrace = time.Second
	})
	cl := c.Client()
	defer cl.Close()
	registerShard(t, cl, "a", "postgres")
	mustApply(t, cl, spec("ns-1", 100))
	if _, err := cl.Assign(testcluster.Ctx(t, 5*time.Second), "ns-1", "a"); err != nil { // pinned: stays on a
		t.Fatal(err)
	}
	testcluster.Eventually(t, 20*time.Second, func() error {
		for i, s := range c.Servers {
			sh, _, err := s.Node.FSM().GetShard("a")
			if err != nil || !sh.GraceExpired {
				return fmt.Errorf("node %d: shard a %v past grace %v (%v)", i, sh.GetState(), sh.GetGraceExpired(), err)
			}
		}
		return nil
	})
	var want string
	for i, s := range c.Servers {
		in := s.Node.PlacementInput()
		got := fmt.Sprintf("%+v", in)
		if i == 0 {
			want = got
		} else if got != want {
			t.Fatalf("node %d plans from\n%s\nnode 0 from\n%s", i, got, want)
		}
		if len(in.Shards) != 1 || !in.Shards[0].DownPastGrace {
			t.Fatalf("node %d: %+v, want shard a down past its grace", i, in.Shards)
		}
	}
}
