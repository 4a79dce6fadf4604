package shardagent_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prism/controlplane/cluster"
	"github.com/prism/controlplane/fsm/fsmpb"
	"github.com/prism/controlplane/internal/shardagent"
	"github.com/prism/controlplane/internal/testcluster"
	"github.com/prism/controlplane/rpc/client"
	"github.com/prism/controlplane/rpc/rpcpb"
)

// fastSessions shortens the liveness periods so tests take seconds.
func fastSessions(cc *cluster.Config) {
	cc.ShardSuspectAfter = time.Second
	cc.ShardDownAfter = 2 * time.Second
}

func startAgent(t *testing.T, id string, endpoints []string) (*shardagent.Agent, func()) {
	t.Helper()
	spec, err := shardagent.ParseSpec(id, "127.0.0.1:9000", "kafka,postgres", "read_rps=50000,write_rps=50000,data_gb=1000", "zone=z1")
	if err != nil {
		t.Fatal(err)
	}
	cfg := shardagent.DefaultConfig()
	cfg.Spec, cfg.ControlPlane, cfg.Logger = spec, endpoints, testcluster.Logger(t)
	cfg.HeartbeatInterval = 200 * time.Millisecond
	cfg.RequestTimeout = time.Second
	a, err := shardagent.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = a.Run(ctx)
	}()
	var once sync.Once
	stop := func() { once.Do(func() { cancel(); wg.Wait() }) }
	t.Cleanup(stop)
	return a, stop
}

func shardState(t *testing.T, cl *client.Client, id string) (fsmpb.ShardState, error) {
	r, err := cl.GetShard(testcluster.Ctx(t, 5*time.Second), id, rpcpb.Consistency_CONSISTENCY_LINEARIZABLE)
	if err != nil {
		return 0, err
	}
	return r.Shard.State, nil
}

func expectState(t *testing.T, cl *client.Client, id string, want fsmpb.ShardState, within time.Duration) {
	t.Helper()
	testcluster.Eventually(t, within, func() error {
		got, err := shardState(t, cl, id)
		if err != nil {
			return err
		}
		if got != want {
			return fmt.Errorf("shard %s is %s, want %s", id, got, want)
		}
		return nil
	})
}

// converged: the agent serves exactly what `namespace list --shard` says.
func converged(t *testing.T, cl *client.Client, a *shardagent.Agent, id string) error {
	r, err := cl.List(testcluster.Ctx(t, 5*time.Second), &rpcpb.ListRequest{ShardId: id})
	if err != nil {
		return err
	}
	var want, got []string
	for _, ns := range r.Namespaces {
		want = append(want, fmt.Sprintf("%s@%d", ns.Spec.Name, ns.Revision))
	}
	v := a.View()
	for _, ns := range v.Namespaces {
		got = append(got, fmt.Sprintf("%s@%d", ns.Spec.Name, ns.Revision))
	}
	if !slices.Equal(want, got) {
		return fmt.Errorf("agent serves %v at revision %d; the cluster assigns %v", got, v.Revision, want)
	}
	return nil
}

func apply(t *testing.T, cl *client.Client, name string) {
	t.Helper()
	_, err := cl.Apply(testcluster.Ctx(t, 10*time.Second), &rpcpb.ApplyRequest{Spec: &fsmpb.NamespaceSpec{
		Name: name, Abstraction: "keyvalue", Backend: "postgres", Capacity: &fsmpb.Capacity{EstimatedReadRps: 100}}})
	if err != nil {
		t.Fatalf("apply %s: %v", name, err)
	}
}

func assign(t *testing.T, cl *client.Client, name, shard string) {
	t.Helper()
	if _, err := cl.Assign(testcluster.Ctx(t, 10*time.Second), name, shard); err != nil {
		t.Fatalf("assign %s to %q: %v", name, shard, err)
	}
}

