package fsm

import (
	"errors"
	"testing"

	"github.com/prism/controlplane/fsm/fsmpb"
)

func expireGrace(id string) *fsmpb.Command {
	return &fsmpb.Command{Body: &fsmpb.Command_ExpireShardGrace{ExpireShardGrace: &fsmpb.ExpireShardGrace{Id: id}}}
}

func TestShardGraceIsAReplicatedFact(t *testing.T) {
	h := newHarness(t)
	h.apply(regShard(shardSpec("s1", "postgres")))
	if r := h.apply(expireGrace("s1")); !errors.Is(r.Err, ErrFailedPrecondition) {
		t.Fatalf("grace of an up shard: %+v", r)
	}
	h.apply(shardState("s1", shardDown))
	r := h.apply(expireGrace("s1"))
	if r.Err != nil || !r.Shard.GraceExpired {
		t.Fatalf("expire: %+v", r)
	}
	if again := h.apply(expireGrace("s1")); !again.Unchanged {
		t.Fatalf("expire twice: %+v", again)
	}
	if up := h.apply(shardState("s1", shardUp)); up.Shard.GraceExpired {
		t.Fatal("a shard back up is still past its grace")
	}
}

func TestCoolingStartsWithAMoveAndEndsByCommand(t *testing.T) {
	h := newHarness(t)
	h.apply(regShard(shardSpec("s1", "postgres")))
	h.apply(regShard(shardSpec("s2", "postgres")))
	h.apply(put(spec("a"), nil))
	h.apply(assign("a", "s1", false))
	r := h.apply(move("a", "s2", fsmpb.MovePhase_MOVE_PHASE_SHADOW, false))
	if r.Namespace.CoolingSinceRevision != r.Revision {
		t.Fatalf("a move start: cooling since %d, want %d", r.Namespace.CoolingSinceRevision, r.Revision)
	}
	cut := h.apply(move("a", "s2", fsmpb.MovePhase_MOVE_PHASE_CUTOVER, false))
	if cut.Namespace.CoolingSinceRevision != r.Revision {
		t.Fatal("a later phase restarted or ended the cooling")
	}
	end := h.apply(&fsmpb.Command{Body: &fsmpb.Command_EndCooling{EndCooling: &fsmpb.EndCooling{Name: "a"}}})
	if end.Err != nil || end.Namespace.CoolingSinceRevision != 0 {
		t.Fatalf("end cooling: %+v", end)
	}
	c := assign("b", "s1", false)
	h.apply(put(spec("b"), nil))
	c.GetAssignNamespace().StartCooling = true
	if r := h.apply(c); r.Namespace.CoolingSinceRevision != r.Revision {
		t.Fatalf("a placement reassignment does not start cooling: %+v", r.Namespace)
	}
}

// An undrain applies only to a draining shard: a down shard is not made up
// by an operator's word (it comes back by heartbeats).
func TestUndrainOnlyFromDraining(t *testing.T) {
	h := newHarness(t)
	h.apply(regShard(shardSpec("s1", "postgres")))
	h.apply(shardState("s1", shardDown))
	undrain := &fsmpb.Command{Body: &fsmpb.Command_SetShardState{SetShardState: &fsmpb.SetShardState{Id: "s1", State: shardUp, From: shardDraining}}}
	if r := h.apply(undrain); !errors.Is(r.Err, ErrFailedPrecondition) {
		t.Fatalf("undrain of a down shard: %+v", r)
	}
	h.apply(shardState("s1", shardDraining))
	if r := h.apply(undrain); r.Err != nil || r.Shard.State != shardUp {
		t.Fatalf("undrain of a draining shard: %+v", r)
	}
}
