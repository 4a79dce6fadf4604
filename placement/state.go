package placement

import (
	"cmp"
	"slices"
	"sort"
	"strings"
)

// Internal namespace classes.
const (
	cShared uint8 = iota
	cDedicated
	cUnsched
)

type shardRec struct {
	id        string
	capa      Load
	limT      Load // floor(TargetUtil*capa/1000)
	backends  []int32
	labels    map[string]string
	state     ShardState
	pastGrace bool
	removed   bool // removed through State.RemoveShards

	load     Load
	count    int32       // namespaces occupying the shard (in-flight moves count on both ends)
	ownCount int32       // occupying namespaces that need a shard of their own
	worst    int64       // worst-dimension utilization, ppm
	grp      int8        // worst dimension when filed: the open list the shard is in
	wdim     int8        // current worst dimension
	util     [dims]int64 // per-dimension utilization, ppm (rounded up)
	members  []int32
}

func (sh *shardRec) up() bool      { return sh.state == Up && !sh.removed }
func (sh *shardRec) inSums() bool  { return sh.up() && sh.ownCount == 0 }
func (sh *shardRec) isOpen() bool  { return sh.inSums() && sh.count > 0 }
func (sh *shardRec) isEmpty() bool { return sh.up() && sh.count == 0 }

// leaving reports a shard whose namespaces must move (or that no longer counts
// for classification): removed, draining, or down past grace.
func (sh *shardRec) leaving() bool {
	return sh.removed || sh.state == Draining || (sh.state == Down && sh.pastGrace)
}

func (sh *shardRec) serves(b int32) bool {
	for _, x := range sh.backends {
		if x == b {
			return true
		}
	}
	return false
}

type backendRec struct {
	name string
	// open holds the used shared Up shards serving the backend, one list per
	// worst dimension, each ordered by (worst, index).
	open    [dims][]int32
	maxCap  Load    // per-dimension maximum capacity of the shards serving the backend
	empty   []int32 // empty Up shards serving the backend, by index
	capSum  Load    // capacity of shared Up shards serving the backend
	loadSum Load    // their load
	pending Load    // shared demand waiting to be placed in the current step
}

type classRec struct {
	backend  int32 // -1: no shard serves it
	name     string
	labels   [][2]string
	maxCap   Load   // per-dimension maximum over candidate shards
	frontier []Load // non-dominated candidate capacities
	nCand    int
}

type nsRec struct {
	Namespace
	dem      Load
	cls      *classRec
	class    uint8
	seed     uint64
	size     int64 // worst-dimension demand relative to the class's largest shard, ppm
	loc      int32 // shard the namespace lives on; -1 none or absent
	from, to int32 // in-flight endpoints, -1 absent
	inflight bool
	touched  bool   // changed by the current plan
	why      string // why it has to move
}

// State is the engine's index over one Input: per-shard load sums, per-backend
// lists of used and empty shards ordered for the placement scan, and a name
// index. Building it is O(N log N + S log S); PlaceOne and RemoveShards update
// it incrementally. A State is not safe for concurrent use.
type State struct {
	cfg        Config
	shards     []shardRec
	shardIdx   map[string]int32
	backends   []backendRec
	backendIdx map[string]int32
	plain      map[string]*classRec
	labeled    map[string]*classRec
	nss        nsStore
	nsIdx      map[string]int32
	dec        []Decision
	decNS      []int32    // namespace index of each decision, for ordering
	dups       []Decision // duplicate names, reported by the next step
	dupNS      []int32
	appended   bool             // PlaceOne added namespaces after the name-ordered ones
	reasons    map[int64]string // tier reasons by (pack limit, tier, shared)
}

// emit records a decision about namespace idx.
func (s *State) emit(idx int32, d Decision) {
	s.dec = append(s.dec, d)
	s.decNS = append(s.decNS, idx)
}

// NewState validates cfg and indexes in.
func NewState(cfg Config, in Input) (*State, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return newState(cfg, in), nil
}

func cmpLoad(a, b Load) int {
	return cmp.Or(cmp.Compare(a.ReadRPS, b.ReadRPS), cmp.Compare(a.WriteRPS, b.WriteRPS), cmp.Compare(a.DataMB, b.DataMB))
}

