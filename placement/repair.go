package placement

import (
	"errors"
	"fmt"
	"slices"
)

// RemoveShards removes shards from the state (as if absent from Input) and
// re-places exactly the namespaces they held. In-flight and pinned
// namespaces on them are reported degraded instead. Unknown ids are
// reported with ErrUnknownShard after the known ones are processed.
func (s *State) RemoveShards(ids ...string) (Plan, error) {
	s.dec, s.decNS = s.dec[:0], s.decNS[:0]
	var errs []error
	var hit []int32
	for _, id := range ids {
		i, ok := s.shardIdx[id]
		if !ok || s.shards[i].removed {
			errs = append(errs, fmt.Errorf("%w: %q", ErrUnknownShard, id))
			continue
		}
		s.detach(i)
		s.shards[i].removed = true
		s.attach(i)
		hit = append(hit, s.shards[i].members...)
	}
	// Classification depends on the candidate shards, which just changed.
	clear(s.plain)
	clear(s.labeled)
	slices.Sort(hit)
	hit = slices.Compact(hit)
	var evicted []int32
	for _, idx := range hit {
		n := s.nss.at(idx)
		switch {
		case n.inflight:
			s.checkInflightRemoved(idx)
		case pinTarget(&n.Namespace) != "":
			s.emit(idx, Decision{Namespace: n.Name, Shard: s.shards[n.loc].id, Kind: KindDegraded,
				Reason: "pinned by operator to shard " + pinTarget(&n.Namespace) + ", which is absent; not moved"})
		default:
			s.vacate(idx, n.loc)
			n.why = "shard " + s.shards[n.loc].id + " removed"
			n.CurrentShard = s.shards[n.loc].id
			n.loc = -1
			n.cls = s.classFor(n.Backend, n.Labels)
			n.class = s.classOf(n)
			n.size = worstPPM(n.dem, n.cls.maxCap)
			evicted = append(evicted, idx)
		}
	}
	s.placeShared(s.order(evicted))
	for _, idx := range evicted {
		n := s.nss.at(idx)
		n.why, n.touched = "", false
		if n.loc >= 0 {
			n.CurrentShard = s.shards[n.loc].id
		} else {
			n.CurrentShard = ""
		}
	}
	return s.plan(), errors.Join(errs...)
}

func (s *State) checkInflightRemoved(idx int32) {
	n := s.nss.at(idx)
	s.emit(idx, Decision{Namespace: n.Name, Shard: n.Moving.From, Kind: KindDegraded,
		Reason: fmt.Sprintf("in-flight move %s→%s: a shard was removed; the caller must abort or finish it", n.Moving.From, n.Moving.To)})
}

// relieve brings every Up shard above HighWatermark back to TargetUtil by
// moving the fewest movable namespaces it can (see relieveShard).
func (s *State) relieve() {
	hw := s.cfg.HighWatermark
	for i := range s.shards {
		sh := &s.shards[i]
		if sh.up() && !fitsPermille(sh.load, sh.capa, hw) {
			s.relieveShard(int32(i))
		}
	}
}

// movable reports whether the engine may move n off its shard by choice
// (not forced): not pinned, not in flight, not cooling, shared, untouched.
func movable(n *nsRec) bool {
	return !n.Pinned && !n.inflight && !n.MovedRecently && n.class == cShared && !n.touched && n.loc >= 0
}

// relieveShard picks namespaces to move off shard i until its load is
// within TargetUtil in every dimension. Each round takes, if one exists, the
// smallest namespace whose removal alone clears the remaining excess;
// otherwise the one covering the largest share of the remaining excess
// (summed over the dimensions in excess). In one dimension this greedy is
// optimal in the number of moves. A namespace with no destination is
// skipped; if the excess cannot be cleared the moves that help are made.
func (s *State) relieveShard(i int32) {
	sh := &s.shards[i]
	var cands []int32
	for _, idx := range sh.members {
		if n := s.nss.at(idx); movable(n) && n.loc == i {
			cands = append(cands, idx)
		}
	}
	slices.Sort(cands)
	d := worstDim(sh.load, sh.capa)
	why := fmt.Sprintf("shard %s above high watermark %s (%s at %s)", sh.id, fmtPermille(s.cfg.HighWatermark),
		dimNames[d], fmtPermille(permille(utilPPM(sh.load.at(d), sh.capa.at(d)))))
	for len(cands) > 0 {
		rem := sh.load.sub(sh.limT)
		if rem.ReadRPS <= 0 && rem.WriteRPS <= 0 && rem.DataMB <= 0 {
			return
		}
		pick, pickSize := -1, int64(0)
		for k, idx := range cands {
			n := s.nss.at(idx)
			if covers(n.dem, rem) {
				if sz := worstPPM(n.dem, sh.capa); pick < 0 || sz < pickSize {
					pick, pickSize = k, sz
				}
			}
		}
		if pick < 0 {
			bestCov := int64(0)
			for k, idx := range cands {
				n := s.nss.at(idx)
				cov := coverage(n.dem, rem)
				sz := worstPPM(n.dem, sh.capa)
				if cov > bestCov || (cov == bestCov && cov > 0 && sz > pickSize) {
					pick, bestCov, pickSize = k, cov, sz
				}
			}
			if pick < 0 {
				return
			}
		}
		idx := cands[pick]
		cands = slices.Delete(cands, pick, pick+1)
		n := s.nss.at(idx)
		dest, _, _, _ := s.choose(n, i)
		if dest < 0 {
			continue
		}
		s.vacate(idx, i)
		n.loc = -1
		n.why = why
		s.placeRec(idx, sh.id, i)
	}
}

// covers reports dem >= rem in every dimension where rem is positive.
func covers(dem, rem Load) bool {
	for d := 0; d < dims; d++ {
		if r := rem.at(d); r > 0 && dem.at(d) < r {
			return false
		}
	}
	return true
}

// coverage is the share of the remaining excess dem removes, summed over the
// dimensions in excess, ppm.
func coverage(dem, rem Load) int64 {
	var c int64
	for d := 0; d < dims; d++ {
		if r := rem.at(d); r > 0 {
			c += utilPPM(min(dem.at(d), r), r)
		}
	}
	return c
}
