package controller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prism/controlplane/fsm"
	"github.com/prism/controlplane/fsm/fsmpb"
	"github.com/prism/controlplane/provision"
)

type rig struct {
	t     *testing.T
	a     *fakeApplier
	pg    *fakeBackend
	kafka *fakeBackend
	clock *frozenClock
	l     *Lifecycle
}

func newRig(t *testing.T) *rig {
	r := &rig{t: t, a: newFakeApplier(), pg: newFakeBackend(true), kafka: newFakeBackend(false), clock: &frozenClock{now: time.Unix(1_700_000_000, 0)}}
	cfg := DefaultLifecycleConfig()
	cfg.DeleteWait = time.Second
	r.l = NewLifecycle(cfg, LifecycleDeps{
		Log: slog.New(slog.DiscardHandler), Applier: r.a, State: r.a.f, Clock: r.clock,
		Provisioners: provision.Registry{"postgres": r.pg, "kafka": r.kafka},
		Targets: provision.Targets{
			Postgres: []provision.PostgresTarget{{Name: "default", URL: "postgres://db/prism"}},
			Kafka:    []provision.KafkaTarget{{Name: "default", Brokers: []string{"k:9092"}}},
		},
	})
	return r
}

// rounds runs n controller rounds, each to completion.
func (r *rig) rounds(n int) {
	for i := 0; i < n; i++ {
		r.l.round(context.Background())
		r.l.wg.Wait()
	}
}

func (r *rig) get(name string) *fsmpb.Namespace {
	ns, _, err := r.a.f.Get(name)
	if err != nil {
		r.t.Fatal(err)
	}
	return ns
}

func (r *rig) apply(s *fsmpb.NamespaceSpec) fsm.Result {
	return r.a.client(r.t, &fsmpb.Command{Body: &fsmpb.Command_ApplyNamespace{ApplyNamespace: &fsmpb.ApplyNamespace{Spec: s}}})
}

func pgSpec(name string) *fsmpb.NamespaceSpec {
	return &fsmpb.NamespaceSpec{Name: name, Abstraction: "keyvalue", Backend: "postgres"}
}

func kafkaSpec(name string, partitions string) *fsmpb.NamespaceSpec {
	s := &fsmpb.NamespaceSpec{Name: name, Abstraction: "pubsub", Backend: "kafka"}
	if partitions != "" {
		s.BackendConfigJson = []byte(`{"kafka":{"partitions":` + partitions + `}}`)
	}
	return s
}

func TestProvisionRecordsIntentThenResult(t *testing.T) {
	r := newRig(t)
	r.apply(pgSpec("user-profiles"))
	var sawPending bool
	r.l.deps.Hooks = &Hooks{AfterBackend: func(ns, step string) bool {
		if step == "ensure" {
			n, _, _ := r.a.f.Get(ns)
			sawPending = len(n.Resources) == 1 && n.Resources[0].State == rsPending
		}
		return false
	}}
	r.rounds(1)
	ns := r.get("user-profiles")
	if ns.Status != stActive || len(ns.Resources) != 1 || ns.Resources[0].State != rsReady || ns.Resources[0].Name != "public.user_profiles" {
		t.Fatalf("after a round: %v %q %v", ns.Status, ns.StatusReason, ns.Resources)
	}
	if !sawPending {
		t.Fatal("the intent was not committed before the backend call")
	}
	r.rounds(3)
	if r.pg.creates != 1 {
		t.Fatalf("%d creates", r.pg.creates)
	}
}

