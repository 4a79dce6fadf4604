package cluster

import (
	"context"

	"github.com/prism/controlplane/controller"
	"github.com/prism/controlplane/fsm/fsmpb"
	"github.com/prism/controlplane/placement"
)

// placementConfig is the placement controller's config from this node's.
func (c Config) placementConfig() controller.PlacementConfig {
	return controller.PlacementConfig{
		Engine:            c.Placement,
		Interval:          c.ReconcileInterval,
		MinRoundGap:       min(controller.DefaultPlacementConfig().MinRoundGap, c.ReconcileInterval),
		ShardDownGrace:    c.ShardDownGrace,
		MoveCooling:       c.MoveCooling,
		MoveShadowTimeout: c.MoveShadowTimeout,
		MoveDrainPeriod:   c.MoveDrainPeriod,
	}
}

// runPlacement runs the placement controller for one leadership stint;
// ready is the stint's shard-session controller (who is ready to take a
// moving namespace over). Graces and move phases are timed by the
// monotonic clock, never by the skewable Config.Clock.
func (n *Node) runPlacement(ctx context.Context, ready controller.Readiness) {
	pc := controller.NewPlacement(n.cfg.placementConfig(), controller.PlacementDeps{
		Log:     n.log.With("component", "placement"),
		Applier: leaderApplier{n},
		State:   n.fsm,
		Clock:   realClock{},
		Ready:   ready,
	})
	n.placement.Store(pc)
	defer n.placement.CompareAndSwap(pc, nil)
	pc.Run(ctx)
}

// The read helpers below are what rpc answers with on any node: each is a
// pure function of the replicated state (controller's), the same the
// leader's placement controller runs, so a follower answers what the
// leader does.

// PlacementInput maps the replicated state to the placement engine's
// input (controller.PlacementInput).
func (n *Node) PlacementInput() placement.Input {
	nss, shs, _ := n.fsm.State()
	return controller.PlacementInput(nss, shs)
}

// PlacementPreview is where the engine would put ns (a namespace as an
// apply would store it) on the current state: its shard, or "" and the
// reason it cannot be placed. ok is false while no shard is registered
// (placement is idle).
func (n *Node) PlacementPreview(ns *fsmpb.Namespace) (shard, reason string, ok bool) {
	return controller.PlacementPreview(n.cfg.Placement, n.PlacementInput(), ns)
}

// PlacementPlan is what the engine would change now (Rebalance when
// maxMoves is not zero: < 0 for the default budget).
func (n *Node) PlacementPlan(rebalance bool, maxMoves int) placement.Plan {
	in := n.PlacementInput()
	if rebalance {
		return placement.Rebalance(n.cfg.Placement, in, maxMoves)
	}
	return placement.Place(n.cfg.Placement, in)
}

// ApplyPlan commits a plan as the leader (controller.ApplyPlan): each
// decision guarded by the namespace revision it was computed from. It
// returns how many changes were committed.
func (n *Node) ApplyPlan(ctx context.Context, p placement.Plan) (int, error) {
	return controller.ApplyPlan(ctx, leaderApplier{n}, n.fsm, p)
}

// PlacementExplain explains where the engine would put a namespace now.
func (n *Node) PlacementExplain(name string) (placement.Explanation, error) {
	return placement.Explain(n.cfg.Placement, n.PlacementInput(), name)
}

// DedicatedShards maps each shard holding a dedicated namespace (the
// engine classes it dedicated, and it is the shard's only namespace) to
// that namespace.
func (n *Node) DedicatedShards() map[string]string {
	return controller.DedicatedShards(n.cfg.Placement, n.PlacementInput())
}

// awaitsPlacement: a provisioning namespace is not activated while shards
// exist and it has none (the lifecycle controller asks).
func (n *Node) awaitsPlacement(ns *fsmpb.Namespace) bool {
	return controller.AwaitsPlacement(n.fsm, ns)
}
