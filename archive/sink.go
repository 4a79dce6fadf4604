package archive

import (
	"context"
	"time"
)

// Cursor is where one cluster's archive stands: every revision of the
// current epoch up to Revision is archived. Epoch 0: nothing yet.
type Cursor struct {
	ClusterID string
	Revision  int64
	Term      uint64 // the raft term of the writer that last moved it
	Epoch     int64
	UpdatedAt time.Time
}

// Checkpoint is a full state at one revision: a snapshot stream (the
// format of fsm.Snapshot.WriteTo, secrets redacted as in Payload).
type Checkpoint struct {
	Revision   int64
	UnixNano   int64 // the time of the change at Revision (0: unknown)
	Snapshot   []byte
	Namespaces int
	Shards     int
	// NewEpoch: the changes between the cursor and Revision are not
	// available (or never existed: a restore); the checkpoint opens epoch
	// cursor.Epoch+1, which continues from Revision. Reason says why.
	// Without it, Revision must be at or below the cursor.
	NewEpoch bool
	Reason   string
}

// Sink is where the archiver writes. Every write names the writer's raft
// term; a write from a term older than the cursor's is refused inside
// Postgres (ErrFenced), so a paused old leader's late batch never lands.
type Sink interface {
	// Claim makes term the cursor's writer (creating the cursor, at
	// revision 0 and epoch 0, when there is none) and returns it.
	Claim(ctx context.Context, clusterID string, term uint64) (Cursor, error)
	// Append writes changes (contiguous revisions, the first at
	// cursor.Revision+1 of epoch) and advances the cursor to the last, in
	// one transaction. ErrCursorMoved: the cursor is elsewhere.
	Append(ctx context.Context, clusterID string, term uint64, epoch int64, changes []Change) (Cursor, error)
	// WriteCheckpoint records cp (see Checkpoint.NewEpoch) with the cursor
	// check in the same transaction; epoch is the cursor's epoch the
	// writer last saw.
	WriteCheckpoint(ctx context.Context, clusterID string, term uint64, epoch int64, cp Checkpoint) (Cursor, error)
}
