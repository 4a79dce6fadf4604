package fsm

import (
	"bytes"
	"errors"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/prism/controlplane/fsm/fsmpb"
)

func shardSpec(id string, backends ...string) *fsmpb.ShardSpec {
	return &fsmpb.ShardSpec{Id: id, Endpoints: []string{"10.0.0.1:8980"}, Backends: backends,
		Capacity: &fsmpb.ShardCapacity{ReadRps: 50000, WriteRps: 10000, DataGb: 1000}, Labels: map[string]string{"zone": "z1"}}
}

func regShard(s *fsmpb.ShardSpec) *fsmpb.Command {
	return &fsmpb.Command{Body: &fsmpb.Command_RegisterShard{RegisterShard: &fsmpb.RegisterShard{Spec: s}}}
}

func shardState(id string, st fsmpb.ShardState) *fsmpb.Command {
	return &fsmpb.Command{Body: &fsmpb.Command_SetShardState{SetShardState: &fsmpb.SetShardState{Id: id, State: st}}}
}

func assign(name, shard string, pinned bool) *fsmpb.Command {
	return &fsmpb.Command{Body: &fsmpb.Command_AssignNamespace{AssignNamespace: &fsmpb.AssignNamespace{Name: name, ShardId: shard, Pinned: pinned}}}
}

func removeShardCmd(id string) *fsmpb.Command {
	return &fsmpb.Command{Body: &fsmpb.Command_RemoveShard{RemoveShard: &fsmpb.RemoveShard{Id: id}}}
}

func TestShardLifecycle(t *testing.T) {
	h := newHarness(t)
	if r := h.apply(regShard(shardSpec("s1", "postgres"))); r.Err != nil || r.Revision != 1 {
		t.Fatalf("register: %+v", r)
	}
	if r := h.apply(regShard(shardSpec("s1", "postgres"))); !r.Unchanged {
		t.Fatalf("identical re-register: %+v", r)
	}
	if r := h.apply(regShard(&fsmpb.ShardSpec{Id: "Bad!", Endpoints: []string{"nope"}})); !errors.Is(r.Err, ErrInvalid) {
		t.Fatalf("invalid shard: %v", r.Err)
	}
	h.apply(put(spec("a"), nil))
	if r := h.apply(assign("a", "s1", true)); r.Err != nil || r.Namespace.ShardId != "s1" || !r.Namespace.Pinned {
		t.Fatalf("assign: %+v", r)
	}
	if r := h.apply(assign("a", "nope", false)); !errors.Is(r.Err, ErrShardNotFound) {
		t.Fatalf("assign to an unknown shard: %v", r.Err)
	}
	h.apply(regShard(shardSpec("k1", "kafka")))
	if r := h.apply(assign("a", "k1", false)); !errors.Is(r.Err, ErrFailedPrecondition) {
		t.Fatalf("assign to a shard without the backend: %v", r.Err)
	}
	// Liveness transitions and drain.
	for _, st := range []fsmpb.ShardState{shardSuspect, shardDown, shardUp, shardDraining} {
		if r := h.apply(shardState("s1", st)); r.Err != nil {
			t.Fatalf("to %s: %v", st, r.Err)
		}
	}
	if r := h.apply(shardState("s1", shardDown)); !errors.Is(r.Err, ErrFailedPrecondition) {
		t.Fatalf("draining → down must be refused: %v", r.Err)
	}
	if r := h.apply(removeShardCmd("s1")); !errors.Is(r.Err, ErrFailedPrecondition) {
		t.Fatalf("removing a shard that serves a namespace: %v", r.Err)
	}
	h.apply(assign("a", "", false))
	if r := h.apply(removeShardCmd("s1")); r.Err != nil {
		t.Fatalf("remove: %v", r.Err)
	}
	if _, _, err := h.f.GetShard("s1"); !errors.Is(err, ErrShardNotFound) {
		t.Fatalf("removed shard still there: %v", err)
	}
}

// TestSnapshotRoundTripShards is the round trip of the shards table.
func TestSnapshotRoundTripShards(t *testing.T) {
	h := newHarness(t)
	for _, id := range []string{"s3", "s1", "s2"} {
		h.apply(regShard(shardSpec(id, "postgres")))
	}
	h.apply(shardState("s2", shardDraining))
	g, buf := h.roundTrip()
	want, _ := h.f.ListShards()
	got, _ := g.ListShards()
	if len(got) != 3 {
		t.Fatalf("%d shards restored", len(got))
	}
	for i := range want {
		if !proto.Equal(got[i], want[i]) {
			t.Fatalf("shard %d differs: %v vs %v", i, got[i], want[i])
		}
	}
	_, _, counts, err := SnapshotInfo(bytes.NewReader(buf.Bytes()))
	if err != nil || counts["shards"] != 3 {
		t.Fatalf("info: %v %v", counts, err)
	}
}