func newState(cfg Config, in Input) *State {
	cfg = cfg.normalized()
	s := &State{
		cfg:        cfg,
		shardIdx:   make(map[string]int32, len(in.Shards)),
		backendIdx: map[string]int32{},
		plain:      map[string]*classRec{},
		labeled:    map[string]*classRec{},
	}
	// Shards, by id; of duplicate ids the smallest (capacity, state) wins.
	sh := make([]*Shard, len(in.Shards))
	for i := range in.Shards {
		sh[i] = &in.Shards[i]
	}
	slices.SortFunc(sh, func(a, b *Shard) int {
		return cmp.Or(strings.Compare(a.ID, b.ID), cmpLoad(a.Capacity, b.Capacity),
			cmp.Compare(a.State, b.State), boolCmp(a.DownPastGrace, b.DownPastGrace),
			strings.Compare(strings.Join(a.Backends, ","), strings.Join(b.Backends, ",")))
	})
	var names []string
	for _, x := range sh {
		names = append(names, x.Backends...)
	}
	slices.Sort(names)
	names = slices.Compact(names)
	s.backends = make([]backendRec, len(names))
	for i, n := range names {
		s.backends[i].name = n
		s.backendIdx[n] = int32(i)
	}
	s.shards = make([]shardRec, 0, len(sh))
	for _, x := range sh {
		if _, dup := s.shardIdx[x.ID]; dup {
			continue
		}
		r := shardRec{id: x.ID, capa: x.Capacity.clamped(), labels: x.Labels, state: x.State, pastGrace: x.DownPastGrace}
		r.limT = Load{r.capa.ReadRPS * cfg.TargetUtil / 1000, r.capa.WriteRPS * cfg.TargetUtil / 1000, r.capa.DataMB * cfg.TargetUtil / 1000}
		for _, b := range x.Backends {
			r.backends = append(r.backends, s.backendIdx[b])
		}
		slices.Sort(r.backends)
		r.backends = slices.Compact(r.backends)
		for _, b := range r.backends {
			m := &s.backends[b].maxCap
			*m = Load{max(m.ReadRPS, r.capa.ReadRPS), max(m.WriteRPS, r.capa.WriteRPS), max(m.DataMB, r.capa.DataMB)}
		}
		s.shardIdx[x.ID] = int32(len(s.shards))
		s.shards = append(s.shards, r)
	}

	// Namespaces, by name; of duplicate names one is kept, the others are reported.
	order := make([]int32, len(in.Namespaces))
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortFunc(order, func(a, b int32) int {
		x, y := &in.Namespaces[a], &in.Namespaces[b]
		if c := strings.Compare(x.Name, y.Name); c != 0 {
			return c
		}
		return cmp.Or(strings.Compare(x.CurrentShard, y.CurrentShard), cmpLoad(x.Demand, y.Demand),
			strings.Compare(x.Backend, y.Backend), strings.Compare(x.PinnedShard, y.PinnedShard), cmp.Compare(a, b))
	})
	s.nsIdx = make(map[string]int32, len(order))
	for k, oi := range order {
		ns := &in.Namespaces[oi]
		if k > 0 && in.Namespaces[order[k-1]].Name == ns.Name {
			s.dups = append(s.dups, Decision{Namespace: ns.Name, Kind: KindUnschedulable,
				Reason: "duplicate namespace name; only one copy is placed"})
			s.dupNS = append(s.dupNS, s.nsIdx[ns.Name])
			continue
		}
		idx := int32(s.nss.len())
		s.nss.add(nsRec{Namespace: *ns})
		s.nsIdx[ns.Name] = idx
		s.initNS(idx)
		s.occupyAll(idx, false)
	}
	for i := range s.shards {
		r := &s.shards[i]
		r.setUtil()
	}
	for i := range s.shards {
		s.attach(int32(i))
	}
	return s
}

func boolCmp(a, b bool) int {
	switch {
	case a == b:
		return 0
	case !a:
		return -1
	}
	return 1
}

func (s *State) lookup(id string) int32 {
	if id == "" {
		return -1
	}
	if i, ok := s.shardIdx[id]; ok && !s.shards[i].removed {
		return i
	}
	return -1
}

// pinTarget is the shard an operator pin holds the namespace on ("" if none).
func pinTarget(ns *Namespace) string {
	if !ns.Pinned {
		return ""
	}
	if ns.PinnedShard != "" {
		return ns.PinnedShard
	}
	return ns.CurrentShard
}

// initNS derives the engine's view of nss[idx] from its Namespace.
func (s *State) initNS(idx int32) {
	n := s.nss.at(idx)
	n.dem = n.Demand.clamped()
	n.cls = s.classFor(n.Backend, n.Labels)
	n.class = s.classOf(n)
	n.seed = nsSeed(n.Name)
	n.size = worstPPM(n.dem, n.cls.maxCap)
	n.loc, n.from, n.to = -1, -1, -1
	switch {
	case n.Moving != nil:
		n.inflight = true
		n.from, n.to = s.lookup(n.Moving.From), s.lookup(n.Moving.To)
		n.loc = n.from
	case pinTarget(&n.Namespace) != "":
		n.loc = s.lookup(pinTarget(&n.Namespace))
	default:
		n.loc = s.lookup(n.CurrentShard)
	}
}

