package cluster_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/prism/controlplane/fsm/fsmpb"
	"github.com/prism/controlplane/internal/testcluster"
	"github.com/prism/controlplane/rpc/client"
	"github.com/prism/controlplane/rpc/rpcpb"
)

func spec(name string, rps int64) *fsmpb.NamespaceSpec {
	return &fsmpb.NamespaceSpec{Name: name, Abstraction: "keyvalue", Backend: "postgres",
		Capacity: &fsmpb.Capacity{EstimatedReadRps: rps}}
}

func mustApply(t *testing.T, cl *client.Client, s *fsmpb.NamespaceSpec) *rpcpb.ApplyResponse {
	t.Helper()
	r, err := cl.Apply(testcluster.Ctx(t, 10*time.Second), &rpcpb.ApplyRequest{Spec: s})
	if err != nil {
		t.Fatalf("apply %s: %v", s.Name, err)
	}
	return r
}

func TestWriteOnFollowerReadLinearizablyOnAnother(t *testing.T) {
	c := testcluster.Start(t, 3)
	f1 := c.Follower()
	f2 := c.Follower(f1)
	w := c.Client(f1) // only a follower: the write is forwarded
	r := c.Client(f2)
	for i := 0; i < 20; i++ {
		resp := mustApply(t, w, spec(fmt.Sprintf("ns-%d", i), 10))
		got, err := r.Get(testcluster.Ctx(t, 5*time.Second), &rpcpb.GetRequest{Name: resp.Namespace.Spec.Name})
		if err != nil {
			t.Fatalf("linearizable read on another follower missed an acknowledged write: %v", err)
		}
		if got.Namespace.Revision < resp.Revision || got.Header.Revision < resp.Revision {
			t.Fatalf("read revision %d older than acknowledged %d", got.Header.Revision, resp.Revision)
		}
	}
	// The reconciler moves namespaces from provisioning to active.
	testcluster.Eventually(t, 5*time.Second, func() error {
		got, err := r.Get(testcluster.Ctx(t, 5*time.Second), &rpcpb.GetRequest{Name: "ns-0"})
		if err != nil {
			return err
		}
		if got.Namespace.Status != fsmpb.NamespaceStatus_NAMESPACE_STATUS_ACTIVE {
			return fmt.Errorf("status %s", got.Namespace.Status)
		}
		return nil
	})
}

func TestErrorsMapToCodes(t *testing.T) {
	c := testcluster.Start(t, 3)
	cl := c.Client()
	ctx := testcluster.Ctx(t, 10*time.Second)
	_, err := cl.Get(ctx, &rpcpb.GetRequest{Name: "absent"})
	if status.Code(err) != codes.NotFound {
		t.Fatalf("get absent: %v", err)
	}
	_, err = cl.Apply(ctx, &rpcpb.ApplyRequest{Spec: &fsmpb.NamespaceSpec{Name: "Bad!", Abstraction: "spreadsheet"}})
	if status.Code(err) != codes.InvalidArgument || len(client.FieldViolations(err)) < 3 {
		t.Fatalf("invalid spec: %v (violations %v)", err, client.FieldViolations(err))
	}
	first := mustApply(t, cl, spec("a", 1))
	stale := int64(first.Revision + 100)
	_, err = cl.Apply(ctx, &rpcpb.ApplyRequest{Spec: spec("a", 2), ExpectedRevision: &stale})
	rev, ok := client.CurrentRevision(err)
	var cur int64
	fmt.Sscan(rev, &cur)
	if status.Code(err) != codes.FailedPrecondition || !ok || cur < first.Revision {
		t.Fatalf("expected-revision mismatch: %v (current %q)", err, rev)
	}
	list, err := cl.List(ctx, &rpcpb.ListRequest{})
	if err != nil || len(list.Namespaces) != 1 {
		t.Fatalf("list after rejected writes: %v %v", list, err)
	}
}

