package placement

import (
	"errors"
	"fmt"
	"math"
	"math/rand"
	"strings"
	"testing"
)

func shard(id string, rps int64, gb int64, backends ...string) Shard {
	return Shard{ID: id, Capacity: Load{rps, rps, gb * 1000}, Backends: backends}
}

// genInput builds nShards identical shards (postgres+kafka) and nNS
// namespaces with Pareto-distributed (alpha 1.3) demand scaled so the total
// read demand is fill (per mille) of the total read capacity. Namespaces are
// unassigned.
func genInput(seed int64, nShards, nNS int, fill int64) Input {
	r := rand.New(rand.NewSource(seed))
	in := Input{}
	for i := 0; i < nShards; i++ {
		in.Shards = append(in.Shards, shard(fmt.Sprintf("s%04d", i), 50000, 1000, "postgres", "kafka"))
	}
	raw := make([]float64, nNS)
	var sum float64
	for i := range raw {
		x := 1 / math.Pow(1-r.Float64(), 1/1.3) // Pareto, xm=1
		raw[i] = x
		sum += x
	}
	total := float64(fill) / 1000 * float64(nShards) * 50000
	limit := 0.3 * 50000 // keep the generated ones shared (under DedicatedFraction)
	for i := range raw {
		read := math.Min(raw[i]/sum*total, limit)
		ns := Namespace{
			Name:    fmt.Sprintf("ns-%06d", i),
			Backend: []string{"postgres", "kafka"}[r.Intn(2)],
			Demand: Load{
				ReadRPS:  int64(math.Round(read)) + 1,
				WriteRPS: int64(math.Round(read * (0.2 + 0.6*r.Float64()))),
				DataMB:   int64(math.Round(read / 50000 * 1000 * 1000 * (0.3 + 0.6*r.Float64()))),
			},
		}
		in.Namespaces = append(in.Namespaces, ns)
	}
	return in
}

// usage is the load per shard implied by in (in-flight moves on both ends).
type usage struct {
	load  Load
	count int
	names []string
}

func usageOf(in Input) map[string]*usage {
	u := map[string]*usage{}
	for _, sh := range in.Shards {
		u[sh.ID] = &usage{}
	}
	add := func(id string, ns *Namespace) {
		if x, ok := u[id]; ok {
			x.load = x.load.add(ns.Demand)
			x.count++
			x.names = append(x.names, ns.Name)
		}
	}
	for i := range in.Namespaces {
		ns := &in.Namespaces[i]
		if ns.Moving != nil {
			add(ns.Moving.From, ns)
			if ns.Moving.To != ns.Moving.From {
				add(ns.Moving.To, ns)
			}
			continue
		}
		add(ns.CurrentShard, ns)
	}
	return u
}

func capOf(in Input, id string) Load {
	for _, sh := range in.Shards {
		if sh.ID == id {
			return sh.Capacity
		}
	}
	return Load{}
}

// imbalance is max/mean worst-dimension utilization over shards in use.
func imbalance(in Input) (float64, float64, int) {
	u := usageOf(in)
	var sum, mx float64
	n := 0
	for id, x := range u {
		if x.count == 0 {
			continue
		}
		w := float64(worstPPM(x.load, capOf(in, id))) / 1e6
		sum += w
		mx = math.Max(mx, w)
		n++
	}
	if n == 0 {
		return 0, 0, 0
	}
	return mx / (sum / float64(n)), mx, n
}

func placeAll(t testing.TB, cfg Config, in Input) (Input, Plan) {
	t.Helper()
	p := Place(cfg, in)
	return Apply(in, p), p
}

func byName(p Plan) map[string]Decision {
	m := map[string]Decision{}
	for _, d := range p.Decisions {
		m[d.Namespace] = d
	}
	return m
}

func shuffled(r *rand.Rand, in Input) Input {
	out := Input{Shards: append([]Shard(nil), in.Shards...), Namespaces: append([]Namespace(nil), in.Namespaces...)}
	r.Shuffle(len(out.Shards), func(i, j int) { out.Shards[i], out.Shards[j] = out.Shards[j], out.Shards[i] })
	r.Shuffle(len(out.Namespaces), func(i, j int) {
		out.Namespaces[i], out.Namespaces[j] = out.Namespaces[j], out.Namespaces[i]
	})
	return out
}

func errorsIs(err, target error) bool { return errors.Is(err, target) }

func contains(s, sub string) bool { return strings.Contains(s, sub) }
