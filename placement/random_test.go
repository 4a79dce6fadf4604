package placement

import (
	"fmt"
	"math/rand"
	"reflect"
	"testing"
)

// randomInput mixes every feature: shard states, labels, backends, pins,
// in-flight moves, cooling, dedicated isolation, removed shards, overloads.
func randomInput(r *rand.Rand) Input {
	in := Input{}
	nS := 5 + r.Intn(30)
	for i := 0; i < nS; i++ {
		sh := Shard{ID: fmt.Sprintf("s%02d", i), Capacity: Load{int64(5000 + r.Intn(4)*5000), int64(5000 + r.Intn(4)*5000), int64(100000 + r.Intn(3)*100000)},
			Backends: []string{"pg", "kafka", "redis"}[:1+r.Intn(3)], Labels: map[string]string{"zone": []string{"a", "b"}[r.Intn(2)]}}
		switch r.Intn(10) {
		case 0:
			sh.State = Suspect
		case 1:
			sh.State, sh.DownPastGrace = Down, r.Intn(2) == 0
		case 2:
			sh.State = Draining
		}
		in.Shards = append(in.Shards, sh)
	}
	nN := r.Intn(400)
	for i := 0; i < nN; i++ {
		ns := Namespace{Name: fmt.Sprintf("n%03d", i), Backend: []string{"pg", "kafka", "redis", "mongo"}[r.Intn(4)],
			Demand: Load{int64(r.ExpFloat64() * 300), int64(r.ExpFloat64() * 200), int64(r.ExpFloat64() * 3000)}}
		if r.Intn(30) == 0 {
			ns.Demand.ReadRPS *= 40
		}
		if r.Intn(20) == 0 {
			ns.Isolation = IsolationDedicated
		}
		if r.Intn(10) == 0 {
			ns.Labels = map[string]string{"zone": "a"}
		}
		if r.Intn(3) > 0 {
			ns.CurrentShard = fmt.Sprintf("s%02d", r.Intn(nS+2)) // some absent
		}
		ns.MovedRecently = r.Intn(5) == 0
		if ns.CurrentShard != "" && r.Intn(15) == 0 {
			ns.Pinned = true
		}
		if ns.CurrentShard != "" && !ns.Pinned && r.Intn(20) == 0 {
			ns.Moving = &Move{From: ns.CurrentShard, To: fmt.Sprintf("s%02d", r.Intn(nS))}
		}
		in.Namespaces = append(in.Namespaces, ns)
	}
	return in
}

func TestRandomInstancesKeepInvariants(t *testing.T) {
	cfg := DefaultConfig()
	r := rand.New(rand.NewSource(99))
	for it := 0; it < 150; it++ {
		in := randomInput(r)
		before := map[string]Namespace{}
		for _, ns := range in.Namespaces {
			before[ns.Name] = ns
		}
		states := map[string]Shard{}
		for _, sh := range in.Shards {
			states[sh.ID] = sh
		}
		for _, rebalance := range []bool{false, true} {
			var p Plan
			if rebalance {
				p = Rebalance(cfg, in, 5)
			} else {
				p = Place(cfg, in)
			}
			for _, d := range p.Decisions {
				ns := before[d.Namespace]
				if d.Kind != KindMove && d.Kind != KindAssign {
					continue
				}
				if ns.Moving != nil {
					t.Fatalf("it %d: in-flight namespace re-planned: %+v", it, d)
				}
				if ns.Pinned && d.Reason != "operator pin" {
					t.Fatalf("it %d: pinned namespace moved: %+v", it, d)
				}
				if sh := states[d.Shard]; sh.State != Up {
					t.Fatalf("it %d: placed on %v shard: %+v", it, sh.State, d)
				}
				if d.Kind == KindMove && ns.MovedRecently && !ns.Pinned {
					src, ok := states[ns.CurrentShard]
					if ok && src.State != Draining && !(src.State == Down && src.DownPastGrace) {
						t.Fatalf("it %d: cooling namespace moved unforced: %+v", it, d)
					}
				}
			}
			out := Apply(in, p)
			u := usageOf(out)
			for _, d := range p.Decisions {
				if d.Kind != KindMove && d.Kind != KindAssign || d.Reason == "operator pin" {
					continue
				}
				x := u[d.Shard]
				if c, _ := Classify(cfg, in, before[d.Namespace]); c != ClassShared {
					if x.count != 1 {
						t.Fatalf("it %d: dedicated %s shares %s with %v", it, d.Namespace, d.Shard, x.names)
					}
				} else if !fitsPermille(x.load, states[d.Shard].Capacity, cfg.TargetUtil) && !hasPinOrFlight(out, d.Shard) {
					t.Fatalf("it %d: %s placed on %s above target", it, d.Namespace, d.Shard)
				}
			}
			// Determinism and index consistency.
			if !rebalance {
				if q := Place(cfg, shuffled(r, in)); !reflect.DeepEqual(p, q) {
					t.Fatalf("it %d: not deterministic", it)
				}
			}
		}
		st := newState(cfg, in)
		st.step()
		st.rebalance(5)
		st.plan()
		if err := st.check(); err != nil {
			t.Fatalf("it %d: %v", it, err)
		}
	}
}

// hasPinOrFlight reports whether a shard's load includes namespaces the
// engine does not control (pins, in-flight moves, existing overloads are
// possible then).
func hasPinOrFlight(in Input, id string) bool {
	for _, ns := range in.Namespaces {
		if (ns.Pinned || ns.Moving != nil) && (ns.CurrentShard == id || ns.PinnedShard == id || (ns.Moving != nil && ns.Moving.To == id)) {
			return true
		}
	}
	return false
}
