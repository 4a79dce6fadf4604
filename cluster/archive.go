package cluster

import (
	"context"
	"fmt"

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

// trailArchive trims the journal to the archive's cursor while this node
// does not lead (the leader's archiver trims as it writes).
func (n *Node) trailArchive() {
	defer n.wg.Done()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-n.shutdownCh:
		case <-ctx.Done():
		}
		cancel()
	}()
	n.archiver.Trail(ctx, n.deps.Archive, n.cfg.Archive.TrailInterval)
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

// ArchiveHistory lists an object's archived changes, newest first, from
// this node's archive (clusterID "": this cluster).
func (n *Node) ArchiveHistory(ctx context.Context, clusterID, kind, name string, limit int) (string, []archive.HistoryEntry, error) {
	if n.deps.Archive == nil {
		return "", nil, archive.ErrNotConfigured
	}
	if clusterID == "" {
		if clusterID = n.fsm.ClusterID(); clusterID == "" {
			return "", nil, fmt.Errorf("%w: the cluster has no id yet", archive.ErrNoArchive)
		}
	}
	h, err := n.deps.Archive.History(ctx, clusterID, kind, name, limit)
	return clusterID, h, err
}
