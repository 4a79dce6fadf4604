package cluster

import (
	"context"
	"fmt"
	"time"

	"github.com/prism/controlplane/controller"
	"github.com/prism/controlplane/fsm"
	"github.com/prism/controlplane/rpc/rpcpb"
)

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

// heartbeatLocal hands a heartbeat to this leader's session controller.
// Before a stint's controller exists (or after it ended) the heartbeat is
// dropped once the shard is known: the next stint starts its record afresh
// anyway.
func (n *Node) heartbeatLocal(shardID string, ready []string) error {
	if sc := n.sessions.Load(); sc != nil {
		return sc.Heartbeat(shardID, ready)
	}
	_, _, err := n.fsm.GetShard(shardID)
	return err
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

// sessionsConfig is the shard-session controller's config from this
// node's: liveness is checked every min(ShardSuspectAfter/4, 1s).
func (c Config) sessionsConfig() controller.SessionsConfig {
	sc := controller.DefaultSessionsConfig()
	sc.SuspectAfter, sc.DownAfter, sc.Interval = c.ShardSuspectAfter, c.ShardDownAfter, min(c.ShardSuspectAfter/4, time.Second)
	return sc
}

// newSessions is the shard-session controller of one leadership stint;
// it records heartbeats from now on (runLeader publishes it before the
// barrier) and checks liveness once Run.
func (n *Node) newSessions() *controller.Sessions {
	return controller.NewSessions(n.cfg.sessionsConfig(), controller.SessionsDeps{
		Log:     n.log.With("component", "sessions"),
		Applier: leaderApplier{n},
		State:   n.fsm,
		Clock:   n.clock,
		Checked: func() { n.rounds.sessions.Add(1) },
	})
}
