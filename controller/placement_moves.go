package controller

import (
	"context"
	"errors"
	"fmt"

	"github.com/prism/controlplane/fsm"
	"github.com/prism/controlplane/fsm/fsmpb"
)

// advanceMoves moves each move in flight one phase on: a shadow move cuts
// over once its target shard says it is ready (or after
// MoveShadowTimeout), and is aborted if its target stops being up; a
// cut-over move is done after MoveDrainPeriod. Phases are timed by this
// controller's clock from when it first saw them (elapsed). Each step is
// guarded by the namespace revision it saw.
func (p *Placement) advanceMoves(ctx context.Context) {
	for _, ns := range p.deps.State.Moving() {
		m := ns.Move
		body := &fsmpb.MoveNamespace{Name: ns.Spec.GetName(), To: m.To, IfRevision: ns.Revision}
		since := p.elapsed(moveKey(ns))
		switch m.Phase {
		case fsmpb.MovePhase_MOVE_PHASE_SHADOW:
			sh, _, err := p.deps.State.GetShard(m.To)
			switch {
			case err != nil || sh.State != fsmpb.ShardState_SHARD_STATE_UP:
				body.Abort = true
			case p.deps.Ready.IsReady(m.To, body.Name) || since >= p.cfg.MoveShadowTimeout:
				body.Phase = fsmpb.MovePhase_MOVE_PHASE_CUTOVER
			default:
				continue
			}
		case fsmpb.MovePhase_MOVE_PHASE_CUTOVER:
			if since < p.cfg.MoveDrainPeriod {
				continue
			}
		}
		res, err := p.deps.Applier.Apply(ctx, &fsmpb.Command{Body: &fsmpb.Command_MoveNamespace{MoveNamespace: body}})
		if err == nil {
			err = res.Err
		}
		switch {
		case err == nil, errors.Is(err, fsm.ErrRevisionMismatch):
		case errors.Is(err, fsm.ErrNotFound), errors.Is(err, fsm.ErrFailedPrecondition), errors.Is(err, fsm.ErrShardNotFound):
			// This namespace's move changed under us: the others still advance.
			p.deps.Log.Warn("advancing a move failed", "namespace", body.Name, "err", err)
			continue
		default: // no quorum or leadership lost: try again next round
			p.deps.Log.Warn("advancing a move failed", "namespace", body.Name, "err", err)
			return
		}
		if err == nil {
			p.deps.Log.Info("move advanced", "namespace", body.Name, "from", m.From, "to", m.To, "was", m.Phase, "abort", body.Abort)
		}
	}
}

// moveKey names a move phase: a namespace at the revision its phase began.
func moveKey(ns *fsmpb.Namespace) string {
	return fmt.Sprintf("move/%s/%d", ns.Spec.GetName(), ns.Revision)
}
