package fsm

import (
	"fmt"

	"github.com/prism/controlplane/fsm/fsmpb"
)

func init() { register("move_namespace", moveNamespace) }

// Involved lists the shards a namespace is on: its serving shard and, while
// it moves, the other end of the move ("" where none).
func Involved(ns *fsmpb.Namespace) [2]string {
	out := [2]string{ns.GetShardId()}
	if m := ns.GetMove(); m != nil {
		other := m.To
		if other == out[0] {
			other = m.From
		}
		if other != out[0] {
			out[1] = other
		}
	}
	return out
}

// IsOn reports whether a namespace is on shard id (serving, or either end
// of a move in flight).
func IsOn(ns *fsmpb.Namespace, id string) bool {
	inv := Involved(ns)
	return id != "" && (inv[0] == id || inv[1] == id)
}

// moveNamespace drives a move through its phases (ADR-009):
//
//	SHADOW:  start towards `to`; shard_id keeps serving, `to` shadows
//	CUTOVER: `to` becomes the serving shard; the old one drains
//	DONE:    (unspecified phase) the old shard is released
//	abort:   a shadow move ends; the serving shard never changed
func moveNamespace(s *state, cmd *fsmpb.Command) Result {
	body := cmd.GetMoveNamespace()
	cur, ok := s.live(body.Name)
	if !ok {
		return Result{Revision: s.revision, Err: fmt.Errorf("%w: %q", ErrNotFound, body.Name)}
	}
	if err := ifRevision(body.Name, body.IfRevision, cur.Revision); err != nil {
		return Result{Revision: s.revision, Err: err}
	}
	fail := func(format string, a ...any) Result {
		return Result{Revision: s.revision, Err: fmt.Errorf("%w: namespace %q: "+format, append([]any{ErrFailedPrecondition, body.Name}, a...)...)}
	}
	m := cur.Move
	ns := clone(cur)
	startCooling := false
	switch {
	case body.Abort:
		if m == nil || m.Phase != fsmpb.MovePhase_MOVE_PHASE_SHADOW {
			return fail("no shadow move to abort")
		}
		ns.Move = nil
	case body.Phase == fsmpb.MovePhase_MOVE_PHASE_SHADOW:
		if m != nil {
			return fail("already moving to %q", m.To)
		}
		if cur.ShardId == "" || body.To == "" || body.To == cur.ShardId {
			return fail("a move needs a serving shard and a different target (on %q, to %q)", cur.ShardId, body.To)
		}
		sh, ok := s.shards[body.To]
		if !ok {
			return Result{Revision: s.revision, Err: fmt.Errorf("%w: %q", ErrShardNotFound, body.To)}
		}
		if sh.State == shardDraining || !contains(sh.Spec.Backends, cur.Spec.Backend) {
			return fail("shard %q is draining or does not serve backend %q", body.To, cur.Spec.Backend)
		}
		ns.Move = &fsmpb.NamespaceMove{From: cur.ShardId, To: body.To, Phase: fsmpb.MovePhase_MOVE_PHASE_SHADOW, StartedUnixNano: cmd.UnixNano}
		startCooling = true
	case body.Phase == fsmpb.MovePhase_MOVE_PHASE_CUTOVER:
		if m == nil || m.Phase != fsmpb.MovePhase_MOVE_PHASE_SHADOW || m.To != body.To {
			return fail("no shadow move to %q to cut over", body.To)
		}
		ns.ShardId = m.To
		ns.Move = &fsmpb.NamespaceMove{From: m.From, To: m.To, Phase: fsmpb.MovePhase_MOVE_PHASE_CUTOVER, StartedUnixNano: cmd.UnixNano}
	default: // done
		if m == nil || m.Phase != fsmpb.MovePhase_MOVE_PHASE_CUTOVER {
			return fail("no cut-over move to finish")
		}
		ns.Move = nil
	}
	ns.Revision = s.bump()
	if startCooling {
		ns.CoolingSinceRevision = ns.Revision
	}
	ns.UpdatedUnixNano = cmd.UnixNano
	s.namespaces[body.Name] = ns
	return Result{Revision: ns.Revision, Namespace: ns, PrevShards: Involved(cur)}
}
