package cluster

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/prism/controlplane/fsm"
	"github.com/prism/controlplane/fsm/fsmpb"
	"github.com/prism/controlplane/rpc/rpcpb"
)

// sessions is the leader's in-memory record of shard heartbeats. It is
// never replicated: a heartbeat costs a map write, and only the liveness
// transitions it causes go through raft. Each leadership stint starts it
// afresh, so silence is counted from the stint's start at the earliest: a
// new leader gives every shard a full period before marking it suspect.
type sessions struct {
	mu       sync.Mutex
	since    time.Time                  // start of this leadership stint
	lastSeen map[string]time.Time       // heartbeats seen in this stint
	ready    map[string]map[string]bool // shard → namespaces it is ready to take over
}

func newSessions() *sessions {
	return &sessions{lastSeen: map[string]time.Time{}, ready: map[string]map[string]bool{}}
}

func (s *sessions) reset(now time.Time) {
	s.mu.Lock()
	s.since, s.lastSeen, s.ready = now, map[string]time.Time{}, map[string]map[string]bool{}
	s.mu.Unlock()
}

func (s *sessions) touch(id string, now time.Time, ready []string) {
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
}

// isReady: shard id's last heartbeat said it is ready to take name over.
func (s *sessions) isReady(id, name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ready[id][name]
}

// seen returns when the shard was last heard from in this stint (ok false
// when not yet), and the stint's start.
func (s *sessions) seen(id string) (at time.Time, ok bool, since time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	at, ok = s.lastSeen[id]
	return at, ok, s.since
}

// HeartbeatInfo is what a heartbeat's sender is told.
type HeartbeatInfo struct {
	Interval, SuspectAfter, DownAfter time.Duration
	LeaderID                          string
}

// Heartbeat renews a shard's session on the leader (forwarding it there
// when this node follows). It fails with fsm.ErrShardNotFound when the
// leader knows no such shard: the agent should register again.
func (n *Node) Heartbeat(ctx context.Context, shardID string, ready []string) (HeartbeatInfo, error) {
	info := HeartbeatInfo{Interval: n.cfg.ShardSuspectAfter / 4, SuspectAfter: n.cfg.ShardSuspectAfter, DownAfter: n.cfg.ShardDownAfter}
	err := n.onLeader(ctx, true, // a heartbeat renews; sending it twice is harmless
		func() error {
			info.LeaderID = n.cfg.NodeID
			return n.heartbeatLocal(shardID, ready)
		},
		func(c rpcpb.InternalClient) error {
			resp, err := c.ForwardHeartbeat(ctx, &rpcpb.ForwardHeartbeatRequest{ShardId: shardID, FromNode: n.cfg.NodeID, Ready: ready})
			if err != nil {
				return err
			}
			if err := refused(resp.Refusal, resp.Message); err != nil {
				return err
			}
			info.LeaderID = resp.LeaderId
			if resp.NotFound {
				return fmt.Errorf("%w: %q", fsm.ErrShardNotFound, shardID)
			}
			return nil
		})
	return info, err
}

func (n *Node) heartbeatLocal(shardID string, ready []string) error {
	sh, _, err := n.fsm.GetShard(shardID)
	if err != nil {
		return err
	}
	n.sess.touch(shardID, n.clock.Now(), ready)
	switch sh.State {
	case fsmpb.ShardState_SHARD_STATE_SUSPECT, fsmpb.ShardState_SHARD_STATE_DOWN:
		n.nudgeSessions() // bring it back up now, not at the next check
	}
	return nil
}

// ForwardHeartbeat records a heartbeat if this node is the leader.
func (s *InternalServer) ForwardHeartbeat(_ context.Context, req *rpcpb.ForwardHeartbeatRequest) (*rpcpb.ForwardHeartbeatResponse, error) {
	if !s.n.IsLeader() {
		return &rpcpb.ForwardHeartbeatResponse{Refusal: rpcpb.Refusal_REFUSAL_NOT_LEADER, Message: "not the leader: " + s.n.cfg.NodeID}, nil
	}
	resp := &rpcpb.ForwardHeartbeatResponse{LeaderId: s.n.cfg.NodeID}
	if err := s.n.heartbeatLocal(req.ShardId, req.Ready); err != nil {
		resp.NotFound, resp.Message = true, err.Error()
	}
	return resp, nil
}

func (n *Node) nudgeSessions() {
	select {
	case n.sessNudgeCh <- struct{}{}:
	default:
	}
}

// sessionInterval is how often the leader checks shard liveness.
func (n *Node) sessionInterval() time.Duration {
	return min(n.cfg.ShardSuspectAfter/4, time.Second)
}

// checkSessions commits the liveness transitions due now: up → suspect
// after ShardSuspectAfter of silence, suspect → down after ShardDownAfter,
// and back to up once a heartbeat arrives. Draining shards keep their
// state. Each change is guarded by the shard revision it saw.
func (n *Node) checkSessions(ctx context.Context) {
	now := n.clock.Now()
	shards, _ := n.fsm.ListShards()
	for _, sh := range shards {
		id := sh.Spec.GetId()
		at, heard, since := n.sess.seen(id)
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
			if silent >= n.cfg.ShardSuspectAfter {
				to, reason = fsmpb.ShardState_SHARD_STATE_SUSPECT, fmt.Sprintf("no heartbeat for %s", silent.Round(time.Second))
			}
		case fsmpb.ShardState_SHARD_STATE_SUSPECT, fsmpb.ShardState_SHARD_STATE_DOWN:
			switch {
			case heard && silent < n.cfg.ShardSuspectAfter:
				to, reason = fsmpb.ShardState_SHARD_STATE_UP, "heartbeats resumed"
			case sh.State == fsmpb.ShardState_SHARD_STATE_SUSPECT && silent >= n.cfg.ShardDownAfter:
				to, reason = fsmpb.ShardState_SHARD_STATE_DOWN, fmt.Sprintf("no heartbeat for %s", silent.Round(time.Second))
			}
		}
		if to == fsmpb.ShardState_SHARD_STATE_UNSPECIFIED {
			continue
		}
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		res, err := n.applyAsLeader(actx, &fsmpb.Command{Body: &fsmpb.Command_SetShardState{SetShardState: &fsmpb.SetShardState{
			Id: id, State: to, Reason: fsm.TruncateReason(reason), IfRevision: sh.Revision,
		}}})
		cancel()
		if err != nil {
			n.log.Warn("shard liveness transition failed", "shard", id, "to", to, "err", err)
			return // leadership lost or no quorum: try next round
		}
		if res.Err == nil && !res.Unchanged {
			n.log.Info("shard liveness changed", "shard", id, "from", sh.State, "to", to, "reason", reason)
		}
	}
	n.rounds.sessions.Add(1)
}
