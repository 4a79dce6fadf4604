// Package workload generates traffic against the cluster and records it:
// registers (conditional updates and reads), a set of namespaces (creates
// and deletes) and watchers. It runs only inside the client namespace.
//
// The shards workload (shards.go) creates, resizes and deletes placed
// namespaces while shard agents run.
//
// The acl workload (acl.go, --secure) mints team tokens, writes with them,
// revokes them and keeps writing with the revoked ones.
package workload

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math/rand"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/prism/controlplane/fsm/fsmpb"
	"github.com/prism/controlplane/jepsen/history"
	"github.com/prism/controlplane/rpc/client"
	"github.com/prism/controlplane/rpc/rpcpb"
)

// Env is what every workload needs.
type Env struct {
	Endpoints []string // gRPC addresses of the nodes
	Rec       *history.Recorder
	OpTimeout time.Duration
	// TLS and Token, with --secure: the harness's client certificate and
	// the admin token's secret, set before any workload starts (nil and
	// "": plaintext, no ACLs). The secret is never logged or recorded.
	TLS   *tls.Config
	Token string
}

// Client returns a client whose reads go first to endpoint pref, acting
// as the admin token with --secure.
func (e *Env) Client(pref int) *client.Client { return e.ClientAs(pref, e.Token) }

// ClientAs is Client acting as the token whose secret is given ("": the
// client certificate's identity, or anonymous without --secure).
func (e *Env) ClientAs(pref int, secret string) *client.Client {
	n := len(e.Endpoints)
	eps := make([]string, n)
	for i := range eps {
		eps[i] = e.Endpoints[(pref+i)%n]
	}
	c, err := client.New(client.Config{Endpoints: eps, AttemptTimeout: time.Second, TLS: e.TLS, Token: secret})
	if err != nil {
		panic(fmt.Sprintf("workload: client: %v", err)) // a malformed token: a harness bug
	}
	return c
}

// UnplacedBackend is the backend of the register and set namespaces: no
// shard agent serves it, so once shards exist the placement engine never
// assigns or moves them (an active one is left alone; a provisioning one
// gets one status_reason "unschedulable: ..." and stays). The register
// model can then keep assuming the workload is the only writer of reg-*.
const UnplacedBackend = "jepsen-unplaced"

// Spec is the namespace spec the register and set workloads write: the
// register value is capacity.estimated_read_rps.
func Spec(name string, val int64) *fsmpb.NamespaceSpec {
	return &fsmpb.NamespaceSpec{
		Name:        name,
		Abstraction: "keyvalue",
		Backend:     UnplacedBackend,
		Capacity:    &fsmpb.Capacity{EstimatedReadRps: val, EstimatedWriteRps: 1, EstimatedDataSizeGb: 1},
	}
}

// SettledBySystem: the lifecycle controller is done with a register or set
// namespace. With --provisioning=false it makes it active. With
// provisioning on (--backends) no provisioner serves UnplacedBackend, so it
// stays provisioning with one reason that says so; the controller commits a
// reason only when it changes, and a spec change keeps status and reason,
// so it never writes the namespace again (the register model's premise).
func SettledBySystem(ns *fsmpb.Namespace) bool {
	switch ns.GetStatus() {
	case fsmpb.NamespaceStatus_NAMESPACE_STATUS_ACTIVE:
		return true
	case fsmpb.NamespaceStatus_NAMESPACE_STATUS_PROVISIONING:
		return strings.Contains(ns.GetStatusReason(), "no provisioner")
	}
	return false
}

// Value is the register value of a namespace.
func Value(ns *fsmpb.Namespace) int64 { return ns.GetSpec().GetCapacity().GetEstimatedReadRps() }

// notApplied: the error says the write certainly was not applied.
func notApplied(err error) bool {
	st, ok := status.FromError(err)
	if !ok {
		return false
	}
	switch st.Code() {
	case codes.InvalidArgument, codes.NotFound, codes.AlreadyExists, codes.FailedPrecondition,
		// Refused by ACLs: at the node that took the call, or inside apply
		// (a command whose token was revoked changes nothing).
		codes.PermissionDenied, codes.Unauthenticated:
		return true
	case codes.Unavailable:
		// The client says, as a typed reason, whether a write may have
		// taken effect (NO_LEADER: no attempt did); never the message text.
		return client.Reason(err) == rpcpb.ReasonNoLeader
	}
	return false
}

// setOutcome records a write's outcome: ok, certainly not applied, or
// unknown.
func setOutcome(op *history.Op, err error) {
	switch {
	case err == nil:
		op.Outcome = history.OK
	case notApplied(err):
		op.Outcome, op.Err = history.Fail, short(err)
	default:
		op.Outcome, op.Err = history.Unknown, short(err)
	}
}

