package cluster_test

import (
	"fmt"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/prism/controlplane/fsm"
	"github.com/prism/controlplane/fsm/fsmpb"
	"github.com/prism/controlplane/internal/testcluster"
	"github.com/prism/controlplane/rpc/rpcpb"
)

func TestSnapshotSaveRestoreIntoFreshCluster(t *testing.T) {
	a := testcluster.Start(t, 3)
	ca := a.Client()
	for i := 0; i < 25; i++ {
		mustApply(t, ca, spec(fmt.Sprintf("ns-%02d", i), int64(i)))
	}
	if _, err := ca.Delete(testcluster.Ctx(t, 5*time.Second), &rpcpb.DeleteRequest{Name: "ns-03"}); err != nil {
		t.Fatal(err)
	}
	ctx := testcluster.Ctx(t, 20*time.Second)
	// Let the lifecycle reconciler settle, so the list and the snapshot agree.
	var want *rpcpb.ListResponse
	testcluster.Eventually(t, 10*time.Second, func() (err error) {
		want, err = ca.List(ctx, &rpcpb.ListRequest{IncludeDeleted: true})
		if err != nil {
			return err
		}
		for _, ns := range want.Namespaces {
			if ns.Status != fsmpb.NamespaceStatus_NAMESPACE_STATUS_ACTIVE && ns.Status != fsmpb.NamespaceStatus_NAMESPACE_STATUS_DELETED {
				return fmt.Errorf("%s is %s", ns.Spec.Name, ns.Status)
			}
		}
		return nil
	})
	stream, err := ca.SaveSnapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	file := fsm.SealSnapshot(stream)
	if _, _, err := fsm.OpenSnapshot(file[:len(file)-1]); err == nil {
		t.Fatal("a truncated snapshot file passed its checksum")
	}

	b := testcluster.Start(t, 3)
	cb := b.Client()
	testcluster.Eventually(t, 5*time.Second, func() error {
		if b.Servers[b.Leader()].Node.Status().ClusterID == "" {
			return errNotYet
		}
		return nil
	})
	bID := b.Servers[b.Leader()].Node.Status().ClusterID
	r, err := cb.RestoreSnapshot(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	if r.Revision != want.Header.Revision || r.SnapshotRevision != want.Header.Revision {
		t.Fatalf("revision after restore %d (snapshot %d), want %d", r.Revision, r.SnapshotRevision, want.Header.Revision)
	}
	for i, s := range b.Servers {
		testcluster.Eventually(t, 10*time.Second, func() error {
			got, _ := s.Node.FSM().List(fsm.Filter{IncludeDeleted: true})
			if len(got) != len(want.Namespaces) {
				return fmt.Errorf("node %d has %d namespaces, want %d", i+1, len(got), len(want.Namespaces))
			}
			for k := range got {
				if !proto.Equal(got[k], want.Namespaces[k]) {
					return fmt.Errorf("node %d: %v != %v", i+1, got[k], want.Namespaces[k])
				}
			}
			return nil
		})
	}
	for i, s := range b.Servers {
		if id := s.Node.Status().ClusterID; id != bID {
			t.Fatalf("node %d: cluster id %q after restore, want B's own %q", i+1, id, bID)
		}
	}
	// Every node counts raft indexes of this cluster's log after the restore.
	// (A follower learns the commit index with the next append, so poll.)
	for i, s := range b.Servers {
		testcluster.Eventually(t, 5*time.Second, func() error {
			if idx, last := s.Node.FSM().Index(), s.Node.Status().CommitIndex; idx > last {
				return fmt.Errorf("node %d: applied index %d beyond commit index %d", i+1, idx, last)
			}
			return nil
		})
	}
	// Writes go on, with revisions above the restored ones.
	after := mustApply(t, cb, &fsmpb.NamespaceSpec{Name: "after-restore", Abstraction: "queue", Backend: "kafka"})
	if after.Revision <= r.Revision {
		t.Fatalf("revision %d after a restore at %d", after.Revision, r.Revision)
	}
	got, err := b.Client(b.Follower()).Get(ctx, &rpcpb.GetRequest{Name: "ns-24"})
	if err != nil || got.Namespace.Spec.Capacity.EstimatedReadRps != 24 {
		t.Fatalf("linearizable read on a follower after restore: %v %v", got, err)
	}
}
