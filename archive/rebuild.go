package archive

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/prism/controlplane/fsm"
	"github.com/prism/controlplane/fsm/fsmpb"
)

// RebuildInfo says what a rebuild read.
type RebuildInfo struct {
	ClusterID string
	Revision  int64 // the state's revision
	Epoch     int64 // the epoch holding Revision
	// CheckpointRevision is the checkpoint the changes were applied to (the
	// epoch's start when it has none: epoch 0's empty state).
	CheckpointRevision int64
	Changes            int // changes applied after the checkpoint
}

// Rebuild returns clusterID's state at revision (0: the archive's head)
// from its archive: the newest checkpoint of the epoch holding revision at
// or below it, plus that epoch's changes after the checkpoint up to
// revision, each verified to follow the one before. Records.Snapshot turns
// the result into a snapshot that `snapshot restore` takes.
//
// Everything is read in one repeatable-read transaction, so a writer
// archiving meanwhile changes nothing of what it sees. The changes are
// streamed, never all held. ErrGap: revision is not archived (beyond the
// head, between two epochs, or a change is missing), saying where;
// ErrNoArchive: the archive holds nothing of the cluster.
func Rebuild(ctx context.Context, s *Store, clusterID string, revision int64) (*fsm.Records, RebuildInfo, error) {
	info := RebuildInfo{ClusterID: clusterID}
	if revision < 0 {
		return nil, info, fmt.Errorf("archive: rebuild: revision %d: must be >= 0 (0: the head)", revision)
	}
	var rc *fsm.Records
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		// A rebuild reads every change of an epoch (longer than any
		// statement the archiver runs) and decodes a checkpoint between two
		// statements (idle in its transaction, which holds no lock a writer
		// waits for). The caller's context bounds it.
		if _, err := tx.Exec(ctx, "SET LOCAL statement_timeout = 0; SET LOCAL idle_in_transaction_session_timeout = 0"); err != nil {
			return err
		}
		var err error
		rc, err = rebuild(ctx, tx, clusterID, revision, &info)
		return err
	})
	if err != nil {
		return nil, info, s.wrap("rebuild "+clusterID, err)
	}
	return rc, info, nil
}