func short(err error) string {
	s := err.Error()
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}

// CASRejected is a conditional update refused before it was applied
// (no leader, connection refused): it has no effect and no revision.
const CASRejected = "cas-rejected"

// ---- registers ----

// RegisterKeys names the register keys.
func RegisterKeys(n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = "reg-" + strconv.Itoa(i)
	}
	return keys
}

// SetupRegisters creates the keys, waits until the reconciler has settled
// each (its last change by anyone but the workload: SettledBySystem), and
// records each key's initial state as an Init op.
func SetupRegisters(ctx context.Context, env *Env, keys []string) error {
	c := env.Client(0)
	defer c.Close()
	for _, k := range keys {
		for {
			actx, cancel := context.WithTimeout(ctx, 5*time.Second)
			_, err := c.Apply(actx, &rpcpb.ApplyRequest{Spec: Spec(k, 0)})
			cancel()
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				return fmt.Errorf("create %s: %w", k, err)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	for _, k := range keys {
		for {
			call := env.Rec.Now()
			actx, cancel := context.WithTimeout(ctx, 5*time.Second)
			resp, err := c.Get(actx, &rpcpb.GetRequest{Name: k})
			cancel()
			if err == nil && SettledBySystem(resp.Namespace) {
				env.Rec.Add(history.Op{Process: 0, Type: history.Init, Key: k, Call: call, Return: env.Rec.Now(),
					Outcome: history.OK, Val: Value(resp.Namespace), Rev: resp.Namespace.Revision, Node: resp.Header.GetNodeId()})
				break
			}
			if ctx.Err() != nil {
				return fmt.Errorf("wait for %s to be active: %v", k, err)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	return nil
}

// Register runs one register worker until ctx ends: a mix of linearizable
// reads, stale reads and conditional updates on random keys. The expected
// revision of an update is the last one this worker saw for the key.
func Register(ctx context.Context, env *Env, proc, pref int, keys []string, seed int64) {
	rng := rand.New(rand.NewSource(seed))
	c := env.Client(pref)
	defer c.Close()
	seen := map[string]int64{}
	counter := int64(0)
	for ctx.Err() == nil {
		k := keys[rng.Intn(len(keys))]
		p := rng.Intn(100)
		switch {
		case p < 40:
			read(ctx, env, c, proc, k, rpcpb.Consistency_CONSISTENCY_LINEARIZABLE, seen, false)
		case p < 50:
			read(ctx, env, c, proc, k, rpcpb.Consistency_CONSISTENCY_STALE, seen, false)
		default:
			counter++
			val := int64(proc)*1_000_000 + counter
			exp := seen[k]
			op := history.Op{Process: proc, Type: history.CAS, Key: k, ExpRev: exp, Val: val, Call: env.Rec.Now()}
			actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), env.OpTimeout)
			resp, err := c.Apply(actx, &rpcpb.ApplyRequest{Spec: Spec(k, val), ExpectedRevision: &exp})
			cancel()
			op.Return = env.Rec.Now()
			switch {
			case err == nil:
				op.Outcome, op.Rev = history.OK, resp.Namespace.GetRevision()
				seen[k] = op.Rev
			case notApplied(err):
				op.Outcome, op.Err = history.Fail, short(err)
				if cur, ok := client.CurrentRevision(err); ok {
					op.CurRev, _ = strconv.ParseInt(cur, 10, 64)
					seen[k] = op.CurRev
				}
			default:
				op.Outcome, op.Err = history.Unknown, short(err)
			}
			if op.Outcome == history.Fail && op.CurRev == 0 {
				op.Type = CASRejected // not applied, no revision seen: kept out of the model
			}
			env.Rec.Add(op)
			if op.Type == CASRejected || op.Outcome == history.Unknown {
				pause(ctx, 50*time.Millisecond)
			}
		}
	}
}

func read(ctx context.Context, env *Env, c *client.Client, proc int, k string, cons rpcpb.Consistency, seen map[string]int64, final bool) {
	typ := history.Read
	if cons == rpcpb.Consistency_CONSISTENCY_STALE {
		typ = history.StaleRead
	}
	op := history.Op{Process: proc, Type: typ, Key: k, Call: env.Rec.Now(), Final: final}
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), env.OpTimeout)
	resp, err := c.Get(actx, &rpcpb.GetRequest{Name: k, Consistency: cons})
	cancel()
	op.Return = env.Rec.Now()
	if err != nil {
		op.Outcome, op.Err = history.Fail, short(err)
		defer pause(ctx, 50*time.Millisecond)
	} else {
		op.Outcome, op.Val, op.Rev, op.Node = history.OK, Value(resp.Namespace), resp.Namespace.GetRevision(), resp.Header.GetNodeId()
		if typ == history.Read && seen != nil {
			seen[k] = op.Rev
		}
	}
	env.Rec.Add(op)
}

// FinalReads reads every key linearizably after healing (retrying until
// one read of each key succeeds or ctx ends).
func FinalReads(ctx context.Context, env *Env, keys []string, proc int) {
	c := env.Client(0)
	defer c.Close()
	for _, k := range keys {
		for ctx.Err() == nil {
			n := len(env.Rec.Ops())
			read(ctx, env, c, proc, k, rpcpb.Consistency_CONSISTENCY_LINEARIZABLE, nil, true)
			ops := env.Rec.Ops()
			if len(ops) > n && ops[len(ops)-1].Outcome == history.OK {
				break
			}
			time.Sleep(300 * time.Millisecond)
		}
	}
}

// ---- set ----

// Set runs one set worker: creates fresh namespaces (expected revision 0:
// create only) and deletes ones it created.
func Set(ctx context.Context, env *Env, proc, pref int, seed int64) {
	rng := rand.New(rand.NewSource(seed))
	c := env.Client(pref)
	defer c.Close()
	var live []string
	n := 0
	for ctx.Err() == nil {
		op := history.Op{Process: proc}
		var err error
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), env.OpTimeout)
		if len(live) > 0 && rng.Intn(100) < 35 {
			i := rng.Intn(len(live))
			op.Type, op.Key = history.Delete, live[i]
			live = append(live[:i], live[i+1:]...)
			op.Call = env.Rec.Now()
			var resp *rpcpb.DeleteResponse
			resp, err = c.Delete(actx, &rpcpb.DeleteRequest{Name: op.Key})
			if err == nil {
				op.Rev = resp.Namespace.GetRevision()
			}
		} else {
			n++
			op.Type, op.Key = history.Create, fmt.Sprintf("set-%d-%d", proc, n)
			zero := int64(0)
			op.Call = env.Rec.Now()
			var resp *rpcpb.ApplyResponse
			resp, err = c.Apply(actx, &rpcpb.ApplyRequest{Spec: Spec(op.Key, 1), ExpectedRevision: &zero})
			if err == nil {
				op.Rev = resp.Namespace.GetRevision()
				live = append(live, op.Key)
			}
		}
		cancel()
		op.Return = env.Rec.Now()
		setOutcome(&op, err)
		env.Rec.Add(op)
		if err != nil && status.Code(err) != codes.FailedPrecondition {
			pause(ctx, 50*time.Millisecond)
		}
	}
}