// The agent's view converges to the cluster's assignments, also after the
// node it streams from is killed (it resumes on another node).
func TestAgentConvergesAcrossNodeFailure(t *testing.T) {
	c := testcluster.StartWith(t, 3, fastSessions)
	cl := c.Client()
	defer cl.Close()
	victim := c.Follower()
	eps := []string{c.Endpoint(victim)}
	for i := range c.Servers {
		if i != victim {
			eps = append(eps, c.Endpoint(i))
		}
	}
	a, _ := startAgent(t, "s1", eps)
	expectState(t, cl, "s1", fsmpb.ShardState_SHARD_STATE_UP, 10*time.Second)
	for i := range 4 {
		apply(t, cl, fmt.Sprintf("ns-%d", i))
	}
	assign(t, cl, "ns-0", "s1")
	assign(t, cl, "ns-1", "s1")
	testcluster.Eventually(t, 10*time.Second, func() error { return converged(t, cl, a, "s1") })

	c.Stop(victim, false)
	assign(t, cl, "ns-2", "s1")
	assign(t, cl, "ns-0", "") // leaves the shard
	apply(t, cl, "ns-1")      // unchanged spec: no new revision
	_, err := cl.Delete(testcluster.Ctx(t, 10*time.Second), &rpcpb.DeleteRequest{Name: "ns-1"})
	if err != nil {
		t.Fatal(err)
	}
	testcluster.Eventually(t, 15*time.Second, func() error { return converged(t, cl, a, "s1") })
	// ns-1 may be deleting (still served) or deleted (gone) by now; the
	// placement engine puts unpinned ns-0 and ns-3 on some shard.
	names := map[string]bool{}
	for _, ns := range a.View().Namespaces {
		names[ns.Spec.Name] = true
	}
	if !names["ns-2"] {
		t.Fatalf("agent serves %v", names)
	}
}

// A shard whose agent stops goes suspect, then down; it comes back up
// when an agent heartbeats again.
func TestShardLivenessTransitions(t *testing.T) {
	c := testcluster.StartWith(t, 3, fastSessions)
	cl := c.Client()
	defer cl.Close()
	_, stop := startAgent(t, "s1", []string{c.Endpoint(c.Follower())})
	expectState(t, cl, "s1", fsmpb.ShardState_SHARD_STATE_UP, 10*time.Second)
	stop()
	expectState(t, cl, "s1", fsmpb.ShardState_SHARD_STATE_SUSPECT, 5*time.Second)
	expectState(t, cl, "s1", fsmpb.ShardState_SHARD_STATE_DOWN, 5*time.Second)
	startAgent(t, "s1", []string{c.Endpoint(0), c.Endpoint(1), c.Endpoint(2)})
	expectState(t, cl, "s1", fsmpb.ShardState_SHARD_STATE_UP, 5*time.Second)
}

// Killing the leader never marks a live shard suspect: heartbeats reach
// the new leader, which gives every shard a full period first.
func TestLeaderChangeKeepsShardsUp(t *testing.T) {
	c := testcluster.StartWith(t, 3, fastSessions)
	cl := c.Client()
	defer cl.Close()
	var eps []string
	for i := range c.Servers {
		eps = append(eps, c.Endpoint(i))
	}
	startAgent(t, "s1", eps)
	expectState(t, cl, "s1", fsmpb.ShardState_SHARD_STATE_UP, 10*time.Second)

	var states []string
	var mu sync.Mutex
	wctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		_ = cl.Watch(wctx, &rpcpb.WatchRequest{Kinds: []string{"shard"}}, func(e *rpcpb.WatchEvent) error {
			if e.Shard != nil {
				mu.Lock()
				states = append(states, e.Shard.State.String())
				mu.Unlock()
			}
			return nil
		})
	}()
	old := c.Leader()
	c.Stop(old, false)
	testcluster.Eventually(t, 10*time.Second, func() error {
		if l := c.Leader(); l < 0 || l == old {
			return fmt.Errorf("no new leader yet")
		}
		return nil
	})
	// A negative check: the new leader's liveness checks (every 250 ms
	// with fastSessions) for longer than the down period; a shard marked
	// wrongly would show.
	testcluster.WaitRounds(t, 20*time.Second, 12, c.Servers[c.Leader()].Node.SessionRounds)
	expectState(t, cl, "s1", fsmpb.ShardState_SHARD_STATE_UP, time.Second)
	mu.Lock()
	defer mu.Unlock()
	for _, s := range states {
		if s != fsmpb.ShardState_SHARD_STATE_UP.String() {
			t.Fatalf("shard went through %v during a leader change", states)
		}
	}
}
