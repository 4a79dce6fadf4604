package controller

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/prism/controlplane/fsm"
	"github.com/prism/controlplane/fsm/fsmpb"
)

// Sessions is the leader's shard-session controller: its in-memory record
// of shard heartbeats, and the loop that commits the liveness transitions
// they cause (up → suspect → down, back to up). The record is never
// replicated: a heartbeat costs a map write, and only transitions go
// through raft, each guarded by the shard revision it saw. One Sessions
// serves one leadership stint and counts silence from its own start at the
// earliest: a new leader gives every shard a full period before marking it
// suspect.
type Sessions struct {
	cfg   SessionsConfig
	deps  SessionsDeps
	nudge chan struct{}

	mu       sync.Mutex
	since    time.Time                  // start of this controller (its leadership stint)
	lastSeen map[string]time.Time       // heartbeats seen since
	ready    map[string]map[string]bool // shard → namespaces it is ready to take over
}

// NewSessions returns a controller whose stint starts now (by
// deps.Clock); it records heartbeats at once, and Run checks liveness.
func NewSessions(cfg SessionsConfig, deps SessionsDeps) *Sessions {
	return &Sessions{cfg: cfg, deps: deps, nudge: make(chan struct{}, 1), since: deps.Clock.Now(),
		lastSeen: map[string]time.Time{}, ready: map[string]map[string]bool{}}
}

// Nudge makes the controller check liveness now.
func (s *Sessions) Nudge() {
	select {
	case s.nudge <- struct{}{}:
	default:
	}
}

// Heartbeat records that shard id was heard from now, and which namespaces
// it is ready to take over (replacing what it said before). It fails with
// fsm.ErrShardNotFound when the state knows no such shard (the agent
// should register again). A heartbeat from a suspect or down shard nudges
// the controller, so the shard is back up at once, not at the next check.
func (s *Sessions) Heartbeat(id string, ready []string) error {
	sh, _, err := s.deps.State.GetShard(id)
	if err != nil {
		return err
	}
	now := s.deps.Clock.Now()
	s.mu.Lock()
	s.lastSeen[id] = now
	if len(ready) == 0 {
		delete(s.ready, id)
	} else {
		set := make(map[string]bool, len(ready))
		for _, name := range ready {
			set[name] = true
		}
		s.ready[id] = set
	}
	s.mu.Unlock()
	switch sh.State {
	case fsmpb.ShardState_SHARD_STATE_SUSPECT, fsmpb.ShardState_SHARD_STATE_DOWN:
		s.Nudge()
	}
	return nil
}

// IsReady: shard id's last heartbeat said it is ready to take name over.
func (s *Sessions) IsReady(id, name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ready[id][name]
}

// seen returns when the shard was last heard from in this stint (ok false
// when not yet), and the stint's start.
func (s *Sessions) seen(id string) (at time.Time, ok bool, since time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	at, ok = s.lastSeen[id]
	return at, ok, s.since
}

// Run checks liveness now, then every Interval or when nudged, until ctx
// ends.
func (s *Sessions) Run(ctx context.Context) {
	loop(ctx, s.cfg.Interval, 0, s.nudge, func() { s.check(ctx) })
}

// check commits the liveness transitions due now: up → suspect after
// SuspectAfter of silence, suspect → down after DownAfter, and back to up
// once a heartbeat arrives. Draining shards keep their state. A commit
// that fails (leadership lost, no quorum) ends the check; the next one
// tries again.
func (s *Sessions) check(ctx context.Context) {
	now := s.deps.Clock.Now()
	shards, _ := s.deps.State.ListShards()
	for _, sh := range shards {
		id := sh.Spec.GetId()
		at, heard, since := s.seen(id)
		// Silence counts from the last heartbeat, else from the later of
		// this stint's start and the shard's registration.
		last := since
		if reg := time.Unix(0, sh.RegisteredUnixNano); reg.After(last) {
			last = reg
		}
		if heard {
			last = at
		}
		silent := now.Sub(last)
		var to fsmpb.ShardState
		var reason string
		switch sh.State {
		case fsmpb.ShardState_SHARD_STATE_UP:
			if silent >= s.cfg.SuspectAfter {
				to, reason = fsmpb.ShardState_SHARD_STATE_SUSPECT, fmt.Sprintf("no heartbeat for %s", silent.Round(time.Second))
			}
		case fsmpb.ShardState_SHARD_STATE_SUSPECT, fsmpb.ShardState_SHARD_STATE_DOWN:
			switch {
			case heard && silent < s.cfg.SuspectAfter:
				to, reason = fsmpb.ShardState_SHARD_STATE_UP, "heartbeats resumed"
			case sh.State == fsmpb.ShardState_SHARD_STATE_SUSPECT && silent >= s.cfg.DownAfter:
				to, reason = fsmpb.ShardState_SHARD_STATE_DOWN, fmt.Sprintf("no heartbeat for %s", silent.Round(time.Second))
			}
		}
		if to == fsmpb.ShardState_SHARD_STATE_UNSPECIFIED {
			continue
		}
		actx, cancel := context.WithTimeout(ctx, s.cfg.ApplyTimeout)
		res, err := s.deps.Applier.Apply(actx, &fsmpb.Command{Body: &fsmpb.Command_SetShardState{SetShardState: &fsmpb.SetShardState{
			Id: id, State: to, Reason: fsm.TruncateReason(reason), IfRevision: sh.Revision,
		}}})
		cancel()
		if err != nil {
			s.deps.Log.Warn("shard liveness transition failed", "shard", id, "to", to, "err", err)
			return // leadership lost or no quorum: try next round
		}
		if res.Err == nil && !res.Unchanged {
			s.deps.Log.Info("shard liveness changed", "shard", id, "from", sh.State, "to", to, "reason", reason)
		}
	}
	if s.deps.Checked != nil {
		s.deps.Checked()
	}
}
