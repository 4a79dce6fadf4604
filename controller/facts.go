package controller

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/prism/controlplane/fsm"
	"github.com/prism/controlplane/fsm/fsmpb"
)

// commitFacts turns what the controller measures into committed facts
// placement reads: a shard down for ShardDownGrace is past its grace; a
// namespace moved MoveCooling ago has cooled. Measures start when this
// controller first saw the state (elapsed), so a leader change delays a
// fact by at most one period and a skewed wall clock delays nothing. It
// also forgets the measures of states gone.
func (p *Placement) commitFacts(ctx context.Context) {
	live := map[string]bool{}
	shards, _ := p.deps.State.ListShards()
	for _, sh := range shards {
		if sh.State != fsmpb.ShardState_SHARD_STATE_DOWN || sh.GraceExpired {
			continue
		}
		key := fmt.Sprintf("down/%s/%d", sh.Spec.GetId(), sh.Revision)
		live[key] = true
		if p.elapsed(key) < p.cfg.ShardDownGrace {
			continue
		}
		p.commitFact(ctx, &fsmpb.Command{Body: &fsmpb.Command_ExpireShardGrace{ExpireShardGrace: &fsmpb.ExpireShardGrace{
			Id: sh.Spec.GetId(), IfRevision: sh.Revision}}})
	}
	for _, ns := range p.deps.State.Cooling() {
		key := fmt.Sprintf("cool/%s/%d", ns.Spec.GetName(), ns.CoolingSinceRevision)
		live[key] = true
		if p.elapsed(key) < p.cfg.MoveCooling {
			continue
		}
		p.commitFact(ctx, &fsmpb.Command{Body: &fsmpb.Command_EndCooling{EndCooling: &fsmpb.EndCooling{
			Name: ns.Spec.GetName(), IfRevision: ns.Revision}}})
	}
	for _, ns := range p.deps.State.Moving() {
		live[moveKey(ns)] = true
	}
	for k := range p.observed {
		if !live[k] {
			delete(p.observed, k)
		}
	}
}

// commitFact commits one placement fact; a state that changed meanwhile is
// measured again next round.
func (p *Placement) commitFact(ctx context.Context, cmd *fsmpb.Command) {
	res, err := p.deps.Applier.Apply(ctx, cmd)
	if err == nil {
		err = res.Err
	}
	if err != nil && !errors.Is(err, fsm.ErrRevisionMismatch) && !errors.Is(err, fsm.ErrFailedPrecondition) {
		p.deps.Log.Warn("committing a placement fact failed", "fact", fsm.BodyName(cmd), "err", err)
	}
}

// elapsed is how long a state (a shard down, a move phase, a cooling) has
// lasted by this controller's clock since it first saw the state (key
// names the state and its revision), not by the stamp in its command: a
// leader whose wall clock ran ahead stamps times in the future, which
// would hold a cutover up for as long as the skew; one whose clock runs
// behind would cut a grace short. A new leader starts its own measure, so
// a leader change delays a grace or a phase by at most one period.
func (p *Placement) elapsed(key string) time.Duration {
	now := p.deps.Clock.Now()
	first, ok := p.observed[key]
	if !ok {
		p.observed[key], first = now, now
	}
	return now.Sub(first)
}
