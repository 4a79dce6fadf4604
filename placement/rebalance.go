package placement

import (
	"cmp"
	"fmt"
	"slices"
)

// Rebalance runs the steady-state step of Place and then spends up to
// maxMoves extra moves (cfg.RebalanceMaxMoves, or 0.5 % of the namespaces
// and at least 1, when maxMoves <= 0) on balance. Each round looks at the
// used shared shards from the busiest down and makes the single move that
// most lowers max(source, destination) worst-dimension utilization, if that
// gain is at least RebalanceMinGain. Destinations are used shared shards
// that stay within TargetUtil (empty shards stay free for dedicated
// namespaces). Pinned, in-flight, moved-recently and dedicated namespaces,
// and those already changed by this plan, never move. Plan.Moves counts the
// step's moves too.
func Rebalance(cfg Config, in Input, maxMoves int) Plan {
	s := newState(cfg, in)
	s.step()
	if maxMoves <= 0 {
		maxMoves = s.cfg.rebalanceBudget(s.nss.len())
	}
	s.rebalance(maxMoves)
	return s.plan()
}

func (s *State) rebalance(budget int) {
	minGain := max(s.cfg.RebalanceMinGain*1000, 1)
	var srcs []int32
	for moves := 0; moves < budget; moves++ {
		srcs = srcs[:0]
		low := inf
		for i := range s.shards {
			if sh := &s.shards[i]; sh.isOpen() {
				srcs = append(srcs, int32(i))
				low = min(low, sh.worst)
			}
		}
		slices.SortFunc(srcs, func(a, b int32) int {
			return cmp.Or(cmp.Compare(s.shards[b].worst, s.shards[a].worst), cmp.Compare(a, b))
		})
		moved := false
		for _, i := range srcs {
			sh := &s.shards[i]
			if sh.worst-low < minGain {
				break
			}
			if s.rebalanceFrom(i, minGain) {
				moved = true
				break
			}
		}
		if !moved {
			return
		}
	}
}

// rebalanceFrom makes the best qualifying move off shard i, if any.
func (s *State) rebalanceFrom(i int32, minGain int64) bool {
	sh := &s.shards[i]
	best, bestDest, bestGain, bestSize := int32(-1), int32(-1), int64(0), int64(0)
	members := slices.Clone(sh.members)
	slices.Sort(members)
	for _, idx := range members {
		n := s.nss.at(idx)
		if !movable(n) || n.loc != i {
			continue
		}
		d, after := s.scanOpen(n, s.cfg.TargetUtil, i)
		if d < 0 {
			continue
		}
		gain := sh.worst - max(worstPPM(sh.load.sub(n.dem), sh.capa), after)
		size := worstPPM(n.dem, sh.capa)
		if gain > bestGain || (gain == bestGain && best >= 0 && size < bestSize) {
			best, bestDest, bestGain, bestSize = idx, d, gain, size
		}
	}
	if best < 0 || bestGain < minGain {
		return false
	}
	n := s.nss.at(best)
	dest := &s.shards[bestDest]
	after := worstPPM(dest.load.add(n.dem), dest.capa)
	before := sh.worst
	s.vacate(best, i)
	n.loc = bestDest
	n.touched = true
	s.occupy(best, bestDest, true)
	s.emit(best, Decision{Namespace: n.Name, Shard: dest.id, From: sh.id, Kind: KindMove,
		Score: permille(after),
		Reason: fmt.Sprintf("rebalance: shard %s %s -> %s, shard %s -> %s", sh.id,
			fmtPermille(permille(before)), fmtPermille(permille(sh.worst)), dest.id, fmtPermille(permille(after)))})
	n.CurrentShard = dest.id
	return true
}
