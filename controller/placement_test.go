package controller

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prism/controlplane/fsm"
	"github.com/prism/controlplane/fsm/fsmpb"
	"github.com/prism/controlplane/placement"
)

type placeRig struct {
	t    *testing.T
	a    *fakeApplier
	mono *frozenClock // the controller's monotonic clock
	cfg  PlacementConfig
	p    *Placement

	mu    sync.Mutex
	ready map[string]bool // "shard/namespace" a shard said it is ready for
}

func newPlaceRig(t *testing.T) *placeRig {
	r := &placeRig{t: t, a: newFakeApplier(), mono: &frozenClock{now: time.Unix(1_700_000_000, 0)}, cfg: DefaultPlacementConfig(), ready: map[string]bool{}}
	r.p = r.stint()
	return r
}

// stint is the placement controller of a new leadership stint.
func (r *placeRig) stint() *Placement {
	return NewPlacement(r.cfg, PlacementDeps{Log: slog.New(slog.DiscardHandler), Applier: r.a, State: r.a.f, Clock: r.mono, Ready: r})
}

func (r *placeRig) IsReady(shard, ns string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ready[shard+"/"+ns]
}

func (r *placeRig) round() { r.p.round(context.Background()) }

func (r *placeRig) get(name string) *fsmpb.Namespace {
	r.t.Helper()
	ns, _, err := r.a.f.Get(name)
	if err != nil {
		r.t.Fatal(err)
	}
	return ns
}

func (r *placeRig) apply(s *fsmpb.NamespaceSpec) {
	r.a.client(r.t, &fsmpb.Command{Body: &fsmpb.Command_ApplyNamespace{ApplyNamespace: &fsmpb.ApplyNamespace{Spec: s}}})
}

// setStatus sets a namespace's status as the lifecycle controller would.
func (r *placeRig) setStatus(name string, st fsmpb.NamespaceStatus, reason string) {
	r.t.Helper()
	res, err := r.a.Apply(context.Background(), statusCmd(r.get(name), st, reason))
	if err == nil {
		err = res.Err
	}
	if err != nil {
		r.t.Fatal(err)
	}
}

func (r *placeRig) input() placement.Input {
	nss, shs, _ := r.a.f.State()
	return PlacementInput(nss, shs)
}

func (r *placeRig) expectCount(body string, want int) {
	r.t.Helper()
	if n := r.a.count(body); n != want {
		r.t.Fatalf("%d %s commits; want %d", n, body, want)
	}
}

func rpsSpec(name string, rps int64) *fsmpb.NamespaceSpec {
	s := pgSpec(name)
	s.Capacity = &fsmpb.Capacity{EstimatedReadRps: rps}
	return s
}

// A new namespace goes to the registered shard, where the preview said it
// would; the lifecycle waits for it until then.
func TestPlacementAssignsNewNamespace(t *testing.T) {
	r := newPlaceRig(t)
	r.a.registerShard(t, "shard-1", r.mono.Now())
	r.apply(pgSpec("user-profiles"))
	ns := r.get("user-profiles")
	if !AwaitsPlacement(r.a.f, ns) {
		t.Fatal("an unplaced namespace does not await placement while a shard exists")
	}
	shard, reason, ok := PlacementPreview(r.cfg.Engine, r.input(), ns)
	if !ok || shard != "shard-1" || reason != "" {
		t.Fatalf("preview: %q %q %v; want shard-1", shard, reason, ok)
	}
	r.round()
	ns = r.get("user-profiles")
	if ns.ShardId != "shard-1" || ns.Move != nil || ns.CoolingSinceRevision != 0 {
		t.Fatalf("user-profiles on %q (move %v, cooling %d); want shard-1", ns.ShardId, ns.Move, ns.CoolingSinceRevision)
	}
	if AwaitsPlacement(r.a.f, ns) {
		t.Fatal("a placed namespace still awaits placement")
	}
	r.round()
	r.round()
	r.expectCount("assign_namespace", 1)
}

// With no shard registered placement is idle: nothing is committed and
// namespaces go active unplaced.
func TestPlacementIdleWithoutShards(t *testing.T) {
	r := newPlaceRig(t)
	r.apply(pgSpec("user-profiles"))
	r.round()
	ns := r.get("user-profiles")
	if ns.ShardId != "" || AwaitsPlacement(r.a.f, ns) {
		t.Fatalf("placement acted without shards: on %q, awaits %v", ns.ShardId, AwaitsPlacement(r.a.f, ns))
	}
	if _, _, ok := PlacementPreview(r.cfg.Engine, r.input(), ns); ok {
		t.Fatal("a preview without shards is not idle")
	}
	if r.a.index != 1 {
		t.Fatalf("%d commands; want only the apply", r.a.index)
	}
}

