package archive

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/prism/controlplane/internal/testpg"
)

// The bulk inserts BenchmarkAppend compares; Append uses the fastest
// (copyInsert).
var insertVariants = []struct {
	name   string
	insert insertFunc
}{
	{"copy", copyInsert},
	{"copy-staging", stagingInsert},
	{"batch", batchInsert},
	{"unnest", unnestInsert},
}

var insertChangeSQL = `INSERT INTO prism_archive.changes (cluster_id, revision, epoch, committed_at, command, kind, name, op, object, payload, principal, term)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`

// batchInsert queues one INSERT per row in a pgx.Batch (one round trip).
func batchInsert(ctx context.Context, tx pgx.Tx, clusterID string, epoch int64, term uint64, rows []changeRow) (int64, error) {
	b := &pgx.Batch{}
	for i := range rows {
		b.Queue(insertChangeSQL, rows[i].values(clusterID, epoch, term)...)
	}
	br := tx.SendBatch(ctx, b)
	var n int64
	for range rows {
		ct, err := br.Exec()
		if err != nil {
			br.Close()
			return n, err
		}
		n += ct.RowsAffected()
	}
	return n, br.Close()
}

// stagingInsert copies the rows into a session's temporary table, then
// moves them with INSERT ... SELECT ... ON CONFLICT DO NOTHING.
func stagingInsert(ctx context.Context, tx pgx.Tx, clusterID string, epoch int64, term uint64, rows []changeRow) (int64, error) {
	if _, err := tx.Exec(ctx, `CREATE TEMP TABLE IF NOT EXISTS archive_staging
(LIKE prism_archive.changes INCLUDING DEFAULTS) ON COMMIT DELETE ROWS`); err != nil {
		return 0, err
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"archive_staging"}, changeColumns,
		pgx.CopyFromSlice(len(rows), func(i int) ([]any, error) {
			return rows[i].values(clusterID, epoch, term), nil
		})); err != nil {
		return 0, err
	}
	ct, err := tx.Exec(ctx, "INSERT INTO prism_archive.changes SELECT * FROM archive_staging ON CONFLICT DO NOTHING")
	return ct.RowsAffected(), err
}

// unnestInsert sends the rows as column arrays in one INSERT ... SELECT
// FROM unnest(...).
func unnestInsert(ctx context.Context, tx pgx.Tx, clusterID string, epoch int64, term uint64, rows []changeRow) (int64, error) {
	n := len(rows)
	revs, ats := make([]int64, n), make([]*time.Time, n)
	commands, kinds, names, ops, principals := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	objects, payloads := make([][]byte, n), make([][]byte, n)
	for i, r := range rows {
		revs[i], ats[i], commands[i], kinds[i], names[i], ops[i], principals[i] = r.revision, r.committedAt, r.command, r.kind, r.name, r.op, r.principal
		objects[i], payloads[i] = r.object, r.payload
	}
	ct, err := tx.Exec(ctx, `INSERT INTO prism_archive.changes (cluster_id, revision, epoch, committed_at, command, kind, name, op, object, payload, principal, term)
SELECT $1, r, $2, a, c, k, n, o, j, p, pr, $3
FROM unnest($4::bigint[], $5::timestamptz[], $6::text[], $7::text[], $8::text[], $9::text[], $10::jsonb[], $11::bytea[], $12::text[]) AS u(r, a, c, k, n, o, j, p, pr)`,
		clusterID, epoch, int64(term), revs, ats, commands, kinds, names, ops, objects, payloads, principals)
	return ct.RowsAffected(), err
}

// changeAt is a namespace change at revision rev: the object of a real
// apply (about 512 bytes of spec), renamed per revision.
func benchChanges(tb testing.TB) func(rev int64) Change {
	src := newSource(tb)
	r := src.apply(putNS(nsSpec(tb, "bench", 100)))
	tmpl := ChangeOf(r)
	return func(rev int64) Change {
		c := tmpl
		c.Revision, c.UnixNano = rev, sourceEpoch+rev
		return c
	}
}

func TestInsertVariantsWriteTheSameRows(t *testing.T) {
	s, _ := newStore(t)
	ctx := testCtx(t)
	src := newSource(t)
	src.apply(putNS(nsSpec(t, "alpha", 10)))
	src.apply(registerShard("s1"))
	src.apply(assignNS("alpha", "s1"))
	src.apply(deleteNS("alpha"))
	src.apply(registerShard("s2"))
	src.apply(removeShard("s2"))
	cs := append(src.since(0), Change{Revision: 7, Command: "noop", Op: OpNone})
	for _, v := range insertVariants {
		s.insert = v.insert
		if _, err := s.Claim(ctx, v.name, 1); err != nil {
			t.Fatal(err)
		}
		if cur, err := s.Append(ctx, v.name, 1, 0, cs); err != nil || cur.Revision != 7 {
			t.Fatalf("%s: %+v, %v", v.name, cur, err)
		}
	}
	var differ int
	err := s.pool.QueryRow(ctx, `SELECT count(*) FROM (
SELECT revision, epoch, committed_at, command, kind, name, op, object, payload, principal, term FROM prism_archive.changes WHERE cluster_id <> 'copy'
EXCEPT SELECT revision, epoch, committed_at, command, kind, name, op, object, payload, principal, term FROM prism_archive.changes WHERE cluster_id = 'copy') d`).Scan(&differ)
	if err != nil || differ != 0 {
		t.Fatalf("%d rows differ from copy's, %v", differ, err)
	}
}

// BenchmarkAppend measures Append (one transaction: the cursor's update
// and the rows) with each bulk insert and batch size.
func BenchmarkAppend(b *testing.B) {
	url := testpg.Start(b).CreateDB(b)
	s := openStore(b, testStoreConfig(url))
	ctx := context.Background()
	at := benchChanges(b)
	for _, v := range insertVariants {
		for _, size := range []int{1, 100, 1000} {
			b.Run(fmt.Sprintf("%s/batch=%d", v.name, size), func(b *testing.B) {
				s.insert = v.insert
				id := fmt.Sprintf("%s-%d-%d", v.name, size, b.N)
				cur, err := s.Claim(ctx, id, 1)
				if err != nil {
					b.Fatal(err)
				}
				batch := make([]Change, size)
				b.ResetTimer()
				for range b.N {
					for i := range batch {
						batch[i] = at(cur.Revision + 1 + int64(i))
					}
					if cur, err = s.Append(ctx, id, 1, 0, batch); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.N*size)/b.Elapsed().Seconds(), "rows/s")
			})
		}
	}
}

// BenchmarkEncodeChanges is Append's work before it sends anything (the
// protobuf payload and the JSON object of each change).
func BenchmarkEncodeChanges(b *testing.B) {
	at := benchChanges(b)
	batch := make([]Change, 1000)
	for i := range batch {
		batch[i] = at(int64(i + 1))
	}
	b.ResetTimer()
	for range b.N {
		if _, err := encodeChanges(batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(batch))/b.Elapsed().Seconds(), "rows/s")
}
