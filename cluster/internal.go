package cluster

import (
	"context"
	"errors"
	"fmt"

	"github.com/prism/controlplane/fsm"
	"github.com/prism/controlplane/rpc/rpcpb"
)

// InternalServer serves the node-to-node calls (rpcpb.Internal): forwarded
// writes and read-index requests. Refusals travel as values, so only
// package rpc maps errors to gRPC codes.
type InternalServer struct {
	rpcpb.UnimplementedInternalServer
	n *Node
}

// Internal returns the node's InternalServer, to be registered on its gRPC server.
func (n *Node) Internal() *InternalServer { return &InternalServer{n: n} }

func refusal(err error) rpcpb.Refusal {
	switch {
	case errors.Is(err, ErrShutdown):
		return rpcpb.Refusal_REFUSAL_SHUTDOWN
	case retryable(err):
		return rpcpb.Refusal_REFUSAL_NOT_LEADER
	default:
		return rpcpb.Refusal_REFUSAL_UNCERTAIN
	}
}

// ForwardApply applies a command if this node is the leader. It never
// forwards again, so a stale view of the leader cannot make a loop.
func (s *InternalServer) ForwardApply(ctx context.Context, req *rpcpb.ForwardApplyRequest) (*rpcpb.ForwardApplyResponse, error) {
	if !s.n.IsLeader() {
		return &rpcpb.ForwardApplyResponse{Refusal: rpcpb.Refusal_REFUSAL_NOT_LEADER, Message: "not the leader: " + s.n.cfg.NodeID}, nil
	}
	// A forwarded command is held to a client's rules: the leader's own
	// controllers never forward.
	res, err := s.n.applyLocal(ctx, req.Command, fsm.FromClient)
	if errors.Is(err, fsm.ErrInvalid) {
		return &rpcpb.ForwardApplyResponse{Result: fsm.Result{Err: err}.ToProto()}, nil
	}
	if err != nil {
		return &rpcpb.ForwardApplyResponse{Refusal: refusal(err), Message: err.Error()}, nil
	}
	return &rpcpb.ForwardApplyResponse{Result: res.ToProto()}, nil
}

// ReadIndex answers the leader's half of the read-index protocol.
func (s *InternalServer) ReadIndex(ctx context.Context, _ *rpcpb.ReadIndexRequest) (*rpcpb.ReadIndexResponse, error) {
	if !s.n.IsLeader() {
		return &rpcpb.ReadIndexResponse{Refusal: rpcpb.Refusal_REFUSAL_NOT_LEADER, Message: "not the leader: " + s.n.cfg.NodeID}, nil
	}
	idx, err := s.n.leaderReadIndex(ctx)
	if err != nil {
		return &rpcpb.ReadIndexResponse{Refusal: refusal(err), Message: err.Error()}, nil
	}
	return &rpcpb.ReadIndexResponse{Index: idx}, nil
}

// ForwardAdmin runs a membership operation if this node is the leader.
func (s *InternalServer) ForwardAdmin(ctx context.Context, req *rpcpb.ForwardAdminRequest) (*rpcpb.ForwardAdminResponse, error) {
	if !s.n.IsLeader() {
		return &rpcpb.ForwardAdminResponse{Refusal: rpcpb.Refusal_REFUSAL_NOT_LEADER, Message: "not the leader: " + s.n.cfg.NodeID}, nil
	}
	switch op := req.Op.(type) {
	case *rpcpb.ForwardAdminRequest_TransferLeader:
		id, err := s.n.transferLocal(ctx, op.TransferLeader.ToId)
		resp := adminResponse(err)
		resp.LeaderId = id
		return resp, nil
	case *rpcpb.ForwardAdminRequest_RemovePeer:
		return adminResponse(s.n.removeLocal(ctx, op.RemovePeer.Id, op.RemovePeer.Force, op.RemovePeer.Leaving)), nil
	}
	return adminResponse(fmt.Errorf("%w: unknown admin operation", ErrAdminFailed)), nil
}

// NodeProgress says who this node is and how far it has applied the log.
func (s *InternalServer) NodeProgress(context.Context, *rpcpb.NodeProgressRequest) (*rpcpb.NodeProgressResponse, error) {
	resp := &rpcpb.NodeProgressResponse{NodeId: s.n.cfg.NodeID, ClusterId: s.n.fsm.ClusterID(), AppliedIndex: s.n.fsm.Index(), LastContactMs: -1}
	if lag := s.n.StaleReadLag(); lag >= 0 {
		resp.LastContactMs = lag.Milliseconds()
	}
	return resp, nil
}