// occupyAll records the capacity nss[idx] holds: both ends of an in-flight move,
// otherwise its location. live maintains the scan lists (false while building).
func (s *State) occupyAll(idx int32, live bool) {
	n := s.nss.at(idx)
	if n.inflight {
		if n.from >= 0 {
			s.occupy(idx, n.from, live)
		}
		if n.to >= 0 && n.to != n.from {
			s.occupy(idx, n.to, live)
		}
		return
	}
	if n.loc >= 0 {
		s.occupy(idx, n.loc, live)
	}
}

func (s *State) vacateAll(idx int32) {
	n := s.nss.at(idx)
	if n.inflight {
		if n.from >= 0 {
			s.vacate(idx, n.from)
		}
		if n.to >= 0 && n.to != n.from {
			s.vacate(idx, n.to)
		}
		return
	}
	if n.loc >= 0 {
		s.vacate(idx, n.loc)
	}
}

func (s *State) occupy(idx, i int32, live bool) {
	n, sh := s.nss.at(idx), &s.shards[i]
	if !live {
		sh.load = sh.load.add(n.dem)
		sh.count++
		if n.class != cShared {
			sh.ownCount++
		}
		sh.members = append(sh.members, idx)
		return
	}
	s.change(i, n.dem, 1, n.class != cShared)
	sh.members = append(sh.members, idx)
}

func (s *State) vacate(idx, i int32) {
	n, sh := s.nss.at(idx), &s.shards[i]
	s.change(i, Load{}.sub(n.dem), -1, n.class != cShared)
	if k := slices.Index(sh.members, idx); k >= 0 {
		sh.members[k] = sh.members[len(sh.members)-1]
		sh.members = sh.members[:len(sh.members)-1]
	}
}

// change adds delta load and dc namespaces (own: needing the shard alone) to
// shard i and keeps the backend lists and sums in order. In the common case,
// a used shared shard that stays one in the same list, the shard is slid to
// its new position instead of being removed and re-inserted.
func (s *State) change(i int32, delta Load, dc int32, own bool) {
	sh := &s.shards[i]
	wasOpen, oldWorst, oldGrp := sh.isOpen(), sh.worst, sh.grp
	if !wasOpen || own {
		s.detach(i)
		s.apply(sh, delta, dc, own)
		s.attach(i)
		return
	}
	var ks [4]int
	if len(sh.backends) > len(ks) {
		s.detach(i)
		s.apply(sh, delta, dc, own)
		s.attach(i)
		return
	}
	for j, b := range sh.backends {
		ks[j] = s.openPos(s.backends[b].open[oldGrp], oldWorst, i)
	}
	s.apply(sh, delta, dc, own)
	grp := sh.wdim
	if !sh.isOpen() || grp != oldGrp {
		// Undo, then take the general path.
		s.apply(sh, Load{}.sub(delta), -dc, own)
		s.detach(i)
		s.apply(sh, delta, dc, own)
		s.attach(i)
		return
	}
	for j, b := range sh.backends {
		br := &s.backends[b]
		br.loadSum = br.loadSum.add(delta)
		s.slide(br.open[grp], ks[j])
	}
}

func (s *State) apply(sh *shardRec, delta Load, dc int32, own bool) {
	sh.load = sh.load.add(delta)
	sh.count += dc
	if own {
		sh.ownCount += dc
	}
	sh.setUtil()
}

// setUtil recomputes util, worst and wdim from load.
func (sh *shardRec) setUtil() {
	sh.util = [dims]int64{utilPPM(sh.load.ReadRPS, sh.capa.ReadRPS), utilPPM(sh.load.WriteRPS, sh.capa.WriteRPS), utilPPM(sh.load.DataMB, sh.capa.DataMB)}
	sh.worst, sh.wdim = sh.util[0], 0
	for d := int8(1); d < dims; d++ {
		if sh.util[d] > sh.worst {
			sh.worst, sh.wdim = sh.util[d], d
		}
	}
}

// less orders open shards by (worst, index).
func (s *State) less(a, b int32) bool {
	wa, wb := s.shards[a].worst, s.shards[b].worst
	return wa < wb || (wa == wb && a < b)
}

// slide restores the order of l after the key of l[k] changed.
func (s *State) slide(l []int32, k int) {
	i := l[k]
	if k+1 < len(l) && s.less(l[k+1], i) {
		// Moves right: first position after k whose element is not less than i.
		j := k + 1 + sort.Search(len(l)-k-1, func(m int) bool { return !s.less(l[k+1+m], i) })
		copy(l[k:j-1], l[k+1:j])
		l[j-1] = i
		return
	}
	if k > 0 && s.less(i, l[k-1]) {
		j := sort.Search(k, func(m int) bool { return s.less(i, l[m]) })
		copy(l[j+1:k+1], l[j:k])
		l[j] = i
	}
}

