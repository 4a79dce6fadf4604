package cluster

import (
	"github.com/prism/controlplane/archive"
)

// newArchiver sets up the journal and the archiver when the node has an
// archive. The journal starts after revision 0: raft's restore of the
// latest snapshot (in NewRaft) resets it to the snapshot's revision, and
// the log replay after it records the rest.
func (n *Node) newArchiver() error {
	n.arMetrics = archive.NewMetrics()
	if n.deps.Archive == nil {
		return nil
	}
	n.journal = archive.NewJournal(n.cfg.ArchiveJournal, 0)
	a, err := archive.NewArchiver(n.cfg.Archive, archive.Deps{
		Logger:  n.deps.Logger.With("component", "archiver", "node", n.cfg.NodeID),
		Sink:    n.deps.Archive,
		Journal: n.journal,
		Source:  n.fsm,
		Metrics: n.arMetrics,
	})
	if err != nil {
		return err
	}
	n.archiver = a
	return nil
}

// restoreReason says why the journal lost what came before a restore.
func restoreReason(replaced bool) string {
	if replaced {
		return "the state was replaced by a snapshot restore"
	}
	return "the node loaded or installed a snapshot"
}

// ArchiveStatus is this node's archiver's view; ok is false when the node
// has no archive.
func (n *Node) ArchiveStatus() (st archive.Status, ok bool) {
	if n.archiver == nil {
		return archive.Status{}, false
	}
	return n.archiver.Status(), true
}
