package placement

import (
	"cmp"
	"fmt"
	"slices"
)

// Placement tiers, in the order they are tried for a shared namespace.
const (
	tierNone     = ""
	tierOpen     = "open"     // a used shared shard, staying within the pack limit
	tierEmpty    = "empty"    // an empty shard (opened for a shared namespace, or given to a dedicated one)
	tierFallback = "fallback" // a used shared shard within TargetUtil, when no empty shard is left
)

// packLimit is the per-mille utilization up to which shared namespaces of
// backend b are co-located on used shards before an empty shard is opened:
// the projected mean fill of the backend's shared shards (placed load plus
// demand waiting in this step) plus PackSlack, at least PackFloor, at most
// TargetUtil.
func (s *State) packLimit(b int32) int64 {
	br := &s.backends[b]
	f := worstPPM(br.loadSum.add(br.pending), br.capSum)
	lim := s.cfg.TargetUtil
	if f < inf {
		lim = (f*(1000+s.cfg.PackSlack)/1000 + 999) / 1000
	}
	return min(max(lim, s.cfg.PackFloor), s.cfg.TargetUtil)
}

// scanOpen finds the used shared shard of n's backend with the lowest
// worst-dimension utilization after adding n, among those that stay within
// lim (per mille) in every dimension (utilization is rounded up, so
// "after <= lim" is exactly "fits within lim"). The open list is ordered by
// current utilization, a lower bound of the utilization after, so the scan
// stops as soon as no later shard can win.
func (s *State) scanOpen(n *nsRec, lim int64, exclude int32) (int32, int64) {
	br := &s.backends[n.cls.backend]
	// A shard filed under worst dimension g ends at least at worst + the
	// namespace's share of dimension g on the largest shard (rounded down),
	// so the three lists are merged in order of that lower bound.
	var inc [dims]int64
	var pos [dims]int
	for g := 0; g < dims; g++ {
		inc[g] = floorPPM(n.dem.at(g), br.maxCap.at(g))
	}
	best, bestAfter, bestHash := int32(-1), lim*1000, uint64(0)
	for {
		g, lb := -1, int64(0)
		for d := 0; d < dims; d++ {
			if pos[d] < len(br.open[d]) {
				if b := s.shards[br.open[d][pos[d]]].worst + inc[d]; g < 0 || b < lb {
					g, lb = d, b
				}
			}
		}
		if g < 0 || lb > bestAfter {
			break
		}
		i := br.open[g][pos[g]]
		pos[g]++
		sh := &s.shards[i]
		if i == exclude || !labelsOK(n.cls, sh) {
			continue
		}
		// A second, tighter lower bound without dividing: every dimension's
		// utilization plus the namespace's share of it on the largest shard.
		if sh.util[0]+inc[0] > bestAfter || sh.util[1]+inc[1] > bestAfter || sh.util[2]+inc[2] > bestAfter {
			continue
		}
		after := worstPPM(sh.load.add(n.dem), sh.capa)
		if after > bestAfter {
			continue
		}
		if best < 0 || after < bestAfter {
			best, bestAfter, bestHash = i, after, 0
			continue
		}
		if bestHash == 0 {
			bestHash = rendezvous(n.seed, s.shards[best].id)
		}
		if h := rendezvous(n.seed, sh.id); h > bestHash {
			best, bestHash = i, h
		}
	}
	return best, bestAfter
}

// scanEmpty finds the empty shard of n's backend that n fits best: the
// highest utilization after placement (the smallest shard that fits), so
// large empty shards stay available for large dedicated namespaces.
// Shared namespaces must fit within TargetUtil, dedicated ones within the
// whole shard.
func (s *State) scanEmpty(n *nsRec, exclude int32) (int32, int64) {
	best, bestAfter, bestHash := int32(-1), int64(0), uint64(0)
	for _, i := range s.backends[n.cls.backend].empty {
		sh := &s.shards[i]
		if i == exclude || !labelsOK(n.cls, sh) {
			continue
		}
		if n.class == cShared {
			if !fitsPermille(n.dem, sh.capa, s.cfg.TargetUtil) {
				continue
			}
		} else if !fitsWhole(n.dem, sh.capa) {
			continue
		}
		after := worstPPM(n.dem, sh.capa)
		if best < 0 || after > bestAfter {
			best, bestAfter, bestHash = i, after, 0
			continue
		}
		if after < bestAfter {
			continue
		}
		if bestHash == 0 {
			bestHash = rendezvous(n.seed, s.shards[best].id)
		}
		if h := rendezvous(n.seed, sh.id); h > bestHash {
			best, bestHash = i, h
		}
	}
	return best, bestAfter
}