// openPos is the position of (worst, i) in a backend's open list.
func (s *State) openPos(list []int32, worst int64, i int32) int {
	return sort.Search(len(list), func(k int) bool {
		j := list[k]
		w := s.shards[j].worst
		return w > worst || (w == worst && j >= i)
	})
}

// detach takes shard i out of its backends' lists and sums before a change.
func (s *State) detach(i int32) {
	sh := &s.shards[i]
	for _, b := range sh.backends {
		br := &s.backends[b]
		if sh.inSums() {
			br.capSum = br.capSum.sub(sh.capa)
			br.loadSum = br.loadSum.sub(sh.load)
		}
		if sh.isOpen() {
			l := &br.open[sh.grp]
			if k := s.openPos(*l, sh.worst, i); k < len(*l) && (*l)[k] == i {
				*l = slices.Delete(*l, k, k+1)
			}
		}
		if sh.isEmpty() {
			if k, ok := slices.BinarySearch(br.empty, i); ok {
				br.empty = slices.Delete(br.empty, k, k+1)
			}
		}
	}
}

// attach puts shard i back after a change.
func (s *State) attach(i int32) {
	sh := &s.shards[i]
	for _, b := range sh.backends {
		br := &s.backends[b]
		if sh.inSums() {
			br.capSum = br.capSum.add(sh.capa)
			br.loadSum = br.loadSum.add(sh.load)
		}
		if sh.isOpen() {
			sh.grp = sh.wdim
			l := &br.open[sh.grp]
			k := s.openPos(*l, sh.worst, i)
			*l = slices.Insert(*l, k, i)
		}
		if sh.isEmpty() {
			k, _ := slices.BinarySearch(br.empty, i)
			br.empty = slices.Insert(br.empty, k, i)
		}
	}
}

// classFor returns the (cached) candidate-shard summary for a backend and label set.
func (s *State) classFor(backend string, labels map[string]string) *classRec {
	var key string
	if len(labels) == 0 {
		if c, ok := s.plain[backend]; ok {
			return c
		}
	} else {
		kv := make([]string, 0, len(labels))
		for k, v := range labels {
			kv = append(kv, k+"="+v)
		}
		slices.Sort(kv)
		key = backend + "\x00" + strings.Join(kv, "\x00")
		if c, ok := s.labeled[key]; ok {
			return c
		}
	}
	c := &classRec{backend: -1, name: backend}
	if b, ok := s.backendIdx[backend]; ok {
		c.backend = b
	}
	for k, v := range labels {
		c.labels = append(c.labels, [2]string{k, v})
	}
	slices.SortFunc(c.labels, func(a, b [2]string) int { return strings.Compare(a[0], b[0]) })
	if c.backend >= 0 {
		for i := range s.shards {
			sh := &s.shards[i]
			if sh.leaving() || !sh.serves(c.backend) || !labelsOK(c, sh) {
				continue
			}
			c.nCand++
			c.maxCap = Load{max(c.maxCap.ReadRPS, sh.capa.ReadRPS), max(c.maxCap.WriteRPS, sh.capa.WriteRPS), max(c.maxCap.DataMB, sh.capa.DataMB)}
			dominated := false
			for _, f := range c.frontier {
				if fitsWhole(sh.capa, f) {
					dominated = true
					break
				}
			}
			if !dominated {
				c.frontier = slices.DeleteFunc(c.frontier, func(f Load) bool { return fitsWhole(f, sh.capa) })
				c.frontier = append(c.frontier, sh.capa)
			}
		}
	}
	if len(labels) == 0 {
		s.plain[backend] = c
	} else {
		s.labeled[key] = c
	}
	return c
}

func labelsOK(c *classRec, sh *shardRec) bool {
	for _, kv := range c.labels {
		if v, ok := sh.labels[kv[0]]; !ok || v != kv[1] {
			return false
		}
	}
	return true
}

// nsStore keeps namespace records in fixed-size chunks, so adding one
// (PlaceOne) never copies the whole set and pointers stay valid.
type nsStore struct {
	chunks [][]nsRec
	n      int
}

const nsChunk = 1024

func (st *nsStore) len() int { return st.n }

func (st *nsStore) at(idx int32) *nsRec {
	return &st.chunks[idx/nsChunk][idx%nsChunk]
}

func (st *nsStore) add(r nsRec) {
	if st.n%nsChunk == 0 {
		st.chunks = append(st.chunks, make([]nsRec, 0, nsChunk))
	}
	c := &st.chunks[len(st.chunks)-1]
	*c = append(*c, r)
	st.n++
}
