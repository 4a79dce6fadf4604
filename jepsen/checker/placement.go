package checker

import (
	"fmt"
	"sort"
	"strings"
)

// HighWatermark is the placement engine's default high watermark: a shared
// shard above it in some dimension must be relieved.
const HighWatermark = 0.85

// ShardSnap is one shard as a linearizable ListShards saw it.
type ShardSnap struct {
	ID         string     `json:"id"`
	State      string     `json:"state"` // up|suspect|down|draining
	Namespaces []string   `json:"namespaces"`
	Util       [3]float64 `json:"util"` // read, write, data
}

// NsSnap is one live namespace of a linearizable List.
type NsSnap struct {
	Name      string `json:"name"`
	Status    string `json:"status"`
	Reason    string `json:"reason,omitempty"`
	ShardID   string `json:"shard_id,omitempty"`
	Revision  int64  `json:"revision"`
	Dedicated bool   `json:"dedicated,omitempty"`
	// An assignment in motion (ADR-009): shard_id serves (the source in
	// phase shadow, the target from cutover), and the other end also has it.
	MoveFrom  string `json:"move_from,omitempty"`
	MoveTo    string `json:"move_to,omitempty"`
	MovePhase string `json:"move_phase,omitempty"`
}

// on lists the shards a namespace is on: its serving shard, and the other
// end of a move in flight.
func (ns NsSnap) on() []string {
	var out []string
	if ns.ShardID != "" {
		out = append(out, ns.ShardID)
	}
	for _, x := range []string{ns.MoveFrom, ns.MoveTo} {
		if x != "" && x != ns.ShardID {
			out = append(out, x)
		}
	}
	sort.Strings(out)
	return out
}

// AgentSnap is one agent: whether the harness runs it, and its view.
type AgentSnap struct {
	ID            string           `json:"id"`
	Running       bool             `json:"running"`
	KilledForGood bool             `json:"killed_for_good,omitempty"`
	Err           string           `json:"err,omitempty"` // GET /assignments failed
	ViewShard     string           `json:"view_shard,omitempty"`
	ViewRev       int64            `json:"view_rev,omitempty"`
	View          map[string]int64 `json:"view,omitempty"` // name -> revision
}

// Snapshot is what the shard checkers look at after healing: the shards,
// the namespaces, `namespace list --shard ID` of every agent's shard (all
// linearizable, taken before the agents' views) and each agent's view.
type Snapshot struct {
	At         int64                       `json:"at"`
	Rev        int64                       `json:"rev"`
	Shards     []ShardSnap                 `json:"shards"`
	Namespaces []NsSnap                    `json:"namespaces"`
	ByShard    map[string]map[string]int64 `json:"by_shard"` // shard -> name -> revision
	Agents     []AgentSnap                 `json:"agents"`
}

