package cluster

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/prism/controlplane/controller"
	"github.com/prism/controlplane/fsm"
	"github.com/prism/controlplane/fsm/fsmpb"
	"github.com/prism/controlplane/placement"
)

// unschedulablePrefix starts the status reason of a namespace placement
// cannot place; the lifecycle keeps such a namespace provisioning.
const unschedulablePrefix = "unschedulable: "

// PlacementInput maps the replicated state to the placement engine's
// input. It reads nothing but the state: a down shard's grace and a moved
// namespace's cooling are facts the leader commits (commitPlacementFacts),
// so the same state gives the same input, and the same plan, on any node.
// Deleting namespaces keep their shard's capacity until deleted.
func (n *Node) PlacementInput() placement.Input {
	nss, shs, _ := n.fsm.State()
	var in placement.Input
	for _, sh := range shs {
		st := placement.Up
		switch sh.State {
		case fsmpb.ShardState_SHARD_STATE_SUSPECT:
			st = placement.Suspect
		case fsmpb.ShardState_SHARD_STATE_DOWN:
			st = placement.Down
		case fsmpb.ShardState_SHARD_STATE_DRAINING:
			st = placement.Draining
		}
		c := sh.Spec.GetCapacity()
		in.Shards = append(in.Shards, placement.Shard{
			ID:       sh.Spec.GetId(),
			Capacity: placement.Load{ReadRPS: c.GetReadRps(), WriteRPS: c.GetWriteRps(), DataMB: gbToMB(c.GetDataGb())},
			Backends: sh.Spec.GetBackends(), Labels: sh.Spec.GetLabels(), State: st,
			DownPastGrace: st == placement.Down && sh.GraceExpired,
		})
	}
	for _, ns := range nss {
		if ns.Status == fsmpb.NamespaceStatus_NAMESPACE_STATUS_DELETED {
			continue
		}
		in.Namespaces = append(in.Namespaces, n.toPlacementNS(ns))
	}
	return in
}

func (n *Node) toPlacementNS(ns *fsmpb.Namespace) placement.Namespace {
	sp := ns.Spec
	c := sp.GetCapacity()
	pn := placement.Namespace{
		Name:         sp.GetName(),
		Demand:       placement.Load{ReadRPS: c.GetEstimatedReadRps(), WriteRPS: c.GetEstimatedWriteRps(), DataMB: gbToMB(c.GetEstimatedDataSizeGb())},
		Backend:      sp.GetBackend(),
		Isolation:    sp.GetPlacement().GetIsolation(),
		Labels:       sp.GetPlacement().GetLabels(),
		CurrentShard: ns.ShardId,
		Pinned:       ns.Pinned || (ns.Status == fsmpb.NamespaceStatus_NAMESPACE_STATUS_DELETING && ns.ShardId != ""),
	}
	if m := ns.Move; m != nil {
		pn.Moving = &placement.Move{From: m.From, To: m.To}
	}
	pn.MovedRecently = ns.CoolingSinceRevision != 0
	return pn
}

// PlacementPreview is where the engine would put ns (a namespace as an
// apply would store it) on the current state: its shard, or "" and the
// reason it cannot be placed. ok is false while no shard is registered
// (placement is idle).
func (n *Node) PlacementPreview(ns *fsmpb.Namespace) (shard, reason string, ok bool) {
	in := n.PlacementInput()
	if len(in.Shards) == 0 {
		return "", "", false
	}
	pn := n.toPlacementNS(ns)
	replaced := false
	for i := range in.Namespaces {
		if in.Namespaces[i].Name == pn.Name {
			in.Namespaces[i], replaced = pn, true
		}
	}
	if !replaced {
		in.Namespaces = append(in.Namespaces, pn)
	}
	shard = ns.ShardId
	for _, d := range placement.Place(n.cfg.Placement, in).Decisions {
		if d.Namespace != pn.Name {
			continue
		}
		switch d.Kind {
		case placement.KindAssign, placement.KindMove:
			shard = d.Shard
		case placement.KindUnschedulable:
			return "", unschedulablePrefix + d.Reason, true
		}
	}
	return shard, "", true
}

// elapsed is how long a state (a shard down, a move phase) has lasted, by
// this node's monotonic clock since it first saw the state (key names the
// state and its revision), not by the stamp in its command: a leader whose
// clock ran ahead stamps times in the future, which held a cutover up for
// as long as the skew (found by the Jepsen clock fault); one whose clock runs
// behind would cut a grace short. A new leader starts its own measure, so a
// leader change delays a grace or a phase by at most one period.
func (n *Node) elapsed(key string) time.Duration {
	first, _ := n.observed.LoadOrStore(key, time.Now())
	return time.Since(first.(time.Time))
}

func gbToMB(gb float64) int64 { return int64(math.Round(gb * 1000)) }

