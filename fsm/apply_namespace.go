package fsm

import (
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/prism/controlplane/fsm/fsmpb"
	"github.com/prism/controlplane/provision/plan"
)

const (
	statusProvisioning = fsmpb.NamespaceStatus_NAMESPACE_STATUS_PROVISIONING
	statusActive       = fsmpb.NamespaceStatus_NAMESPACE_STATUS_ACTIVE
	statusDegraded     = fsmpb.NamespaceStatus_NAMESPACE_STATUS_DEGRADED
	statusDeleting     = fsmpb.NamespaceStatus_NAMESPACE_STATUS_DELETING
	statusDeleted      = fsmpb.NamespaceStatus_NAMESPACE_STATUS_DELETED
)

// live returns the namespace unless it is absent or a tombstone.
func (s *state) live(name string) (*fsmpb.Namespace, bool) {
	ns, ok := s.namespaces[name]
	if !ok || ns.Status == statusDeleted {
		return nil, false
	}
	return ns, true
}

// checkExpected enforces an optional expected revision; 0 means "absent".
func (s *state) checkExpected(name string, expected *int64) error {
	if expected == nil {
		return nil
	}
	var cur int64
	if ns, ok := s.live(name); ok {
		cur = ns.Revision
	}
	if cur != *expected {
		return &RevisionError{Name: name, Expected: *expected, Current: cur}
	}
	return nil
}

// clone copies a stored namespace for a change. The spec is shared, not
// copied: stored specs are immutable too, and copying one costs as much as
// the rest of the apply. Every field of fsmpb.Namespace must be listed here
// (TestCloneCopiesEveryField checks).
// ifRevision enforces a guard a reconciler or operator set: the object must
// still be at the revision they saw (0: no guard).
func ifRevision(name string, want, cur int64) error {
	if want != 0 && cur != want {
		return &RevisionError{Name: name, Expected: want, Current: cur}
	}
	return nil
}

func clone(ns *fsmpb.Namespace) *fsmpb.Namespace {
	return &fsmpb.Namespace{
		Spec:            ns.Spec,
		Status:          ns.Status,
		StatusReason:    ns.StatusReason,
		ShardId:         ns.ShardId,
		Revision:        ns.Revision,
		CreateRevision:  ns.CreateRevision,
		CreatedUnixNano: ns.CreatedUnixNano,
		UpdatedUnixNano: ns.UpdatedUnixNano,
		DeletedUnixNano: ns.DeletedUnixNano,
		Pinned:          ns.Pinned,
		Move:            ns.Move, // immutable: replaced, never changed in place

		CoolingSinceRevision: ns.CoolingSinceRevision,
		Resources:            ns.Resources, // immutable: replaced, never changed in place
		SpecRevision:         ns.SpecRevision,
		Reconcile:            ns.Reconcile, // immutable
	}
}

// applyNamespace creates a namespace (status provisioning) or updates the
// spec of an existing one. An identical spec changes nothing.
func applyNamespace(s *state, cmd *fsmpb.Command) Result {
	body := cmd.GetApplyNamespace()
	spec := body.GetSpec()
	if err := CheckSpec(spec); err != nil {
		return Result{Revision: s.revision, Err: err}
	}
	name := spec.Name
	if err := s.checkExpected(name, body.ExpectedRevision); err != nil {
		return Result{Revision: s.revision, Err: err}
	}
	cur, exists := s.live(name)
	want := plan.For(spec).Resources // once per apply: it decodes backend_config
	if err := s.checkClaims(name, want); err != nil {
		return Result{Revision: s.revision, Err: err}
	}
	if !exists {
		rev := s.bump()
		ns := &fsmpb.Namespace{
			Spec:            spec,
			Status:          statusProvisioning,
			StatusReason:    "waiting for provisioning",
			Revision:        rev,
			CreateRevision:  rev,
			SpecRevision:    rev,
			CreatedUnixNano: cmd.UnixNano,
			UpdatedUnixNano: cmd.UnixNano,
		}
		s.namespaces[name] = ns
		s.claim(name, want)
		return Result{Revision: rev, Namespace: ns}
	}
	if cur.Status == statusDeleting {
		return Result{Revision: s.revision, Err: fmt.Errorf("%w: namespace %q is being deleted", ErrFailedPrecondition, name)}
	}
	var problems []FieldError
	if spec.Abstraction != cur.Spec.Abstraction {
		problems = append(problems, FieldError{Path: "abstraction", Message: fmt.Sprintf("cannot change from %q to %q (immutable)", cur.Spec.Abstraction, spec.Abstraction)})
	}
	if spec.Backend != cur.Spec.Backend {
		problems = append(problems, FieldError{Path: "backend", Message: fmt.Sprintf("cannot change from %q to %q (immutable)", cur.Spec.Backend, spec.Backend)})
	}
	problems = append(problems, fixedResources(cur, want)...)
	if problems != nil {
		return Result{Revision: s.revision, Err: &ValidationError{Fields: problems}}
	}
	if proto.Equal(cur.Spec, spec) {
		return Result{Revision: s.revision, Namespace: cur, Unchanged: true}
	}
	ns := clone(cur)
	ns.Spec = spec
	ns.Revision = s.bump()
	ns.SpecRevision = ns.Revision
	s.claim(name, want)
	ns.UpdatedUnixNano = cmd.UnixNano
	s.namespaces[name] = ns
	return Result{Revision: ns.Revision, Namespace: ns}
}

