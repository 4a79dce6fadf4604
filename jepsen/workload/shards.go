package workload

import (
	"context"
	"fmt"
	"math/rand"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/prism/controlplane/fsm/fsmpb"
	"github.com/prism/controlplane/jepsen/history"
	"github.com/prism/controlplane/rpc/rpcpb"
)

// Op types of the shards workload besides history.Create, Delete and
// Resize of plc-* names.
const (
	Rebalance = "rebalance" // PlacementService.Rebalance (real run, small budget)
)

// PlacedBackend is the backend of the shards workload's namespaces: the
// agents serve it.
const PlacedBackend = "postgres"

// DedicatedName is the one namespace the shards workload creates with
// placement isolation dedicated (before any other placed namespace, so an
// empty shard is there for it).
const DedicatedName = "plc-dedicated"

// PlacedSpec is a placed namespace: backend postgres, the given demand.
func PlacedSpec(name string, d Demand, dedicated bool) *fsmpb.NamespaceSpec {
	s := &fsmpb.NamespaceSpec{
		Name:        name,
		Abstraction: "keyvalue",
		Backend:     PlacedBackend,
		Capacity:    &fsmpb.Capacity{EstimatedReadRps: d.Read, EstimatedWriteRps: d.Write, EstimatedDataSizeGb: float64(d.DataGB)},
	}
	if dedicated {
		s.Placement = &fsmpb.Placement{Isolation: "dedicated"}
	}
	return s
}

// Demand is a namespace's capacity estimate.
type Demand struct{ Read, Write, DataGB int64 }

// Budget bounds the summed read demand of the live placed namespaces, so
// the shared shards can always hold them below the target utilization: a
// shard above its high watermark after settling is then the engine's
// fault, not the workload's. A namespace whose create, delete or resize
// has an unknown outcome counts at its largest possible demand.
type Budget struct {
	mu    sync.Mutex
	Max   int64
	live  map[string]int64
	total int64
}

// NewBudget allows max read RPS over all live placed namespaces.
func NewBudget(max int64) *Budget { return &Budget{Max: max, live: map[string]int64{}} }

func (b *Budget) set(name string, read int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.total += read - b.live[name]
	b.live[name] = read
	if read == 0 {
		delete(b.live, name)
	}
}

// reserve: can name grow to read? If so it counts at that much now.
func (b *Budget) reserve(name string, read int64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	cur, known := b.live[name]
	if !known && int64(len(b.live)) >= b.Max/1500 {
		return false // bounds the write and data demand too (each at most 1000 and 20 GB)
	}
	if read > cur && b.total+read-cur > b.Max {
		return false
	}
	if read > cur {
		b.total += read - cur
		b.live[name] = read
	}
	return true
}

func randDemand(rng *rand.Rand) Demand {
	return Demand{Read: 500 + rng.Int63n(2500), Write: 100 + rng.Int63n(900), DataGB: 1 + rng.Int63n(20)}
}