// A namespace no shard can hold stays provisioning with the engine's
// reason, committed once however many rounds see the same reason.
func TestPlacementUnschedulableRecordedOnce(t *testing.T) {
	r := newPlaceRig(t)
	r.a.registerShard(t, "shard-1", r.mono.Now())
	r.apply(rpsSpec("small-a", 10))
	r.round()
	r.apply(rpsSpec("video-events", 200000))
	r.round()
	ns := r.get("video-events")
	if ns.Status != stProvisioning || !strings.HasPrefix(ns.StatusReason, unschedulablePrefix) || ns.ShardId != "" {
		t.Fatalf("video-events is %s (%q) on %q; want provisioning, unschedulable", ns.Status, ns.StatusReason, ns.ShardId)
	}
	_, reason, _ := PlacementPreview(r.cfg.Engine, r.input(), ns)
	if reason != ns.StatusReason {
		t.Fatalf("preview says %q; the round recorded %q", reason, ns.StatusReason)
	}
	if !AwaitsPlacement(r.a.f, ns) {
		t.Fatal("an unschedulable namespace does not await placement")
	}
	for _, name := range []string{"small-b", "small-c", "small-d"} {
		r.apply(rpsSpec(name, 10)) // a new revision: the next round places again
		r.round()
	}
	r.expectCount("set_namespace_status", 1)
	r.expectCount("assign_namespace", 4)
}

// placedOnA has ns-1 on shard a with an empty shard b beside it.
func placedOnA(t *testing.T) *placeRig {
	r := newPlaceRig(t)
	r.a.registerShard(t, "a", r.mono.Now(), "postgres")
	r.apply(pgSpec("ns-1"))
	r.round()
	r.a.registerShard(t, "b", r.mono.Now(), "postgres")
	if ns := r.get("ns-1"); ns.ShardId != "a" {
		t.Fatalf("ns-1 on %q; want a", ns.ShardId)
	}
	return r
}

func (r *placeRig) expectMove(name, on string, phase fsmpb.MovePhase) {
	r.t.Helper()
	ns := r.get(name)
	switch {
	case ns.ShardId != on:
		r.t.Fatalf("%s on %q (move %v); want %q", name, ns.ShardId, ns.Move, on)
	case phase == fsmpb.MovePhase_MOVE_PHASE_UNSPECIFIED && ns.Move != nil:
		r.t.Fatalf("%s still moving: %v", name, ns.Move)
	case phase != fsmpb.MovePhase_MOVE_PHASE_UNSPECIFIED && ns.Move.GetPhase() != phase:
		r.t.Fatalf("%s move %v; want phase %s", name, ns.Move, phase)
	}
}

// Draining the source moves a namespace in phases, timed by the
// controller's clock: shadow, cutover after MoveShadowTimeout (the target
// never said it is ready), done MoveDrainPeriod after the cutover was
// first seen.
func TestPlacementMoveAdvancesOnTheClock(t *testing.T) {
	r := placedOnA(t)
	r.a.setShardState(t, "a", shDraining)
	r.round()
	r.expectMove("ns-1", "a", fsmpb.MovePhase_MOVE_PHASE_SHADOW)
	if m := r.get("ns-1").Move; m.From != "a" || m.To != "b" {
		t.Fatalf("move %v; want a → b", m)
	}

	r.mono.advance(r.cfg.MoveShadowTimeout - time.Millisecond)
	r.round()
	r.expectMove("ns-1", "a", fsmpb.MovePhase_MOVE_PHASE_SHADOW)
	r.mono.advance(time.Millisecond)
	r.round()
	r.expectMove("ns-1", "b", fsmpb.MovePhase_MOVE_PHASE_CUTOVER)

	r.round() // the cutover is first seen
	r.mono.advance(r.cfg.MoveDrainPeriod - time.Millisecond)
	r.round()
	r.expectMove("ns-1", "b", fsmpb.MovePhase_MOVE_PHASE_CUTOVER)
	r.mono.advance(time.Millisecond)
	r.round()
	r.expectMove("ns-1", "b", fsmpb.MovePhase_MOVE_PHASE_UNSPECIFIED)
	r.expectCount("move_namespace", 3)
	r.expectCount("assign_namespace", 1) // the first placement only
}

