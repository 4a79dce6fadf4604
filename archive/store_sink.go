package archive

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/jackc/pgx/v5"
)

const cursorColumns = "cluster_id, revision, term, epoch, updated_at"

// claimSQL creates the cursor or takes it for the writer's term, in one
// statement: no row comes back when a newer term owns it.
const claimSQL = `INSERT INTO prism_archive.cursor AS c (cluster_id, revision, term, epoch)
VALUES ($1, 0, $2, 0)
ON CONFLICT (cluster_id) DO UPDATE SET term = EXCLUDED.term WHERE c.term <= EXCLUDED.term
RETURNING ` + cursorColumns

// firstEpochSQL records epoch 0 (the archive from revision 0, an empty
// state) with the cursor's creation.
const firstEpochSQL = `INSERT INTO prism_archive.epochs (cluster_id, epoch, start_revision, reason, term)
VALUES ($1, 0, 0, 'the archive began', $2) ON CONFLICT DO NOTHING`

// advanceSQL moves the cursor from $2 to $3 in epoch $4 for term $5, and
// only from there: no row comes back when it is elsewhere or fenced. The
// row stays locked until the transaction ends.
const advanceSQL = `UPDATE prism_archive.cursor SET revision = $3, term = $5
WHERE cluster_id = $1 AND revision = $2 AND epoch = $4 AND term <= $5
RETURNING ` + cursorColumns

// Claim makes term the cursor's writer (creating the cursor at revision 0,
// epoch 0, when there is none) and returns it. ErrFenced: a newer term
// owns it.
func (s *Store) Claim(ctx context.Context, clusterID string, term uint64) (Cursor, error) {
	if err := checkWriter(clusterID, term); err != nil {
		return Cursor{}, err
	}
	var cur Cursor
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := scanCursor(tx.QueryRow(ctx, claimSQL, clusterID, int64(term)), &cur); err != nil {
			if errors.Is(err, pgx.ErrNoRows) {
				return errRefused
			}
			return err
		}
		_, err := tx.Exec(ctx, firstEpochSQL, clusterID, int64(term))
		return err
	})
	if errors.Is(err, errRefused) {
		return Cursor{}, s.refusal(ctx, "claim", clusterID, term, -1, -1)
	}
	if err != nil {
		return Cursor{}, s.wrap("claim the cursor of "+clusterID, err)
	}
	return cur, nil
}

// Append writes changes and advances the cursor to the last of them, in
// one transaction, from term's writer. The changes must be contiguous and
// valid (else a plain error, before anything is sent); the first must be
// at cursor.Revision+1 of epoch, else nothing is written and the error is
// ErrFenced (a newer term owns the cursor) or ErrCursorMoved (the cursor
// is elsewhere: read it again).
func (s *Store) Append(ctx context.Context, clusterID string, term uint64, epoch int64, changes []Change) (Cursor, error) {
	if err := checkWriter(clusterID, term); err != nil {
		return Cursor{}, err
	}
	rows, err := encodeChanges(changes)
	if err != nil {
		return Cursor{}, err
	}
	first, last := changes[0].Revision, changes[len(changes)-1].Revision
	var cur Cursor
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		err := scanCursor(tx.QueryRow(ctx, advanceSQL, clusterID, first-1, last, epoch, int64(term)), &cur)
		if errors.Is(err, pgx.ErrNoRows) {
			return errRefused
		}
		if err != nil {
			return err
		}
		if s.afterCursor != nil {
			s.afterCursor()
		}
		n, err := s.insert(ctx, tx, clusterID, epoch, term, rows)
		if err != nil {
			return err
		}
		if n != int64(len(rows)) {
			// Only rows beyond the cursor could collide: never written.
			return fmt.Errorf("wrote %d of %d changes", n, len(rows))
		}
		return nil
	})
	if errors.Is(err, errRefused) {
		return Cursor{}, s.refusal(ctx, "append", clusterID, term, epoch, first)
	}
	if err != nil {
		return Cursor{}, s.wrap(fmt.Sprintf("append revisions %d..%d of %s", first, last, clusterID), err)
	}
	return cur, nil
}

