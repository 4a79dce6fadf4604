package rpc

import (
	"context"
	"fmt"

	"github.com/prism/controlplane/archive"
	"github.com/prism/controlplane/cluster"
	"github.com/prism/controlplane/rpc/rpcpb"
)

// archiveService implements rpcpb.ArchiveServiceServer.
type archiveService struct {
	rpcpb.UnimplementedArchiveServiceServer
	node *cluster.Node
}

// Status answers on the leader only: its archiver is the one running, and
// the one whose last error means something.
func (s *archiveService) Status(ctx context.Context, _ *rpcpb.ArchiveStatusRequest) (*rpcpb.ArchiveStatusResponse, error) {
	st, ok := s.node.ArchiveStatus()
	if !ok {
		return nil, toStatus(fmt.Errorf("%w (start prismd with --archive-url)", archive.ErrNotConfigured))
	}
	if !st.Running {
		return nil, toStatus(fmt.Errorf("%w: the archiver runs on the leader", cluster.ErrNotLeader))
	}
	return archiveStatusProto(s.node.ID(), st), nil
}

func archiveStatusProto(node string, st archive.Status) *rpcpb.ArchiveStatusResponse {
	out := &rpcpb.ArchiveStatusResponse{
		ClusterId: st.ClusterID, ArchivedRevision: st.ArchivedRevision, ClusterRevision: st.ClusterRevision,
		LagRevisions: st.LagRevisions, LagSeconds: st.LagSeconds, Epoch: st.Epoch, LastError: st.LastError,
		NodeId: node, Term: st.Term, Checkpoints: st.Checkpoints,
	}
	if !st.LastSuccess.IsZero() {
		out.LastSuccessUnixNano = st.LastSuccess.UnixNano()
	}
	return out
}
