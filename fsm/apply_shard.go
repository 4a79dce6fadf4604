package fsm

import (
	"fmt"
	"sort"

	"google.golang.org/protobuf/proto"

	"github.com/prism/controlplane/fsm/fsmpb"
)

const (
	shardUp       = fsmpb.ShardState_SHARD_STATE_UP
	shardSuspect  = fsmpb.ShardState_SHARD_STATE_SUSPECT
	shardDown     = fsmpb.ShardState_SHARD_STATE_DOWN
	shardDraining = fsmpb.ShardState_SHARD_STATE_DRAINING
)

func init() {
	register("register_shard", registerShard)
	register("set_shard_state", setShardState)
	register("remove_shard", removeShard)
	register("assign_namespace", assignNamespace)
}

func cloneShard(sh *fsmpb.Shard) *fsmpb.Shard { return proto.Clone(sh).(*fsmpb.Shard) }

// registerShard creates a shard (up) or updates its spec. An identical
// spec changes nothing; a draining shard stays draining.
func registerShard(s *state, cmd *fsmpb.Command) Result {
	spec := cmd.GetRegisterShard().GetSpec()
	if err := CheckShardSpec(spec); err != nil {
		return Result{Revision: s.revision, Err: err}
	}
	cur, ok := s.shards[spec.Id]
	if !ok {
		rev := s.bump()
		sh := &fsmpb.Shard{Spec: spec, State: shardUp, StateReason: "registered",
			Revision: rev, CreateRevision: rev, RegisteredUnixNano: cmd.UnixNano, UpdatedUnixNano: cmd.UnixNano}
		s.shards[spec.Id] = sh
		return Result{Revision: rev, Shard: sh}
	}
	if proto.Equal(cur.Spec, spec) {
		return Result{Revision: s.revision, Shard: cur, Unchanged: true}
	}
	sh := cloneShard(cur)
	sh.Spec = spec
	sh.Revision = s.bump()
	sh.UpdatedUnixNano = cmd.UnixNano
	s.shards[spec.Id] = sh
	return Result{Revision: sh.Revision, Shard: sh}
}

// shardTransitions lists the state changes SetShardState may make: liveness
// moves among up/suspect/down; draining is entered and left by an operator
// and is kept whatever the liveness.
var shardTransitions = map[fsmpb.ShardState][]fsmpb.ShardState{
	shardUp:       {shardSuspect, shardDown, shardDraining},
	shardSuspect:  {shardUp, shardDown, shardDraining},
	shardDown:     {shardUp, shardSuspect, shardDraining},
	shardDraining: {shardUp},
}

func setShardState(s *state, cmd *fsmpb.Command) Result {
	body := cmd.GetSetShardState()
	cur, ok := s.shards[body.Id]
	if !ok {
		return Result{Revision: s.revision, Err: fmt.Errorf("%w: %q", ErrShardNotFound, body.Id)}
	}
	if err := ifRevision(body.Id, body.IfRevision, cur.Revision); err != nil {
		return Result{Revision: s.revision, Err: err}
	}
	if cur.State == body.State {
		return Result{Revision: s.revision, Shard: cur, Unchanged: true}
	}
	if body.From != 0 && cur.State != body.From {
		return Result{Revision: s.revision, Err: fmt.Errorf("%w: shard %q is %s, not %s", ErrFailedPrecondition, body.Id, cur.State, body.From)}
	}
	allowed := false
	for _, to := range shardTransitions[cur.State] {
		allowed = allowed || to == body.State
	}
	if !allowed {
		return Result{Revision: s.revision, Err: fmt.Errorf("%w: shard %q cannot go from %s to %s", ErrFailedPrecondition, body.Id, cur.State, body.State)}
	}
	sh := cloneShard(cur)
	sh.State, sh.StateReason = body.State, body.Reason
	sh.GraceExpired = false // a new state starts a new grace
	sh.Revision = s.bump()
	sh.UpdatedUnixNano = cmd.UnixNano
	s.shards[body.Id] = sh
	return Result{Revision: sh.Revision, Shard: sh}
}

// removeShard deletes a shard no live namespace is assigned to.
func removeShard(s *state, cmd *fsmpb.Command) Result {
	body := cmd.GetRemoveShard()
	cur, ok := s.shards[body.Id]
	if !ok {
		return Result{Revision: s.revision, Err: fmt.Errorf("%w: %q", ErrShardNotFound, body.Id)}
	}
	if err := ifRevision(body.Id, body.IfRevision, cur.Revision); err != nil {
		return Result{Revision: s.revision, Err: err}
	}
	if names := s.assignedTo(body.Id); len(names) > 0 {
		return Result{Revision: s.revision, Err: fmt.Errorf("%w: shard %q still serves %d namespace(s) (%s, ...): drain it first", ErrFailedPrecondition, body.Id, len(names), names[0])}
	}
	delete(s.shards, body.Id)
	return Result{Revision: s.bump(), Shard: cur, Deleted: true}
}

// assignedTo lists the live namespaces on a shard, sorted.
func (s *state) assignedTo(id string) []string {
	var out []string
	for name, ns := range s.namespaces {
		if ns.Status != statusDeleted && IsOn(ns, id) {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// assignNamespace puts a live namespace on a shard that is not draining
// ("" unassigns).
func assignNamespace(s *state, cmd *fsmpb.Command) Result {
	body := cmd.GetAssignNamespace()
	cur, ok := s.live(body.Name)
	if !ok {
		return Result{Revision: s.revision, Err: fmt.Errorf("%w: %q", ErrNotFound, body.Name)}
	}
	if err := ifRevision(body.Name, body.IfRevision, cur.Revision); err != nil {
		return Result{Revision: s.revision, Err: err}
	}
	if body.ShardId != "" {
		sh, ok := s.shards[body.ShardId]
		if !ok {
			return Result{Revision: s.revision, Err: fmt.Errorf("%w: %q", ErrShardNotFound, body.ShardId)}
		}
		if sh.State == shardDraining && cur.ShardId != body.ShardId {
			return Result{Revision: s.revision, Err: fmt.Errorf("%w: shard %q is draining", ErrFailedPrecondition, body.ShardId)}
		}
		if !contains(sh.Spec.Backends, cur.Spec.Backend) {
			return Result{Revision: s.revision, Err: fmt.Errorf("%w: shard %q does not serve backend %q", ErrFailedPrecondition, body.ShardId, cur.Spec.Backend)}
		}
	}
	if cur.ShardId == body.ShardId && cur.Pinned == body.Pinned && cur.Move == nil {
		return Result{Revision: s.revision, Namespace: cur, Unchanged: true}
	}
	ns := clone(cur)
	ns.ShardId, ns.Pinned = body.ShardId, body.Pinned
	ns.Move = nil // an operator's assignment ends a move in flight
	ns.Revision = s.bump()
	if body.StartCooling {
		ns.CoolingSinceRevision = ns.Revision
	}
	ns.UpdatedUnixNano = cmd.UnixNano
	s.namespaces[body.Name] = ns
	return Result{Revision: ns.Revision, Namespace: ns, PrevShards: Involved(cur)}
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}