// choose picks n's destination without changing the state.
func (s *State) choose(n *nsRec, exclude int32) (dest int32, after int64, tier string, packLim int64) {
	if n.class == cUnsched || n.cls.backend < 0 {
		return -1, 0, tierNone, 0
	}
	if n.class == cDedicated {
		d, a := s.scanEmpty(n, exclude)
		if d < 0 {
			return -1, 0, tierNone, 0
		}
		return d, a, tierEmpty, 0
	}
	// The least-loaded used shard within TargetUtil is also the least-loaded
	// within the pack limit, if any shard fits within the pack limit.
	lim := s.packLimit(n.cls.backend)
	d, a := s.scanOpen(n, s.cfg.TargetUtil, exclude)
	if d >= 0 && a <= lim*1000 {
		return d, a, tierOpen, lim
	}
	if e, ea := s.scanEmpty(n, exclude); e >= 0 {
		return e, ea, tierEmpty, lim
	}
	if d >= 0 {
		return d, a, tierFallback, lim
	}
	return -1, 0, tierNone, lim
}

func (s *State) tierReason(n *nsRec, tier string, lim int64) string {
	k := lim << 3
	switch tier {
	case tierOpen:
		k |= 1
	case tierEmpty:
		k |= 2
	}
	if n.class == cShared {
		k |= 4
	}
	if r, ok := s.reasons[k]; ok {
		return r
	}
	if s.reasons == nil {
		s.reasons = map[int64]string{}
	}
	r := s.tierReasonText(n, tier, lim)
	s.reasons[k] = r
	return r
}

func (s *State) tierReasonText(n *nsRec, tier string, lim int64) string {
	switch {
	case n.class != cShared:
		return "dedicated: smallest empty eligible shard that fits"
	case tier == tierOpen:
		return "co-located on the least-loaded used shard within pack limit " + fmtPermille(lim)
	case tier == tierEmpty:
		return "opened an empty shard: no used shard fits within pack limit " + fmtPermille(lim)
	}
	return "least-loaded used shard within target " + fmtPermille(s.cfg.TargetUtil) + " (no empty shard fits)"
}

// placeRec places nss[idx] (currently occupying nothing) and records the
// decision. from is the shard it leaves ("" for a new assignment), fromIdx
// that shard's index if it still exists. On failure a namespace leaving a
// shard that still exists stays there.
func (s *State) placeRec(idx int32, from string, fromIdx int32) bool {
	n := s.nss.at(idx)
	d, after, tier, lim := s.choose(n, fromIdx)
	if d < 0 {
		counts, reason := s.diagnose(n, fromIdx)
		if n.why != "" {
			reason = n.why + "; " + reason
		}
		s.emit(idx, Decision{Namespace: n.Name, From: from, Kind: KindUnschedulable, Reason: reason, Rejected: counts})
		if fromIdx >= 0 {
			n.loc = fromIdx
			s.occupy(idx, fromIdx, true)
		}
		return false
	}
	n.loc = d
	n.touched = true
	s.occupy(idx, d, true)
	kind, reason := KindAssign, s.tierReason(n, tier, lim)
	if from != "" {
		kind = KindMove
		reason = n.why + "; " + reason
	}
	n.CurrentShard, n.why = s.shards[d].id, ""
	s.emit(idx, Decision{Namespace: n.Name, Shard: s.shards[d].id, From: from, Kind: kind, Reason: reason, Score: permille(after)})
	return true
}

