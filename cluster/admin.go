package cluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/raft"

	"github.com/prism/controlplane/rpc/rpcpb"
)

var (
	// ErrServerNotFound: no server with that id in the raft configuration.
	ErrServerNotFound = errors.New("cluster: server not found")
	// ErrWouldBreakQuorum: the change would leave fewer healthy voters than
	// a quorum of the new configuration.
	ErrWouldBreakQuorum = errors.New("cluster: would break quorum")
	// ErrServerRunning: removing a server that is still running (autopilot
	// would add it straight back).
	ErrServerRunning = errors.New("cluster: server still running")
	// ErrAdminFailed: raft refused a membership operation.
	ErrAdminFailed = errors.New("cluster: operation failed")
)

// TransferLeader hands leadership to the voter to (any caught-up voter when
// empty) and returns the new leader's id.
func (n *Node) TransferLeader(ctx context.Context, to string) (string, error) {
	var leader string
	err := n.onLeader(ctx, false,
		func() (err error) { leader, err = n.transferLocal(ctx, to); return err },
		func(c rpcpb.InternalClient) error {
			resp, err := c.ForwardAdmin(ctx, &rpcpb.ForwardAdminRequest{Op: &rpcpb.ForwardAdminRequest_TransferLeader{TransferLeader: &rpcpb.TransferLeaderRequest{ToId: to}}})
			if err != nil {
				return err
			}
			leader = resp.LeaderId
			return adminError(resp)
		})
	return leader, err
}

// RemovePeer removes server id from raft. Unless force, it is refused when
// the voters left, counting only those gossip sees alive, could not form a
// quorum of the new configuration.
func (n *Node) RemovePeer(ctx context.Context, id string, force bool) error {
	return n.removePeer(ctx, id, force, false)
}

func (n *Node) removePeer(ctx context.Context, id string, force, leaving bool) error {
	return n.onLeader(ctx, false,
		func() error { return n.removeLocal(ctx, id, force, leaving) },
		func(c rpcpb.InternalClient) error {
			resp, err := c.ForwardAdmin(ctx, &rpcpb.ForwardAdminRequest{Op: &rpcpb.ForwardAdminRequest_RemovePeer{RemovePeer: &rpcpb.RemovePeerRequest{Id: id, Force: force, Leaving: leaving}}})
			if err != nil {
				return err
			}
			return adminError(resp)
		})
}

func adminError(resp *rpcpb.ForwardAdminResponse) error {
	if err := refused(resp.Refusal, resp.Message); err != nil {
		return err
	}
	switch resp.Outcome {
	case rpcpb.ForwardAdminResponse_OUTCOME_NOT_FOUND:
		return fmt.Errorf("%w: %s", ErrServerNotFound, resp.Message)
	case rpcpb.ForwardAdminResponse_OUTCOME_FAILED_PRECONDITION:
		return fmt.Errorf("%w: %s", ErrWouldBreakQuorum, resp.Message)
	case rpcpb.ForwardAdminResponse_OUTCOME_RUNNING:
		return fmt.Errorf("%w: %s", ErrServerRunning, resp.Message)
	case rpcpb.ForwardAdminResponse_OUTCOME_FAILED:
		return fmt.Errorf("%w: %s", ErrAdminFailed, resp.Message)
	}
	return nil
}

func adminResponse(err error) *rpcpb.ForwardAdminResponse {
	resp := &rpcpb.ForwardAdminResponse{}
	switch {
	case err == nil:
		return resp
	case errors.Is(err, ErrServerNotFound):
		resp.Outcome = rpcpb.ForwardAdminResponse_OUTCOME_NOT_FOUND
	case errors.Is(err, ErrWouldBreakQuorum):
		resp.Outcome = rpcpb.ForwardAdminResponse_OUTCOME_FAILED_PRECONDITION
	case errors.Is(err, ErrServerRunning):
		resp.Outcome = rpcpb.ForwardAdminResponse_OUTCOME_RUNNING
	case errors.Is(err, ErrAdminFailed):
		resp.Outcome = rpcpb.ForwardAdminResponse_OUTCOME_FAILED
	default:
		resp.Refusal = refusal(err)
	}
	resp.Message = err.Error()
	return resp
}

