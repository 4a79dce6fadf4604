package archive

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/prism/controlplane/internal/testpg"
)

func TestClaimAndAppend(t *testing.T) {
	s, _ := newStore(t)
	ctx := testCtx(t)
	src := newSource(t)
	src.apply(putNS(nsSpec(t, "alpha", 10)))
	src.apply(registerShard("s1"))
	src.apply(assignNS("alpha", "s1"))
	if _, err := s.Cursor(ctx, "c1"); !errors.Is(err, ErrNoArchive) {
		t.Fatalf("cursor before any claim: %v", err)
	}
	cur, err := s.Claim(ctx, "c1", 3)
	if err != nil || cur.Revision != 0 || cur.Epoch != 0 || cur.Term != 3 || cur.ClusterID != "c1" {
		t.Fatalf("claim: %+v, %v", cur, err)
	}
	cur, err = s.Append(ctx, "c1", 3, 0, src.since(0)[:2])
	if err != nil || cur.Revision != 2 {
		t.Fatalf("append 1..2: %+v, %v", cur, err)
	}
	cur, err = s.Append(ctx, "c1", 3, 0, src.since(2))
	if err != nil || cur.Revision != 3 || cur.Term != 3 {
		t.Fatalf("append 3: %+v, %v", cur, err)
	}
	if got, err := s.Cursor(ctx, "c1"); err != nil || got.Revision != 3 || got.Epoch != 0 || got.Term != 3 {
		t.Fatalf("cursor: %+v, %v", got, err)
	}
	type row struct {
		rev                                int64
		kind, name, op, command, principal string
		epoch, term                        int64
		committed                          time.Time
	}
	rows, _ := s.pool.Query(ctx, "SELECT revision, kind, name, op, command, principal, epoch, term, committed_at FROM prism_archive.changes ORDER BY revision")
	got, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (row, error) {
		var x row
		err := r.Scan(&x.rev, &x.kind, &x.name, &x.op, &x.command, &x.principal, &x.epoch, &x.term, &x.committed)
		return x, err
	})
	if err != nil || len(got) != 3 {
		t.Fatalf("rows: %+v, %v", got, err)
	}
	for i, c := range src.since(0) {
		r := got[i]
		if r.rev != c.Revision || r.kind != c.Kind || r.name != c.Name || r.op != c.Op || r.command != c.Command ||
			r.epoch != 0 || r.term != 3 || !r.committed.Equal(time.Unix(0, c.UnixNano)) {
			t.Errorf("row %d: %+v, change %+v", i, r, c)
		}
	}
	if sums, err := s.Clusters(ctx); err != nil || len(sums) != 1 || sums[0].ClusterID != "c1" || sums[0].Revision != 3 {
		t.Fatalf("clusters: %+v, %v", sums, err)
	}
	if eps, err := s.Epochs(ctx, "c1"); err != nil || len(eps) != 1 || !eps[0].Open || eps[0].StartRevision != 0 || eps[0].EndRevision != 3 {
		t.Fatalf("epochs: %+v, %v", eps, err)
	}
}

// countRows is how many changes of clusterID the archive holds, and how
// many of them term wrote.
func countRows(t *testing.T, s *Store, clusterID string, term int64) (all, byTerm int) {
	t.Helper()
	err := s.pool.QueryRow(testCtx(t), "SELECT count(*), count(*) FILTER (WHERE term = $2) FROM prism_archive.changes WHERE cluster_id = $1",
		clusterID, term).Scan(&all, &byTerm)
	if err != nil {
		t.Fatal(err)
	}
	return all, byTerm
}

