package rpc

import (
	"context"
	"fmt"

	"github.com/prism/controlplane/archive"
	"github.com/prism/controlplane/cluster"
	"github.com/prism/controlplane/fsm"
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

// History is answered by any node with an archive, from Postgres.
func (s *archiveService) History(ctx context.Context, req *rpcpb.HistoryRequest) (*rpcpb.HistoryResponse, error) {
	kind := req.GetKind()
	if kind == "" {
		kind = archive.KindNamespace
	}
	limit := int(req.GetLimit())
	var bad []fsm.FieldError
	if req.GetName() == "" || len(req.GetName()) > 253 {
		bad = append(bad, fsm.FieldError{Path: "name", Message: "required, at most 253 bytes"})
	}
	if kind != archive.KindNamespace && kind != archive.KindShard {
		bad = append(bad, fsm.FieldError{Path: "kind", Message: fmt.Sprintf("%q: want namespace or shard", kind)})
	}
	if limit < 0 || limit > maxHistory {
		bad = append(bad, fsm.FieldError{Path: "limit", Message: fmt.Sprintf("%d: want 0 (100) to %d", limit, maxHistory)})
	}
	if len(req.GetClusterId()) > 128 {
		bad = append(bad, fsm.FieldError{Path: "cluster_id", Message: "at most 128 bytes"})
	}
	if len(bad) > 0 {
		return nil, toStatus(&fsm.ValidationError{Fields: bad})
	}
	if limit == 0 {
		limit = 100
	}
	id, entries, err := s.node.ArchiveHistory(ctx, req.GetClusterId(), kind, req.GetName(), limit)
	if err != nil {
		return nil, toStatus(err)
	}
	out := &rpcpb.HistoryResponse{ClusterId: id}
	for _, e := range entries {
		pe := &rpcpb.HistoryEntry{Revision: e.Revision, Epoch: e.Epoch, Command: e.Command, Op: e.Op, Principal: e.Principal, ObjectJson: e.Object}
		if !e.CommittedAt.IsZero() {
			pe.CommittedUnixNano = e.CommittedAt.UnixNano()
		}
		out.Entries = append(out.Entries, pe)
	}
	return out, nil
}

// maxHistory bounds one History answer.
const maxHistory = 10000
