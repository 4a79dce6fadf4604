package cluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/raft"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/prism/controlplane/fsm"
	"github.com/prism/controlplane/fsm/fsmpb"
	"github.com/prism/controlplane/internal/grpcconn"
	"github.com/prism/controlplane/rpc/rpcpb"
)

// retryPause is the wait between attempts while no leader is reachable.
const retryPause = 20 * time.Millisecond

// Apply commits a client's command through raft: locally when this node
// leads, otherwise forwarded to the leader at the gRPC address gossip
// advertises. While there is no leader it retries until ctx ends, so an
// election looks like a pause. The command is stamped with the leader's
// clock. A command a client may not send, or that this binary cannot
// apply, is refused here (fsm.ErrInvalid) and again by the leader.
func (n *Node) Apply(ctx context.Context, cmd *fsmpb.Command) (fsm.Result, error) {
	if err := fsm.ValidateCommand(cmd, fsm.FromClient); err != nil {
		return fsm.Result{}, err
	}
	var res fsm.Result
	// With a request id the leader applies the command once however often
	// it is sent: a forward lost in transit may be sent again.
	err := n.onLeader(ctx, cmd.RequestId != "",
		func() (err error) {
			// Validated above: propose without checking it again.
			n.restoreMu.RLock()
			defer n.restoreMu.RUnlock()
			res, err = n.propose(ctx, cmd)
			return err
		},
		func(c rpcpb.InternalClient) error {
			resp, err := c.ForwardApply(ctx, &rpcpb.ForwardApplyRequest{Command: cmd, FromNode: n.cfg.NodeID})
			if err != nil {
				return err
			}
			if err := refused(resp.Refusal, resp.Message); err != nil {
				return err
			}
			res = fsm.ResultFromProto(resp.Result)
			return nil
		})
	return res, err
}

// retryable: the operation was certainly not applied.
func retryable(err error) bool {
	return errors.Is(err, ErrNotLeader) || errors.Is(err, ErrNoLeader)
}

// errResend marks a forward of a resendable operation that may have
// reached the leader and may be sent again (it applies once). onLeader
// retries it, but once one has happened its outcome can no longer be "not
// applied".
var errResend = errors.New("cluster: forward lost; resending")

// onLeader is the one forwarding component: it runs local when this node
// leads, otherwise remote against the leader's Internal service, at the
// raft address the leader advertises by gossip. It retries while the
// operation certainly did not happen (no leader, not the leader, never
// sent) until ctx ends. resendable says the operation takes effect once
// however often it is sent (a request id, a heartbeat): then a forward
// lost in transit is sent again too.
func (n *Node) onLeader(ctx context.Context, resendable bool, local func() error, remote func(rpcpb.InternalClient) error) error {
	maybeSent := false // an attempt may have reached a leader
	for {
		err := n.onLeaderOnce(ctx, resendable, local, remote)
		if errors.Is(err, errResend) {
			maybeSent = true
		} else if err == nil || !retryable(err) {
			return err
		}
		select {
		case <-ctx.Done():
			switch {
			case maybeSent:
				return fmt.Errorf("%w: %w (a forward may have reached the leader; last: %v)", ErrUncertain, ctx.Err(), err)
			case errors.Is(ctx.Err(), context.Canceled):
				return fmt.Errorf("%w (last: %v)", ctx.Err(), err) // the caller gave up: not an outage
			}
			// A deadline: answer "no leader" (Unavailable, retry elsewhere)
			// before the caller's own deadline makes it a bare timeout.
			return fmt.Errorf("%w: %w (last: %v)", ErrNoLeader, ctx.Err(), err)
		case <-n.shutdownCh:
			if maybeSent {
				return fmt.Errorf("%w: node shutting down after a forward that may have reached the leader", ErrUncertain)
			}
			return ErrShutdown
		case <-time.After(retryPause):
		}
	}
}

// forwardReadyWait bounds the wait for a connection to the leader before
// an operation that may not be resent is tried again.
const forwardReadyWait = time.Second

func (n *Node) onLeaderOnce(ctx context.Context, resendable bool, local func() error, remote func(rpcpb.InternalClient) error) error {
	if n.raft.State() == raft.Leader {
		return local()
	}
	_, leader := n.raft.LeaderWithID()
	if leader == "" {
		return ErrNoLeader
	}
	p, ok := n.peers.get(string(leader))
	if !ok || p.meta.RaftAddr == "" {
		return fmt.Errorf("%w: leader %s not yet known by gossip", ErrNoLeader, leader)
	}
	cc, err := n.conns.conn(p.meta.RaftAddr)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrNoLeader, err)
	}
	if !resendable && !grpcconn.Ready(ctx, cc, forwardReadyWait) {
		return fmt.Errorf("%w: no connection to leader %s", ErrNoLeader, leader) // not sent
	}
	err = remote(rpcpb.NewInternalClient(cc))
	if err == nil || errors.Is(err, ErrNotLeader) || errors.Is(err, ErrNoLeader) || errors.Is(err, ErrUncertain) {
		return err
	}
	st, isStatus := status.FromError(err)
	if !isStatus {
		return err // a business error from the leader
	}
	if ctx.Err() != nil {
		return fmt.Errorf("%w: %w", ErrUncertain, ctx.Err())
	}
	// The peer's status is kept as text, not wrapped: wrapped, it would be
	// taken for this node's own answer (rpc passes statuses through).
	if st.Code() == codes.Unavailable && resendable {
		return fmt.Errorf("%w: forward to %s: %v", errResend, leader, err)
	}
	return fmt.Errorf("%w: forward to %s: %v", ErrUncertain, leader, err)
}