func (n *Node) servers() ([]raft.Server, error) {
	f := n.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNotLeader, err)
	}
	return f.Configuration().Servers, nil
}

func (n *Node) transferLocal(ctx context.Context, to string) (string, error) {
	var f raft.Future
	if to == "" {
		f = n.raft.LeadershipTransfer()
	} else {
		if to == n.cfg.NodeID {
			return to, nil
		}
		servers, err := n.servers()
		if err != nil {
			return "", err
		}
		var target *raft.Server
		for i := range servers {
			if string(servers[i].ID) == to {
				target = &servers[i]
			}
		}
		if target == nil {
			return "", fmt.Errorf("%w: %q", ErrServerNotFound, to)
		}
		if target.Suffrage != raft.Voter {
			return "", fmt.Errorf("%w: %q is not a voter", ErrAdminFailed, to)
		}
		f = n.raft.LeadershipTransferToServer(target.ID, target.Address)
	}
	if err := n.await(ctx, f); err != nil {
		if errors.Is(err, raft.ErrNotLeader) {
			return "", fmt.Errorf("%w: %w", ErrNotLeader, err)
		}
		return "", fmt.Errorf("%w: leadership transfer: %w", ErrAdminFailed, err)
	}
	// Wait (briefly) until the new leader is known here.
	tick := time.NewTicker(retryPause)
	defer tick.Stop()
	for {
		if id := n.LeaderID(); id != "" && id != n.cfg.NodeID {
			return id, nil
		}
		select {
		case <-ctx.Done():
			return n.LeaderID(), nil
		case <-n.shutdownCh:
			return n.LeaderID(), nil
		case <-tick.C:
		}
	}
}

func (n *Node) removeLocal(ctx context.Context, id string, force, leaving bool) error {
	servers, err := n.servers()
	if err != nil {
		return err
	}
	found := false
	var voters, healthy int
	for _, s := range servers {
		if string(s.ID) == id {
			found = true
			continue
		}
		if s.Suffrage != raft.Voter {
			continue
		}
		voters++
		if n.healthy(string(s.ID)) {
			healthy++
		}
	}
	if !found {
		return fmt.Errorf("%w: %q", ErrServerNotFound, id)
	}
	if !leaving && id != n.cfg.NodeID && n.healthy(id) && !force {
		// Autopilot would add a running server straight back (as a nonvoter).
		return fmt.Errorf("%w: %q: stop it first (or stop it with --leave-on-terminate), or use force", ErrServerRunning, id)
	}
	if voters == 0 {
		return fmt.Errorf("%w: %q is the last voter", ErrWouldBreakQuorum, id)
	}
	if need := voters/2 + 1; healthy < need && !force {
		return fmt.Errorf("%w: removing %q leaves %d healthy of %d voters, a quorum needs %d (use force to override)", ErrWouldBreakQuorum, id, healthy, voters, need)
	}
	if err := n.await(ctx, n.raft.RemoveServer(raft.ServerID(id), 0, 10*time.Second)); err != nil {
		if errors.Is(err, raft.ErrNotLeader) {
			return fmt.Errorf("%w: %w", ErrNotLeader, err)
		}
		return fmt.Errorf("%w: remove %q: %w", ErrAdminFailed, id, err)
	}
	n.log.Info("removed server from raft", "id", id, "forced", force)
	return nil
}

// Leave removes this node from raft before it stops for good
// (--leave-on-terminate): it hands over leadership first, then asks the
// leader to remove it, under the same quorum guard as RemovePeer.
func (n *Node) Leave(ctx context.Context) error {
	// Tell gossip first, so autopilot does not add the node straight back
	// between its removal from raft and its shutdown.
	if err := n.ml.Leave(time.Second); err != nil {
		n.log.Warn("gossip leave failed", "err", err)
	}
	if n.IsLeader() && n.hasOtherVoters() {
		if _, err := n.transferLocal(ctx, ""); err != nil {
			return err
		}
	}
	return n.removePeer(ctx, n.cfg.NodeID, false, true)
}