// SetupDedicated creates the dedicated namespace and waits (up to ctx)
// until placement has assigned it a shard. It records the create.
func SetupDedicated(ctx context.Context, env *Env) (string, error) {
	c := env.Client(0)
	defer c.Close()
	zero := int64(0)
	op := history.Op{Process: 200, Type: history.Create, Key: DedicatedName, Call: env.Rec.Now()}
	for {
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		resp, err := c.Apply(actx, &rpcpb.ApplyRequest{Spec: PlacedSpec(DedicatedName, Demand{Read: 1000, Write: 100, DataGB: 10}, true), ExpectedRevision: &zero})
		cancel()
		if err == nil {
			op.Return, op.Outcome, op.Rev = env.Rec.Now(), history.OK, resp.Namespace.GetRevision()
			env.Rec.Add(op)
			break
		}
		if status.Code(err) == codes.FailedPrecondition || ctx.Err() != nil {
			return "", fmt.Errorf("create %s: %w", DedicatedName, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	for {
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		resp, err := c.Get(actx, &rpcpb.GetRequest{Name: DedicatedName})
		cancel()
		if err == nil && resp.Namespace.ShardId != "" {
			return resp.Namespace.ShardId, nil
		}
		if ctx.Err() != nil {
			return "", fmt.Errorf("%s never placed: %v %s", DedicatedName, err, resp.GetNamespace().GetStatusReason())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Shards runs one worker of the shards workload until ctx ends: creates
// placed namespaces plc-P-N (create only), resizes and deletes its own,
// and (worker rebalance) asks for a small rebalance now and then. Every
// operation is paced (the engine commits a change per assignment).
func Shards(ctx context.Context, env *Env, proc, pref int, seed int64, budget *Budget, rebalance bool) {
	rng := rand.New(rand.NewSource(seed))
	c := env.Client(pref)
	defer c.Close()
	var live []string
	n := 0
	for ctx.Err() == nil {
		op := history.Op{Process: proc}
		var err error
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), env.OpTimeout)
		p := rng.Intn(100)
		var after func(ok, unknown bool)
		switch {
		case rebalance && p < 8:
			op.Type, op.Key = Rebalance, "*"
			op.Call = env.Rec.Now()
			var resp *rpcpb.PlanResponse
			resp, err = c.Rebalance(actx, false, 2)
			if err == nil {
				op.Val = int64(resp.GetMoves()) // moves planned (applied also counts status changes)
			}
		case len(live) > 0 && p < 30:
			i := rng.Intn(len(live))
			name := live[i]
			live = append(live[:i], live[i+1:]...)
			op.Type, op.Key = history.Delete, name
			op.Call = env.Rec.Now()
			var resp *rpcpb.DeleteResponse
			resp, err = c.Delete(actx, &rpcpb.DeleteRequest{Name: name})
			if err == nil {
				op.Rev = resp.Namespace.GetRevision()
			}
			after = func(ok, _ bool) {
				if ok {
					budget.set(name, 0)
				}
			}
		case len(live) > 0 && p < 55:
			name := live[rng.Intn(len(live))]
			d := randDemand(rng)
			if rng.Intn(4) == 0 {
				d.Read = 6000 + rng.Int63n(6000) // a hot namespace
			}
			if !budget.reserve(name, d.Read) {
				cancel()
				pause(ctx, 50*time.Millisecond)
				continue
			}
			op.Type, op.Key, op.Val = history.Resize, name, d.Read
			op.Call = env.Rec.Now()
			var resp *rpcpb.ApplyResponse
			resp, err = c.Apply(actx, &rpcpb.ApplyRequest{Spec: PlacedSpec(name, d, false)})
			if err == nil {
				op.Rev = resp.Namespace.GetRevision()
			}
			after = func(ok, _ bool) {
				if ok {
					budget.set(name, d.Read)
				}
			}
		default:
			n++
			name := fmt.Sprintf("plc-%d-%d", proc, n)
			d := randDemand(rng)
			if !budget.reserve(name, d.Read) {
				n--
				cancel()
				pause(ctx, 50*time.Millisecond)
				continue
			}
			op.Type, op.Key, op.Val = history.Create, name, d.Read
			zero := int64(0)
			op.Call = env.Rec.Now()
			var resp *rpcpb.ApplyResponse
			resp, err = c.Apply(actx, &rpcpb.ApplyRequest{Spec: PlacedSpec(name, d, false), ExpectedRevision: &zero})
			if err == nil {
				op.Rev = resp.Namespace.GetRevision()
				live = append(live, name)
			}
			after = func(ok, unknown bool) {
				if !ok && !unknown {
					budget.set(name, 0)
				}
			}
		}
		cancel()
		op.Return = env.Rec.Now()
		setOutcome(&op, err)
		if after != nil {
			after(op.Outcome == history.OK, op.Outcome == history.Unknown)
		}
		env.Rec.Add(op)
		pause(ctx, time.Duration(50+rng.Intn(150))*time.Millisecond)
	}
}
