package rpc

import (
	"context"
	"sync"
	"time"

	"github.com/prism/controlplane/cluster"
	"github.com/prism/controlplane/fsm"
	"github.com/prism/controlplane/internal/version"
	"github.com/prism/controlplane/rpc/rpcpb"
)

// clusterService implements rpcpb.ClusterServiceServer. Status and Members
// answer from this node's view, without a quorum, so they work during
// outages; TransferLeader and RemovePeer run on the leader.
type clusterService struct {
	rpcpb.UnimplementedClusterServiceServer
	node *cluster.Node
}

func (s *clusterService) Status(ctx context.Context, req *rpcpb.StatusRequest) (*rpcpb.StatusResponse, error) {
	st := s.node.Status()
	resp := &rpcpb.StatusResponse{
		ClusterId: st.ClusterID, LeaderId: st.LeaderID, Term: st.Term, CommitIndex: st.CommitIndex, AppliedIndex: st.AppliedIndex,
		Revision: st.Revision, NodeId: st.NodeID, LeaderGrpcAddr: st.LeaderGRPCAddr, Version: version.Version,
		LastIndex: st.LastIndex, LastContactMs: lagMs(s.node.StaleReadLag()),
	}
	for _, n := range st.Servers {
		resp.Nodes = append(resp.Nodes, &rpcpb.NodeStatus{
			Id: n.ID, GrpcAddr: n.GRPCAddr, HttpAddr: n.HTTPAddr, RaftAddr: n.RaftAddr,
			Suffrage: n.Suffrage, State: n.State, Healthy: n.Healthy, LastContactMs: -1,
		})
	}
	if ar, ok := s.node.ArchiveStatus(); ok && ar.Running {
		resp.Archive = archiveStatusProto(st.NodeID, ar)
	}
	if req.Detail {
		s.fillDetail(ctx, resp)
	}
	return resp, nil
}

func lagMs(d time.Duration) int64 {
	if d < 0 {
		return -1
	}
	return d.Milliseconds()
}

// fillDetail asks every server (concurrently, briefly) how far it has
// applied and when it last heard from the leader.
func (s *clusterService) fillDetail(ctx context.Context, resp *rpcpb.StatusResponse) {
	var wg sync.WaitGroup
	for _, n := range resp.Nodes {
		if n.Id == resp.NodeId {
			n.AppliedIndex, n.LastContactMs = resp.AppliedIndex, resp.LastContactMs
		} else {
			wg.Add(1)
			go func(n *rpcpb.NodeStatus) {
				defer wg.Done()
				cctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
				defer cancel()
				if st, err := s.node.PeerStatus(cctx, n.Id); err == nil {
					n.AppliedIndex, n.LastContactMs = st.AppliedIndex, st.LastContactMs
				}
			}(n)
		}
	}
	wg.Wait()
	for _, n := range resp.Nodes {
		if n.AppliedIndex > 0 && resp.LastIndex > n.AppliedIndex {
			n.TrailingEntries = resp.LastIndex - n.AppliedIndex
		}
	}
}

func (s *clusterService) Members(ctx context.Context, _ *rpcpb.MembersRequest) (*rpcpb.MembersResponse, error) {
	resp := &rpcpb.MembersResponse{}
	for _, m := range s.node.Members() {
		resp.Members = append(resp.Members, &rpcpb.Member{
			Id: m.ID, GossipAddr: m.GossipAddr, GrpcAddr: m.GRPCAddr, HttpAddr: m.HTTPAddr, RaftAddr: m.RaftAddr, Status: m.Status,
		})
	}
	return resp, nil
}

func (s *clusterService) TransferLeader(ctx context.Context, req *rpcpb.TransferLeaderRequest) (*rpcpb.TransferLeaderResponse, error) {
	id, err := s.node.TransferLeader(ctx, req.ToId)
	if err != nil {
		return nil, toStatus(err)
	}
	return &rpcpb.TransferLeaderResponse{LeaderId: id}, nil
}

func (s *clusterService) RemovePeer(ctx context.Context, req *rpcpb.RemovePeerRequest) (*rpcpb.RemovePeerResponse, error) {
	if req.Id == "" {
		return nil, toStatus(&fsm.ValidationError{Fields: []fsm.FieldError{{Path: "id", Message: "is required"}}})
	}
	if err := s.node.RemovePeer(ctx, req.Id, req.Force); err != nil {
		return nil, toStatus(err)
	}
	return &rpcpb.RemovePeerResponse{}, nil
}
