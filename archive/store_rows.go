package archive

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// changeRow is a Change as the changes table stores it.
type changeRow struct {
	revision    int64
	committedAt *time.Time
	command     string
	kind        string
	name        string
	op          string
	object      []byte // jsonb; nil for op none
	payload     []byte // nil for op none
	principal   string
}

// encodeChanges checks a batch (non-empty, contiguous revisions from 1 up,
// each change's op and kind agreeing) and encodes its rows.
func encodeChanges(changes []Change) ([]changeRow, error) {
	if len(changes) == 0 {
		return nil, fmt.Errorf("archive: an empty batch")
	}
	rows := make([]changeRow, len(changes))
	for i, c := range changes {
		if i == 0 && c.Revision < 1 {
			return nil, fmt.Errorf("archive: batch starts at revision %d; revisions start at 1", c.Revision)
		}
		if i > 0 && c.Revision != changes[i-1].Revision+1 {
			return nil, fmt.Errorf("archive: batch is not contiguous: revision %d follows %d", c.Revision, changes[i-1].Revision)
		}
		if err := checkChange(c); err != nil {
			return nil, err
		}
		r := changeRow{revision: c.Revision, committedAt: timeOf(c.UnixNano), command: c.Command,
			kind: c.Kind, name: c.Name, op: c.Op, principal: c.Principal}
		var err error
		if r.payload, err = c.Payload(); err != nil {
			return nil, fmt.Errorf("archive: revision %d: payload: %w", c.Revision, err)
		}
		if r.object, err = c.ObjectJSON(); err != nil {
			return nil, fmt.Errorf("archive: revision %d: object: %w", c.Revision, err)
		}
		rows[i] = r
	}
	return rows, nil
}

func checkChange(c Change) error {
	var ok bool
	switch c.Op {
	case OpPut, OpDelete:
		ok = c.Name != "" && (c.Kind == KindNamespace && c.Namespace != nil && c.Shard == nil ||
			c.Kind == KindShard && c.Shard != nil && c.Namespace == nil)
	case OpNone:
		ok = c.Kind == "" && c.Name == "" && c.Namespace == nil && c.Shard == nil
	}
	if !ok {
		return fmt.Errorf("archive: revision %d: op %q of kind %q named %q does not match its object", c.Revision, c.Op, c.Kind, c.Name)
	}
	return nil
}

// insertFunc writes rows of clusterID's epoch from term's writer in tx and
// returns how many it wrote.
type insertFunc func(ctx context.Context, tx pgx.Tx, clusterID string, epoch int64, term uint64, rows []changeRow) (int64, error)

// changeColumns are the columns a batch writes (archived_at takes its
// default).
var changeColumns = []string{"cluster_id", "revision", "epoch", "committed_at", "command", "kind", "name", "op", "object", "payload", "principal", "term"}

func (r *changeRow) values(clusterID string, epoch int64, term uint64) []any {
	return []any{clusterID, r.revision, epoch, r.committedAt, r.command, r.kind, r.name, r.op, r.object, r.payload, r.principal, int64(term)}
}

// copyInsert writes the rows with COPY, straight into the changes table:
// the cursor's conditional update in the same transaction guarantees none
// of them exists (a duplicate would fail the batch, never be skipped).
// Of the bulk inserts BenchmarkAppend compares (COPY straight in, COPY
// into a staging table then INSERT ... SELECT ... ON CONFLICT DO NOTHING,
// a pgx.Batch of INSERTs, one INSERT of unnest(arrays)), it is the fastest
// from 100 rows a batch, where an archiver that lags spends its time; a
// pgx.Batch saves about 0.2 ms on a batch of one row, when nothing lags.
func copyInsert(ctx context.Context, tx pgx.Tx, clusterID string, epoch int64, term uint64, rows []changeRow) (int64, error) {
	return tx.CopyFrom(ctx, pgx.Identifier{Schema, "changes"}, changeColumns,
		pgx.CopyFromSlice(len(rows), func(i int) ([]any, error) {
			return rows[i].values(clusterID, epoch, term), nil
		}))
}