func rebuild(ctx context.Context, tx pgx.Tx, clusterID string, revision int64, info *RebuildInfo) (*fsm.Records, error) {
	cur, err := readCursor(ctx, tx, clusterID)
	if err != nil {
		return nil, err
	}
	if revision == 0 {
		revision = cur.Revision
		if revision == 0 {
			return nil, fmt.Errorf("%w: the archive of %s holds no revision yet", ErrNoArchive, clusterID)
		}
	}
	if revision > cur.Revision {
		return nil, fmt.Errorf("%w: revision %d is not archived: the archive of %s ends at %d", ErrGap, revision, clusterID, cur.Revision)
	}
	epochs, err := readEpochs(ctx, tx, clusterID)
	if err != nil {
		return nil, err
	}
	ep, err := epochHolding(epochs, revision)
	if err != nil {
		return nil, err
	}
	info.Revision, info.Epoch = revision, ep.Epoch

	var base int64
	var snap []byte
	err = tx.QueryRow(ctx, `SELECT revision, snapshot FROM prism_archive.checkpoints
WHERE cluster_id = $1 AND epoch = $2 AND revision <= $3 ORDER BY revision DESC LIMIT 1`, clusterID, ep.Epoch, revision).Scan(&base, &snap)
	var rc *fsm.Records
	switch {
	case errors.Is(err, pgx.ErrNoRows) && ep.StartRevision == 0:
		rc = &fsm.Records{Namespaces: map[string]*fsmpb.Namespace{}, Shards: map[string]*fsmpb.Shard{}}
	case errors.Is(err, pgx.ErrNoRows):
		return nil, fmt.Errorf("%w: revision %d is not archived: epoch %d starts at %d and has no checkpoint at or below it", ErrGap, revision, ep.Epoch, ep.StartRevision)
	case err != nil:
		return nil, err
	default:
		if rc, err = fsm.ReadRecords(bytes.NewReader(snap)); err != nil {
			return nil, fmt.Errorf("checkpoint at revision %d: %w", base, err)
		}
		if rc.Revision != base {
			return nil, fmt.Errorf("checkpoint at revision %d holds a snapshot at revision %d", base, rc.Revision)
		}
	}
	snap = nil // let the collector have it while the changes stream
	info.CheckpointRevision = base

	rows, err := tx.Query(ctx, `SELECT revision, kind, name, op, payload FROM prism_archive.changes
WHERE cluster_id = $1 AND epoch = $2 AND revision > $3 AND revision <= $4 ORDER BY revision`, clusterID, ep.Epoch, base, revision)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	prev := base
	var rev int64
	var kind, name, op string
	for rows.Next() {
		// payload is read raw (no copy): the decoder copies what it keeps.
		if err := rows.Scan(&rev, &kind, &name, &op, nil); err != nil {
			return nil, err
		}
		if rev != prev+1 {
			return nil, missing(ep, prev+1, rev)
		}
		if err := applyRow(rc, kind, name, op, rows.RawValues()[4]); err != nil {
			return nil, fmt.Errorf("revision %d: %w", rev, err)
		}
		prev = rev
		info.Changes++
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if prev != revision {
		return nil, missing(ep, prev+1, 0)
	}
	rc.ClusterID, rc.Revision = clusterID, revision
	return rc, nil
}

// epochHolding is the newest epoch starting at or below revision, if it
// reaches revision; between two epochs is a gap.
func epochHolding(epochs []Epoch, revision int64) (Epoch, error) {
	for i := len(epochs) - 1; i >= 0; i-- {
		e := epochs[i]
		if e.StartRevision > revision {
			continue
		}
		if revision <= e.EndRevision {
			return e, nil
		}
		next := "the archive ends there"
		if i+1 < len(epochs) {
			next = fmt.Sprintf("epoch %d starts at %d", epochs[i+1].Epoch, epochs[i+1].StartRevision)
		}
		return Epoch{}, fmt.Errorf("%w: revision %d is not archived: epoch %d ends at %d, %s", ErrGap, revision, e.Epoch, e.EndRevision, next)
	}
	return Epoch{}, fmt.Errorf("%w: revision %d is not archived: it precedes every epoch", ErrGap, revision)
}

// missing is the gap found at want inside epoch ep (got: the revision
// found instead, 0 at the end of the changes).
func missing(ep Epoch, want, got int64) error {
	if got == 0 {
		return fmt.Errorf("%w: revision %d of epoch %d is missing from the changes (the epoch ends at %d)", ErrGap, want, ep.Epoch, ep.EndRevision)
	}
	return fmt.Errorf("%w: revision %d of epoch %d is missing from the changes (the next archived is %d)", ErrGap, want, ep.Epoch, got)
}

// applyRow applies one archived change to rc.
func applyRow(rc *fsm.Records, kind, name, op string, payload []byte) error {
	switch op {
	case OpNone:
		return nil
	case OpPut, OpDelete:
	default:
		return fmt.Errorf("unknown op %q", op)
	}
	if op == OpDelete {
		switch kind {
		case KindNamespace:
			delete(rc.Namespaces, name)
		case KindShard:
			delete(rc.Shards, name)
		default:
			return fmt.Errorf("unknown kind %q", kind)
		}
		return nil
	}
	ns, sh, err := DecodePayload(kind, payload)
	if err != nil {
		return err
	}
	if ns != nil {
		if ns.GetSpec().GetName() != name {
			return fmt.Errorf("namespace row %q holds %q", name, ns.GetSpec().GetName())
		}
		rc.Namespaces[name] = ns
	} else {
		if sh.GetSpec().GetId() != name {
			return fmt.Errorf("shard row %q holds %q", name, sh.GetSpec().GetId())
		}
		rc.Shards[name] = sh
	}
	return nil
}