func TestAppendStartsAtTheCursor(t *testing.T) {
	s, _ := newStore(t)
	ctx := testCtx(t)
	src := newSource(t)
	for _, n := range names("ns", 6) {
		src.apply(putNS(nsSpec(t, n, 10)))
	}
	cs := src.since(0)
	if _, err := s.Claim(ctx, "c1", 1); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, "c1", 1, 0, cs[:3]); err != nil {
		t.Fatal(err)
	}
	// A repeat (an unknown outcome that did commit), a batch past the
	// cursor, and a batch for another epoch: nothing lands.
	for name, tc := range map[string]struct {
		epoch int64
		batch []Change
	}{"repeat": {0, cs[:3]}, "overlap": {0, cs[2:5]}, "ahead": {0, cs[4:]}, "other epoch": {1, cs[3:]}} {
		_, err := s.Append(ctx, "c1", 1, tc.epoch, tc.batch)
		if !errors.Is(err, ErrCursorMoved) || errors.Is(err, ErrFenced) || !strings.Contains(err.Error(), "at revision 3 of epoch 0") {
			t.Errorf("%s: %v", name, err)
		}
	}
	if all, _ := countRows(t, s, "c1", 1); all != 3 {
		t.Fatalf("%d rows after refused batches", all)
	}
	// A batch with a hole, or a change whose op does not match its object,
	// is refused before anything is sent.
	holed := []Change{cs[3], cs[5]}
	if _, err := s.Append(ctx, "c1", 1, 0, holed); err == nil || errors.Is(err, ErrCursorMoved) || !strings.Contains(err.Error(), "not contiguous") {
		t.Fatalf("a batch with a hole: %v", err)
	}
	bad := cs[3]
	bad.Op = OpNone
	if _, err := s.Append(ctx, "c1", 1, 0, []Change{bad}); err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Fatalf("op none with an object: %v", err)
	}
	if _, err := s.Append(ctx, "c1", 1, 0, nil); err == nil {
		t.Fatal("an empty batch was accepted")
	}
	if cur, err := s.Append(ctx, "c1", 1, 0, cs[3:]); err != nil || cur.Revision != 6 {
		t.Fatalf("the batch at the cursor: %+v, %v", cur, err)
	}
	// A revision with no object is archived too.
	none := Change{Revision: 7, UnixNano: 1, Command: "noop", Op: OpNone}
	if cur, err := s.Append(ctx, "c1", 1, 0, []Change{none}); err != nil || cur.Revision != 7 {
		t.Fatalf("op none: %+v, %v", cur, err)
	}
}

func TestOlderTermIsFenced(t *testing.T) {
	s, _ := newStore(t)
	ctx := testCtx(t)
	src := newSource(t)
	for _, n := range names("ns", 4) {
		src.apply(putNS(nsSpec(t, n, 10)))
	}
	cs := src.since(0)
	if _, err := s.Claim(ctx, "c1", 5); err != nil {
		t.Fatal(err)
	}
	// A new leader (term 6) claims and archives while the old one (term
	// 5) still holds its batch.
	if _, err := s.Claim(ctx, "c1", 6); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, "c1", 6, 0, cs[:2]); err != nil {
		t.Fatal(err)
	}
	for name, batch := range map[string][]Change{"at the cursor": cs[2:], "its old start": cs[:2]} {
		_, err := s.Append(ctx, "c1", 5, 0, batch)
		if !errors.Is(err, ErrFenced) || !strings.Contains(err.Error(), "owned by term 6; a write from term 5") {
			t.Errorf("term 5 append %s: %v", name, err)
		}
	}
	if _, err := s.Claim(ctx, "c1", 5); !errors.Is(err, ErrFenced) || !strings.Contains(err.Error(), "term 6") {
		t.Fatalf("term 5 claim: %v", err)
	}
	if all, old := countRows(t, s, "c1", 5); all != 2 || old != 0 {
		t.Fatalf("%d rows, %d of term 5", all, old)
	}
	if cur, _ := s.Cursor(ctx, "c1"); cur.Term != 6 || cur.Revision != 2 {
		t.Fatalf("cursor %+v", cur)
	}
	// An equal term re-claims (a leader restarting its archiver); a newer
	// term may write without claiming.
	if _, err := s.Claim(ctx, "c1", 6); err != nil {
		t.Fatal(err)
	}
	if cur, err := s.Append(ctx, "c1", 7, 0, cs[2:]); err != nil || cur.Term != 7 {
		t.Fatalf("term 7 append: %+v, %v", cur, err)
	}
}

