package controller

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prism/controlplane/fsm"
	"github.com/prism/controlplane/fsm/fsmpb"
)

const (
	shUp       = fsmpb.ShardState_SHARD_STATE_UP
	shSuspect  = fsmpb.ShardState_SHARD_STATE_SUSPECT
	shDown     = fsmpb.ShardState_SHARD_STATE_DOWN
	shDraining = fsmpb.ShardState_SHARD_STATE_DRAINING
)

type sessRig struct {
	t      *testing.T
	a      *fakeApplier
	clock  *frozenClock
	cfg    SessionsConfig
	checks atomic.Int64
}

func newSessRig(t *testing.T) *sessRig {
	return &sessRig{t: t, a: newFakeApplier(), clock: &frozenClock{now: time.Unix(1_700_000_000, 0)}, cfg: DefaultSessionsConfig()}
}

// stint starts the session controller of a leadership stint beginning now.
func (r *sessRig) stint() *Sessions {
	return NewSessions(r.cfg, SessionsDeps{Log: slog.New(slog.DiscardHandler), Applier: r.a, State: r.a.f, Clock: r.clock,
		Checked: func() { r.checks.Add(1) }})
}

func (r *sessRig) expect(id string, want fsmpb.ShardState, reason string) {
	r.t.Helper()
	sh := r.a.shard(r.t, id)
	if sh.State != want || (reason != "" && sh.StateReason != reason) {
		r.t.Fatalf("shard %s is %s (%q); want %s (%q)", id, sh.State, sh.StateReason, want, reason)
	}
}

// A shard silent for SuspectAfter is suspect, for DownAfter down; a
// heartbeat brings it back up. Each transition is committed once.
func TestSessionsSilenceThenHeartbeat(t *testing.T) {
	r := newSessRig(t)
	r.a.registerShard(t, "shard-1", r.clock.Now())
	s := r.stint()
	ctx := context.Background()

	r.clock.advance(r.cfg.SuspectAfter - time.Millisecond)
	s.check(ctx)
	r.expect("shard-1", shUp, "registered")

	r.clock.advance(time.Millisecond)
	s.check(ctx)
	r.expect("shard-1", shSuspect, "no heartbeat for 10s")
	s.check(ctx) // nothing new
	if n := r.a.count("set_shard_state"); n != 1 {
		t.Fatalf("%d set_shard_state commits; want 1", n)
	}

	r.clock.advance(r.cfg.DownAfter - r.cfg.SuspectAfter - time.Millisecond)
	s.check(ctx)
	r.expect("shard-1", shSuspect, "")
	r.clock.advance(time.Millisecond)
	s.check(ctx)
	r.expect("shard-1", shDown, "no heartbeat for 30s")

	if err := s.Heartbeat("shard-1", nil); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.nudge: // a down shard heard from wakes the check
	default:
		t.Fatal("a heartbeat from a down shard did not nudge the controller")
	}
	s.check(ctx)
	r.expect("shard-1", shUp, "heartbeats resumed")
	if n := r.a.count("set_shard_state"); n != 3 {
		t.Fatalf("%d set_shard_state commits; want 3", n)
	}
	if got := r.checks.Load(); got != 6 {
		t.Fatalf("%d checks counted; want 6", got)
	}
}

// A heartbeat from an up shard renews it without a commit or a nudge.
func TestSessionsHeartbeatKeepsShardUp(t *testing.T) {
	r := newSessRig(t)
	r.a.registerShard(t, "shard-1", r.clock.Now())
	s := r.stint()
	for i := 0; i < 10; i++ {
		r.clock.advance(r.cfg.SuspectAfter / 2)
		if err := s.Heartbeat("shard-1", nil); err != nil {
			t.Fatal(err)
		}
		s.check(context.Background())
	}
	r.expect("shard-1", shUp, "registered")
	if n := r.a.count("set_shard_state"); n != 0 {
		t.Fatalf("%d set_shard_state commits; want 0", n)
	}
	select {
	case <-s.nudge:
		t.Fatal("a heartbeat from an up shard nudged")
	default:
	}
}

