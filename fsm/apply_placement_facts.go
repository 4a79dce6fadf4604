package fsm

import (
	"fmt"

	"github.com/prism/controlplane/fsm/fsmpb"
)

// Placement facts: what the leader measured by its own monotonic clock (a
// down shard's grace ran out, a moved namespace's cooling ended), committed
// so that placement's input is a function of the replicated state alone:
// a plan, an explanation or a dry run on any node matches the leader's.

func init() {
	register("expire_shard_grace", expireShardGrace)
	register("end_cooling", endCooling)
}

// expireShardGrace marks a down shard as past its grace.
func expireShardGrace(s *state, cmd *fsmpb.Command) Result {
	body := cmd.GetExpireShardGrace()
	cur, ok := s.shards[body.Id]
	if !ok {
		return Result{Revision: s.revision, Err: fmt.Errorf("%w: %q", ErrShardNotFound, body.Id)}
	}
	if err := ifRevision(body.Id, body.IfRevision, cur.Revision); err != nil {
		return Result{Revision: s.revision, Err: err}
	}
	if cur.State != shardDown {
		return Result{Revision: s.revision, Err: fmt.Errorf("%w: shard %q is %s, not down", ErrFailedPrecondition, body.Id, cur.State)}
	}
	if cur.GraceExpired {
		return Result{Revision: s.revision, Shard: cur, Unchanged: true}
	}
	sh := cloneShard(cur)
	sh.GraceExpired = true
	sh.StateReason = "down past its grace: its namespaces are reassigned"
	sh.Revision = s.bump()
	sh.UpdatedUnixNano = cmd.UnixNano
	s.shards[body.Id] = sh
	return Result{Revision: sh.Revision, Shard: sh}
}

// endCooling lets placement move a namespace again.
func endCooling(s *state, cmd *fsmpb.Command) Result {
	body := cmd.GetEndCooling()
	cur, ok := s.live(body.Name)
	if !ok {
		return Result{Revision: s.revision, Err: fmt.Errorf("%w: %q", ErrNotFound, body.Name)}
	}
	if err := ifRevision(body.Name, body.IfRevision, cur.Revision); err != nil {
		return Result{Revision: s.revision, Err: err}
	}
	if cur.CoolingSinceRevision == 0 {
		return Result{Revision: s.revision, Namespace: cur, Unchanged: true}
	}
	ns := clone(cur)
	ns.CoolingSinceRevision = 0
	ns.Revision = s.bump()
	ns.UpdatedUnixNano = cmd.UnixNano
	s.namespaces[body.Name] = ns
	return Result{Revision: ns.Revision, Namespace: ns, PrevShards: Involved(cur)}
}
