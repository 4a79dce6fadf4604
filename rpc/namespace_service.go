package rpc

import (
	"context"
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/prism/controlplane/acl"
	"github.com/prism/controlplane/cluster"
	"github.com/prism/controlplane/fsm"
	"github.com/prism/controlplane/fsm/fsmpb"
	"github.com/prism/controlplane/nsfile"
	"github.com/prism/controlplane/rpc/rpcpb"
)

// namespaceService implements rpcpb.NamespaceServiceServer on a node.
type namespaceService struct {
	rpcpb.UnimplementedNamespaceServiceServer
	node *cluster.Node
}

func (s *namespaceService) Apply(ctx context.Context, req *rpcpb.ApplyRequest) (*rpcpb.ApplyResponse, error) {
	// Validate before raft, so bad input costs no log entry; the FSM checks again.
	if err := fsm.CheckSpec(req.Spec); err != nil {
		return nil, toStatus(err)
	}
	// Equal configurations must be equal bytes (an identical re-apply is
	// then Unchanged), whatever key order the client sent.
	canon, err := fsm.CanonicalConfig(req.Spec.BackendConfigJson)
	if err != nil {
		return nil, toStatus(&fsm.ValidationError{Fields: []fsm.FieldError{{Path: "backend_config", Message: err.Error()}}})
	}
	req.Spec.BackendConfigJson = canon
	if len(req.RequestId) > fsm.MaxRequestIDBytes {
		return nil, toStatus(&fsm.ValidationError{Fields: []fsm.FieldError{{Path: "request_id",
			Message: fmt.Sprintf("at most %d bytes (got %d)", fsm.MaxRequestIDBytes, len(req.RequestId))}}})
	}
	if err := checkNamespaceWrite(ctx, s.node, req.Spec.GetName(), req.Spec); err != nil {
		return nil, err
	}
	if req.DryRun {
		return s.dryRun(ctx, req)
	}
	res, err := apply(ctx, s.node, &fsmpb.Command{RequestId: req.RequestId, Body: &fsmpb.Command_ApplyNamespace{ApplyNamespace: &fsmpb.ApplyNamespace{
		Spec: req.Spec, ExpectedRevision: req.ExpectedRevision,
	}}})
	if err != nil {
		return nil, toStatus(err)
	}
	return &rpcpb.ApplyResponse{Namespace: redacted(res.Namespace), Revision: res.Revision, Unchanged: res.Unchanged}, nil
}

// dryRun shows what Apply would store, from a linearizable view, without
// writing. It checks the same preconditions the state machine does.
func (s *namespaceService) dryRun(ctx context.Context, req *rpcpb.ApplyRequest) (*rpcpb.ApplyResponse, error) {
	if err := s.node.LinearizableBarrier(ctx); err != nil {
		return nil, toStatus(err)
	}
	res := fsm.Preview(s.node.FSM(), req.Spec, req.ExpectedRevision)
	if res.Err != nil {
		return nil, toStatus(res.Err)
	}
	ns := proto.Clone(res.Namespace).(*fsmpb.Namespace)
	// Show the placement it would get (the same engine the leader runs).
	if shard, reason, ok := s.node.PlacementPreview(ns); ok {
		ns.ShardId = shard
		if reason != "" {
			ns.StatusReason = reason
		}
	}
	return &rpcpb.ApplyResponse{Namespace: redacted(ns), Revision: res.Revision, Unchanged: res.Unchanged}, nil
}

func (s *namespaceService) read(ctx context.Context, c rpcpb.Consistency) (*rpcpb.ReadHeader, error) {
	if c == rpcpb.Consistency_CONSISTENCY_LINEARIZABLE {
		if err := s.node.LinearizableBarrier(ctx); err != nil {
			return nil, toStatus(err)
		}
	}
	h := &rpcpb.ReadHeader{NodeId: s.node.ID(), AppliedIndex: s.node.FSM().Index()}
	if c == rpcpb.Consistency_CONSISTENCY_STALE {
		h.StalenessMs = -1 // never heard from a leader: unknown
		if lag := s.node.StaleReadLag(); lag >= 0 {
			h.StalenessMs = lag.Milliseconds()
		}
	}
	return h, nil
}

func (s *namespaceService) Get(ctx context.Context, req *rpcpb.GetRequest) (*rpcpb.GetResponse, error) {
	h, err := s.read(ctx, req.Consistency)
	if err != nil {
		return nil, err
	}
	ns, rev, err := s.node.FSM().Get(req.Name)
	h.Revision = rev
	if err != nil {
		return nil, toStatus(err)
	}
	if err := checkNamespaceRead(ctx, ns); err != nil {
		return nil, err
	}
	return &rpcpb.GetResponse{Namespace: redacted(ns), Header: h}, nil
}

