package controller

import (
	"math"
	"strings"

	"github.com/prism/controlplane/fsm/fsmpb"
	"github.com/prism/controlplane/placement"
)

// unschedulablePrefix starts the status reason of a namespace placement
// cannot place; the lifecycle keeps such a namespace provisioning.
const unschedulablePrefix = "unschedulable: "

// PlacementInput maps the replicated state (every namespace and shard at
// one revision) to the placement engine's input. It reads nothing but the
// state: a down shard's grace and a moved namespace's cooling are facts
// the leader commits (facts.go), so the same state gives the same input,
// and the same plan, on any node. Deleting namespaces keep their shard's
// capacity until deleted.
func PlacementInput(nss []*fsmpb.Namespace, shs []*fsmpb.Shard) placement.Input {
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
		if ns.Status == stDeleted {
			continue
		}
		in.Namespaces = append(in.Namespaces, toPlacementNS(ns))
	}
	return in
}

func toPlacementNS(ns *fsmpb.Namespace) placement.Namespace {
	sp := ns.Spec
	c := sp.GetCapacity()
	pn := placement.Namespace{
		Name:         sp.GetName(),
		Demand:       placement.Load{ReadRPS: c.GetEstimatedReadRps(), WriteRPS: c.GetEstimatedWriteRps(), DataMB: gbToMB(c.GetEstimatedDataSizeGb())},
		Backend:      sp.GetBackend(),
		Isolation:    sp.GetPlacement().GetIsolation(),
		Labels:       sp.GetPlacement().GetLabels(),
		CurrentShard: ns.ShardId,
		Pinned:       ns.Pinned || (ns.Status == stDeleting && ns.ShardId != ""),
	}
	if m := ns.Move; m != nil {
		pn.Moving = &placement.Move{From: m.From, To: m.To}
	}
	pn.MovedRecently = ns.CoolingSinceRevision != 0
	return pn
}

func gbToMB(gb float64) int64 { return int64(math.Round(gb * 1000)) }

// PlacementPreview is where the engine (cfg) would put ns, a namespace as
// an apply would store it, on input in: its shard, or "" and the reason
// it cannot be placed. ok is false while no shard is registered
// (placement is idle).
func PlacementPreview(cfg placement.Config, in placement.Input, ns *fsmpb.Namespace) (shard, reason string, ok bool) {
	if len(in.Shards) == 0 {
		return "", "", false
	}
	pn := toPlacementNS(ns)
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
	for _, d := range placement.Place(cfg, in).Decisions {
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

// DedicatedShards maps each shard holding a dedicated namespace (the
// engine classes it dedicated, and it is the shard's only namespace) to
// that namespace.
func DedicatedShards(cfg placement.Config, in placement.Input) map[string]string {
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
		if class, _ := placement.Classify(cfg, shards, only[id]); class == placement.ClassDedicated {
			out[id] = only[id].Name
		}
	}
	return out
}

// AwaitsPlacement: a provisioning namespace is not activated while shards
// exist and it has none (placement first; unschedulable ones wait). The
// lifecycle controller asks it (LifecycleDeps.AwaitsPlacement).
func AwaitsPlacement(st ShardState, ns *fsmpb.Namespace) bool {
	if ns.ShardId != "" {
		return false
	}
	if strings.HasPrefix(ns.StatusReason, unschedulablePrefix) {
		return true
	}
	shs, _ := st.ListShards()
	return len(shs) > 0
}