// A writer stalled inside its transaction, holding the cursor row, is cut
// off by idle_in_transaction_session_timeout: the newer writer proceeds,
// and the stalled batch never lands.
func TestStalledWriterIsCutOff(t *testing.T) {
	url := testpg.Start(t).CreateDB(t)
	cfg := testStoreConfig(url)
	cfg.IdleInTransactionTimeout = 300 * time.Millisecond
	cfg.LockTimeout = 10 * time.Second
	old, cur := openStore(t, cfg), openStore(t, cfg)
	ctx := testCtx(t)
	src := newSource(t)
	for _, n := range names("ns", 4) {
		src.apply(putNS(nsSpec(t, n, 10)))
	}
	cs := src.since(0)
	if _, err := old.Claim(ctx, "c1", 5); err != nil {
		t.Fatal(err)
	}
	stalled, resume := make(chan struct{}), make(chan struct{})
	old.afterCursor = func() {
		close(stalled)
		<-resume
	}
	done := make(chan error, 1)
	go func() {
		_, err := old.Append(ctx, "c1", 5, 0, cs[:2])
		done <- err
	}()
	<-stalled
	start := time.Now()
	if _, err := cur.Claim(ctx, "c1", 6); err != nil {
		t.Fatalf("claim behind a stalled writer: %v", err)
	}
	waited := time.Since(start)
	if _, err := cur.Append(ctx, "c1", 6, 0, cs); err != nil {
		t.Fatal(err)
	}
	close(resume)
	err := <-done
	if err == nil {
		t.Fatal("the stalled writer's batch committed")
	}
	t.Logf("the stalled writer, resumed: %v", err)
	if all, old := countRows(t, cur, "c1", 5); all != 4 || old != 0 {
		t.Fatalf("%d rows, %d of term 5", all, old)
	}
	old.afterCursor = nil
	if _, err := old.Append(ctx, "c1", 5, 0, cs[:2]); !errors.Is(err, ErrFenced) {
		t.Fatalf("the stalled writer again: %v", err)
	}
	t.Logf("the newer writer waited %v for the stalled one", waited)
}

func TestTriggerRefusesMovingTheCursorBack(t *testing.T) {
	s, _ := newStore(t)
	ctx := testCtx(t)
	src := newSource(t)
	src.apply(putNS(nsSpec(t, "alpha", 10)))
	src.apply(putNS(nsSpec(t, "beta", 10)))
	if _, err := s.Claim(ctx, "c1", 4); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, "c1", 4, 0, src.since(0)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.WriteCheckpoint(ctx, "c1", 4, 0, src.checkpoint(true, "test")); err != nil {
		t.Fatal(err)
	}
	for _, sql := range []string{
		"UPDATE prism_archive.cursor SET term = 3",
		"UPDATE prism_archive.cursor SET epoch = 0",
		"UPDATE prism_archive.cursor SET revision = 1",
	} {
		_, err := s.pool.Exec(ctx, sql)
		var pg *pgconn.PgError
		if !errors.As(err, &pg) || pg.Code != sqlstateFenced || !errors.Is(s.wrap("update", err), ErrFenced) {
			t.Errorf("%s: %v", sql, err)
		}
	}
	if _, err := s.pool.Exec(ctx, "UPDATE prism_archive.cursor SET revision = 5, term = 9"); err != nil {
		t.Fatalf("moving forward: %v", err)
	}
}