// PlacementPlan is what the engine would change now (Rebalance when
// maxMoves is not zero: < 0 for the default budget).
func (n *Node) PlacementPlan(rebalance bool, maxMoves int) placement.Plan {
	in := n.PlacementInput()
	if rebalance {
		return placement.Rebalance(n.cfg.Placement, in, maxMoves)
	}
	return placement.Place(n.cfg.Placement, in)
}

// ApplyPlan commits a plan's assignments and moves, each guarded by the
// namespace revision the plan was computed from, and records unschedulable
// and degraded namespaces in their status. It returns how many changes
// were committed; a namespace that changed meanwhile is skipped (the next
// round plans it again).
func (n *Node) ApplyPlan(ctx context.Context, p placement.Plan) (int, error) {
	done := 0
	for _, d := range p.Decisions {
		ns, _, err := n.fsm.Get(d.Namespace)
		if err != nil {
			continue
		}
		var cmd *fsmpb.Command
		switch d.Kind {
		case placement.KindAssign, placement.KindMove:
			if ns.ShardId == d.Shard || ns.Move != nil {
				continue
			}
			if d.Kind == placement.KindMove && n.sourceServes(ns.ShardId) {
				// A live source: move in phases (ADR-009), shadow first.
				cmd = &fsmpb.Command{Body: &fsmpb.Command_MoveNamespace{MoveNamespace: &fsmpb.MoveNamespace{
					Name: d.Namespace, To: d.Shard, Phase: fsmpb.MovePhase_MOVE_PHASE_SHADOW, IfRevision: ns.Revision}}}
				break
			}
			cmd = &fsmpb.Command{Body: &fsmpb.Command_AssignNamespace{AssignNamespace: &fsmpb.AssignNamespace{
				Name: d.Namespace, ShardId: d.Shard, Pinned: ns.Pinned, IfRevision: ns.Revision,
				StartCooling: d.Kind == placement.KindMove}}}
		case placement.KindUnschedulable:
			reason := fsm.TruncateReason(unschedulablePrefix + d.Reason) // as stored
			if ns.Status != fsmpb.NamespaceStatus_NAMESPACE_STATUS_PROVISIONING || ns.StatusReason == reason {
				continue
			}
			cmd = statusCmd(ns, fsmpb.NamespaceStatus_NAMESPACE_STATUS_PROVISIONING, reason)
		case placement.KindDegraded:
			if ns.Status != fsmpb.NamespaceStatus_NAMESPACE_STATUS_ACTIVE {
				continue
			}
			cmd = statusCmd(ns, fsmpb.NamespaceStatus_NAMESPACE_STATUS_DEGRADED, d.Reason)
		default:
			continue
		}
		res, err := n.applyAsLeader(ctx, cmd)
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
// draining), so the move can shadow first; off a dead or removed shard the
// namespace is reassigned at once.
func (n *Node) sourceServes(id string) bool {
	sh, _, err := n.fsm.GetShard(id)
	if err != nil {
		return false
	}
	return sh.State == fsmpb.ShardState_SHARD_STATE_UP || sh.State == fsmpb.ShardState_SHARD_STATE_DRAINING
}

// advanceMoves moves each move in flight one phase on: a shadow move
// cuts over once its target shard says it is ready (or after
// MoveShadowTimeout), and is aborted if its target stops being up; a
// cut-over move is done after MoveDrainPeriod. Each step is guarded by the
// namespace revision it saw.
func (n *Node) advanceMoves(ctx context.Context) {
	for _, ns := range n.fsm.Moving() {
		m := ns.Move
		body := &fsmpb.MoveNamespace{Name: ns.Spec.GetName(), To: m.To, IfRevision: ns.Revision}
		since := n.elapsed(fmt.Sprintf("move/%s/%d", ns.Spec.GetName(), ns.Revision))
		switch m.Phase {
		case fsmpb.MovePhase_MOVE_PHASE_SHADOW:
			sh, _, err := n.fsm.GetShard(m.To)
			switch {
			case err != nil || sh.State != fsmpb.ShardState_SHARD_STATE_UP:
				body.Abort = true
			case n.shardReady(m.To, body.Name) || since >= n.cfg.MoveShadowTimeout:
				body.Phase = fsmpb.MovePhase_MOVE_PHASE_CUTOVER
			default:
				continue
			}
		case fsmpb.MovePhase_MOVE_PHASE_CUTOVER:
			if since < n.cfg.MoveDrainPeriod {
				continue
			}
		}
		res, err := n.applyAsLeader(ctx, &fsmpb.Command{Body: &fsmpb.Command_MoveNamespace{MoveNamespace: body}})
		if err == nil {
			err = res.Err
		}
		switch {
		case err == nil, errors.Is(err, fsm.ErrRevisionMismatch):
		case errors.Is(err, fsm.ErrNotFound), errors.Is(err, fsm.ErrFailedPrecondition), errors.Is(err, fsm.ErrShardNotFound):
			// This namespace's move changed under us: the others still advance.
			n.log.Warn("advancing a move failed", "namespace", body.Name, "err", err)
			continue
		default: // no quorum or leadership lost: try again next round
			n.log.Warn("advancing a move failed", "namespace", body.Name, "err", err)
			return
		}
		if err == nil {
			n.log.Info("move advanced", "namespace", body.Name, "from", m.From, "to", m.To, "was", m.Phase, "abort", body.Abort)
		}
	}
}

// shardReady: this stint's session controller heard shard say it is
// ready to take ns over.
func (n *Node) shardReady(shard, ns string) bool {
	sc := n.sessions.Load()
	return sc != nil && sc.IsReady(shard, ns)
}

// placeNamespaces is the leader's placement round: it runs when the state
// changed since the last round (a grace running out or a cooling ending is
// a committed change too). Placement stays idle while no shard is
// registered: namespaces then go active unplaced, as before shards existed.
func (n *Node) placeNamespaces(ctx context.Context) {
	// Checked before building the input: that copies the whole state.
	rev := n.fsm.Revision()
	if rev == n.placedAt.Load() {
		return
	}
	in := n.PlacementInput()
	if len(in.Shards) == 0 {
		n.placedAt.Store(rev)
		return
	}
	p := placement.Place(n.cfg.Placement, in)
	changed, err := n.ApplyPlan(ctx, p)
	if err != nil {
		n.log.Warn("placement round failed", "err", err)
		return
	}
	n.restoreDegraded(ctx, p)
	if changed > 0 {
		n.log.Info("placement round", "changes", changed, "assigns", p.Assigns, "moves", p.Moves, "unschedulable", p.Unschedulable, "degraded", p.Degraded)
	}
	n.placedAt.Store(rev)
}

// restoreDegraded returns degraded namespaces to active once the engine no
// longer reports them degraded (their shard is back, or they moved).
func (n *Node) restoreDegraded(ctx context.Context, p placement.Plan) {
	still := map[string]bool{}
	for _, d := range p.Decisions {
		if d.Kind == placement.KindDegraded {
			still[d.Namespace] = true
		}
	}
	list, _ := n.fsm.List(fsm.Filter{Status: fsmpb.NamespaceStatus_NAMESPACE_STATUS_DEGRADED})
	for _, ns := range list {
		if still[ns.Spec.GetName()] || controller.IsResourceReason(ns.StatusReason) {
			continue // still degraded, or degraded by its resources (the lifecycle controller's)
		}
		res, err := n.applyAsLeader(ctx, statusCmd(ns, fsmpb.NamespaceStatus_NAMESPACE_STATUS_ACTIVE, "serving shard is up"))
		if err == nil {
			err = res.Err
		}
		if err != nil && !errors.Is(err, fsm.ErrRevisionMismatch) {
			n.log.Warn("restoring a degraded namespace failed", "namespace", ns.Spec.GetName(), "err", err)
		}
	}
}

// awaitsPlacement: a provisioning namespace is not activated while shards
// exist and it has none (placement first; unschedulable ones wait).
func (n *Node) awaitsPlacement(ns *fsmpb.Namespace) bool {
	if ns.ShardId != "" {
		return false
	}
	if strings.HasPrefix(ns.StatusReason, unschedulablePrefix) {
		return true
	}
	shs, _ := n.fsm.ListShards()
	return len(shs) > 0
}

// PlacementExplain explains where the engine would put a namespace now.
func (n *Node) PlacementExplain(name string) (placement.Explanation, error) {
	return placement.Explain(n.cfg.Placement, n.PlacementInput(), name)
}

// DedicatedShards maps each shard holding a dedicated namespace (the
// engine classes it dedicated, and it is the shard's only namespace) to
// that namespace.
func (n *Node) DedicatedShards() map[string]string {
	in := n.PlacementInput()
	count := map[string]int{}
	only := map[string]placement.Namespace{}
	for _, ns := range in.Namespaces {
		if ns.CurrentShard != "" {
			count[ns.CurrentShard]++
			only[ns.CurrentShard] = ns
		}
	}
	shards := placement.Input{Shards: in.Shards}
	out := map[string]string{}
	for id, c := range count {
		if c != 1 {
			continue
		}
		if class, _ := placement.Classify(n.cfg.Placement, shards, only[id]); class == placement.ClassDedicated {
			out[id] = only[id].Name
		}
	}
	return out
}

func statusCmd(ns *fsmpb.Namespace, st fsmpb.NamespaceStatus, reason string) *fsmpb.Command {
	return &fsmpb.Command{Body: &fsmpb.Command_SetNamespaceStatus{SetNamespaceStatus: &fsmpb.SetNamespaceStatus{
		Name: ns.Spec.GetName(), Status: st, Reason: fsm.TruncateReason(reason), IfRevision: ns.Revision,
	}}}
}