// refused turns a forwarded call's refusal into an error (nil when none).
func refused(r rpcpb.Refusal, msg string) error {
	switch r {
	case rpcpb.Refusal_REFUSAL_NOT_LEADER:
		return fmt.Errorf("%w: %s", ErrNotLeader, msg)
	case rpcpb.Refusal_REFUSAL_UNCERTAIN:
		return fmt.Errorf("%w: %s", ErrUncertain, msg)
	case rpcpb.Refusal_REFUSAL_SHUTDOWN:
		return fmt.Errorf("%w: leader shutting down: %s", ErrNoLeader, msg)
	}
	return nil
}

// applyAsLeader commits a command of the leader's own controllers. It is
// never forwarded: a deposed leader's decision is dropped, not handed to
// the next leader (ErrNotLeader).
func (n *Node) applyAsLeader(ctx context.Context, cmd *fsmpb.Command) (fsm.Result, error) {
	if !n.IsLeader() {
		return fsm.Result{}, fmt.Errorf("%w: %s", ErrNotLeader, n.cfg.NodeID)
	}
	return n.applyLocal(ctx, cmd, fsm.FromLeader)
}

// applyLocal stamps the command with this leader's clock and commits it.
// It waits while a snapshot restore swaps the state.
func (n *Node) applyLocal(ctx context.Context, cmd *fsmpb.Command, o fsm.Origin) (fsm.Result, error) {
	n.restoreMu.RLock()
	defer n.restoreMu.RUnlock()
	return n.applyLocked(ctx, cmd, o)
}

// applyLocked is applyLocal for a caller that holds restoreMu. Every
// proposal passes fsm.ValidateCommand for its origin first: nothing this
// binary cannot apply reaches the log.
func (n *Node) applyLocked(ctx context.Context, cmd *fsmpb.Command, o fsm.Origin) (fsm.Result, error) {
	if err := fsm.ValidateCommand(cmd, o); err != nil {
		return fsm.Result{}, err
	}
	return n.propose(ctx, cmd)
}

// propose stamps a validated command with this leader's clock and commits
// it; the caller holds restoreMu.
func (n *Node) propose(ctx context.Context, cmd *fsmpb.Command) (fsm.Result, error) {
	c := proto.Clone(cmd).(*fsmpb.Command)
	c.UnixNano = n.clock.Now().UnixNano()
	data, err := fsm.EncodeCommand(c)
	if err != nil {
		return fsm.Result{}, err
	}
	timeout := 5 * time.Second
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
	}
	if timeout <= 0 {
		return fsm.Result{}, fmt.Errorf("%w: %w", ErrNoLeader, context.DeadlineExceeded)
	}
	start := time.Now()
	// The future usually resolves on commit or on leadership loss. But one
	// still queued in raft's (batching) apply channel when raft shuts down
	// is never answered, and its Error() would block forever (its
	// ShutdownCh is nil): so wait for shutdown and ctx as well.
	f := n.raft.Apply(data, timeout)
	err = n.waitFuture(ctx, f)
	if err != nil {
		switch {
		case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrLeadershipTransferInProgress):
			return fsm.Result{}, fmt.Errorf("%w: %w", ErrNotLeader, err)
		case errors.Is(err, raft.ErrEnqueueTimeout):
			return fsm.Result{}, fmt.Errorf("%w: %w", ErrNoLeader, err)
		default: // ErrLeadershipLost, ErrRaftShutdown: it may have committed.
			return fsm.Result{}, fmt.Errorf("%w: %w", ErrUncertain, err)
		}
	}
	res, ok := f.Response().(fsm.Result)
	if !ok {
		return fsm.Result{}, fmt.Errorf("cluster: unexpected apply response %T", f.Response())
	}
	observeApply(bodyLabel(c), time.Since(start))
	if res.Err == nil && !res.Unchanged && (needsReconcile(res.Namespace) || res.Shard != nil) {
		n.nudge()
	}
	return res, nil
}

// needsReconcile: the lifecycle reconciler (or placement) has work for
// this namespace. Shard changes wake it too (placement).
func needsReconcile(ns *fsmpb.Namespace) bool {
	switch ns.GetStatus() {
	case fsmpb.NamespaceStatus_NAMESPACE_STATUS_PROVISIONING, fsmpb.NamespaceStatus_NAMESPACE_STATUS_DELETING:
		return true
	}
	return false
}

// waitFuture waits for a raft future, the node's shutdown or ctx, and
// leaves no goroutine behind (see awaitFuture). A future abandoned by a
// shutdown or a deadline may still commit: the error then says the
// outcome is uncertain.
func (n *Node) waitFuture(ctx context.Context, f raft.Future) error {
	ok, err := awaitFuture(ctx, f, n.shutdownCh)
	switch {
	case ok:
		return err
	case ctx.Err() != nil:
		return fmt.Errorf("%w: %w while the write was in flight", ErrUncertain, ctx.Err())
	default:
		return fmt.Errorf("%w: node shutting down while the write was in flight", ErrUncertain)
	}
}
