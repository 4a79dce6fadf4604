package controller

import (
	"context"
	"errors"
	"time"

	"github.com/prism/controlplane/fsm"
	"github.com/prism/controlplane/placement"
)

// Placement is the leader's placement controller. Each round it commits
// the placement facts it measured (facts.go), places namespaces when the
// state changed since its last round (ApplyPlan), returns namespaces to
// active once their shard is back, and advances moves in flight one phase
// (placement_moves.go). Its input is a function of the replicated state
// alone (PlacementInput), so every node computes the plan the leader
// commits. One Placement serves one leadership stint: its measures start
// when it first sees a state, so a leader change delays a grace or a
// phase by at most one period.
type Placement struct {
	cfg   PlacementConfig
	deps  PlacementDeps
	nudge chan struct{}

	// Used by the Run goroutine only.
	placedAt int64                // revision of the last placement round (-1: due)
	observed map[string]time.Time // state key → when first seen (see elapsed)
}

// NewPlacement returns a controller; Run starts it.
func NewPlacement(cfg PlacementConfig, deps PlacementDeps) *Placement {
	if deps.Ready == nil {
		deps.Ready = noneReady{}
	}
	return &Placement{cfg: cfg, deps: deps, nudge: make(chan struct{}, 1), placedAt: -1, observed: map[string]time.Time{}}
}

type noneReady struct{}

func (noneReady) IsReady(string, string) bool { return false }

// Nudge makes the controller run a round now (the state changed).
func (p *Placement) Nudge() {
	select {
	case p.nudge <- struct{}{}:
	default:
	}
}

// Run runs a round now, then every Interval or when nudged, until ctx
// ends.
func (p *Placement) Run(ctx context.Context) {
	loop(ctx, p.cfg.Interval, p.cfg.MinRoundGap, p.nudge, func() { p.round(ctx) })
}

// round records placement facts (graces run out, coolings ended), places
// namespaces and advances moves in flight.
func (p *Placement) round(ctx context.Context) {
	p.commitFacts(ctx)
	p.place(ctx)
	p.advanceMoves(ctx)
}

// place runs the engine when the state changed since the last round (a
// grace running out or a cooling ending is a committed change too) and
// commits its plan. Placement stays idle while no shard is registered:
// namespaces then go active unplaced, as before shards existed.
func (p *Placement) place(ctx context.Context) {
	// Checked before building the input: that copies the whole state.
	rev := p.deps.State.Revision()
	if rev == p.placedAt {
		return
	}
	if shs, _ := p.deps.State.ListShards(); len(shs) == 0 {
		p.placedAt = rev // no shard: nothing to place on
		return
	}
	nss, shs, _ := p.deps.State.State()
	in := PlacementInput(nss, shs)
	if len(in.Shards) == 0 {
		p.placedAt = rev
		return
	}
	plan := placement.Place(p.cfg.Engine, in)
	changed, err := ApplyPlan(ctx, p.deps.Applier, p.deps.State, plan)
	if err != nil {
		p.deps.Log.Warn("placement round failed", "err", err)
		return
	}
	p.restoreDegraded(ctx, plan)
	if changed > 0 {
		p.deps.Log.Info("placement round", "changes", changed, "assigns", plan.Assigns, "moves", plan.Moves, "unschedulable", plan.Unschedulable, "degraded", plan.Degraded)
	}
	p.placedAt = rev
}

// restoreDegraded returns degraded namespaces to active once the engine no
// longer reports them degraded (their shard is back, or they moved).
// Namespaces degraded by their resources are the lifecycle controller's.
func (p *Placement) restoreDegraded(ctx context.Context, plan placement.Plan) {
	still := map[string]bool{}
	for _, d := range plan.Decisions {
		if d.Kind == placement.KindDegraded {
			still[d.Namespace] = true
		}
	}
	list, _ := p.deps.State.List(fsm.Filter{Status: stDegraded})
	for _, ns := range list {
		if still[ns.Spec.GetName()] || isResourceReason(ns.StatusReason) {
			continue
		}
		res, err := p.deps.Applier.Apply(ctx, statusCmd(ns, stActive, "serving shard is up"))
		if err == nil {
			err = res.Err
		}
		if err != nil && !errors.Is(err, fsm.ErrRevisionMismatch) {
			p.deps.Log.Warn("restoring a degraded namespace failed", "namespace", ns.Spec.GetName(), "err", err)
		}
	}
}