// Placement checks the placement invariants on the namespaces named with
// prefix (the shards workload's), once settled:
//   - every active one is on exactly one shard, which exists and is up (its
//     shard_id names it and it is in that shard's namespace list only; no
//     move is in flight once settled: during one, both ends list it);
//   - none is left unplaced: a live one is active, or provisioning with an
//     "unschedulable: " reason, or degraded on a shard that is not up;
//   - a shard hosting a dedicated namespace hosts nothing else;
//   - no shared shard is above the high watermark in any dimension;
//   - no other namespace (reg-*, set-*: a backend no agent serves) is placed.
func Placement(s Snapshot, prefix string) Result {
	r := Result{Name: "placement", OK: true}
	shards := map[string]ShardSnap{}
	listedOn := map[string][]string{}
	for _, sh := range s.Shards {
		shards[sh.ID] = sh
		for _, n := range sh.Namespaces {
			listedOn[n] = append(listedOn[n], sh.ID)
		}
	}
	dedicatedOn := map[string]string{}
	active, placed := 0, 0
	moving := 0
	for _, ns := range s.Namespaces {
		if ns.ShardID != "" {
			placed++
			if ns.Dedicated {
				for _, id := range ns.on() {
					dedicatedOn[id] = ns.Name
				}
			}
		}
		l := append([]string(nil), listedOn[ns.Name]...)
		sort.Strings(l)
		if want := ns.on(); strings.Join(l, ",") != strings.Join(want, ",") {
			r.fail("%s (shard_id %q, move %q→%q) is listed on shards %v, want %v", ns.Name, ns.ShardID, ns.MoveFrom, ns.MoveTo, l, want)
		}
		if ns.MoveTo != "" {
			moving++
			// Once settled no move is in flight: a namespace is on exactly
			// one shard.
			r.fail("%s is still moving %s→%s (phase %s) after settling", ns.Name, ns.MoveFrom, ns.MoveTo, ns.MovePhase)
		}
		if !strings.HasPrefix(ns.Name, prefix) {
			if ns.ShardID != "" {
				// reg-* and set-* use a backend no agent serves: placing one
				// would also break the register model's single writer.
				r.fail("%s is on shard %s, but no shard serves its backend", ns.Name, ns.ShardID)
			}
			continue
		}
		sh, exists := shards[ns.ShardID]
		switch ns.Status {
		case "active":
			active++
			switch {
			case ns.ShardID == "":
				r.fail("%s is active but on no shard", ns.Name)
			case !exists:
				r.fail("%s is active on shard %s, which does not exist", ns.Name, ns.ShardID)
			case sh.State != "up":
				r.fail("%s is active on shard %s, which is %s", ns.Name, ns.ShardID, sh.State)
			}
		case "provisioning":
			if !strings.HasPrefix(ns.Reason, "unschedulable: ") {
				r.fail("%s is still provisioning (%q), not placed", ns.Name, ns.Reason)
			}
		case "degraded":
			if exists && sh.State == "up" {
				r.fail("%s is degraded on shard %s, which is up", ns.Name, ns.ShardID)
			}
		}
	}
	for id, name := range dedicatedOn {
		if sh := shards[id]; len(sh.Namespaces) != 1 {
			r.fail("dedicated %s shares shard %s with %v", name, id, sh.Namespaces)
		}
	}
	for _, sh := range s.Shards {
		if dedicatedOn[sh.ID] != "" {
			continue
		}
		for i, dim := range []string{"read", "write", "data"} {
			if sh.Util[i] > HighWatermark+1e-9 {
				r.fail("shared shard %s is at %.3f %s utilization, above the high watermark %.2f", sh.ID, sh.Util[i], dim, HighWatermark)
			}
		}
	}
	r.Note = fmt.Sprintf("%d shards, %d namespaces placed, %d %s* active, %d dedicated, %d moving", len(s.Shards), placed, active, prefix, len(dedicatedOn), moving)
	return r
}

// AgentConvergence: every running agent's GET /assignments (names and
// revisions) equals the linearizable `namespace list --shard ID`.
func AgentConvergence(s Snapshot) Result {
	r := Result{Name: "agent-convergence", OK: true}
	n := 0
	for _, a := range s.Agents {
		if !a.Running {
			continue
		}
		n++
		if a.Err != "" {
			r.fail("agent %s: %s", a.ID, a.Err)
			continue
		}
		if a.ViewShard != a.ID {
			r.fail("agent %s serves the view of shard %q", a.ID, a.ViewShard)
		}
		want := s.ByShard[a.ID]
		if d := diffRevs(a.View, want); d != "" {
			r.fail("agent %s (view rev %d) differs from namespace list --shard %s (rev %d): %s", a.ID, a.ViewRev, a.ID, s.Rev, d)
		}
	}
	r.Note = fmt.Sprintf("%d running agents", n)
	return r
}

func diffRevs(got, want map[string]int64) string {
	var d []string
	for name, rv := range want {
		if g, ok := got[name]; !ok {
			d = append(d, fmt.Sprintf("missing %s@%d", name, rv))
		} else if g != rv {
			d = append(d, fmt.Sprintf("%s@%d, want @%d", name, g, rv))
		}
	}
	for name, g := range got {
		if _, ok := want[name]; !ok {
			d = append(d, fmt.Sprintf("extra %s@%d", name, g))
		}
	}
	sort.Strings(d)
	if len(d) > 10 {
		d = append(d[:10], fmt.Sprintf("... %d more", len(d)-10))
	}
	return strings.Join(d, ", ")
}

// ShardLiveness: the shard of every running agent is up; the shard of an
// agent killed for good is suspect or down; every agent's shard exists.
func ShardLiveness(s Snapshot, name string) Result {
	r := Result{Name: name, OK: true}
	state := map[string]string{}
	for _, sh := range s.Shards {
		state[sh.ID] = sh.State
	}
	var notes []string
	for _, a := range s.Agents {
		st, ok := state[a.ID]
		notes = append(notes, a.ID+"="+st)
		switch {
		case !ok:
			r.fail("shard %s of agent %s is not registered", a.ID, a.ID)
		case a.Running && st != "up":
			r.fail("agent %s runs but its shard is %s", a.ID, st)
		case a.KilledForGood && st != "suspect" && st != "down":
			r.fail("agent %s was killed and not restarted, but its shard is %s", a.ID, st)
		}
	}
	r.Note = strings.Join(notes, " ")
	return r
}