// deleteNamespace starts deletion: the namespace becomes deleting and the
// leader's reconciler finishes it. Deleting twice is not an error.
func deleteNamespace(s *state, cmd *fsmpb.Command) Result {
	body := cmd.GetDeleteNamespace()
	cur, ok := s.live(body.Name)
	if !ok {
		return Result{Revision: s.revision, Err: fmt.Errorf("%w: %q", ErrNotFound, body.Name)}
	}
	if err := s.checkExpected(body.Name, body.ExpectedRevision); err != nil {
		return Result{Revision: s.revision, Err: err}
	}
	if cur.Status == statusDeleting {
		return Result{Revision: s.revision, Namespace: cur, Unchanged: true}
	}
	ns := clone(cur)
	ns.Status = statusDeleting
	ns.StatusReason = "deletion requested"
	ns.Move = nil // a namespace being deleted stops moving; it stays on its serving shard
	ns.Revision = s.bump()
	ns.UpdatedUnixNano = cmd.UnixNano
	s.namespaces[body.Name] = ns
	return Result{Revision: ns.Revision, Namespace: ns, PrevShards: Involved(cur)}
}

// transitions lists the status changes SetNamespaceStatus may make.
// Entering deleting goes through DeleteNamespace only.
var transitions = map[fsmpb.NamespaceStatus][]fsmpb.NamespaceStatus{
	statusProvisioning: {statusActive, statusDegraded},
	statusActive:       {statusDegraded, statusProvisioning},
	statusDegraded:     {statusActive, statusProvisioning},
	statusDeleting:     {statusDeleted},
}

func allowed(from, to fsmpb.NamespaceStatus) bool {
	for _, s := range transitions[from] {
		if s == to {
			return true
		}
	}
	return false
}

// setNamespaceStatus records a reconciler's decision, guarded by the
// revision the reconciler saw.
func setNamespaceStatus(s *state, cmd *fsmpb.Command) Result {
	body := cmd.GetSetNamespaceStatus()
	cur, ok := s.namespaces[body.Name]
	if !ok {
		return Result{Revision: s.revision, Err: fmt.Errorf("%w: %q", ErrNotFound, body.Name)}
	}
	if err := ifRevision(body.Name, body.IfRevision, cur.Revision); err != nil {
		return Result{Revision: s.revision, Err: err}
	}
	if cur.Status == body.Status && cur.StatusReason == body.Reason {
		return Result{Revision: s.revision, Namespace: cur, Unchanged: true}
	}
	if cur.Status != body.Status && !allowed(cur.Status, body.Status) {
		return Result{Revision: s.revision, Err: fmt.Errorf("%w: namespace %q cannot go from %s to %s", ErrFailedPrecondition, body.Name, cur.Status, body.Status)}
	}
	ns := clone(cur)
	ns.Status = body.Status
	ns.StatusReason = body.Reason
	ns.Revision = s.bump()
	ns.UpdatedUnixNano = cmd.UnixNano
	if body.Status == statusDeleted {
		ns.DeletedUnixNano = cmd.UnixNano
	}
	s.namespaces[body.Name] = ns
	return Result{Revision: ns.Revision, Namespace: ns}
}

// purgeNamespace drops a tombstone whose retention has passed.
func purgeNamespace(s *state, cmd *fsmpb.Command) Result {
	body := cmd.GetPurgeNamespace()
	cur, ok := s.namespaces[body.Name]
	if !ok {
		return Result{Revision: s.revision, Err: fmt.Errorf("%w: %q", ErrNotFound, body.Name)}
	}
	if cur.Status != statusDeleted {
		return Result{Revision: s.revision, Err: fmt.Errorf("%w: namespace %q is %s, only deleted namespaces are purged", ErrFailedPrecondition, body.Name, cur.Status)}
	}
	if err := ifRevision(body.Name, body.IfRevision, cur.Revision); err != nil {
		return Result{Revision: s.revision, Err: err}
	}
	delete(s.namespaces, body.Name)
	s.unclaim(body.Name)
	return Result{Revision: s.bump(), Namespace: cur, Deleted: true, PrevShards: Involved(cur)}
}
