package acl

import (
	"fmt"

	"github.com/prism/controlplane/fsm/fsmpb"
)

// Rule is what a method requires of its caller before its handler looks
// at the object it names.
type Rule int

const (
	// RuleOpen: no identity needed (health, reflection).
	RuleOpen Rule = iota
	// RuleBootstrap: no identity needed; the FSM lets it apply once.
	RuleBootstrap
	// RuleObject: any identity; the handler checks the object it names
	// (a namespace's owners or consumers, a shard's own id, a watch's
	// filter).
	RuleObject
	// RuleViewer, RuleOperator, RuleAdmin: at least that role.
	RuleViewer
	RuleOperator
	RuleAdmin
)

func (r Rule) String() string {
	return [...]string{"open", "bootstrap", "object", "viewer", "operator", "admin"}[r]
}

// Check is the rule's verdict on p: ErrUnauthenticated for no identity
// where one is needed, ErrPermissionDenied for too little a role.
func (r Rule) Check(p Principal) error {
	switch r {
	case RuleOpen, RuleBootstrap:
		return nil
	}
	if !p.Authenticated() {
		return fmt.Errorf("%w: this call needs a client certificate or a token (--token, PRISM_TOKEN)", ErrUnauthenticated)
	}
	switch r {
	case RuleViewer:
		return Require(p, RoleViewer)
	case RuleOperator:
		return Require(p, RoleOperator)
	case RuleAdmin:
		return Require(p, RoleAdmin)
	}
	return nil
}

// Require: p holds role (or a more powerful one).
func Require(p Principal, role string) error {
	if p.Has(role) {
		return nil
	}
	return fmt.Errorf("%w: %s does not have the %s role", ErrPermissionDenied, p, role)
}

// Owns: p is among spec's owners.
func Owns(p Principal, spec *fsmpb.NamespaceSpec) bool {
	for _, o := range spec.GetAccess().GetOwners() {
		if o.GetKind() == p.Kind && o.GetName() == p.Name {
			return true
		}
	}
	return false
}

// Consumes: p is a service among spec's consumers (read-only and
// read-write both read its metadata).
func Consumes(p Principal, spec *fsmpb.NamespaceSpec) bool {
	if p.Kind != KindService {
		return false
	}
	for _, c := range spec.GetAccess().GetConsumers() {
		if c.GetService() == p.Name {
			return true
		}
	}
	return false
}

// servedBy: the namespace is on shard id (serving, or either end of a move).
func servedBy(ns *fsmpb.Namespace, id string) bool {
	return ns.GetShardId() == id || (ns.GetMove() != nil && (ns.Move.GetTo() == id || ns.Move.GetFrom() == id))
}

// CanReadNamespace: p may see ns (get, list, resolve, watch): a viewer,
// an owner, a consumer, or a shard it is on.
func CanReadNamespace(p Principal, ns *fsmpb.Namespace) bool {
	return p.Has(RoleViewer) || Owns(p, ns.GetSpec()) || Consumes(p, ns.GetSpec()) ||
		(p.Kind == KindShard && servedBy(ns, p.Name))
}

// CheckNamespaceWrite: p may change namespace name, which is cur now (nil
// when it does not exist), into next (nil for a delete or a reconcile).
// Admins may; otherwise p must own cur, must be among next's owners when
// it creates it, and may not leave it without owners.
func CheckNamespaceWrite(p Principal, name string, cur *fsmpb.Namespace, next *fsmpb.NamespaceSpec) error {
	if p.Has(RoleAdmin) {
		return nil
	}
	if !p.Authenticated() {
		return fmt.Errorf("%w: changing namespace %q needs a client certificate or a token", ErrUnauthenticated, name)
	}
	switch {
	case cur != nil && !Owns(p, cur.GetSpec()):
		return fmt.Errorf("%w: %s is not an owner of namespace %q", ErrPermissionDenied, p, name)
	case next == nil:
		return nil
	case len(next.GetAccess().GetOwners()) == 0:
		return fmt.Errorf("%w: namespace %q must keep at least one owner (access.owners)", ErrPermissionDenied, name)
	case cur == nil && !Owns(p, next):
		return fmt.Errorf("%w: creating namespace %q requires %s to be among the owners it declares (access.owners)", ErrPermissionDenied, name, p)
	}
	return nil
}

// CheckActAsShard: p may register, heartbeat or watch as shard id: the
// shard itself, or an operator.
func CheckActAsShard(p Principal, id string) error {
	if p.Has(RoleOperator) || (p.Kind == KindShard && p.Name == id) {
		return nil
	}
	if p.Kind == KindShard {
		return fmt.Errorf("%w: %s may act only as itself, not as shard %q", ErrPermissionDenied, p, id)
	}
	return fmt.Errorf("%w: only shard %q itself or an operator may act as it (%s)", ErrPermissionDenied, id, p)
}
