package cluster

import (
	"bytes"
	"context"
	"fmt"
	"io"
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

// RestoreSnapshot replaces the cluster's state with a snapshot stream,
// through raft: the leader installs it and followers receive it by
// InstallSnapshot. The raft configuration is kept. The cluster revision
// keeps increasing: it becomes the snapshot's, or one more than the old
// one when that is not lower. Only the leader restores (others return ErrNotLeader).
func (n *Node) RestoreSnapshot(ctx context.Context, stream []byte) (int64, error) {
	if !n.IsLeader() {
		return 0, fmt.Errorf("%w: restore must run on the leader", ErrNotLeader)
	}
	// Wait for this term's barrier first: it is itself an apply.
	term, err := n.waitReady(ctx)
	if err != nil {
		return 0, err
	}
	// No write may commit while the state is swapped: the revision and the
	// index chosen below must be past everything already acknowledged.
	n.restoreMu.Lock()
	defer n.restoreMu.Unlock()
	if n.raft.CurrentTerm() != term || !n.IsLeader() {
		return 0, fmt.Errorf("%w: leadership changed before the restore", ErrNotLeader)
	}
	hdrIndex, snapRev, _, err := fsm.SnapshotInfo(bytes.NewReader(stream))
	if err != nil {
		return 0, fmt.Errorf("%w: %w", fsm.ErrInvalid, err)
	}
	// The revision keeps increasing: the snapshot's, or one more than ours.
	rev := max(n.fsm.Revision()+1, snapRev)
	// raft installs a user snapshot at max(last index, meta.Index)+1. Pick
	// meta.Index well past the last index, so that raft's choice is known
	// in advance, and write that index into the snapshot's header: every
	// node's FSM then counts indexes of this log, not of the one the
	// snapshot came from (read-index waits depend on it). The cluster keeps
	// its own id: a restored backup of another cluster must not make the
	// two look like one.
	at := max(n.raft.LastIndex()+1024, hdrIndex)
	if stream, err = fsm.RebaseSnapshot(stream, at+1, n.fsm.ClusterID(), rev, n.fsm.Generation()+1); err != nil {
		return 0, err
	}
	meta := &raft.SnapshotMeta{Version: raft.SnapshotVersionMax, Index: at, Size: int64(len(stream))}
	timeout := 30 * time.Second
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
	}
	if err := n.raft.Restore(meta, bytes.NewReader(stream), timeout); err != nil {
		return 0, fmt.Errorf("%w: raft restore: %v", ErrAdminFailed, err)
	}
	// A command of this term after the snapshot: it commits past the
	// installed index and makes the leader replicate (followers install the
	// snapshot now, not at the next write).
	if _, err := n.applyLocked(ctx, &fsmpb.Command{Body: &fsmpb.Command_Noop{Noop: &fsmpb.Noop{}}}, fsm.FromLeader); err != nil {
		return 0, err
	}
	n.log.Info("restored snapshot", "snapshot_revision", snapRev, "revision", rev, "index", at+1)
	n.nudge()
	return rev, nil
}
