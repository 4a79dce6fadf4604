package placement

import (
	"fmt"
	"strconv"
	"strings"
)

// classOf is classify without the reason.
func (s *State) classOf(n *nsRec) uint8 {
	c := n.cls
	if c.nCand == 0 {
		return cUnsched
	}
	ded := n.Isolation == IsolationDedicated || exceedsPermille(n.dem, c.maxCap, s.cfg.DedicatedFraction)
	if !ded {
		for _, f := range c.frontier {
			if fitsPermille(n.dem, f, s.cfg.TargetUtil) {
				return cShared
			}
		}
	}
	for _, f := range c.frontier {
		if fitsWhole(n.dem, f) {
			return cDedicated
		}
	}
	return cUnsched
}

// classify decides whether n can share a shard, needs one of its own, or
// cannot be placed on any candidate shard (one that serves its backend,
// carries its labels and is not draining, removed or down past grace),
// whatever the shards' current load.
func (s *State) classify(n *nsRec) (uint8, string) {
	c := n.cls
	if c.nCand == 0 {
		return cUnsched, "no shard " + c.describe() + " (that is not draining, removed or down past grace)"
	}
	frac := s.cfg.DedicatedFraction
	why := ""
	switch {
	case n.Isolation == IsolationDedicated:
		why = "isolation: dedicated"
	case exceedsPermille(n.dem, c.maxCap, frac):
		d := 0
		for d < dims && le128(n.dem.at(d), 1000, frac, c.maxCap.at(d)) {
			d++
		}
		why = fmt.Sprintf("%s demand %d exceeds %s of the largest eligible shard (%d)",
			dimNames[d], n.dem.at(d), fmtPermille(frac), c.maxCap.at(d))
		if d == 2 {
			why = fmt.Sprintf("data_gb demand %s exceeds %s of the largest eligible shard (%s)",
				gb(n.dem.DataMB), fmtPermille(frac), gb(c.maxCap.DataMB))
		}
	default:
		for _, f := range c.frontier {
			if fitsPermille(n.dem, f, s.cfg.TargetUtil) {
				return cShared, fmt.Sprintf("at most %s of the largest eligible shard in every dimension and fits within target %s of one",
					fmtPermille(frac), fmtPermille(s.cfg.TargetUtil))
			}
		}
		why = "does not fit within target " + fmtPermille(s.cfg.TargetUtil) + " of any single eligible shard"
	}
	for _, f := range c.frontier {
		if fitsWhole(n.dem, f) {
			return cDedicated, why
		}
	}
	return cUnsched, fmt.Sprintf("needs a dedicated shard with at least %s %s; the largest has %s",
		n.dem, c.describe(), c.maxCap)
}

func gb(mb int64) string { return strconv.FormatFloat(float64(mb)/1000, 'f', -1, 64) }

// describe renders "for backend X with labels a=b,c=d".
func (c *classRec) describe() string {
	var b strings.Builder
	b.WriteString("for backend ")
	b.WriteString(c.name)
	for k, kv := range c.labels {
		if k == 0 {
			b.WriteString(" with labels ")
		} else {
			b.WriteByte(',')
		}
		b.WriteString(kv[0] + "=" + kv[1])
	}
	return b.String()
}

// reject is the first constraint shard i fails for n ("" if it is eligible).
// exclude is the shard n is being moved off. Removed shards report "".
func (s *State) reject(n *nsRec, i, exclude int32) string {
	sh := &s.shards[i]
	switch {
	case n.cls.backend < 0 || !sh.serves(n.cls.backend):
		return RejectBackend
	case !labelsOK(n.cls, sh):
		return RejectLabels
	case !sh.up():
		return RejectState
	case i == exclude:
		return RejectSource
	}
	if n.class != cShared {
		switch {
		case sh.ownCount > 0:
			return RejectDedicated
		case sh.count > 0:
			return RejectOccupied
		case !fitsWhole(n.dem, sh.capa):
			return RejectCapacity
		}
		return ""
	}
	switch {
	case sh.ownCount > 0:
		return RejectDedicated
	case !fitsPermille(sh.load.add(n.dem), sh.capa, s.cfg.TargetUtil):
		return RejectCapacity
	}
	return ""
}

// diagnose counts, per constraint, the shards n cannot go to and says why.
func (s *State) diagnose(n *nsRec, exclude int32) (map[string]int, string) {
	counts := map[string]int{}
	total := 0
	for i := range s.shards {
		if s.shards[i].removed {
			continue
		}
		total++
		if r := s.reject(n, int32(i), exclude); r != "" {
			counts[r]++
		}
	}
	var b strings.Builder
	if n.class != cShared {
		fmt.Fprintf(&b, "needs a dedicated shard with at least %s %s", n.dem, n.cls.describe())
	} else {
		fmt.Fprintf(&b, "needs %s within target %s of a shared shard %s", n.dem, fmtPermille(s.cfg.TargetUtil), n.cls.describe())
	}
	fmt.Fprintf(&b, "; none of %d shards qualifies (%s)", total, fmtCounts(counts))
	return counts, b.String()
}

func fmtCounts(counts map[string]int) string {
	var parts []string
	for _, k := range rejectOrder {
		if v := counts[k]; v > 0 {
			parts = append(parts, fmt.Sprintf("%s: %d", k, v))
		}
	}
	return strings.Join(parts, ", ")
}

func className(c uint8) string {
	switch c {
	case cShared:
		return ClassShared
	case cDedicated:
		return ClassDedicated
	}
	return ClassUnschedulable
}

// Classify says whether ns can share a shard, needs a dedicated one, or is
// unschedulable on the shards of in (their current load does not matter;
// in.Namespaces is ignored), and why.
func Classify(cfg Config, in Input, ns Namespace) (class string, reason string) {
	s := newState(cfg, Input{Shards: in.Shards})
	s.nss.add(nsRec{Namespace: ns})
	s.initNS(0)
	c, why := s.classify(s.nss.at(0))
	return className(c), why
}