// A target that says it is ready cuts the shadow phase short.
func TestPlacementMoveCutsOverWhenTargetReady(t *testing.T) {
	r := placedOnA(t)
	r.a.setShardState(t, "a", shDraining)
	r.round()
	r.expectMove("ns-1", "a", fsmpb.MovePhase_MOVE_PHASE_SHADOW)
	r.round()
	r.expectMove("ns-1", "a", fsmpb.MovePhase_MOVE_PHASE_SHADOW)
	r.mu.Lock()
	r.ready["b/ns-1"] = true
	r.mu.Unlock()
	r.round()
	r.expectMove("ns-1", "b", fsmpb.MovePhase_MOVE_PHASE_CUTOVER)
}

// A shadow move whose target stops being up is aborted: the namespace
// stays where it is.
func TestPlacementMoveAbortsWhenTargetNotUp(t *testing.T) {
	r := placedOnA(t)
	r.a.setShardState(t, "a", shDraining)
	r.round()
	r.expectMove("ns-1", "a", fsmpb.MovePhase_MOVE_PHASE_SHADOW)
	r.a.setShardState(t, "b", shSuspect)
	r.round()
	r.expectMove("ns-1", "a", fsmpb.MovePhase_MOVE_PHASE_UNSPECIFIED)
}

// A down shard's namespaces are degraded for ShardDownGrace, then the
// grace is committed as a fact, they are reassigned at once (the source
// does not serve) and active again; their cooling ends MoveCooling after
// it was first seen.
func TestPlacementDownShardGraceThenRepair(t *testing.T) {
	r := placedOnA(t)
	r.setStatus("ns-1", stActive, "provisioned")
	r.a.setShardState(t, "a", shDown)
	r.round()
	ns := r.get("ns-1")
	if ns.Status != stDegraded || !strings.Contains(ns.StatusReason, "within the grace period") {
		t.Fatalf("ns-1 is %s (%q); want degraded within the grace", ns.Status, ns.StatusReason)
	}
	r.mono.advance(r.cfg.ShardDownGrace - time.Millisecond)
	r.round()
	r.expectCount("expire_shard_grace", 0)
	if r.get("ns-1").ShardId != "a" {
		t.Fatal("ns-1 moved within the grace")
	}
	r.mono.advance(time.Millisecond)
	r.round()
	r.expectCount("expire_shard_grace", 1)
	if !r.a.shard(t, "a").GraceExpired {
		t.Fatal("shard a's grace is not recorded as expired")
	}
	ns = r.get("ns-1")
	if ns.ShardId != "b" || ns.Move != nil || ns.Status != stActive || ns.StatusReason != "serving shard is up" || ns.CoolingSinceRevision == 0 {
		t.Fatalf("ns-1 is %s (%q) on %q, move %v, cooling %d; want active on b, cooling", ns.Status, ns.StatusReason, ns.ShardId, ns.Move, ns.CoolingSinceRevision)
	}
	r.expectCount("move_namespace", 0) // off a dead shard: no phases

	r.round() // the cooling is first seen
	r.mono.advance(r.cfg.MoveCooling - time.Millisecond)
	r.round()
	r.expectCount("end_cooling", 0)
	r.mono.advance(time.Millisecond)
	r.round()
	r.expectCount("end_cooling", 1)
	if c := r.get("ns-1").CoolingSinceRevision; c != 0 {
		t.Fatalf("ns-1 still cooling since %d", c)
	}
}

// A new leader's controller times a grace from its own start: what the
// previous leader measured does not carry over.
func TestPlacementNewLeaderTimesGraceAfresh(t *testing.T) {
	r := placedOnA(t)
	r.a.setShardState(t, "a", shDown)
	r.round()
	r.mono.advance(r.cfg.ShardDownGrace - time.Millisecond)
	r.round()
	r.p = r.stint()
	r.mono.advance(time.Millisecond)
	r.round()
	r.mono.advance(r.cfg.ShardDownGrace - time.Millisecond)
	r.round()
	r.expectCount("expire_shard_grace", 0)
	r.mono.advance(time.Millisecond)
	r.round()
	r.expectCount("expire_shard_grace", 1)
}