func TestKillLeaderLosesNothing(t *testing.T) {
	c := testcluster.Start(t, 3)
	cl := c.Client()
	var acked []string
	for i := 0; i < 30; i++ {
		r := mustApply(t, cl, spec(fmt.Sprintf("before-%d", i), 1))
		acked = append(acked, r.Namespace.Spec.Name)
	}
	old := c.Leader()
	c.Stop(old, false) // like kill -9: no handover, no gossip leave
	start := time.Now()
	r := mustApply(t, cl, spec("after", 1))
	t.Logf("first write after killing the leader took %v", time.Since(start))
	acked = append(acked, r.Namespace.Spec.Name)
	nl := c.WaitLeader(10 * time.Second)
	if nl == old {
		t.Fatal("stopped node still leads")
	}
	for _, name := range acked {
		if _, err := cl.Get(testcluster.Ctx(t, 5*time.Second), &rpcpb.GetRequest{Name: name}); err != nil {
			t.Fatalf("acknowledged %s lost: %v", name, err)
		}
	}
	// The old leader comes back from its data dir and catches up.
	c.Restart(old)
	testcluster.Eventually(t, 10*time.Second, func() error {
		ns, _, err := c.Servers[old].Node.FSM().Get("after")
		if err != nil {
			return err
		}
		if ns.Spec.Name != "after" {
			return errors.New("wrong namespace")
		}
		return nil
	})
}

func TestRestartAllFromDisk(t *testing.T) {
	c := testcluster.Start(t, 3)
	cl := c.Client()
	want := mustApply(t, cl, spec("durable", 7))
	for i := range c.Servers {
		c.Stop(i, false)
	}
	for i := range c.Servers {
		c.Restart(i)
	}
	c.WaitLeader(15 * time.Second)
	got, err := c.Client().Get(testcluster.Ctx(t, 10*time.Second), &rpcpb.GetRequest{Name: "durable"})
	if err != nil {
		t.Fatal(err)
	}
	if got.Namespace.CreateRevision != want.Namespace.CreateRevision {
		t.Fatalf("create revision %d, want %d", got.Namespace.CreateRevision, want.Namespace.CreateRevision)
	}
}

func TestQuorumLossFailsUnavailable(t *testing.T) {
	c := testcluster.Start(t, 3)
	mustApply(t, c.Client(), spec("x", 1))
	survivor := c.Follower()
	c.WaitNamespace(survivor, "x", 5*time.Second)
	for i := range c.Servers {
		if i != survivor {
			c.Stop(i, false)
		}
	}
	cl := c.Client(survivor)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	start := time.Now()
	_, err := cl.Apply(ctx, &rpcpb.ApplyRequest{Spec: spec("y", 1)})
	took := time.Since(start)
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("write without quorum: %v", err)
	}
	if took > 5*time.Second {
		t.Fatalf("write without quorum hung for %v", took)
	}
	t.Logf("write without quorum failed after %v: %v", took, err)
	// Stale reads still answer locally.
	got, err := cl.Get(testcluster.Ctx(t, 3*time.Second), &rpcpb.GetRequest{Name: "x", Consistency: rpcpb.Consistency_CONSISTENCY_STALE})
	if err != nil || got.Namespace.Spec.Name != "x" {
		t.Fatalf("stale read without quorum: %v", err)
	}
}

// TestLateCopyOfAnApplyChangesNothing: an apply delivered again with its
// request id after the namespace was deleted (a copy held up in a
// partition) does not bring it back (regression: Jepsen bug 5).
func TestLateCopyOfAnApplyChangesNothing(t *testing.T) {
	c := testcluster.Start(t, 3)
	cl := c.Client()
	ctx := testcluster.Ctx(t, 20*time.Second)
	req := &rpcpb.ApplyRequest{Spec: spec("late", 1), RequestId: "late-copy-1"}
	first, err := cl.Apply(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Delete(ctx, &rpcpb.DeleteRequest{Name: "late"}); err != nil {
		t.Fatal(err)
	}
	// Gone: a tombstone (deleted) or purged.
	gone := func() error {
		r, err := cl.Get(ctx, &rpcpb.GetRequest{Name: "late"})
		if status.Code(err) == codes.NotFound || (err == nil && r.Namespace.GetStatus() == fsmpb.NamespaceStatus_NAMESPACE_STATUS_DELETED) {
			return nil
		}
		return fmt.Errorf("after the delete: %v %v", r.GetNamespace().GetStatus(), err)
	}
	testcluster.Eventually(t, 10*time.Second, gone) // the reconciler finishes the delete
	again, err := cl.Apply(ctx, req)
	if err != nil || !again.Unchanged || again.Revision != first.Revision {
		t.Fatalf("late copy: %v %v, want unchanged at revision %d", again, err, first.Revision)
	}
	if err := gone(); err != nil {
		t.Fatalf("the late copy brought the namespace back: %v", err)
	}
}
