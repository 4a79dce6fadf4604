package cluster

import (
	"context"
	"fmt"
	"sort"

	"github.com/hashicorp/memberlist"
	"github.com/hashicorp/raft"

	"github.com/prism/controlplane/rpc/rpcpb"
)

// ServerStatus is one raft server as this node sees it.
type ServerStatus struct {
	ID, GRPCAddr, HTTPAddr, RaftAddr string
	Suffrage                         string // voter|nonvoter
	State                            string // leader|follower|candidate|unreachable
	Healthy                          bool
}

// Status is this node's view of the cluster.
type Status struct {
	ClusterID, NodeID, LeaderID, LeaderGRPCAddr string
	Term, CommitIndex, AppliedIndex, LastIndex  uint64
	Revision                                    int64
	Servers                                     []ServerStatus
}

// Status reports the raft configuration joined with gossip's view.
func (n *Node) Status() Status {
	_, leaderID := n.raft.LeaderWithID()
	st := Status{
		ClusterID:    n.fsm.ClusterID(),
		NodeID:       n.cfg.NodeID,
		LeaderID:     string(leaderID),
		Term:         n.Term(),
		CommitIndex:  n.raft.CommitIndex(),
		LastIndex:    n.raft.LastIndex(),
		AppliedIndex: n.fsm.Index(),
		Revision:     n.fsm.Revision(),
	}
	if p, ok := n.peers.get(string(leaderID)); ok {
		st.LeaderGRPCAddr = p.meta.GRPCAddr
	}
	f := n.raft.GetConfiguration()
	if f.Error() != nil {
		return st
	}
	for _, s := range f.Configuration().Servers {
		ss := ServerStatus{ID: string(s.ID), RaftAddr: string(s.Address), Suffrage: "voter"}
		if s.Suffrage != raft.Voter {
			ss.Suffrage = "nonvoter"
		}
		p, known := n.peers.get(ss.ID)
		if known {
			ss.GRPCAddr, ss.HTTPAddr = p.meta.GRPCAddr, p.meta.HTTPAddr
		}
		alive := known && p.alive()
		switch {
		case ss.ID == n.cfg.NodeID && n.raft.State() == raft.Candidate:
			ss.State = "candidate"
		case s.ID == leaderID:
			ss.State = "leader"
		case alive:
			ss.State = "follower"
		default:
			ss.State = "unreachable"
		}
		ss.Healthy = leaderID != "" && n.healthy(ss.ID)
		st.Servers = append(st.Servers, ss)
	}
	sort.Slice(st.Servers, func(i, j int) bool { return st.Servers[i].ID < st.Servers[j].ID })
	return st
}

// Member is one gossip member.
type Member struct {
	ID, GossipAddr, GRPCAddr, HTTPAddr, RaftAddr string
	Status                                       string // alive|suspect|dead|left
}

// Members lists what gossip knows, this node included.
func (n *Node) Members() []Member {
	var out []Member
	for _, p := range n.peers.all() {
		out = append(out, Member{
			ID: p.meta.ID, GossipAddr: p.gossipAddr, GRPCAddr: p.meta.GRPCAddr,
			HTTPAddr: p.meta.HTTPAddr, RaftAddr: p.meta.RaftAddr, Status: memberState(p.state),
		})
	}
	return out
}

func memberState(s memberlist.NodeStateType) string {
	switch s {
	case memberlist.StateAlive:
		return "alive"
	case memberlist.StateSuspect:
		return "suspect"
	case memberlist.StateDead:
		return "dead"
	default:
		return "left"
	}
}

// PeerStatus asks a server, by id, who it is and how far it has applied
// the log, over Internal at the raft address gossip gives for it. An answer
// from a node that is not id is an error.
func (n *Node) PeerStatus(ctx context.Context, id string) (*rpcpb.NodeProgressResponse, error) {
	p, ok := n.peers.get(id)
	if !ok || p.meta.RaftAddr == "" {
		return nil, fmt.Errorf("%w: %s", ErrServerNotFound, id)
	}
	return n.progressAt(ctx, p.meta.RaftAddr, id)
}

// progressAt asks the node serving Internal at a raft address for its
// progress, and checks it is the node expected.
func (n *Node) progressAt(ctx context.Context, raftAddr, id string) (*rpcpb.NodeProgressResponse, error) {
	c, err := n.conns.internal(raftAddr)
	if err != nil {
		return nil, err
	}
	st, err := c.NodeProgress(ctx, &rpcpb.NodeProgressRequest{})
	if err != nil {
		return nil, err
	}
	if st.NodeId != id {
		return nil, fmt.Errorf("%w: %s answers as %q, not %q", ErrServerNotFound, raftAddr, st.NodeId, id)
	}
	return st, nil
}
