package fsm

import (
	"fmt"

	"github.com/prism/controlplane/fsm/fsmpb"
)

// Records read from a snapshot are checked structurally, not against
// today's spec rules: a snapshot of an older binary whose specs a newer
// rule would reject must still install (a follower catching up has no
// choice), but a record with no spec, no name, a duplicate key or a
// revision past the snapshot's is never written by any binary.

func checkNamespaceRecord(ns *fsmpb.Namespace) error {
	v := &validator{}
	if ns.Spec == nil {
		return fmt.Errorf("%w: a namespace record has no spec", ErrBadSnapshot)
	}
	v.dnsName("namespace", ns.Spec.Name)
	if _, ok := fsmpb.NamespaceStatus_name[int32(ns.Status)]; !ok || ns.Status == 0 {
		v.add("status", "unknown value %d", ns.Status)
	}
	checkResources(v, "resources", ns.Resources)
	if len(v.errs) > 0 {
		return fmt.Errorf("%w: namespace record %q: %s", ErrBadSnapshot, ns.Spec.Name, v.errs[0])
	}
	return nil
}

func checkShardRecord(sh *fsmpb.Shard) error {
	if sh.Spec == nil {
		return fmt.Errorf("%w: a shard record has no spec", ErrBadSnapshot)
	}
	v := &validator{}
	v.dnsName("id", sh.Spec.Id)
	if _, ok := fsmpb.ShardState_name[int32(sh.State)]; !ok || sh.State == 0 {
		v.add("state", "unknown value %d", sh.State)
	}
	if len(v.errs) > 0 {
		return fmt.Errorf("%w: shard record %q: %s", ErrBadSnapshot, sh.Spec.Id, v.errs[0])
	}
	return nil
}

// checkRecordRevisions: the header's revision is in range and no record
// is newer than it.
func checkRecordRevisions(s *state) error {
	if s.revision < 0 || s.revision > MaxRevision {
		return fmt.Errorf("%w: revision %d outside 0..%d", ErrBadSnapshot, s.revision, MaxRevision)
	}
	for name, ns := range s.namespaces {
		if ns.Revision < 0 || ns.Revision > s.revision || ns.CreateRevision < 0 || ns.CreateRevision > ns.Revision {
			return fmt.Errorf("%w: namespace %q at revision %d (created %d), snapshot at %d", ErrBadSnapshot, name, ns.Revision, ns.CreateRevision, s.revision)
		}
	}
	for id, sh := range s.shards {
		if sh.Revision < 0 || sh.Revision > s.revision {
			return fmt.Errorf("%w: shard %q at revision %d, snapshot at %d", ErrBadSnapshot, id, sh.Revision, s.revision)
		}
	}
	return nil
}