func (s *namespaceService) List(ctx context.Context, req *rpcpb.ListRequest) (*rpcpb.ListResponse, error) {
	filter := fsm.Filter{ShardID: req.ShardId, IncludeDeleted: req.IncludeDeleted}
	if req.Status != "" {
		st, err := nsfile.ParseStatus(req.Status)
		if err != nil {
			return nil, toStatus(&fsm.ValidationError{Fields: []fsm.FieldError{{Path: "status", Message: err.Error()}}})
		}
		filter.Status = st
	}
	h, err := s.read(ctx, req.Consistency)
	if err != nil {
		return nil, err
	}
	list, rev := s.node.FSM().List(filter)
	h.Revision = rev
	c := callerOf(ctx)
	out := list[:0]
	for _, ns := range list {
		if !c.enforce || acl.CanReadNamespace(c.p, ns) {
			out = append(out, redacted(ns))
		}
	}
	list = out
	return &rpcpb.ListResponse{Namespaces: list, Header: h}, nil
}

func (s *namespaceService) Delete(ctx context.Context, req *rpcpb.DeleteRequest) (*rpcpb.DeleteResponse, error) {
	if req.Name == "" {
		return nil, toStatus(&fsm.ValidationError{Fields: []fsm.FieldError{{Path: "name", Message: "is required"}}})
	}
	if err := checkNamespaceWrite(ctx, s.node, req.Name, nil); err != nil {
		return nil, err
	}
	res, err := apply(ctx, s.node, &fsmpb.Command{RequestId: req.RequestId, Body: &fsmpb.Command_DeleteNamespace{DeleteNamespace: &fsmpb.DeleteNamespace{
		Name: req.Name, ExpectedRevision: req.ExpectedRevision,
	}}})
	if err != nil {
		return nil, toStatus(err)
	}
	return &rpcpb.DeleteResponse{Namespace: redacted(res.Namespace), Revision: res.Revision}, nil
}

// Reconcile records an operator's request to reconcile a namespace now.
func (s *namespaceService) Reconcile(ctx context.Context, req *rpcpb.ReconcileRequest) (*rpcpb.ReconcileResponse, error) {
	if req.Name == "" {
		return nil, toStatus(&fsm.ValidationError{Fields: []fsm.FieldError{{Path: "name", Message: "is required"}}})
	}
	if err := checkNamespaceWrite(ctx, s.node, req.Name, nil); err != nil {
		return nil, err
	}
	res, err := apply(ctx, s.node, &fsmpb.Command{RequestId: req.RequestId, Body: &fsmpb.Command_ReconcileNamespace{ReconcileNamespace: &fsmpb.ReconcileNamespace{
		Name: req.Name, Recreate: req.Recreate,
	}}})
	if err != nil {
		return nil, toStatus(err)
	}
	return &rpcpb.ReconcileResponse{Namespace: redacted(res.Namespace), Revision: res.Revision}, nil
}

// redacted is what a namespace looks like leaving this node: secret
// values of its backend_config replaced (nsfile.RedactNamespace), as the
// CLI, HTTP discovery and the archive show it. nil stays nil.
func redacted(ns *fsmpb.Namespace) *fsmpb.Namespace {
	if ns == nil {
		return nil
	}
	return nsfile.RedactNamespace(ns)
}

// checkNamespaceWrite is the edge's check of a change to namespace name
// (next nil: a delete or reconcile) against this node's view of it; the
// FSM checks again, inside apply, against the state the change lands on.
func checkNamespaceWrite(ctx context.Context, node *cluster.Node, name string, next *fsmpb.NamespaceSpec) error {
	c := callerOf(ctx)
	if !c.enforce {
		return nil
	}
	var cur *fsmpb.Namespace
	if ns, _, err := node.FSM().Get(name); err == nil && ns.Status != fsmpb.NamespaceStatus_NAMESPACE_STATUS_DELETED {
		cur = ns
	}
	return toStatus(acl.CheckNamespaceWrite(c.p, name, cur, next))
}

// checkNamespaceRead: the caller may see ns (a viewer, an owner, a
// consumer, or a shard it is on).
func checkNamespaceRead(ctx context.Context, ns *fsmpb.Namespace) error {
	c := callerOf(ctx)
	if !c.enforce || acl.CanReadNamespace(c.p, ns) {
		return nil
	}
	return toStatus(fmt.Errorf("%w: %s may not read namespace %q: not a viewer, an owner, a consumer or its shard", acl.ErrPermissionDenied, c.p, ns.Spec.GetName()))
}
