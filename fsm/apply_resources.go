package fsm

import (
	"fmt"
	"slices"

	"google.golang.org/protobuf/proto"

	"github.com/prism/controlplane/fsm/fsmpb"
)

func init() {
	register("set_namespace_resources", setNamespaceResources)
	register("reconcile_namespace", reconcileNamespace)
}

// setNamespaceResources records the lifecycle controller's work. It
// applies only to the incarnation (create_revision) and spec
// (spec_revision) the controller worked from, so a deposed leader's late
// result never lands on a re-created namespace or a newer spec.
func setNamespaceResources(s *state, cmd *fsmpb.Command) Result {
	body := cmd.GetSetNamespaceResources()
	cur, ok := s.namespaces[body.Name]
	if !ok {
		return Result{Revision: s.revision, Err: fmt.Errorf("%w: %q", ErrNotFound, body.Name)}
	}
	if cur.CreateRevision != body.CreateRevision {
		return Result{Revision: s.revision, Err: &RevisionError{Name: body.Name, Expected: body.CreateRevision, Current: cur.CreateRevision}}
	}
	if body.SpecRevision != 0 && SpecRevision(cur) != body.SpecRevision {
		return Result{Revision: s.revision, Err: &RevisionError{Name: body.Name, Expected: body.SpecRevision, Current: SpecRevision(cur)}}
	}
	status, reason := cur.Status, cur.StatusReason
	if body.Status != fsmpb.NamespaceStatus_NAMESPACE_STATUS_UNSPECIFIED {
		status, reason = body.Status, body.Reason
	}
	if status != cur.Status && !allowed(cur.Status, status) {
		return Result{Revision: s.revision, Err: fmt.Errorf("%w: namespace %q cannot go from %s to %s", ErrFailedPrecondition, body.Name, cur.Status, status)}
	}
	ack := body.AckReconcile != 0 && cur.Reconcile.GetRevision() == body.AckReconcile
	if status == cur.Status && reason == cur.StatusReason && !ack && sameResources(cur.Resources, body.Resources) {
		return Result{Revision: s.revision, Namespace: cur, Unchanged: true}
	}
	ns := clone(cur)
	ns.Resources = body.Resources
	ns.Status, ns.StatusReason = status, reason
	if ack {
		ns.Reconcile = nil
	}
	ns.Revision = s.bump()
	ns.UpdatedUnixNano = cmd.UnixNano
	if status == statusDeleted && cur.Status != statusDeleted {
		ns.DeletedUnixNano = cmd.UnixNano
	}
	s.namespaces[body.Name] = ns
	return Result{Revision: ns.Revision, Namespace: ns}
}

func sameResources(a, b []*fsmpb.Resource) bool {
	return slices.EqualFunc(a, b, func(x, y *fsmpb.Resource) bool { return proto.Equal(x, y) })
}

// reconcileNamespace records an operator's request to reconcile a live
// namespace now; the leader's controller acts on it and clears it.
func reconcileNamespace(s *state, cmd *fsmpb.Command) Result {
	body := cmd.GetReconcileNamespace()
	cur, ok := s.live(body.Name)
	if !ok {
		return Result{Revision: s.revision, Err: fmt.Errorf("%w: %q", ErrNotFound, body.Name)}
	}
	ns := clone(cur)
	ns.Revision = s.bump()
	ns.Reconcile = &fsmpb.ReconcileRequest{Revision: ns.Revision, Recreate: body.Recreate}
	ns.UpdatedUnixNano = cmd.UnixNano
	s.namespaces[body.Name] = ns
	return Result{Revision: ns.Revision, Namespace: ns}
}
