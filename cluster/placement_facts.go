package cluster

import (
	"context"
	"errors"
	"fmt"

	"github.com/prism/controlplane/fsm"
	"github.com/prism/controlplane/fsm/fsmpb"
)

// commitPlacementFacts turns what the leader measures by its monotonic
// clock into committed facts placement reads: a shard down for
// ShardDownGrace is past its grace; a namespace moved MoveCooling ago has
// cooled. Measures start when this leader first saw the state (elapsed),
// so a leader change delays a fact by at most one period and a skewed
// clock delays nothing. It also forgets the measures of states gone.
func (n *Node) commitPlacementFacts(ctx context.Context) {
	live := map[string]bool{}
	shards, _ := n.fsm.ListShards()
	for _, sh := range shards {
		if sh.State != fsmpb.ShardState_SHARD_STATE_DOWN || sh.GraceExpired {
			continue
		}
		key := fmt.Sprintf("down/%s/%d", sh.Spec.GetId(), sh.Revision)
		live[key] = true
		if n.elapsed(key) < n.cfg.ShardDownGrace {
			continue
		}
		n.commitFact(ctx, &fsmpb.Command{Body: &fsmpb.Command_ExpireShardGrace{ExpireShardGrace: &fsmpb.ExpireShardGrace{
			Id: sh.Spec.GetId(), IfRevision: sh.Revision}}})
	}
	for _, ns := range n.fsm.Cooling() {
		key := fmt.Sprintf("cool/%s/%d", ns.Spec.GetName(), ns.CoolingSinceRevision)
		live[key] = true
		if n.elapsed(key) < n.cfg.MoveCooling {
			continue
		}
		n.commitFact(ctx, &fsmpb.Command{Body: &fsmpb.Command_EndCooling{EndCooling: &fsmpb.EndCooling{
			Name: ns.Spec.GetName(), IfRevision: ns.Revision}}})
	}
	for _, ns := range n.fsm.Moving() {
		live[fmt.Sprintf("move/%s/%d", ns.Spec.GetName(), ns.Revision)] = true
	}
	n.observed.Range(func(k, _ any) bool {
		if !live[k.(string)] {
			n.observed.Delete(k)
		}
		return true
	})
}

// commitFact commits one placement fact; a state that changed meanwhile is
// measured again next round.
func (n *Node) commitFact(ctx context.Context, cmd *fsmpb.Command) {
	res, err := n.applyAsLeader(ctx, cmd)
	if err == nil {
		err = res.Err
	}
	if err != nil && !errors.Is(err, fsm.ErrRevisionMismatch) && !errors.Is(err, fsm.ErrFailedPrecondition) {
		n.log.Warn("committing a placement fact failed", "fact", fsm.BodyName(cmd), "err", err)
	}
}