func TestForeignResourceIsNeitherAdoptedNorRetried(t *testing.T) {
	r := newRig(t)
	r.pg.set(func(b *fakeBackend) { b.res["public.orders"] = "someone-else" })
	r.apply(pgSpec("orders"))
	r.rounds(1)
	ns := r.get("orders")
	if ns.Status != stProvisioning || !strings.Contains(ns.StatusReason, "already exists") || len(ns.Resources) != 0 {
		t.Fatalf("%v %q %v", ns.Status, ns.StatusReason, ns.Resources)
	}
	commits := r.a.count("set_namespace_resources")
	r.clock.advance(time.Hour)
	r.rounds(3)
	if r.a.count("set_namespace_resources") != commits || r.pg.creates != 0 || r.pg.res["public.orders"] != "someone-else" {
		t.Fatal("a terminal failure was retried, or the foreign table touched")
	}
	// An explicit reconcile retries; once the table is gone it proceeds.
	r.pg.set(func(b *fakeBackend) { delete(b.res, "public.orders") })
	r.a.client(t, &fsmpb.Command{Body: &fsmpb.Command_ReconcileNamespace{ReconcileNamespace: &fsmpb.ReconcileNamespace{Name: "orders"}}})
	r.rounds(1)
	if ns := r.get("orders"); ns.Status != stActive || ns.Reconcile != nil {
		t.Fatalf("after reconcile: %v %q reconcile=%v", ns.Status, ns.StatusReason, ns.Reconcile)
	}
}

func TestUnreachableBacksOffAndCommitsOncePerKind(t *testing.T) {
	r := newRig(t)
	r.pg.set(func(b *fakeBackend) { b.err = errors.Join(provision.ErrUnreachable, errors.New("dial tcp: refused")) })
	r.apply(pgSpec("a"))
	r.rounds(1)
	first := r.a.count("set_namespace_resources")
	for i := 0; i < 5; i++ {
		r.clock.advance(time.Minute) // past any backoff
		r.pg.set(func(b *fakeBackend) {
			b.err = errors.Join(provision.ErrUnreachable, errors.New("dial tcp: refused, try "+string(rune('a'+i))))
		})
		r.rounds(1)
	}
	ns := r.get("a")
	if ns.Status != stProvisioning || !strings.Contains(ns.StatusReason, "unreachable") {
		t.Fatalf("%v %q", ns.Status, ns.StatusReason)
	}
	if got := r.a.count("set_namespace_resources"); got != first {
		t.Fatalf("the same kind of failure was committed again: %d commits, then %d", first, got)
	}
	// Backoff: without time passing, no new attempt is made.
	r.l.mu.Lock()
	due := r.l.track["a"].due
	r.l.mu.Unlock()
	if !due.After(r.clock.Now()) {
		t.Fatal("no backoff after a failure")
	}
	r.pg.set(func(b *fakeBackend) { b.err = nil })
	r.clock.advance(time.Minute)
	r.rounds(1)
	if ns := r.get("a"); ns.Status != stActive {
		t.Fatalf("after the server came back: %v %q", ns.Status, ns.StatusReason)
	}
}

func TestDriftDegradesAndRecreateRestores(t *testing.T) {
	r := newRig(t)
	r.apply(kafkaSpec("ev", "4"))
	r.rounds(1)
	r.kafka.set(func(b *fakeBackend) { delete(b.res, "ev") })
	r.clock.advance(time.Minute) // past the check interval
	r.rounds(1)
	ns := r.get("ev")
	if ns.Status != stDegraded || ns.Resources[0].State != rsMissing || !strings.Contains(ns.StatusReason, "--recreate") {
		t.Fatalf("after drift: %v %q %v", ns.Status, ns.StatusReason, ns.Resources)
	}
	r.clock.advance(time.Minute)
	r.rounds(2)
	if r.kafka.creates != 1 {
		t.Fatal("a missing topic was recreated without being asked")
	}
	r.a.client(t, &fsmpb.Command{Body: &fsmpb.Command_ReconcileNamespace{ReconcileNamespace: &fsmpb.ReconcileNamespace{Name: "ev", Recreate: true}}})
	r.rounds(1)
	if ns := r.get("ev"); ns.Status != stActive || ns.Resources[0].State != rsReady || r.kafka.creates != 2 {
		t.Fatalf("after --recreate: %v %q %v creates=%d", ns.Status, ns.StatusReason, ns.Resources, r.kafka.creates)
	}
}

func TestSpecChangeGrowsPartitions(t *testing.T) {
	r := newRig(t)
	r.apply(kafkaSpec("ev", "4"))
	r.rounds(1)
	r.apply(kafkaSpec("ev", "8"))
	r.rounds(1)
	if ns := r.get("ev"); ns.Resources[0].Partitions != 8 || ns.Status != stActive {
		t.Fatalf("%v %v", ns.Status, ns.Resources)
	}
}

