package archive

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Cursor is where clusterID's archive stands. ErrNoArchive: nothing was
// ever archived for it.
func (s *Store) Cursor(ctx context.Context, clusterID string) (Cursor, error) {
	c, err := readCursor(ctx, s.pool, clusterID)
	return c, s.wrap("read the cursor of "+clusterID, err)
}

func readCursor(ctx context.Context, q querier, clusterID string) (Cursor, error) {
	var c Cursor
	err := scanCursor(q.QueryRow(ctx, "SELECT "+cursorColumns+" FROM prism_archive.cursor WHERE cluster_id = $1", clusterID), &c)
	if errors.Is(err, pgx.ErrNoRows) {
		return c, fmt.Errorf("%w for cluster %s", ErrNoArchive, clusterID)
	}
	return c, err
}

// ClusterSummary is one cluster the archive holds.
type ClusterSummary struct {
	ClusterID string
	Revision  int64 // the head: the cursor's revision
	Epoch     int64
	UpdatedAt time.Time // when the cursor last moved or was claimed
}

// Clusters lists the clusters the archive holds, by id.
func (s *Store) Clusters(ctx context.Context) ([]ClusterSummary, error) {
	rows, err := s.pool.Query(ctx, "SELECT cluster_id, revision, epoch, updated_at FROM prism_archive.cursor ORDER BY cluster_id")
	if err != nil {
		return nil, s.wrap("list clusters", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (ClusterSummary, error) {
		var c ClusterSummary
		err := r.Scan(&c.ClusterID, &c.Revision, &c.Epoch, &c.UpdatedAt)
		return c, err
	})
	return out, s.wrap("list clusters", err)
}

// HistoryEntry is one change of an object.
type HistoryEntry struct {
	Revision    int64
	Epoch       int64
	CommittedAt time.Time // the leader's time (zero: unknown)
	Command     string
	Op          string
	Principal   string
	Object      json.RawMessage // the object after the change (a delete: the last version); nil for none
}

// History lists the changes of the object kind/name (KindNamespace or
// KindShard) in clusterID's archive, newest first, at most limit of them
// (limit <= 0: all). ErrNoArchive: the archive holds nothing of the
// cluster; a name it never saw has no entries.
func (s *Store) History(ctx context.Context, clusterID, kind, name string, limit int) ([]HistoryEntry, error) {
	if kind != KindNamespace && kind != KindShard {
		return nil, fmt.Errorf("archive: history: kind %q: must be %q or %q", kind, KindNamespace, KindShard)
	}
	var lim *int64
	if limit > 0 {
		l := int64(limit)
		lim = &l
	}
	rows, err := s.pool.Query(ctx, `SELECT revision, epoch, committed_at, command, op, principal, object
FROM prism_archive.changes WHERE cluster_id = $1 AND kind = $2 AND name = $3
ORDER BY revision DESC LIMIT $4`, clusterID, kind, name, lim)
	what := fmt.Sprintf("history of %s %s", kind, name)
	if err != nil {
		return nil, s.wrap(what, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (HistoryEntry, error) {
		var e HistoryEntry
		var at *time.Time
		var obj []byte
		if err := r.Scan(&e.Revision, &e.Epoch, &at, &e.Command, &e.Op, &e.Principal, &obj); err != nil {
			return e, err
		}
		if at != nil {
			e.CommittedAt = *at
		}
		if obj != nil {
			e.Object = obj
		}
		return e, nil
	})
	if err != nil {
		return nil, s.wrap(what, err)
	}
	if len(out) == 0 {
		if _, err := s.Cursor(ctx, clusterID); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Epoch is a stretch of contiguous revisions: StartRevision's state is its
// base (a checkpoint; the empty state for epoch 0) and every revision
// StartRevision+1 .. EndRevision is archived.
type Epoch struct {
	Epoch         int64
	StartRevision int64
	EndRevision   int64 // the cursor's revision while Open
	Open          bool  // the cursor's epoch: archiving continues in it
	Reason        string
	Term          uint64 // of the writer that opened it
	CreatedAt     time.Time
}

// Epochs lists clusterID's epochs, oldest first. ErrNoArchive: none.
func (s *Store) Epochs(ctx context.Context, clusterID string) ([]Epoch, error) {
	eps, err := readEpochs(ctx, s.pool, clusterID)
	return eps, s.wrap("epochs of "+clusterID, err)
}

func readEpochs(ctx context.Context, q querier, clusterID string) ([]Epoch, error) {
	rows, err := q.Query(ctx, `SELECT e.epoch, e.start_revision, coalesce(e.end_revision, c.revision), e.end_revision IS NULL,
e.reason, e.term, e.created_at
FROM prism_archive.epochs e JOIN prism_archive.cursor c USING (cluster_id)
WHERE e.cluster_id = $1 ORDER BY e.epoch`, clusterID)
	if err != nil {
		return nil, err
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Epoch, error) {
		var e Epoch
		var term int64
		err := r.Scan(&e.Epoch, &e.StartRevision, &e.EndRevision, &e.Open, &e.Reason, &term, &e.CreatedAt)
		e.Term = uint64(term)
		return e, err
	})
	if err == nil && len(out) == 0 {
		err = fmt.Errorf("%w for cluster %s", ErrNoArchive, clusterID)
	}
	return out, err
}
