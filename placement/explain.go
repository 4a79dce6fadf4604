package placement

import (
	"cmp"
	"fmt"
	"slices"
)

// Candidate is one shard as seen by Explain.
type Candidate struct {
	Shard    string
	Accepted bool
	// Tier is where an accepted shard stands in the engine's preference:
	// "open" (used, within the pack limit), "empty", "fallback" (used, above
	// the pack limit but within TargetUtil). "" when rejected.
	Tier       string
	Constraint string // first failed constraint (Reject*), "" when accepted
	Reason     string
	Score      int64 // worst-dimension utilization after placement, per mille
}

// Explanation is every shard's verdict for one namespace.
type Explanation struct {
	Namespace   string
	Class       string
	ClassReason string
	Current     string // shard it is on now ("" if none)
	Choice      string // shard the engine would pick if placing it now ("" if none)
	PackLimit   int64  // per mille, for shared namespaces
	// Candidates lists every shard of the input: accepted ones in the
	// engine's order of preference (Choice first), then rejected ones by id.
	Candidates []Candidate
	Rejected   map[string]int
}

// Explain evaluates namespace name against every shard as if it were being
// placed now, with its own load taken off the shards it occupies and every
// other namespace where the input says it is.
func Explain(cfg Config, in Input, name string) (Explanation, error) {
	s := newState(cfg, in)
	idx, ok := s.nsIdx[name]
	if !ok {
		return Explanation{}, fmt.Errorf("%w: %q", ErrUnknownNamespace, name)
	}
	return s.explain(idx), nil
}

// Explain is Explain on the state's current load.
func (s *State) Explain(name string) (Explanation, error) {
	idx, ok := s.nsIdx[name]
	if !ok {
		return Explanation{}, fmt.Errorf("%w: %q", ErrUnknownNamespace, name)
	}
	n := s.nss.at(idx)
	loc, from, to := n.loc, n.from, n.to
	ex := s.explain(idx)
	n.loc, n.from, n.to = loc, from, to
	s.occupyAll(idx, true)
	return ex, nil
}

func (s *State) explain(idx int32) Explanation {
	n := s.nss.at(idx)
	s.vacateAll(idx)
	class, why := s.classify(n)
	ex := Explanation{Namespace: n.Name, Class: className(class), ClassReason: why, Current: n.CurrentShard, Rejected: map[string]int{}}
	if n.inflight {
		ex.Current = n.Moving.From
	}
	dest, _, _, lim := s.choose(n, -1)
	if dest >= 0 {
		ex.Choice = s.shards[dest].id
	}
	ex.PackLimit = lim
	type ranked struct {
		c    Candidate
		rank int
		hash uint64
	}
	var rs []ranked
	for i := range s.shards {
		sh := &s.shards[i]
		if sh.removed {
			continue
		}
		c := Candidate{Shard: sh.id}
		r := ranked{rank: 9}
		if rej := s.reject(n, int32(i), -1); rej != "" {
			ex.Rejected[rej]++
			c.Constraint = rej
			c.Reason = rejectReason(s, n, sh, rej)
		} else {
			after := worstPPM(sh.load.add(n.dem), sh.capa)
			c.Accepted, c.Score = true, permille(after)
			r.hash = rendezvous(n.seed, sh.id)
			switch {
			case sh.count == 0:
				c.Tier, r.rank = tierEmpty, 1
				c.Reason = "empty shard"
			case n.class == cShared && fitsPermille(sh.load.add(n.dem), sh.capa, lim):
				c.Tier, r.rank = tierOpen, 0
				c.Reason = "used shard within pack limit " + fmtPermille(lim)
			default:
				c.Tier, r.rank = tierFallback, 2
				c.Reason = "used shard above pack limit " + fmtPermille(lim) + ", within target " + fmtPermille(s.cfg.TargetUtil)
			}
			if sh.id == ex.Choice {
				c.Reason += "; chosen"
				r.rank = -1
			}
		}
		r.c = c
		rs = append(rs, r)
	}
	slices.SortFunc(rs, func(a, b ranked) int {
		if a.c.Accepted != b.c.Accepted {
			return boolCmp(!a.c.Accepted, !b.c.Accepted)
		}
		if !a.c.Accepted {
			return cmp.Compare(a.c.Shard, b.c.Shard)
		}
		sc := cmp.Compare(a.c.Score, b.c.Score)
		if a.rank == 1 {
			sc = -sc // empty shards: best fit first
		}
		return cmp.Or(cmp.Compare(a.rank, b.rank), sc, cmp.Compare(b.hash, a.hash), cmp.Compare(a.c.Shard, b.c.Shard))
	})
	for _, r := range rs {
		ex.Candidates = append(ex.Candidates, r.c)
	}
	return ex
}

func rejectReason(s *State, n *nsRec, sh *shardRec, rej string) string {
	switch rej {
	case RejectBackend:
		return "does not serve backend " + n.Backend
	case RejectLabels:
		return "lacks required labels"
	case RejectState:
		return "shard is " + sh.state.String()
	case RejectDedicated:
		return "dedicated to another namespace"
	case RejectOccupied:
		return "a dedicated namespace needs an empty shard"
	case RejectCapacity:
		if n.class != cShared {
			return fmt.Sprintf("capacity %s is below demand %s", sh.capa, n.dem)
		}
		nl := sh.load.add(n.dem)
		d := worstDim(nl, sh.capa)
		return fmt.Sprintf("%s would reach %s, above target %s", dimNames[d],
			fmtPermille(permille(utilPPM(nl.at(d), sh.capa.at(d)))), fmtPermille(s.cfg.TargetUtil))
	}
	return rej
}
