package cluster

import (
	"io"

	"github.com/hashicorp/raft"

	"github.com/prism/controlplane/archive"
	"github.com/prism/controlplane/fsm"
	"github.com/prism/controlplane/watch"
)

// raftFSM adapts the pure fsm.FSM to raft.BatchingFSM. Raft hands it
// command and configuration entries in log order; configuration entries
// only advance the applied index.
type raftFSM struct {
	f   *fsm.FSM
	hub *watch.Hub // nil: no watches (recovery tools)
	// journal, when set, records every change for the archiver.
	journal *archive.Journal
	// knownID, when set, is told the cluster id after every batch and
	// restore, so the node persists it the moment it is known.
	knownID func(string)
}

var (
	_ raft.BatchingFSM = raftFSM{}
	_ raft.FSMSnapshot = fsmSnapshot{}
)

func (a raftFSM) Apply(l *raft.Log) interface{} { return a.ApplyBatch([]*raft.Log{l})[0] }

func (a raftFSM) ApplyBatch(logs []*raft.Log) []interface{} {
	entries := make([]fsm.Entry, len(logs))
	for i, l := range logs {
		entries[i].Index = l.Index
		if l.Type == raft.LogCommand {
			entries[i].Data = l.Data
		}
	}
	results := a.f.ApplyBatch(entries)
	out := make([]interface{}, len(results))
	for i := range results {
		out[i] = results[i]
		if a.hub != nil {
			publish(a.hub, results[i])
		}
		if a.journal != nil {
			a.journal.Record(results[i])
		}
	}
	a.tellID()
	return out
}

// publish hands a committed change to the watch hub.
func publish(h *watch.Hub, r fsm.Result) {
	if r.Err != nil || r.Unchanged || r.Revision == 0 || r.Token != nil {
		return // token changes do not move the revision; watchers never see them
	}
	b := watch.Batch{Revision: r.Revision}
	typ := watch.Put
	if r.Deleted {
		typ = watch.Delete
	}
	switch {
	case r.Namespace != nil:
		prev := r.PrevShards
		if prev == [2]string{} {
			prev = fsm.Involved(r.Namespace)
		}
		b.Events = []watch.Event{{Type: typ, Kind: watch.KindNamespace, Name: r.Namespace.Spec.GetName(),
			Revision: r.Revision, Namespace: r.Namespace, PrevShards: prev}}
	case r.Shard != nil:
		b.Events = []watch.Event{{Type: typ, Kind: watch.KindShard, Name: r.Shard.Spec.GetId(), Revision: r.Revision, Shard: r.Shard}}
	}
	h.Publish(b)
}

func (a raftFSM) Snapshot() (raft.FSMSnapshot, error) { return fsmSnapshot{a.f.Snapshot()}, nil }

func (a raftFSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	if err := a.f.Restore(rc); err != nil {
		return err
	}
	a.tellID()
	return nil
}

func (a raftFSM) tellID() {
	if a.knownID != nil {
		if id := a.f.ClusterID(); id != "" {
			a.knownID(id)
		}
	}
}

type fsmSnapshot struct{ s *fsm.Snapshot }

func (s fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	if _, err := s.s.WriteTo(sink); err != nil {
		sink.Cancel()
		return err
	}
	return sink.Close()
}

func (fsmSnapshot) Release() {}