// PlaceOne assigns a new, unassigned namespace (CurrentShard and Moving
// empty) and records it in the state, so later calls see its load. An
// operator pin to a PinnedShard is honoured as given. The cost is one scan
// of the namespace's backend's used shards in utilization order, which
// stops at the first shard no later one can beat.
func (s *State) PlaceOne(ns Namespace) (Decision, error) {
	if _, ok := s.nsIdx[ns.Name]; ok {
		return Decision{}, fmt.Errorf("%w: %q", ErrDuplicateNamespace, ns.Name)
	}
	if ns.CurrentShard != "" || ns.Moving != nil {
		return Decision{}, fmt.Errorf("%w: PlaceOne takes an unassigned namespace, %q has a shard", ErrInvalidInput, ns.Name)
	}
	idx := int32(s.nss.len())
	s.nss.add(nsRec{Namespace: ns})
	s.nsIdx[ns.Name] = idx
	s.appended = true
	s.initNS(idx)
	s.dec, s.decNS = s.dec[:0], s.decNS[:0]
	n := s.nss.at(idx)
	if n.Pinned && n.PinnedShard != "" {
		s.pinned(idx)
	} else {
		s.placeShared([]int32{idx})
	}
	d := Decision{Namespace: ns.Name, Kind: KindKeep}
	if len(s.dec) > 0 {
		d = s.dec[0]
	}
	s.dec, s.decNS = s.dec[:0], s.decNS[:0]
	return d, nil
}

// placeShared places namespaces that occupy nothing; their shared demand is
// counted as pending for the pack limit until each is placed.
func (s *State) placeShared(list []int32) {
	for _, idx := range list {
		n := s.nss.at(idx)
		if n.class == cShared && n.cls.backend >= 0 {
			br := &s.backends[n.cls.backend]
			br.pending = br.pending.add(n.dem)
		}
	}
	for _, idx := range list {
		n := s.nss.at(idx)
		from, fromIdx := "", int32(-1)
		if n.why != "" {
			from = n.CurrentShard
			if n.inflight && n.Moving != nil {
				from = n.Moving.From
			}
			if i, ok := s.shardIdx[from]; ok && !s.shards[i].removed {
				fromIdx = i
			}
		}
		s.placeRec(idx, from, fromIdx)
		if n.class == cShared && n.cls.backend >= 0 {
			br := &s.backends[n.cls.backend]
			br.pending = br.pending.sub(n.dem)
		}
	}
}

// pinned handles a namespace held by an operator pin: never moved by the
// engine; assigned to (or moved onto) its pinned shard if it is not there yet.
func (s *State) pinned(idx int32) {
	n := s.nss.at(idx)
	target := pinTarget(&n.Namespace)
	if n.loc < 0 {
		kind := KindDegraded
		if n.CurrentShard == "" {
			kind = KindUnschedulable
		}
		s.emit(idx, Decision{Namespace: n.Name, Shard: n.CurrentShard, Kind: kind,
			Reason: "pinned by operator to shard " + target + ", which is absent; not moved"})
		return
	}
	sh := &s.shards[n.loc]
	if n.CurrentShard == target {
		if sh.state == Down || sh.state == Draining {
			s.emit(idx, Decision{Namespace: n.Name, Shard: target, Kind: KindDegraded,
				Reason: "pinned by operator to shard " + target + ", which is " + sh.state.String() + "; not moved"})
		}
		return
	}
	if !sh.up() {
		s.emit(idx, Decision{Namespace: n.Name, Shard: n.CurrentShard, Kind: KindDegraded,
			Reason: "pinned by operator to shard " + target + ", which is " + sh.state.String() + "; waiting"})
		return
	}
	if !slices.Contains(sh.members, idx) {
		s.occupy(idx, n.loc, true)
	}
	kind := KindMove
	if n.CurrentShard == "" {
		kind = KindAssign
	}
	n.touched = true
	s.emit(idx, Decision{Namespace: n.Name, Shard: target, From: n.CurrentShard, Kind: kind,
		Reason: "operator pin", Score: permille(sh.worst)})
	n.CurrentShard = target
}

// Place runs one steady-state step: it assigns unassigned namespaces,
// repairs namespaces on removed, draining and down-past-grace shards,
// relieves shards above HighWatermark, and reports degraded and
// unschedulable namespaces. Nothing else moves; it never rebalances.
func Place(cfg Config, in Input) Plan {
	s := newState(cfg, in)
	s.step()
	return s.plan()
}

// Step runs the steady-state step of Place on the state and returns its plan;
// the state reflects the plan afterwards.
func (s *State) Step() Plan {
	s.step()
	return s.plan()
}

