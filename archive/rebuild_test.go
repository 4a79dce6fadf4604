package archive

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/prism/controlplane/fsm"
	"github.com/prism/controlplane/fsm/fsmpb"
)

// archive appends changes in batches of at most n.
func archive(tb testing.TB, s *Store, clusterID string, term uint64, epoch int64, changes []Change, n int) Cursor {
	tb.Helper()
	var cur Cursor
	for len(changes) > 0 {
		k := min(n, len(changes))
		var err error
		if cur, err = s.Append(testCtx(tb), clusterID, term, epoch, changes[:k]); err != nil {
			tb.Fatal(err)
		}
		changes = changes[k:]
	}
	return cur
}

// restored is rc written as a snapshot and restored into a new FSM, as
// `snapshot from-archive` then `snapshot restore` do.
func restored(tb testing.TB, rc *fsm.Records) *fsm.FSM {
	tb.Helper()
	sn, err := rc.Snapshot()
	if err != nil {
		tb.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := sn.WriteTo(&buf); err != nil {
		tb.Fatal(err)
	}
	f := fsm.New()
	if err := f.Restore(&buf); err != nil {
		tb.Fatal(err)
	}
	return f
}

// busySource commits a mix of every kind of change: namespaces created,
// updated, activated, assigned, deleted and purged; shards registered,
// changed and removed.
func busySource(t *testing.T, src *source, prefix string, n int) {
	t.Helper()
	shard := prefix + "-shard"
	src.apply(registerShard(shard))
	for i, name := range names(prefix, n) {
		src.apply(putNS(nsSpec(t, name, 10)))
		switch i % 4 {
		case 1:
			src.apply(setStatus(name, statusActive))
			src.apply(assignNS(name, shard))
		case 2:
			src.apply(putNS(nsSpec(t, name, 20)))
		case 3:
			src.apply(deleteNS(name))
			src.apply(setStatus(name, statusDeleted))
			if i%8 == 7 {
				src.apply(purgeNS(name))
			}
		}
	}
	spare := prefix + "-spare"
	src.apply(registerShard(spare))
	src.apply(&fsmpb.Command{Body: &fsmpb.Command_SetShardState{SetShardState: &fsmpb.SetShardState{Id: spare, State: fsmpb.ShardState_SHARD_STATE_DRAINING}}})
	src.apply(removeShard(spare))
}

func TestRebuildIsTheStateAtTheRevision(t *testing.T) {
	s, _ := newStore(t)
	ctx := testCtx(t)
	src := newSource(t)
	if _, err := s.Claim(ctx, "c1", 1); err != nil {
		t.Fatal(err)
	}
	busySource(t, src, "a", 6)
	early, earlyRev := src.frozen(), src.f.Revision()
	busySource(t, src, "a2", 6)
	archive(t, s, "c1", 1, 0, src.since(0), 7)
	if _, err := s.WriteCheckpoint(ctx, "c1", 1, 0, src.checkpoint(false, "")); err != nil {
		t.Fatal(err)
	}
	ckRev := src.f.Revision()
	busySource(t, src, "b", 12)
	middle, middleRev := src.frozen(), src.f.Revision()
	busySource(t, src, "c", 8)
	archive(t, s, "c1", 1, 0, src.since(ckRev), 10)
	head := src.f.Revision()

	for _, tc := range []struct {
		name       string
		rev        int64
		want       *fsm.FSM
		checkpoint int64
	}{
		{"head", 0, src.f, ckRev},
		{"before the checkpoint", earlyRev, early, 0},
		{"at the checkpoint", ckRev, nil, ckRev},
		{"after the checkpoint", middleRev, middle, ckRev},
	} {
		rc, info, err := Rebuild(ctx, s, "c1", tc.rev)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		want := tc.rev
		if want == 0 {
			want = head
		}
		if info.Revision != want || info.Epoch != 0 || info.CheckpointRevision != tc.checkpoint ||
			info.Changes != int(want-tc.checkpoint) || rc.ClusterID != "c1" || rc.Revision != want {
			t.Fatalf("%s: info %+v, records at %d of %q", tc.name, info, rc.Revision, rc.ClusterID)
		}
		if tc.want != nil {
			sameState(t, tc.want, restored(t, rc))
		}
		if g := restored(t, rc); g.ClusterID() != "c1" || g.Revision() != want {
			t.Fatalf("%s: restored cluster %q at %d", tc.name, g.ClusterID(), g.Revision())
		}
	}
}

func TestRebuildAcrossEpochsAndGaps(t *testing.T) {
	s, _ := newStore(t)
	ctx := testCtx(t)
	src := newSource(t)
	if _, err := s.Claim(ctx, "c1", 3); err != nil {
		t.Fatal(err)
	}
	busySource(t, src, "a", 4)
	endOfFirst := src.f.Revision()
	atEnd := src.frozen()
	archive(t, s, "c1", 3, 0, src.since(0), 100)
	// Postgres was away for long: the journal lost what followed, and the
	// archiver opens epoch 1 with a checkpoint.
	busySource(t, src, "b", 4)
	cp := src.checkpoint(true, "the journal no longer held revision "+fmt.Sprint(endOfFirst+1))
	if _, err := s.WriteCheckpoint(ctx, "c1", 3, 0, cp); err != nil {
		t.Fatal(err)
	}
	atStart := src.frozen()
	busySource(t, src, "c", 4)
	archive(t, s, "c1", 3, 1, src.since(cp.Revision), 5)
	head := src.f.Revision()

	inGap := endOfFirst + 2
	_, _, err := Rebuild(ctx, s, "c1", inGap)
	want := fmt.Sprintf("revision %d is not archived: epoch 0 ends at %d, epoch 1 starts at %d", inGap, endOfFirst, cp.Revision)
	if !errors.Is(err, ErrGap) || !strings.Contains(err.Error(), want) {
		t.Fatalf("inside the gap: %v, want %q", err, want)
	}
	if _, _, err := Rebuild(ctx, s, "c1", head+1); !errors.Is(err, ErrGap) || !strings.Contains(err.Error(), fmt.Sprintf("ends at %d", head)) {
		t.Fatalf("beyond the head: %v", err)
	}
	rc, info, err := Rebuild(ctx, s, "c1", endOfFirst)
	if err != nil || info.Epoch != 0 {
		t.Fatalf("end of epoch 0: %+v, %v", info, err)
	}
	sameState(t, atEnd, restored(t, rc))
	rc, info, err = Rebuild(ctx, s, "c1", cp.Revision)
	if err != nil || info.Epoch != 1 || info.Changes != 0 || info.CheckpointRevision != cp.Revision {
		t.Fatalf("start of epoch 1: %+v, %v", info, err)
	}
	sameState(t, atStart, restored(t, rc))
	rc, info, err = Rebuild(ctx, s, "c1", 0)
	if err != nil || info.Epoch != 1 || info.Revision != head || info.Changes != int(head-cp.Revision) {
		t.Fatalf("head: %+v, %v", info, err)
	}
	sameState(t, src.f, restored(t, rc))
	// A revision with no object moves the state's revision alone.
	if _, err := s.Append(ctx, "c1", 3, 1, []Change{{Revision: head + 1, Command: "noop", Op: OpNone}}); err != nil {
		t.Fatal(err)
	}
	rc, info, err = Rebuild(ctx, s, "c1", 0)
	if err != nil || info.Revision != head+1 || info.Changes != int(head+1-cp.Revision) || rc.Revision != head+1 {
		t.Fatalf("after op none: %+v, %v", info, err)
	}
	if g := restored(t, rc); g.Revision() != head+1 {
		t.Fatalf("restored at %d", g.Revision())
	}
}

func TestRebuildRefusesAMissingChange(t *testing.T) {
	s, _ := newStore(t)
	ctx := testCtx(t)
	src := newSource(t)
	if _, _, err := Rebuild(ctx, s, "c1", 0); !errors.Is(err, ErrNoArchive) {
		t.Fatalf("no archive: %v", err)
	}
	if _, err := s.Claim(ctx, "c1", 1); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Rebuild(ctx, s, "c1", 0); !errors.Is(err, ErrNoArchive) {
		t.Fatalf("an archive without revisions: %v", err)
	}
	busySource(t, src, "a", 4)
	head := archive(t, s, "c1", 1, 0, src.since(0), 100).Revision
	for _, rev := range []int64{7, head} {
		if _, err := s.pool.Exec(ctx, "DELETE FROM prism_archive.changes WHERE cluster_id = 'c1' AND revision = $1", rev); err != nil {
			t.Fatal(err)
		}
	}
	_, _, err := Rebuild(ctx, s, "c1", 9)
	if !errors.Is(err, ErrGap) || !strings.Contains(err.Error(), "revision 7 of epoch 0 is missing from the changes (the next archived is 8)") {
		t.Fatalf("a hole: %v", err)
	}
	_, _, err = Rebuild(ctx, s, "c1", 6)
	if err != nil {
		t.Fatalf("below the hole: %v", err)
	}
	_, _, err = Rebuild(ctx, s, "c1", 0)
	if !errors.Is(err, ErrGap) || !strings.Contains(err.Error(), "revision 7") {
		t.Fatalf("the head past a hole: %v", err)
	}
	if _, err := s.pool.Exec(ctx, "UPDATE prism_archive.changes SET revision = 7 WHERE cluster_id = 'c1' AND revision = 8"); err != nil {
		t.Fatal(err)
	}
	_, _, err = Rebuild(ctx, s, "c1", head-1)
	if !errors.Is(err, ErrGap) || !strings.Contains(err.Error(), "revision 8 of epoch 0 is missing") {
		t.Fatalf("a hole moved up: %v", err)
	}
}