func TestDeleteAndRetain(t *testing.T) {
	r := newRig(t)
	r.apply(pgSpec("gone"))
	keep := pgSpec("kept")
	keep.Policies = &fsmpb.Policies{OnDelete: "retain"}
	r.apply(keep)
	r.rounds(1)
	for _, n := range []string{"gone", "kept"} {
		r.a.client(t, &fsmpb.Command{Body: &fsmpb.Command_DeleteNamespace{DeleteNamespace: &fsmpb.DeleteNamespace{Name: n}}})
	}
	r.rounds(1)
	g, k := r.get("gone"), r.get("kept")
	if g.Status != stDeleted || g.Resources[0].State != rsDeleted || r.pg.res["public.gone"] != "" {
		t.Fatalf("delete: %v %v", g.Status, g.Resources)
	}
	if k.Status != stDeleted || k.Resources[0].State != rsReleased || !r.pg.released["public.kept"] {
		t.Fatalf("retain: %v %v", k.Status, k.Resources)
	}
}

func TestDeleteNeverDropsWhatIsNotTheNamespaces(t *testing.T) {
	r := newRig(t)
	r.apply(pgSpec("a"))
	r.rounds(1)
	// The table was replaced behind Prism's back by one it did not create.
	r.pg.set(func(b *fakeBackend) { b.res["public.a"] = "stranger" })
	r.a.client(t, &fsmpb.Command{Body: &fsmpb.Command_DeleteNamespace{DeleteNamespace: &fsmpb.DeleteNamespace{Name: "a"}}})
	r.rounds(1)
	ns := r.get("a")
	if ns.Status != stDeleted || ns.Resources[0].State != rsReleased || r.pg.res["public.a"] != "stranger" {
		t.Fatalf("%v %v %q", ns.Status, ns.Resources, r.pg.res["public.a"])
	}
}

func TestDeposedLeaderDropsNothing(t *testing.T) {
	r := newRig(t)
	r.apply(pgSpec("a"))
	r.rounds(1)
	r.a.client(t, &fsmpb.Command{Body: &fsmpb.Command_DeleteNamespace{DeleteNamespace: &fsmpb.DeleteNamespace{Name: "a"}}})
	r.a.mu.Lock()
	r.a.fail = errors.New("not the leader")
	r.a.mu.Unlock()
	r.rounds(1)
	if r.pg.deletes != 0 {
		t.Fatal("a node that no longer leads deleted a table")
	}
}

func TestBackendWithoutProvisionerSaysSo(t *testing.T) {
	r := newRig(t)
	r.apply(&fsmpb.NamespaceSpec{Name: "c", Abstraction: "keyvalue", Backend: "cassandra"})
	r.rounds(1)
	if ns := r.get("c"); ns.Status != stProvisioning || !strings.Contains(ns.StatusReason, "no provisioner") {
		t.Fatalf("%v %q", ns.Status, ns.StatusReason)
	}
}

func TestUndeclaredTargetWaits(t *testing.T) {
	r := newRig(t)
	s := pgSpec("x")
	s.BackendConfigJson = []byte(`{"postgres":{"target":"analytics"}}`)
	r.apply(s)
	r.rounds(1)
	if ns := r.get("x"); ns.Status != stProvisioning || !strings.Contains(ns.StatusReason, `target "analytics"`) {
		t.Fatalf("%v %q", ns.Status, ns.StatusReason)
	}
}

// A leader that dies after creating a table and before recording it: the
// next attempt (a new leader's, with fresh memory) finds its intent and the
// table, and finishes with exactly one table.
func TestDeathAfterCreateLeavesOneTable(t *testing.T) {
	r := newRig(t)
	r.apply(pgSpec("a"))
	died := false
	r.l.deps.Hooks = &Hooks{AfterBackend: func(_, step string) bool {
		if step == "ensure" && !died {
			died = true
			return true
		}
		return false
	}}
	r.rounds(1)
	if ns := r.get("a"); ns.Status != stProvisioning || ns.Resources[0].State != rsPending {
		t.Fatalf("after the death: %v %v", ns.Status, ns.Resources)
	}
	next := NewLifecycle(r.l.cfg, r.l.deps) // a new leader: no memory
	r.l = next
	r.rounds(1)
	if ns := r.get("a"); ns.Status != stActive || r.pg.creates != 1 {
		t.Fatalf("new leader: %v %q creates=%d", ns.Status, ns.StatusReason, r.pg.creates)
	}
}

