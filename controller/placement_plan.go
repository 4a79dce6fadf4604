package controller

import (
	"context"
	"errors"
	"fmt"

	"github.com/prism/controlplane/fsm"
	"github.com/prism/controlplane/fsm/fsmpb"
	"github.com/prism/controlplane/placement"
)

// ApplyPlan commits a plan's assignments and moves through a, and
// records unschedulable and degraded namespaces in their status. Each
// commit is guarded by the namespace revision read from st right before
// it; a decision about a namespace already on its shard or moving is
// dropped. A move off a live shard starts in the shadow phase (ADR-009);
// off a dead or removed one the namespace is reassigned at once. It
// returns how many changes were committed; a namespace that changed
// meanwhile is skipped (the next round plans it again). The first other
// failure ends it.
func ApplyPlan(ctx context.Context, a Applier, st PlacementState, p placement.Plan) (int, error) {
	done := 0
	for _, d := range p.Decisions {
		ns, _, err := st.Get(d.Namespace)
		if err != nil {
			continue
		}
		var cmd *fsmpb.Command
		switch d.Kind {
		case placement.KindAssign, placement.KindMove:
			if ns.ShardId == d.Shard || ns.Move != nil {
				continue
			}
			if d.Kind == placement.KindMove && sourceServes(st, ns.ShardId) {
				cmd = &fsmpb.Command{Body: &fsmpb.Command_MoveNamespace{MoveNamespace: &fsmpb.MoveNamespace{
					Name: d.Namespace, To: d.Shard, Phase: fsmpb.MovePhase_MOVE_PHASE_SHADOW, IfRevision: ns.Revision}}}
				break
			}
			cmd = &fsmpb.Command{Body: &fsmpb.Command_AssignNamespace{AssignNamespace: &fsmpb.AssignNamespace{
				Name: d.Namespace, ShardId: d.Shard, Pinned: ns.Pinned, IfRevision: ns.Revision,
				StartCooling: d.Kind == placement.KindMove}}}
		case placement.KindUnschedulable:
			reason := fsm.TruncateReason(unschedulablePrefix + d.Reason) // as stored
			if ns.Status != stProvisioning || ns.StatusReason == reason {
				continue
			}
			cmd = statusCmd(ns, stProvisioning, reason)
		case placement.KindDegraded:
			if ns.Status != stActive {
				continue
			}
			cmd = statusCmd(ns, stDegraded, d.Reason)
		default:
			continue
		}
		res, err := a.Apply(ctx, cmd)
		if err == nil {
			err = res.Err
		}
		if errors.Is(err, fsm.ErrRevisionMismatch) {
			continue
		}
		if err != nil {
			return done, fmt.Errorf("placement of %s: %w", d.Namespace, err)
		}
		done++
	}
	return done, nil
}

// sourceServes: the shard a namespace moves off still serves (up or
// draining), so the move can shadow first.
func sourceServes(st ShardState, id string) bool {
	sh, _, err := st.GetShard(id)
	if err != nil {
		return false
	}
	return sh.State == fsmpb.ShardState_SHARD_STATE_UP || sh.State == fsmpb.ShardState_SHARD_STATE_DRAINING
}

// statusCmd sets ns's status, guarded by the revision it was read at.
func statusCmd(ns *fsmpb.Namespace, st fsmpb.NamespaceStatus, reason string) *fsmpb.Command {
	return &fsmpb.Command{Body: &fsmpb.Command_SetNamespaceStatus{SetNamespaceStatus: &fsmpb.SetNamespaceStatus{
		Name: ns.Spec.GetName(), Status: st, Reason: fsm.TruncateReason(reason), IfRevision: ns.Revision,
	}}}
}