func TestCheckpoints(t *testing.T) {
	s, _ := newStore(t)
	ctx := testCtx(t)
	src := newSource(t)
	for _, n := range names("ns", 3) {
		src.apply(putNS(nsSpec(t, n, 10)))
	}
	if _, err := s.WriteCheckpoint(ctx, "c1", 1, 0, src.checkpoint(false, "")); !errors.Is(err, ErrNoArchive) {
		t.Fatalf("a checkpoint before a claim: %v", err)
	}
	if _, err := s.Claim(ctx, "c1", 2); err != nil {
		t.Fatal(err)
	}
	if _, err := s.WriteCheckpoint(ctx, "c1", 2, 0, src.checkpoint(false, "")); !errors.Is(err, ErrCursorMoved) || !strings.Contains(err.Error(), "ahead of the cursor") {
		t.Fatalf("a checkpoint ahead of the cursor: %v", err)
	}
	if _, err := s.Append(ctx, "c1", 2, 0, src.since(0)); err != nil {
		t.Fatal(err)
	}
	cp := src.checkpoint(false, "periodic")
	for i := range 2 { // a repeat is a no-op
		if cur, err := s.WriteCheckpoint(ctx, "c1", 2, 0, cp); err != nil || cur.Revision != 3 || cur.Epoch != 0 {
			t.Fatalf("checkpoint %d: %+v, %v", i, cur, err)
		}
	}
	if _, err := s.WriteCheckpoint(ctx, "c1", 1, 0, cp); !errors.Is(err, ErrFenced) {
		t.Fatalf("an older term's checkpoint: %v", err)
	}
	if _, err := s.WriteCheckpoint(ctx, "c1", 2, 1, cp); !errors.Is(err, ErrCursorMoved) {
		t.Fatalf("a checkpoint for another epoch: %v", err)
	}

	// The journal lost revisions 4..9 (say): a new epoch opens at 10.
	for _, n := range names("more", 7) {
		src.apply(putNS(nsSpec(t, n, 10)))
	}
	gapped := src.checkpoint(true, "the journal was compacted")
	cur, err := s.WriteCheckpoint(ctx, "c1", 2, 0, gapped)
	if err != nil || cur.Revision != 10 || cur.Epoch != 1 {
		t.Fatalf("a new epoch: %+v, %v", cur, err)
	}
	if _, err := s.Append(ctx, "c1", 2, 0, src.since(3)[:1]); !errors.Is(err, ErrCursorMoved) {
		t.Fatalf("an append to the closed epoch: %v", err)
	}
	src.apply(setStatus("ns-000000", statusActive))
	if cur, err := s.Append(ctx, "c1", 2, 1, src.since(10)); err != nil || cur.Revision != 11 {
		t.Fatalf("append in the new epoch: %+v, %v", cur, err)
	}
	eps, err := s.Epochs(ctx, "c1")
	if err != nil || len(eps) != 2 {
		t.Fatalf("epochs %+v, %v", eps, err)
	}
	if e := eps[0]; e.Open || e.StartRevision != 0 || e.EndRevision != 3 {
		t.Errorf("epoch 0: %+v", e)
	}
	if e := eps[1]; !e.Open || e.StartRevision != 10 || e.EndRevision != 11 || e.Reason != "the journal was compacted" || e.Term != 2 {
		t.Errorf("epoch 1: %+v", e)
	}
	if _, err := s.WriteCheckpoint(ctx, "c1", 2, 1, cp); err == nil || !strings.Contains(err.Error(), "before epoch 1") {
		t.Fatalf("a checkpoint before its epoch: %v", err)
	}
	back := cp
	back.NewEpoch = true
	if _, err := s.WriteCheckpoint(ctx, "c1", 2, 1, back); err == nil || !strings.Contains(err.Error(), "go back") {
		t.Fatalf("a new epoch behind the cursor: %v", err)
	}
	// A new epoch at the cursor takes over a checkpoint already there.
	at := src.checkpoint(false, "")
	if _, err := s.WriteCheckpoint(ctx, "c1", 2, 1, at); err != nil {
		t.Fatal(err)
	}
	at.NewEpoch, at.Reason = true, "restored"
	if cur, err := s.WriteCheckpoint(ctx, "c1", 2, 1, at); err != nil || cur.Epoch != 2 || cur.Revision != 11 {
		t.Fatalf("a new epoch at the cursor: %+v, %v", cur, err)
	}
	var n int
	var epoch int64
	if err := s.pool.QueryRow(ctx, "SELECT count(*), max(epoch) FROM prism_archive.checkpoints WHERE revision = 11").Scan(&n, &epoch); err != nil || n != 1 || epoch != 2 {
		t.Fatalf("checkpoint at 11: %d rows, epoch %d, %v", n, epoch, err)
	}
}