// A namespace degraded by its resources is the lifecycle controller's:
// placement never returns it to active.
func TestPlacementLeavesResourceDegradedAlone(t *testing.T) {
	r := placedOnA(t)
	r.setStatus("ns-1", stDegraded, resourcePrefix+"postgres table ns_1 is missing")
	r.apply(pgSpec("ns-2")) // a new revision: a round places
	r.round()
	if ns := r.get("ns-1"); ns.Status != stDegraded {
		t.Fatalf("ns-1 is %s (%q); want still degraded", ns.Status, ns.StatusReason)
	}
}

// racingApplier changes a namespace's spec right before the first
// command it is given commits, as a client's apply racing the leader.
type racingApplier struct {
	*fakeApplier
	t    *testing.T
	once sync.Once
	spec *fsmpb.NamespaceSpec
}

func (a *racingApplier) Apply(ctx context.Context, cmd *fsmpb.Command) (fsm.Result, error) {
	a.once.Do(func() {
		a.client(a.t, &fsmpb.Command{Body: &fsmpb.Command_ApplyNamespace{ApplyNamespace: &fsmpb.ApplyNamespace{Spec: a.spec}}})
	})
	return a.fakeApplier.Apply(ctx, cmd)
}

// ApplyPlan skips a decision about a namespace that changed before its
// commit (the next round plans it again), and stops at a commit that
// fails otherwise, naming the namespace.
func TestApplyPlanGuards(t *testing.T) {
	r := newPlaceRig(t)
	r.a.registerShard(t, "shard-1", r.mono.Now())
	r.apply(pgSpec("ns-1"))
	plan := placement.Place(r.cfg.Engine, r.input())
	racing := &racingApplier{fakeApplier: r.a, t: t, spec: rpsSpec("ns-1", 5)}
	if n, err := ApplyPlan(context.Background(), racing, r.a.f, plan); n != 0 || err != nil {
		t.Fatalf("raced plan: %d applied, %v; want 0, nil", n, err)
	}
	if ns := r.get("ns-1"); ns.ShardId != "" {
		t.Fatalf("ns-1 assigned to %q over a newer spec", ns.ShardId)
	}
	lost := errors.New("leadership lost")
	r.a.mu.Lock()
	r.a.fail = lost
	r.a.mu.Unlock()
	if _, err := ApplyPlan(context.Background(), r.a, r.a.f, plan); !errors.Is(err, lost) || !strings.Contains(err.Error(), "ns-1") {
		t.Fatalf("failed commit: %v; want it, naming ns-1", err)
	}
	r.a.mu.Lock()
	r.a.fail = nil
	r.a.mu.Unlock()
	if n, err := ApplyPlan(context.Background(), r.a, r.a.f, plan); n != 1 || err != nil {
		t.Fatalf("%d applied, %v; want 1, nil", n, err)
	}
}

// A dedicated namespace alone on its shard is reported as that shard's.
func TestDedicatedShards(t *testing.T) {
	r := newPlaceRig(t)
	r.a.registerShard(t, "shard-1", r.mono.Now())
	r.a.registerShard(t, "shard-2", r.mono.Now())
	s := pgSpec("big")
	s.Placement = &fsmpb.Placement{Isolation: placement.IsolationDedicated}
	r.apply(s)
	r.apply(pgSpec("small"))
	r.round()
	big, small := r.get("big"), r.get("small")
	if big.ShardId == "" || small.ShardId == "" || big.ShardId == small.ShardId {
		t.Fatalf("big on %q, small on %q; want two shards", big.ShardId, small.ShardId)
	}
	got := DedicatedShards(r.cfg.Engine, r.input())
	if len(got) != 1 || got[big.ShardId] != "big" {
		t.Fatalf("dedicated shards %v; want %s: big", got, big.ShardId)
	}
}

// Run places at once, then when nudged (the interval is an hour here).
func TestPlacementRunWakesOnNudge(t *testing.T) {
	r := newPlaceRig(t)
	r.cfg.Interval = time.Hour
	r.p = r.stint()
	r.a.registerShard(t, "shard-1", r.mono.Now())
	r.apply(pgSpec("ns-1"))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); r.p.Run(ctx) }()
	defer func() { cancel(); <-done }()
	waitFor(t, func() bool { ns, _, _ := r.a.f.Get("ns-1"); return ns.GetShardId() != "" })
	r.apply(pgSpec("ns-2"))
	r.p.Nudge()
	waitFor(t, func() bool { ns, _, _ := r.a.f.Get("ns-2"); return ns.GetShardId() != "" })
}
