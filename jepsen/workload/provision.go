package workload

import (
	"context"
	"fmt"
	"math/rand"
	"sync/atomic"
	"time"

	"github.com/prism/controlplane/fsm/fsmpb"
	"github.com/prism/controlplane/jepsen/history"
	"github.com/prism/controlplane/rpc/rpcpb"
)

// ProvisionPrefix names the provision workload's namespaces: prv-<n>.
const ProvisionPrefix = "prv-"

// ProvisionBackend is the backend of name number n: even numbers get a
// Postgres table, odd ones a Kafka topic.
func ProvisionBackend(n int64) string {
	if n%2 == 0 {
		return "postgres"
	}
	return "kafka"
}

// ProvisionSpec is a provisioned namespace: keyvalue on postgres (table
// public.<name with - → _>) or pubsub on kafka (topic <name>, one
// partition), with policies.on_delete onDelete ("" is delete).
func ProvisionSpec(name, backend, onDelete string) *fsmpb.NamespaceSpec {
	s := &fsmpb.NamespaceSpec{
		Name:        name,
		Abstraction: "keyvalue",
		Backend:     backend,
		Capacity:    &fsmpb.Capacity{EstimatedReadRps: 10, EstimatedWriteRps: 10, EstimatedDataSizeGb: 1},
	}
	if backend == "kafka" {
		s.Abstraction = "pubsub"
		s.BackendConfigJson = []byte(`{"kafka":{"partitions":1}}`)
	}
	if onDelete != "" {
		s.Policies = &fsmpb.Policies{OnDelete: onDelete}
	}
	return s
}

// provName is what a provision worker knows of one of its names.
type provName struct {
	name, backend, onDelete string
	tainted                 bool // some operation on it had an unknown outcome
}

// Provision runs one provision worker until ctx ends, paced (100-300 ms
// between operations, as an operator's tooling would be, not a flood):
//   - creates of fresh names (expected revision 0) from the shared counter
//     next, alternating postgres and kafka, one in five with
//     policies.on_delete: retain;
//   - deletes of its own names (acknowledged creates, and creates of
//     unknown outcome: the delete then finds it or not; an unknown delete
//     is sent again later, which is harmless);
//   - re-creates of names it deleted: a new incarnation under the same
//     table or topic name (only names with on_delete: delete whose every
//     operation had a known outcome, so no late copy of an old request can
//     land on the new incarnation; refused while the old one is deleting).
//
// Every operation is recorded with its outcome: ok, fail (surely not
// applied) or unknown.
func Provision(ctx context.Context, env *Env, proc, pref int, seed int64, next *atomic.Int64) {
	rng := rand.New(rand.NewSource(seed))
	c := env.Client(pref)
	defer c.Close()
	var live, maybe, dead []*provName
	take := func(xs *[]*provName) *provName {
		i := rng.Intn(len(*xs))
		x := (*xs)[i]
		*xs = append((*xs)[:i], (*xs)[i+1:]...)
		return x
	}
	for ctx.Err() == nil {
		p := rng.Intn(100)
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), env.OpTimeout)
		var op history.Op
		var err error
		switch {
		case p < 35 && len(live)+len(maybe) > 0:
			var x *provName
			wasLive := len(maybe) == 0 || len(live) > 0 && rng.Intn(len(live)+len(maybe)) < len(live)
			if wasLive {
				x = take(&live)
			} else {
				x = take(&maybe)
			}
			op = history.Op{Process: proc, Type: history.Delete, Key: x.name, Call: env.Rec.Now()}
			var resp *rpcpb.DeleteResponse
			resp, err = c.Delete(actx, &rpcpb.DeleteRequest{Name: x.name})
			switch {
			case err == nil:
				op.Rev = resp.Namespace.GetRevision()
				if !x.tainted && x.onDelete == "" {
					dead = append(dead, x)
				}
			case notApplied(err):
				if wasLive { // not deleted: still ours (NotFound: an unknown create that never landed)
					live = append(live, x)
				}
			default:
				x.tainted = true
				maybe = append(maybe, x)
			}
		default:
			var x *provName
			if p < 50 && len(dead) > 0 {
				x = take(&dead)
			} else {
				n := next.Add(1)
				x = &provName{name: fmt.Sprintf("%s%d", ProvisionPrefix, n), backend: ProvisionBackend(n)}
				if rng.Intn(5) == 0 {
					x.onDelete = "retain"
				}
			}
			zero := int64(0)
			op = history.Op{Process: proc, Type: history.Create, Key: x.name, Backend: x.backend, OnDelete: x.onDelete, Call: env.Rec.Now()}
			var resp *rpcpb.ApplyResponse
			resp, err = c.Apply(actx, &rpcpb.ApplyRequest{Spec: ProvisionSpec(x.name, x.backend, x.onDelete), ExpectedRevision: &zero})
			switch {
			case err == nil:
				op.Rev = resp.Namespace.GetRevision()
				live = append(live, x)
			case notApplied(err):
				if x.onDelete == "" && !x.tainted {
					dead = append(dead, x) // a re-create refused while deleting: later
				}
			default:
				x.tainted = true
				maybe = append(maybe, x)
			}
		}
		cancel()
		op.Return = env.Rec.Now()
		setOutcome(&op, err)
		env.Rec.Add(op)
		pause(ctx, time.Duration(100+rng.Intn(200))*time.Millisecond)
	}
}