// A new leader counts silence from its own start, not from the shard's
// registration or from what an earlier leader heard: a shard silent for
// an hour before the stint gets a full SuspectAfter.
func TestSessionsNewLeaderCountsFromItsStart(t *testing.T) {
	r := newSessRig(t)
	r.a.registerShard(t, "shard-1", r.clock.Now().Add(-time.Hour))
	s := r.stint()
	r.clock.advance(r.cfg.SuspectAfter - time.Millisecond)
	s.check(context.Background())
	r.expect("shard-1", shUp, "registered")
	r.clock.advance(time.Millisecond)
	s.check(context.Background())
	r.expect("shard-1", shSuspect, "")
}

// A shard registered after the stint began counts from its registration.
func TestSessionsCountFromRegistration(t *testing.T) {
	r := newSessRig(t)
	s := r.stint()
	r.clock.advance(time.Minute)
	r.a.registerShard(t, "late", r.clock.Now())
	r.clock.advance(r.cfg.SuspectAfter - time.Millisecond)
	s.check(context.Background())
	r.expect("late", shUp, "")
	r.clock.advance(time.Millisecond)
	s.check(context.Background())
	r.expect("late", shSuspect, "")
}

// A draining shard keeps its state whatever the silence.
func TestSessionsDrainingKeepsState(t *testing.T) {
	r := newSessRig(t)
	r.a.registerShard(t, "shard-1", r.clock.Now())
	r.a.setShardState(t, "shard-1", shDraining)
	s := r.stint()
	r.clock.advance(2 * r.cfg.DownAfter)
	s.check(context.Background())
	r.expect("shard-1", shDraining, "")
}

func TestSessionsHeartbeatUnknownShard(t *testing.T) {
	r := newSessRig(t)
	s := r.stint()
	if err := s.Heartbeat("nope", nil); !errors.Is(err, fsm.ErrShardNotFound) {
		t.Fatalf("heartbeat of an unknown shard: %v; want ErrShardNotFound", err)
	}
}

// Readiness is what the shard's last heartbeat said.
func TestSessionsReadiness(t *testing.T) {
	r := newSessRig(t)
	r.a.registerShard(t, "shard-1", r.clock.Now())
	s := r.stint()
	if err := s.Heartbeat("shard-1", []string{"a", "b"}); err != nil {
		t.Fatal(err)
	}
	if !s.IsReady("shard-1", "a") || !s.IsReady("shard-1", "b") || s.IsReady("shard-1", "c") || s.IsReady("shard-2", "a") {
		t.Fatal("readiness is not what the heartbeat said")
	}
	if err := s.Heartbeat("shard-1", nil); err != nil {
		t.Fatal(err)
	}
	if s.IsReady("shard-1", "a") {
		t.Fatal("a later heartbeat without readiness left it ready")
	}
}

// A commit that fails (leadership lost) ends the check uncounted; the
// next check commits the transition.
func TestSessionsCommitFailureEndsCheck(t *testing.T) {
	r := newSessRig(t)
	r.a.registerShard(t, "shard-1", r.clock.Now())
	r.a.registerShard(t, "shard-2", r.clock.Now())
	s := r.stint()
	r.clock.advance(r.cfg.SuspectAfter)
	r.a.mu.Lock()
	r.a.fail = errors.New("not the leader")
	r.a.mu.Unlock()
	s.check(context.Background())
	if r.checks.Load() != 0 {
		t.Fatal("a failed check was counted")
	}
	r.a.mu.Lock()
	r.a.fail = nil
	r.a.mu.Unlock()
	s.check(context.Background())
	r.expect("shard-1", shSuspect, "")
	r.expect("shard-2", shSuspect, "")
	if r.checks.Load() != 1 {
		t.Fatalf("%d checks counted; want 1", r.checks.Load())
	}
}

// Run checks at once, then on a nudge: a down shard's heartbeat brings it
// up without waiting for the interval.
func TestSessionsRunWakesOnHeartbeat(t *testing.T) {
	r := newSessRig(t)
	r.cfg.Interval = time.Hour // only nudges wake it
	r.a.registerShard(t, "shard-1", r.clock.Now())
	r.a.setShardState(t, "shard-1", shDown)
	s := r.stint()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.Run(ctx) }()
	defer func() { cancel(); <-done }()
	waitFor(t, func() bool { return r.checks.Load() >= 1 })
	r.expect("shard-1", shDown, "")
	if err := s.Heartbeat("shard-1", nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return r.a.shard(t, "shard-1").State == shUp })
}

// waitFor polls cond until it holds or 10 s pass.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
