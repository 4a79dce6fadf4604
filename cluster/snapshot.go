package cluster

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/hashicorp/raft"

	"github.com/prism/controlplane/fsm"
	"github.com/prism/controlplane/fsm/fsmpb"
)

// SaveSnapshot writes a linearizable point-in-time snapshot of the state
// (the fsm snapshot stream) to w.
func (n *Node) SaveSnapshot(ctx context.Context, w io.Writer) (*fsm.Snapshot, error) {
	if err := n.LinearizableBarrier(ctx); err != nil {
		return nil, err
	}
	snap := n.fsm.Snapshot()
	if _, err := snap.WriteTo(w); err != nil {
		return nil, fmt.Errorf("cluster: write snapshot: %w", err)
	}
	return snap, nil
}

// restoreSpoolPattern names the temporary files of a restore in the data
// dir: the snapshot as received, then as rebased.
const restoreSpoolPattern = "restore-*.snap.tmp"

// RestoreSnapshot replaces the cluster's state with the snapshot stream
// read from src, through raft: the leader installs it and followers
// receive it by InstallSnapshot. The raft configuration is kept. The
// cluster revision keeps increasing: it becomes the snapshot's, or one
// more than the old one when that is not lower. It returns the revision
// the cluster continues from and the snapshot's own.
//
// Only the leader restores: another node returns ErrNotLeader before
// reading anything from src. One restore runs at a time per node (others
// get ErrRestoreInProgress). The stream is spooled to a file in the data
// dir (0600, removed after; more than maxBytes is ErrSnapshotTooLarge),
// decoded once to validate it (what the FSM will decode), then copied
// record by record into a rebased file that raft installs: memory holds
// no copy of the stream, only the validating decode of its records.
func (n *Node) RestoreSnapshot(ctx context.Context, src io.Reader, maxBytes int64) (rev, snapRev int64, err error) {
	if !n.IsLeader() {
		return 0, 0, fmt.Errorf("%w: restore must run on the leader", ErrNotLeader)
	}
	if !n.restoring.TryLock() {
		return 0, 0, ErrRestoreInProgress
	}
	defer n.restoring.Unlock()
	n.removeStaleSpools()
	spool, err := n.spoolSnapshot(src, maxBytes)
	if err != nil {
		return 0, 0, err
	}
	defer removeSpool(spool)
	// Validate before raft sees it: raft panics when the FSM cannot
	// restore a snapshot it has installed.
	hdrIndex, snapRev, _, err := fsm.SnapshotInfo(spool)
	if err != nil {
		return 0, 0, invalidSnapshot(err)
	}
	// Wait for this term's barrier first: it is itself an apply.
	term, err := n.waitReady(ctx)
	if err != nil {
		return 0, 0, err
	}
	// No write may commit while the state is swapped: the revision and the
	// index chosen below must be past everything already acknowledged.
	n.restoreMu.Lock()
	defer n.restoreMu.Unlock()
	if n.raft.CurrentTerm() != term || !n.IsLeader() {
		return 0, 0, fmt.Errorf("%w: leadership changed before the restore", ErrNotLeader)
	}
	// The revision keeps increasing: the snapshot's, or one more than ours.
	rev = max(n.fsm.Revision()+1, snapRev)
	// raft installs a user snapshot at max(last index, meta.Index)+1. Pick
	// meta.Index well past the last index, so that raft's choice is known
	// in advance, and write that index into the snapshot's header: every
	// node's FSM then counts indexes of this log, not of the one the
	// snapshot came from (read-index waits depend on it). The cluster keeps
	// its own id: a restored backup of another cluster must not make the
	// two look like one.
	at := max(n.raft.LastIndex()+1024, hdrIndex)
	rebased, err := n.createSpool()
	if err != nil {
		return 0, 0, err
	}
	defer removeSpool(rebased)
	if _, err := spool.Seek(0, io.SeekStart); err != nil {
		return 0, 0, fmt.Errorf("cluster: restore spool: %w", err)
	}
	size, err := fsm.RebaseSnapshot(rebased, spool, at+1, n.fsm.ClusterID(), rev, n.fsm.Generation()+1)
	if err != nil {
		return 0, 0, invalidSnapshot(err)
	}
	if _, err := rebased.Seek(0, io.SeekStart); err != nil {
		return 0, 0, fmt.Errorf("cluster: restore spool: %w", err)
	}
	meta := &raft.SnapshotMeta{Version: raft.SnapshotVersionMax, Index: at, Size: size}
	timeout := 30 * time.Second
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
	}
	if err := n.raft.Restore(meta, rebased, timeout); err != nil {
		return 0, 0, fmt.Errorf("%w: raft restore: %v", ErrAdminFailed, err)
	}
	// A command of this term after the snapshot: it commits past the
	// installed index and makes the leader replicate (followers install the
	// snapshot now, not at the next write).
	if _, err := n.applyLocked(ctx, &fsmpb.Command{Body: &fsmpb.Command_Noop{Noop: &fsmpb.Noop{}}}, fsm.FromLeader); err != nil {
		return 0, 0, err
	}
	n.log.Info("restored snapshot", "snapshot_revision", snapRev, "revision", rev, "index", at+1, "bytes", size)
	n.nudge()
	return rev, snapRev, nil
}

// invalidSnapshot is a snapshot that does not decode, as a field error.
func invalidSnapshot(err error) error {
	return &fsm.ValidationError{Fields: []fsm.FieldError{{Path: "snapshot", Message: err.Error()}}}
}

// spoolSnapshot copies src, at most maxBytes of it, to a new spool file
// and rewinds it.
func (n *Node) spoolSnapshot(src io.Reader, maxBytes int64) (*os.File, error) {
	f, err := n.createSpool()
	if err != nil {
		return nil, err
	}
	w, err := io.Copy(f, io.LimitReader(src, maxBytes+1))
	switch {
	case err != nil:
		err = fmt.Errorf("cluster: receive snapshot: %w", err)
	case w > maxBytes:
		err = fmt.Errorf("%w: more than %d bytes (--max-snapshot-bytes)", ErrSnapshotTooLarge, maxBytes)
	default:
		_, err = f.Seek(0, io.SeekStart)
	}
	if err != nil {
		removeSpool(f)
		return nil, err
	}
	return f, nil
}

// createSpool makes a restore spool file, readable by this user only.
func (n *Node) createSpool() (*os.File, error) {
	f, err := os.CreateTemp(n.cfg.DataDir, restoreSpoolPattern)
	if err != nil {
		return nil, fmt.Errorf("cluster: restore spool: %w", err)
	}
	return f, nil
}

func removeSpool(f *os.File) {
	_ = f.Close()
	_ = os.Remove(f.Name())
}

// removeStaleSpools deletes spool files a restore left when the process
// died during it. Only the one restore in progress (the caller) uses the
// pattern, and a data dir has one process.
func (n *Node) removeStaleSpools() {
	stale, _ := filepath.Glob(filepath.Join(n.cfg.DataDir, restoreSpoolPattern))
	for _, p := range stale {
		_ = os.Remove(p)
	}
}
