package fsm

import (
	"fmt"
	"io"
	"sort"

	"github.com/prism/controlplane/fsm/fsmpb"
)

// Records are the objects of a snapshot, decoded: what a tool outside raft
// (the archive's rebuild) edits before writing a snapshot again.
type Records struct {
	ClusterID  string
	Revision   int64
	Namespaces map[string]*fsmpb.Namespace // by name, tombstones included
	Shards     map[string]*fsmpb.Shard     // by id
}

// ReadRecords decodes a snapshot stream (not a sealed file) and checks it
// as a restore does. The request log is not part of Records.
func ReadRecords(r io.Reader) (*Records, error) {
	s, err := readSnapshot(r)
	if err != nil {
		return nil, err
	}
	return &Records{ClusterID: s.clusterID, Revision: s.revision, Namespaces: s.namespaces, Shards: s.shards}, nil
}

// Snapshot checks the records as a restore would (a spec and a name on
// each, known states, nothing newer than Revision) and returns a snapshot
// of them at Revision, with raft index 0, restore generation 0 and no
// request log: a restore rebases the index and the generation.
func (rc *Records) Snapshot() (*Snapshot, error) {
	s := newState()
	s.clusterID, s.revision = rc.ClusterID, rc.Revision
	for name, ns := range rc.Namespaces {
		if err := checkNamespaceRecord(ns); err != nil {
			return nil, err
		}
		if ns.Spec.Name != name {
			return nil, fmt.Errorf("%w: namespace %q filed under %q", ErrBadSnapshot, ns.Spec.Name, name)
		}
		s.namespaces[name] = ns
	}
	for id, sh := range rc.Shards {
		if err := checkShardRecord(sh); err != nil {
			return nil, err
		}
		if sh.Spec.Id != id {
			return nil, fmt.Errorf("%w: shard %q filed under %q", ErrBadSnapshot, sh.Spec.Id, id)
		}
		s.shards[id] = sh
	}
	if err := checkRecordRevisions(s); err != nil {
		return nil, err
	}
	fz := frozen{
		header:     &fsmpb.SnapshotHeader{Version: snapshotVersion, Revision: s.revision, ClusterId: s.clusterID},
		namespaces: make([]*fsmpb.Namespace, 0, len(s.namespaces)),
		shards:     make([]*fsmpb.Shard, 0, len(s.shards)),
	}
	for _, ns := range s.namespaces {
		fz.namespaces = append(fz.namespaces, ns)
	}
	for _, sh := range s.shards {
		fz.shards = append(fz.shards, sh)
	}
	sort.Slice(fz.namespaces, func(i, j int) bool { return fz.namespaces[i].Spec.Name < fz.namespaces[j].Spec.Name })
	sort.Slice(fz.shards, func(i, j int) bool { return fz.shards[i].Spec.Id < fz.shards[j].Spec.Id })
	return &Snapshot{fz: fz}, nil
}

// ClusterID is the id of the cluster the snapshot was taken of.
func (sn *Snapshot) ClusterID() string { return sn.fz.header.ClusterId }

// Records are the snapshot's objects (the shared immutable records: never
// modify them; replace entries instead). The request log is left out.
func (sn *Snapshot) Records() *Records {
	rc := &Records{ClusterID: sn.fz.header.ClusterId, Revision: sn.fz.header.Revision,
		Namespaces: make(map[string]*fsmpb.Namespace, len(sn.fz.namespaces)), Shards: make(map[string]*fsmpb.Shard, len(sn.fz.shards))}
	for _, ns := range sn.fz.namespaces {
		rc.Namespaces[ns.Spec.GetName()] = ns
	}
	for _, sh := range sn.fz.shards {
		rc.Shards[sh.Spec.GetId()] = sh
	}
	return rc
}