// WriteCheckpoint records cp with the cursor check in the same
// transaction (see Checkpoint). ErrFenced: a newer term owns the cursor;
// ErrCursorMoved: the cursor is not in epoch, or (without NewEpoch) behind
// cp.Revision; ErrNoArchive: no writer claimed the cursor yet.
//
// With NewEpoch, epoch+1 opens at cp.Revision (at or after the cursor:
// epochs never overlap but at their ends) and the cursor moves there; the
// closed epoch keeps the cursor's revision as its end. Without it, the
// checkpoint lies inside the epoch (start .. cursor) and a repeat of one
// already written is a no-op.
func (s *Store) WriteCheckpoint(ctx context.Context, clusterID string, term uint64, epoch int64, cp Checkpoint) (Cursor, error) {
	if err := checkWriter(clusterID, term); err != nil {
		return Cursor{}, err
	}
	if cp.Revision < 0 || len(cp.Snapshot) == 0 || cp.Namespaces < 0 || cp.Shards < 0 {
		return Cursor{}, fmt.Errorf("archive: checkpoint at revision %d: needs a revision >= 0, a snapshot and counts >= 0", cp.Revision)
	}
	var cur Cursor
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		err := scanCursor(tx.QueryRow(ctx, "SELECT "+cursorColumns+" FROM prism_archive.cursor WHERE cluster_id = $1 FOR UPDATE", clusterID), &cur)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			return fmt.Errorf("%w: cluster %s has no cursor (claim it first)", ErrNoArchive, clusterID)
		case err != nil:
			return err
		case cur.Term > term:
			return fencedError(clusterID, cur.Term, term)
		case cur.Epoch != epoch:
			return fmt.Errorf("%w: the cursor of %s is at revision %d of epoch %d, the checkpoint was meant for epoch %d", ErrCursorMoved, clusterID, cur.Revision, cur.Epoch, epoch)
		}
		if cp.NewEpoch {
			return s.openEpoch(ctx, tx, clusterID, term, &cur, cp)
		}
		var start int64
		if err := tx.QueryRow(ctx, "SELECT start_revision FROM prism_archive.epochs WHERE cluster_id = $1 AND epoch = $2", clusterID, epoch).Scan(&start); err != nil {
			return fmt.Errorf("epoch %d: %w", epoch, err)
		}
		switch {
		case cp.Revision > cur.Revision:
			return fmt.Errorf("%w: checkpoint at revision %d is ahead of the cursor of %s at %d", ErrCursorMoved, cp.Revision, clusterID, cur.Revision)
		case cp.Revision < start:
			return fmt.Errorf("archive: checkpoint at revision %d is before epoch %d of %s, which starts at %d", cp.Revision, epoch, clusterID, start)
		}
		if _, err := tx.Exec(ctx, insertCheckpointSQL+" ON CONFLICT DO NOTHING", checkpointArgs(clusterID, epoch, cp)...); err != nil {
			return err
		}
		return scanCursor(tx.QueryRow(ctx, "UPDATE prism_archive.cursor SET term = $2 WHERE cluster_id = $1 RETURNING "+cursorColumns, clusterID, int64(term)), &cur)
	})
	if err != nil {
		return Cursor{}, s.wrap(fmt.Sprintf("checkpoint %s at revision %d", clusterID, cp.Revision), err)
	}
	return cur, nil
}

const insertCheckpointSQL = `INSERT INTO prism_archive.checkpoints (cluster_id, revision, epoch, committed_at, namespaces, shards, snapshot)
VALUES ($1, $2, $3, $4, $5, $6, $7)`

func checkpointArgs(clusterID string, epoch int64, cp Checkpoint) []any {
	return []any{clusterID, cp.Revision, epoch, timeOf(cp.UnixNano), cp.Namespaces, cp.Shards, cp.Snapshot}
}

