package cluster

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

type nopFSM struct{}

func (nopFSM) Apply(*raft.Log) any                 { return nil }
func (nopFSM) Snapshot() (raft.FSMSnapshot, error) { return nil, nil }
func (nopFSM) Restore(rc io.ReadCloser) error      { return rc.Close() }

// TestFutureChannelFound: awaitFuture finds the answer channel of every
// kind of future the node waits on. If a hashicorp/raft upgrade renames or
// moves deferError.errCh this fails, instead of waits silently falling back
// to f.Error() (which never returns for a future lost at shutdown).
func TestFutureChannelFound(t *testing.T) {
	cfg := raft.DefaultConfig()
	cfg.LocalID = "a"
	cfg.HeartbeatTimeout, cfg.ElectionTimeout, cfg.LeaderLeaseTimeout = 50*time.Millisecond, 50*time.Millisecond, 50*time.Millisecond
	cfg.LogOutput = io.Discard
	store := raft.NewInmemStore()
	addr, trans := raft.NewInmemTransport("a")
	r, err := raft.NewRaft(cfg, nopFSM{}, store, store, raft.NewInmemSnapshotStore(), trans)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Shutdown()
	if err := r.BootstrapCluster(raft.Configuration{Servers: []raft.Server{{ID: "a", Address: addr}}}).Error(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for r.State() != raft.Leader {
		if time.Now().After(deadline) {
			t.Fatal("no leader")
		}
		time.Sleep(10 * time.Millisecond)
	}
	futures := map[string]raft.Future{
		"apply":          r.Apply([]byte("x"), time.Second),
		"verify leader":  r.VerifyLeader(),
		"add nonvoter":   r.AddNonvoter("b", "b", 0, time.Second),
		"remove server":  r.RemoveServer("b", 0, time.Second),
		"transfer (n/a)": r.LeadershipTransfer(),
	}
	for name, f := range futures {
		if _, ok := futureCh(f); !ok {
			t.Errorf("%s: no answer channel found in %T", name, f)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		ok, _ := awaitFuture(ctx, f, nil)
		cancel()
		if !ok {
			t.Errorf("%s: not answered", name)
		}
	}
}

// Raft replicates without pipelining (see fencedTransport): the
// transport never hands out a pipeline.
func TestNoPipelineReplication(t *testing.T) {
	ft := &fencedTransport{}
	if _, err := ft.AppendEntriesPipeline("b", "b"); err != raft.ErrPipelineReplicationNotSupported {
		t.Fatalf("AppendEntriesPipeline: %v, want ErrPipelineReplicationNotSupported", err)
	}
}