// pause sleeps d (or until ctx ends): after an error, so a node that fails
// fast does not make a worker spin.
func pause(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// ---- watch ----

// Watcher watches every namespace from the current state on, through the
// client's own failover, and restarts its watch from the last revision it
// delivered every restartEvery (and whenever the watch ends with an error):
// the resumable guarantee.
func Watcher(ctx context.Context, env *Env, w *history.Watcher, pref int, restartEvery time.Duration, reached *atomic.Int64) {
	c := env.Client(pref)
	defer c.Close()
	var from int64
	listing := true
	for sess := 0; ctx.Err() == nil; sess++ {
		s := history.Session{From: from, Start: env.Rec.Now()}
		sctx, cancel := context.WithCancel(ctx)
		timer := time.AfterFunc(restartEvery, cancel)
		err := c.Watch(sctx, &rpcpb.WatchRequest{FromRevision: from, Kinds: []string{"namespace"}, BookmarkIntervalMs: 500},
			func(e *rpcpb.WatchEvent) error {
				ev := history.Event{Type: e.Type, Rev: e.Revision, Kind: e.Kind, Name: e.Name, Session: sess, At: env.Rec.Now()}
				if e.Namespace != nil {
					ev.NsRev, ev.Val, ev.Status = e.Namespace.Revision, Value(e.Namespace), strings.ToLower(strings.TrimPrefix(e.Namespace.Status.String(), "NAMESPACE_STATUS_"))
				}
				w.Events = append(w.Events, ev)
				if !listing && e.Revision > reached.Load() {
					reached.Store(e.Revision)
				}
				switch {
				case listing:
					if e.Type == "bookmark" {
						listing, from = false, e.Revision
					}
				case e.Revision > from && e.Type != "reset":
					from = e.Revision
				}
				return nil
			})
		timer.Stop()
		cancel()
		s.End = env.Rec.Now()
		if err != nil && !errors.Is(err, context.Canceled) {
			s.Err = short(err)
		}
		w.Sessions = append(w.Sessions, s)
		if listing {
			// The listing did not finish: start over from the current state.
			w.Events = w.Events[:0]
			from = 0
		}
		if s.Err != "" {
			time.Sleep(200 * time.Millisecond)
		}
	}
}
