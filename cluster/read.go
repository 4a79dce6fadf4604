package cluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/raft"

	"github.com/prism/controlplane/rpc/rpcpb"
)

// LinearizableBarrier returns once this node's state machine reflects every
// write committed before the call: the read-index protocol. The leader
// records its commit index, confirms it still leads with a heartbeat round
// (VerifyLeader), and waits until it has applied that index; a follower
// asks the leader for the index and waits until it has applied it locally.
// A new leader serves no read before its first entry of the term (a no-op
// command) is applied, so its commit index is current.
func (n *Node) LinearizableBarrier(ctx context.Context) error {
	if injectedBug && n.raft.State() != raft.Leader {
		return nil // injected bug (-tags prism_bug): a follower reads its local state
	}
	for {
		idx, err := n.readIndex(ctx)
		if err == nil {
			return n.fsm.WaitIndex(ctx, idx)
		}
		if !retryable(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: %w (last: %v)", ErrNoLeader, ctx.Err(), err)
		case <-n.shutdownCh:
			return ErrShutdown
		case <-time.After(retryPause):
		}
	}
}

func (n *Node) readIndex(ctx context.Context) (uint64, error) {
	if n.raft.State() == raft.Leader {
		return n.leaderReadIndex(ctx)
	}
	_, leader := n.raft.LeaderWithID()
	if leader == "" {
		return 0, ErrNoLeader
	}
	p, ok := n.peers.get(string(leader))
	if !ok || p.meta.RaftAddr == "" {
		return 0, fmt.Errorf("%w: leader %s not yet known by gossip", ErrNoLeader, leader)
	}
	client, err := n.conns.internal(p.meta.RaftAddr)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrNoLeader, err)
	}
	resp, err := client.ReadIndex(ctx, &rpcpb.ReadIndexRequest{})
	if err != nil {
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		return 0, fmt.Errorf("%w: read index from %s: %v", ErrNoLeader, leader, err)
	}
	if resp.Refusal != rpcpb.Refusal_REFUSAL_NONE {
		return 0, fmt.Errorf("%w: %s", ErrNotLeader, resp.Message)
	}
	return resp.Index, nil
}

// leaderReadIndex is the leader's half of the read-index protocol. The
// term is checked before and after: the commit index must come from a
// stint whose first entry is applied, and that stint must still be the
// current one once leadership is confirmed.
func (n *Node) leaderReadIndex(ctx context.Context) (uint64, error) {
	term, err := n.waitReady(ctx)
	if err != nil {
		return 0, err
	}
	idx := n.raft.CommitIndex()
	if err := n.verifyLeader(ctx); err != nil {
		return 0, err
	}
	if n.raft.CurrentTerm() != term {
		return 0, fmt.Errorf("%w: term changed during the read", ErrNotLeader)
	}
	return idx, nil
}

func (n *Node) verifyLeader(ctx context.Context) error {
	ok, err := awaitFuture(ctx, n.raft.VerifyLeader(), n.shutdownCh)
	switch {
	case !ok && ctx.Err() != nil:
		return fmt.Errorf("%w: verify leader: %w", ErrNoLeader, ctx.Err())
	case !ok, errors.Is(err, raft.ErrRaftShutdown):
		return ErrShutdown
	case err != nil:
		return fmt.Errorf("%w: %w", ErrNotLeader, err)
	}
	return nil
}

// waitReady blocks until this leader has applied its first entry of the
// current term, and returns that term; it fails when this node stops being
// the leader.
func (n *Node) waitReady(ctx context.Context) (uint64, error) {
	for {
		n.readyMu.Lock()
		ch := n.readyCh
		n.readyMu.Unlock()
		if t := n.raft.CurrentTerm(); n.ready.Load() == t {
			return t, nil
		}
		if n.raft.State() != raft.Leader {
			return 0, ErrNotLeader
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return 0, fmt.Errorf("%w: leader not ready: %v", ErrNoLeader, ctx.Err())
		case <-time.After(retryPause):
		}
	}
}

func (n *Node) setReady(term uint64) {
	n.readyMu.Lock()
	n.ready.Store(term)
	close(n.readyCh)
	n.readyCh = make(chan struct{})
	n.readyMu.Unlock()
}

// StaleReadLag is how long ago this node last heard from a leader (0 on
// the leader): the bound on how far behind a stale read may be.
func (n *Node) StaleReadLag() time.Duration {
	if n.raft.State() == raft.Leader {
		return 0
	}
	lc := n.raft.LastContact()
	if lc.IsZero() {
		return -1
	}
	return time.Since(lc)
}