func TestHistory(t *testing.T) {
	s, _ := newStore(t)
	ctx := testCtx(t)
	src := newSource(t)
	src.apply(putNS(nsSpec(t, "alpha", 10)))
	src.apply(putNS(nsSpec(t, "beta", 10)))
	src.apply(setStatus("alpha", statusActive))
	src.apply(putNS(nsSpec(t, "alpha", 20)))
	src.apply(deleteNS("alpha"))
	src.apply(setStatus("alpha", statusDeleted))
	src.apply(purgeNS("alpha"))
	if _, err := s.History(ctx, "c1", KindNamespace, "alpha", 0); !errors.Is(err, ErrNoArchive) {
		t.Fatalf("history of an empty archive: %v", err)
	}
	if _, err := s.Claim(ctx, "c1", 1); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, "c1", 1, 0, src.since(0)); err != nil {
		t.Fatal(err)
	}
	h, err := s.History(ctx, "c1", KindNamespace, "alpha", 0)
	if err != nil {
		t.Fatal(err)
	}
	var revs []int64
	for _, e := range h {
		revs = append(revs, e.Revision)
	}
	if want := []int64{7, 6, 5, 4, 3, 1}; len(revs) != len(want) || revs[0] != 7 || revs[5] != 1 {
		t.Fatalf("revisions %v, want %v", revs, want)
	}
	var obj struct{ Status string }
	if e := h[0]; e.Op != OpDelete || e.Command != "purge_namespace" || e.CommittedAt.IsZero() || json.Unmarshal(e.Object, &obj) != nil || obj.Status != "deleted" {
		t.Fatalf("newest entry %+v %s", e, e.Object)
	}
	if e := h[5]; e.Op != OpPut || e.Command != "apply_namespace" || !e.CommittedAt.Equal(time.Unix(0, src.since(0)[0].UnixNano)) {
		t.Fatalf("oldest entry %+v", e)
	}
	if h, err := s.History(ctx, "c1", KindNamespace, "alpha", 2); err != nil || len(h) != 2 || h[1].Revision != 6 {
		t.Fatalf("limit 2: %+v, %v", h, err)
	}
	if h, err := s.History(ctx, "c1", KindNamespace, "gamma", 0); err != nil || len(h) != 0 {
		t.Fatalf("a name never seen: %+v, %v", h, err)
	}
	if _, err := s.History(ctx, "c1", "table", "alpha", 0); err == nil {
		t.Fatal("an unknown kind was accepted")
	}
	// SQL users query the objects.
	var active []string
	rows, _ := s.pool.Query(ctx, `SELECT name || '@' || revision FROM prism_archive.changes
WHERE cluster_id = 'c1' AND object->>'status' = 'active' ORDER BY revision`)
	active, err = pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil || len(active) != 2 || active[0] != "alpha@3" || active[1] != "alpha@4" {
		t.Fatalf("active objects: %v, %v", active, err)
	}
	var rps int64
	if err := s.pool.QueryRow(ctx, `SELECT (object->'capacity'->>'estimated_read_rps')::bigint FROM prism_archive.changes
WHERE cluster_id = 'c1' AND revision = 4`).Scan(&rps); err != nil || rps != 20 {
		t.Fatalf("capacity at revision 4: %d, %v", rps, err)
	}
}
