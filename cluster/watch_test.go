package cluster_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/prism/controlplane/cluster"
	"github.com/prism/controlplane/fsm"
	"github.com/prism/controlplane/internal/testcluster"
	"github.com/prism/controlplane/rpc/rpcpb"
)

// TestWatchSurvivesNodeLoss: a watcher on a follower keeps an ordered,
// gap-free stream while that follower dies and it resumes on another node;
// what it saw ends equal to the final state.
func TestWatchSurvivesNodeLoss(t *testing.T) {
	c := testcluster.Start(t, 3)
	f1 := c.Follower()
	f2 := c.Follower(f1)
	writer := c.Client()
	for i := 0; i < 5; i++ {
		mustApply(t, writer, spec(fmt.Sprintf("w-%d", i), 1))
	}
	wcl := c.Client(f1, f2)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	var events []*rpcpb.WatchEvent
	done := make(chan error, 1)
	go func() {
		done <- wcl.Watch(ctx, &rpcpb.WatchRequest{Kinds: []string{"namespace"}, BookmarkIntervalMs: 100}, func(e *rpcpb.WatchEvent) error {
			mu.Lock()
			events = append(events, e)
			mu.Unlock()
			return nil
		})
	}()
	for i := 0; i < 40; i++ {
		mustApply(t, writer, spec(fmt.Sprintf("w-%d", i%10), int64(100+i)))
		if i == 20 {
			c.Stop(f1, false) // the node the watcher reads from
		}
	}
	final, _ := c.Servers[c.Leader()].Node.FSM().List(fsm.Filter{IncludeDeleted: true})
	want := map[string]int64{}
	for _, ns := range final {
		want[ns.Spec.Name] = ns.Revision
	}
	testcluster.Eventually(t, 15*time.Second, func() error {
		mu.Lock()
		defer mu.Unlock()
		got := map[string]int64{}
		for _, e := range events {
			if e.Type == "put" {
				got[e.Name] = e.Namespace.Revision
			}
		}
		for name, rev := range want {
			if got[name] != rev {
				return fmt.Errorf("%s: watcher at revision %d, state at %d", name, got[name], rev)
			}
		}
		return nil
	})
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the watch did not end after its context was cancelled")
	}
	mu.Lock()
	defer mu.Unlock()
	// Ordered and unique after the initial state's bookmark.
	var last int64
	listing := true
	for _, e := range events {
		if listing {
			if e.Type == "bookmark" {
				listing, last = false, e.Revision
			}
			continue
		}
		if e.Type == "bookmark" {
			if e.Revision < last {
				t.Fatalf("bookmark %d behind event %d", e.Revision, last)
			}
			last = e.Revision
			continue
		}
		if e.Revision <= last {
			t.Fatalf("event at revision %d after %d: not ordered or not unique", e.Revision, last)
		}
		last = e.Revision
	}
	if listing {
		t.Fatal("no bookmark after the initial state")
	}
}

func TestWatchCompacted(t *testing.T) {
	c := testcluster.StartWith(t, 1, func(cc *cluster.Config) { cc.WatchHistoryEvents = 5 })
	cl := c.Client()
	for i := 0; i < 20; i++ {
		mustApply(t, cl, spec(fmt.Sprintf("c-%d", i), 1))
	}
	err := cl.Watch(testcluster.Ctx(t, 5*time.Second), &rpcpb.WatchRequest{FromRevision: 1}, func(*rpcpb.WatchEvent) error { return nil })
	if r := clientReason(err); r != rpcpb.ReasonCompacted {
		t.Fatalf("want compacted, got %v (%q)", err, r)
	}
	// From a revision still held, exactly what followed (once the
	// reconciler has activated every namespace: 20 creates + 20 activations).
	testcluster.Eventually(t, 10*time.Second, func() error {
		if r := c.Servers[0].Node.FSM().Revision(); r != 40 {
			return fmt.Errorf("revision %d", r)
		}
		return nil
	})
	rev := c.Servers[0].Node.FSM().Revision()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var got []int64
	_ = cl.Watch(ctx, &rpcpb.WatchRequest{FromRevision: rev - 2}, func(e *rpcpb.WatchEvent) error {
		if e.Type == "put" {
			got = append(got, e.Revision)
		}
		if len(got) == 2 {
			cancel()
		}
		return nil
	})
	if len(got) != 2 || got[0] != rev-1 || got[1] != rev {
		t.Fatalf("resumed events %v, want [%d %d]", got, rev-1, rev)
	}
}