func (s *State) step() {
	s.dec = append(s.dec, s.dups...)
	s.decNS = append(s.decNS, s.dupNS...)
	s.dups, s.dupNS = nil, nil
	var evicted, fresh []int32
	for i := 0; i < s.nss.len(); i++ {
		idx := int32(i)
		n := s.nss.at(idx)
		n.touched = false
		switch {
		case n.inflight:
			s.checkInflight(idx)
		case pinTarget(&n.Namespace) != "":
			s.pinned(idx)
		case n.CurrentShard == "":
			fresh = append(fresh, idx)
		case n.loc < 0:
			n.why = "shard " + n.CurrentShard + " removed"
			evicted = append(evicted, idx)
		default:
			sh := &s.shards[n.loc]
			switch {
			case sh.state == Down && sh.pastGrace:
				n.why = "shard " + sh.id + " down past grace"
			case sh.state == Down:
				s.emit(idx, Decision{Namespace: n.Name, Shard: sh.id, Kind: KindDegraded,
					Reason: "shard " + sh.id + " is down within the grace period; not moved yet"})
			case sh.state == Draining:
				n.why = "shard " + sh.id + " draining"
			}
			if n.why != "" {
				s.vacate(idx, n.loc)
				n.loc = -1
				evicted = append(evicted, idx)
			}
		}
	}
	if need := len(s.dec) + len(evicted) + len(fresh); cap(s.dec) < need {
		s.dec = slices.Grow(s.dec, need-len(s.dec))
		s.decNS = slices.Grow(s.decNS, need-len(s.decNS))
	}
	s.placeShared(s.order(evicted))
	s.relieve()
	s.placeShared(s.order(fresh))
}

// order sorts namespaces for placement: those needing a shard of their own
// first, then by decreasing size (sizes above 2^22 ppm compare equal), then
// by index (name order).
func (s *State) order(list []int32) []int32 {
	const sizeBits = 22
	keys := make([]uint64, len(list))
	for j, idx := range list {
		n := s.nss.at(idx)
		k := uint64(1<<sizeBits-1) - uint64(min(n.size, 1<<sizeBits-1)) // decreasing size
		if n.class == cShared {
			k |= 1 << sizeBits // after the dedicated ones
		}
		keys[j] = k<<32 | uint64(uint32(idx))
	}
	slices.Sort(keys)
	for j, k := range keys {
		list[j] = int32(uint32(k))
	}
	return list
}

func (s *State) checkInflight(idx int32) {
	n := s.nss.at(idx)
	for _, end := range []struct {
		id string
		i  int32
	}{{n.Moving.From, n.from}, {n.Moving.To, n.to}} {
		state := ""
		switch {
		case end.i < 0:
			state = "removed"
		case s.shards[end.i].state == Down:
			state = "down"
		}
		if state != "" {
			s.emit(idx, Decision{Namespace: n.Name, Shard: n.Moving.From, Kind: KindDegraded,
				Reason: fmt.Sprintf("in-flight move %s→%s: shard %s is %s; the caller must abort or finish it",
					n.Moving.From, n.Moving.To, end.id, state)})
			return
		}
	}
}

// plan collects the recorded decisions, sorted by namespace (namespaces are
// indexed in name order; a namespace's own decisions keep the deterministic
// order they were made in).
func (s *State) plan() Plan {
	keys := make([]int64, len(s.dec))
	for p := range s.dec {
		keys[p] = int64(s.decNS[p])<<32 | int64(p)
	}
	slices.Sort(keys)
	p := Plan{Decisions: make([]Decision, len(keys))}
	for k, key := range keys {
		d := &p.Decisions[k]
		*d = s.dec[key&0xffffffff]
		switch d.Kind {
		case KindMove:
			p.Moves++
		case KindAssign:
			p.Assigns++
		case KindUnschedulable:
			p.Unschedulable++
		case KindDegraded:
			p.Degraded++
		}
	}
	if s.appended {
		// PlaceOne appended namespaces out of name order.
		slices.SortStableFunc(p.Decisions, func(a, b Decision) int { return cmp.Compare(a.Namespace, b.Namespace) })
	}
	s.dec, s.decNS = nil, nil
	return p
}
