package rpc

import (
	"context"
	"fmt"
	"sort"

	"github.com/prism/controlplane/cluster"
	"github.com/prism/controlplane/fsm/fsmpb"
	"github.com/prism/controlplane/placement"
	"github.com/prism/controlplane/rpc/rpcpb"
)

// placementService implements rpcpb.PlacementServiceServer. Plans are
// computed by the serving node from its state as of a linearizable read,
// with the engine's deterministic functions: the same state gives the same
// plan on any node, and a dry run shows exactly what a real run commits.
type placementService struct {
	rpcpb.UnimplementedPlacementServiceServer
	node *cluster.Node
}

// Assign pins a namespace to a shard ("" unassigns and unpins).
func (p *placementService) Assign(ctx context.Context, req *rpcpb.AssignRequest) (*rpcpb.AssignResponse, error) {
	res, err := apply(ctx, p.node, &fsmpb.Command{RequestId: req.RequestId, Body: &fsmpb.Command_AssignNamespace{AssignNamespace: &fsmpb.AssignNamespace{
		Name: req.Name, ShardId: req.ShardId, Pinned: req.ShardId != "",
	}}})
	if err != nil {
		return nil, toStatus(err)
	}
	return &rpcpb.AssignResponse{Namespace: redacted(res.Namespace), Revision: res.Revision}, nil
}

func (p *placementService) Plan(ctx context.Context, _ *rpcpb.PlanRequest) (*rpcpb.PlanResponse, error) {
	if err := p.node.LinearizableBarrier(ctx); err != nil {
		return nil, toStatus(err)
	}
	rev := p.node.FSM().Revision()
	return planResponse(p.node.PlacementPlan(false, 0), rev), nil
}

// Rebalance runs on the leader (a follower answers NO_LEADER and the client
// tries the leader): the plan it commits is the leader's, from the
// leader's state. A dry run is answered by any node.
func (p *placementService) Rebalance(ctx context.Context, req *rpcpb.RebalanceRequest) (*rpcpb.PlanResponse, error) {
	if !req.DryRun && !p.node.IsLeader() {
		return nil, toStatus(fmt.Errorf("%w: rebalance runs on the leader", cluster.ErrNotLeader))
	}
	if err := p.node.LinearizableBarrier(ctx); err != nil {
		return nil, toStatus(err)
	}
	rev := p.node.FSM().Revision()
	plan := p.node.PlacementPlan(true, int(req.MaxMoves))
	resp := planResponse(plan, rev)
	if req.DryRun {
		return resp, nil
	}
	n, err := p.node.ApplyPlan(ctx, plan)
	resp.Applied = int32(n)
	if err != nil {
		return nil, toStatus(err)
	}
	return resp, nil
}

func (p *placementService) Explain(ctx context.Context, req *rpcpb.ExplainRequest) (*rpcpb.ExplainResponse, error) {
	if err := p.node.LinearizableBarrier(ctx); err != nil {
		return nil, toStatus(err)
	}
	rev := p.node.FSM().Revision()
	ex, err := p.node.PlacementExplain(req.Name)
	if err != nil {
		return nil, toStatus(err)
	}
	resp := &rpcpb.ExplainResponse{Namespace: ex.Namespace, Class: ex.Class, ClassReason: ex.ClassReason,
		Current: ex.Current, Choice: ex.Choice, Revision: rev}
	for _, c := range ex.Candidates {
		resp.Candidates = append(resp.Candidates, &rpcpb.PlacementCandidate{Shard: c.Shard, Accepted: c.Accepted, Tier: c.Tier,
			Constraint: c.Constraint, Reason: c.Reason, ScorePermille: c.Score})
	}
	return resp, nil
}

func planResponse(p placement.Plan, rev int64) *rpcpb.PlanResponse {
	resp := &rpcpb.PlanResponse{Assigns: int32(p.Assigns), Moves: int32(p.Moves), Unschedulable: int32(p.Unschedulable),
		Degraded: int32(p.Degraded), Revision: rev}
	for _, d := range p.Decisions {
		pd := &rpcpb.PlanDecision{Namespace: d.Namespace, Kind: d.Kind, Shard: d.Shard, From: d.From, Reason: d.Reason, ScorePermille: d.Score}
		if len(d.Rejected) > 0 {
			pd.Rejected = map[string]int32{}
			keys := make([]string, 0, len(d.Rejected))
			for k := range d.Rejected {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				pd.Rejected[k] = int32(d.Rejected[k])
			}
		}
		resp.Decisions = append(resp.Decisions, pd)
	}
	return resp
}
