package cluster

import (
	"context"

	"github.com/prism/controlplane/controller"
	"github.com/prism/controlplane/fsm"
	"github.com/prism/controlplane/fsm/fsmpb"
)

// leaderApplier is the lifecycle controller's view of this node: commits
// as the leader (never forwarded) and leadership checks.
type leaderApplier struct{ n *Node }

func (a leaderApplier) Apply(ctx context.Context, cmd *fsmpb.Command) (fsm.Result, error) {
	return a.n.applyAsLeader(ctx, cmd)
}

func (a leaderApplier) VerifyLeader(ctx context.Context) error { return a.n.verifyLeader(ctx) }

// runLifecycle runs the lifecycle controller for one leadership stint, in
// a loop of its own: it never shares a round with placement.
func (n *Node) runLifecycle(ctx context.Context) {
	lc := controller.NewLifecycle(n.cfg.lifecycleConfig(n.deps.Provisioners == nil), controller.LifecycleDeps{
		Log:             n.log.With("component", "lifecycle"),
		Applier:         leaderApplier{n},
		State:           n.fsm,
		Clock:           n.clock,
		Provisioners:    n.deps.Provisioners,
		Targets:         n.deps.Targets,
		AwaitsPlacement: n.awaitsPlacement,
		Hooks:           n.deps.LifecycleHooks,
		Metrics:         n.lcMetrics,
	})
	n.lifecycle.Store(lc)
	defer n.lifecycle.CompareAndSwap(lc, nil)
	lc.Run(ctx)
}