// openEpoch closes the cursor's epoch at the cursor and opens the next at
// cp.Revision with cp as its base, in tx (the cursor row locked).
func (s *Store) openEpoch(ctx context.Context, tx pgx.Tx, clusterID string, term uint64, cur *Cursor, cp Checkpoint) error {
	if cp.Revision < cur.Revision {
		return fmt.Errorf("archive: a new epoch at revision %d would go back from the cursor of %s at %d", cp.Revision, clusterID, cur.Revision)
	}
	next := cur.Epoch + 1
	if _, err := tx.Exec(ctx, "UPDATE prism_archive.epochs SET end_revision = $3 WHERE cluster_id = $1 AND epoch = $2", clusterID, cur.Epoch, cur.Revision); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, "INSERT INTO prism_archive.epochs (cluster_id, epoch, start_revision, reason, term) VALUES ($1, $2, $3, $4, $5)",
		clusterID, next, cp.Revision, cp.Reason, int64(term)); err != nil {
		return err
	}
	// A checkpoint at the same revision (the epoch opened at the cursor,
	// with nothing missing) is the same state: it becomes the new epoch's.
	if _, err := tx.Exec(ctx, insertCheckpointSQL+` ON CONFLICT (cluster_id, revision) DO UPDATE SET
epoch = EXCLUDED.epoch, committed_at = EXCLUDED.committed_at, created_at = now(),
namespaces = EXCLUDED.namespaces, shards = EXCLUDED.shards, snapshot = EXCLUDED.snapshot`, checkpointArgs(clusterID, next, cp)...); err != nil {
		return err
	}
	s.log.Info("archive epoch opened", "cluster_id", clusterID, "epoch", next, "revision", cp.Revision, "after", cur.Revision, "reason", cp.Reason)
	return scanCursor(tx.QueryRow(ctx, "UPDATE prism_archive.cursor SET revision = $2, epoch = $3, term = $4 WHERE cluster_id = $1 RETURNING "+cursorColumns,
		clusterID, cp.Revision, next, int64(term)), cur)
}

// refusal reads the cursor after a write's condition failed and says why:
// ErrFenced (a newer term owns it) or ErrCursorMoved. epoch and first are
// where the write meant to start (-1: a claim).
func (s *Store) refusal(ctx context.Context, what, clusterID string, term uint64, epoch, first int64) error {
	cur, err := s.Cursor(ctx, clusterID)
	switch {
	case err != nil:
		return fmt.Errorf("%w: %s: the cursor of %s did not match, then reading it failed: %w", ErrCursorMoved, what, clusterID, err)
	case cur.Term > term:
		return fmt.Errorf("%s: %w", what, fencedError(clusterID, cur.Term, term))
	case first < 0:
		return fmt.Errorf("%w: %s: the cursor of %s changed under the claim (now term %d); claim again", ErrCursorMoved, what, clusterID, cur.Term)
	}
	return fmt.Errorf("%w: %s: the cursor of %s is at revision %d of epoch %d; the batch starts at revision %d of epoch %d",
		ErrCursorMoved, what, clusterID, cur.Revision, cur.Epoch, first, epoch)
}

func fencedError(clusterID string, owner, term uint64) error {
	return fmt.Errorf("%w: the archive cursor of %s is owned by term %d; a write from term %d is refused", ErrFenced, clusterID, owner, term)
}

func checkWriter(clusterID string, term uint64) error {
	if clusterID == "" {
		return errors.New("archive: the cluster id is empty")
	}
	if term > math.MaxInt64 {
		return fmt.Errorf("archive: term %d does not fit the archive's bigint", term)
	}
	return nil
}

func scanCursor(row pgx.Row, c *Cursor) error {
	var term int64
	if err := row.Scan(&c.ClusterID, &c.Revision, &term, &c.Epoch, &c.UpdatedAt); err != nil {
		return err
	}
	c.Term = uint64(term)
	return nil
}

// timeOf is a leader's timestamp as a timestamptz (null when unknown).
func timeOf(unixNano int64) *time.Time {
	if unixNano == 0 {
		return nil
	}
	t := time.Unix(0, unixNano).UTC()
	return &t
}
