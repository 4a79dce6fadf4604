package fsm

import (
	"fmt"
	"slices"

	"github.com/prism/controlplane/fsm/fsmpb"
	"github.com/prism/controlplane/provision/plan"
)

// Resource states, short.
const (
	resPending = fsmpb.ResourceState_RESOURCE_STATE_PENDING
	resReady   = fsmpb.ResourceState_RESOURCE_STATE_READY
	resMissing = fsmpb.ResourceState_RESOURCE_STATE_MISSING
	resFailed  = fsmpb.ResourceState_RESOURCE_STATE_FAILED
)

// SpecRevision is the revision of a namespace's last spec change (its
// create revision for a namespace stored before the field existed).
func SpecRevision(ns *fsmpb.Namespace) int64 {
	if ns.SpecRevision != 0 {
		return ns.SpecRevision
	}
	return ns.CreateRevision
}

// Held reports whether a recorded resource may exist at its target as this
// namespace's: once an intent is recorded, the physical name is fixed.
func Held(r *fsmpb.Resource) bool {
	switch r.GetState() {
	case resPending, resReady, resMissing, resFailed:
		return true
	}
	return false
}

// fixedResources refuses a spec that would change what is already
// provisioned (or intended): physical names, targets, an explicit
// replication factor other than the recorded one, and an explicit
// partition count below the recorded one. Partitions never decrease.
func fixedResources(cur *fsmpb.Namespace, want []plan.Resource) []FieldError {
	if len(cur.Resources) == 0 {
		return nil
	}
	had := plan.For(cur.Spec).Resources
	var errs []FieldError
	for _, r := range cur.Resources {
		if !Held(r) {
			continue
		}
		i := slices.IndexFunc(want, func(w plan.Resource) bool { return w.Kind == r.Kind })
		if i < 0 {
			continue
		}
		w := want[i]
		if w.Name() != r.Name {
			errs = append(errs, FieldError{Path: w.NameField(), Message: fmt.Sprintf("cannot change the %s from %q to %q: physical names are fixed once provisioned (delete and re-create the namespace to move it)", r.Kind, r.Name, w.Name())})
		}
		if j := slices.IndexFunc(had, func(h plan.Resource) bool { return h.Kind == r.Kind }); j >= 0 && had[j].Target.Key() != w.Target.Key() {
			errs = append(errs, FieldError{Path: "backend_config." + r.Backend, Message: fmt.Sprintf("cannot move the %s %q from %s to %s: the server is fixed once provisioned", r.Kind, r.Name, had[j].Target, w.Target)})
		}
		if r.Kind != plan.KindTopic {
			continue
		}
		if w.PartitionsExplicit && r.Partitions > 0 && w.Partitions < r.Partitions {
			errs = append(errs, FieldError{Path: "backend_config.kafka.partitions", Message: fmt.Sprintf("cannot go down from %d to %d: Kafka partitions never decrease", r.Partitions, w.Partitions)})
		}
		if w.ReplicationFactor != 0 && r.ReplicationFactor != 0 && w.ReplicationFactor != r.ReplicationFactor {
			errs = append(errs, FieldError{Path: "backend_config.kafka.replication_factor", Message: fmt.Sprintf("cannot change from %d to %d once the topic exists", r.ReplicationFactor, w.ReplicationFactor)})
		}
	}
	return errs
}

// claimIndex maps each resource key (plan.Resource.Key) of a stored spec
// to the namespace that claims it, and back. Built on first use after a
// restore; an entry may name a namespace that is now a tombstone, so
// readers check the claimant is live.
func (s *state) claimIndex() *claims {
	if s.claims == nil {
		s.claims = &claims{byKey: map[string]string{}, byName: map[string][]string{}}
		for name, ns := range s.namespaces {
			s.claims.set(name, plan.For(ns.Spec).Resources)
		}
	}
	return s.claims
}

type claims struct {
	byKey  map[string]string
	byName map[string][]string
}

func (c *claims) set(name string, want []plan.Resource) {
	c.drop(name)
	for _, r := range want {
		c.byKey[r.Key()] = name
		c.byName[name] = append(c.byName[name], r.Key())
	}
}

func (c *claims) drop(name string) {
	for _, k := range c.byName[name] {
		if c.byKey[k] == name {
			delete(c.byKey, k)
		}
	}
	delete(c.byName, name)
}

// checkClaims refuses a spec whose resources another live namespace
// claims: two namespaces never share a table or topic.
func (s *state) checkClaims(name string, want []plan.Resource) error {
	idx := s.claimIndex()
	for _, r := range want {
		other, ok := idx.byKey[r.Key()]
		if !ok || other == name {
			continue
		}
		if _, live := s.live(other); live {
			return &ValidationError{Fields: []FieldError{{Path: r.NameField(), Message: fmt.Sprintf("%s %q on %s is already namespace %q's", r.Kind, r.Name(), r.Target, other)}}}
		}
	}
	return nil
}

// claim records a stored spec's planned resources as the namespace's.
func (s *state) claim(name string, want []plan.Resource) { s.claimIndex().set(name, want) }

// unclaim drops a purged namespace's claims.
func (s *state) unclaim(name string) { s.claimIndex().drop(name) }