// Resources are made before placement finds a shard; activation waits
// for placement, and the placement reason is left alone.
func TestProvisionBeforePlacement(t *testing.T) {
	r := newRig(t)
	placed := false
	r.l.deps.AwaitsPlacement = func(*fsmpb.Namespace) bool { return !placed }
	r.apply(kafkaSpec("big", "20"))
	r.rounds(2)
	ns := r.get("big")
	if ns.Status != stProvisioning || len(ns.Resources) != 1 || ns.Resources[0].State != rsReady || r.kafka.creates != 1 {
		t.Fatalf("before placement: %v %v", ns.Status, ns.Resources)
	}
	commits := r.a.count("set_namespace_resources")
	r.rounds(3)
	if r.a.count("set_namespace_resources") != commits {
		t.Fatal("a namespace waiting for placement was worked on again")
	}
	placed = true
	r.rounds(1)
	if ns := r.get("big"); ns.Status != stActive {
		t.Fatalf("after placement: %v %q", ns.Status, ns.StatusReason)
	}
}

// A namespace stuck on a terminal failure can still be deleted.
func TestDeleteAfterTerminalFailure(t *testing.T) {
	r := newRig(t)
	r.pg.set(func(b *fakeBackend) { b.res["public.orders"] = "someone-else" })
	r.apply(pgSpec("orders"))
	r.rounds(1)
	r.a.client(t, &fsmpb.Command{Body: &fsmpb.Command_DeleteNamespace{DeleteNamespace: &fsmpb.DeleteNamespace{Name: "orders"}}})
	r.rounds(1)
	if ns := r.get("orders"); ns.Status != stDeleted || r.pg.res["public.orders"] != "someone-else" {
		t.Fatalf("%v %q", ns.Status, ns.StatusReason)
	}
}

// A namespace whose spec changes often, on a backend that keeps failing
// the same way, gets one status commit, not one per change.
func TestSameFailureAcrossSpecChangesCommitsOnce(t *testing.T) {
	r := newRig(t)
	s := &fsmpb.NamespaceSpec{Name: "b", Abstraction: "keyvalue", Backend: "bench", Capacity: &fsmpb.Capacity{EstimatedReadRps: 1}}
	r.apply(s)
	r.rounds(1)
	first := r.a.count("set_namespace_resources")
	for i := int64(2); i < 12; i++ {
		s.Capacity = &fsmpb.Capacity{EstimatedReadRps: i}
		r.apply(s)
		r.rounds(1)
	}
	if got := r.a.count("set_namespace_resources"); got != first || first != 1 {
		t.Fatalf("%d status commits for one kind of failure (first round %d)", got, first)
	}
}

// Drift checks never take every worker: with many active namespaces due
// for a check on a slow server, a new namespace is still provisioned.
func TestDriftChecksDoNotStarveProvisioning(t *testing.T) {
	r := newRig(t)
	r.l.cfg.Workers = 4
	r.l.sem = make(chan struct{}, 4)
	var names []string
	for i := 0; i < 12; i++ {
		n := fmt.Sprintf("a%02d", i)
		names = append(names, n)
		r.apply(pgSpec(n))
	}
	r.rounds(4)
	hold := make(chan struct{})
	r.pg.set(func(b *fakeBackend) {
		b.hold, b.holdNames = hold, map[string]bool{}
		for _, n := range names {
			b.holdNames[n] = true
		}
	})
	r.clock.advance(time.Hour) // every active namespace is due for a check
	r.apply(pgSpec("zzz"))
	r.l.round(context.Background()) // checks start and block on the slow server
	r.l.round(context.Background())
	testEventually(t, func() bool { return r.get("zzz").Status == stActive })
	r.l.mu.Lock()
	checking := r.l.checking
	r.l.mu.Unlock()
	if checking != 1 {
		t.Fatalf("%d drift checks in flight with 4 workers, want 1", checking)
	}
	close(hold)
	r.l.wg.Wait()
}

func testEventually(t *testing.T, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatal("not within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
