package checker

import (
	"bytes"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/prism/controlplane/archive"
	"github.com/prism/controlplane/fsm"
	"github.com/prism/controlplane/fsm/fsmpb"
	"github.com/prism/controlplane/jepsen/history"
)

const (
	stProv     = fsmpb.NamespaceStatus_NAMESPACE_STATUS_PROVISIONING
	stActive   = fsmpb.NamespaceStatus_NAMESPACE_STATUS_ACTIVE
	stDeleting = fsmpb.NamespaceStatus_NAMESPACE_STATUS_DELETING
	stDeleted  = fsmpb.NamespaceStatus_NAMESPACE_STATUS_DELETED
)

func arNS(name string, val, rev, createRev int64, st fsmpb.NamespaceStatus) *fsmpb.Namespace {
	return &fsmpb.Namespace{
		Spec: &fsmpb.NamespaceSpec{Name: name, Abstraction: "keyvalue", Backend: "jepsen-unplaced",
			Capacity: &fsmpb.Capacity{EstimatedReadRps: val, EstimatedWriteRps: 1, EstimatedDataSizeGb: 1}},
		Status: st, Revision: rev, CreateRevision: createRev,
	}
}

func arShard(id string, rev int64, st fsmpb.ShardState) *fsmpb.Shard {
	return &fsmpb.Shard{Spec: &fsmpb.ShardSpec{Id: id}, State: st, Revision: rev, CreateRevision: 9}
}

// arRow is the row the archiver writes for a change (as archive.Change
// encodes it).
func arRow(t *testing.T, rev, epoch int64, op string, ns *fsmpb.Namespace, sh *fsmpb.Shard) ArchiveRow {
	t.Helper()
	c := archive.Change{Revision: rev, Op: op, Namespace: ns, Shard: sh}
	if ns != nil {
		c.Kind, c.Name = archive.KindNamespace, ns.Spec.Name
	} else {
		c.Kind, c.Name = archive.KindShard, sh.Spec.Id
	}
	payload, err := c.Payload()
	if err != nil {
		t.Fatal(err)
	}
	obj, err := c.ObjectJSON()
	if err != nil {
		t.Fatal(err)
	}
	return ArchiveRow{Revision: rev, Epoch: epoch, Kind: c.Kind, Name: c.Name, Op: op, Object: obj, Payload: payload}
}

func arRecords(t *testing.T, rev int64, nss []*fsmpb.Namespace, shs []*fsmpb.Shard) *fsm.Records {
	t.Helper()
	rc := &fsm.Records{ClusterID: cid, Revision: rev, Namespaces: map[string]*fsmpb.Namespace{}, Shards: map[string]*fsmpb.Shard{}}
	for _, ns := range nss {
		rc.Namespaces[ns.Spec.Name] = ns
	}
	for _, sh := range shs {
		rc.Shards[sh.Spec.Id] = sh
	}
	// Through the snapshot format, as the runner reads a checkpoint.
	sn, err := rc.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := sn.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	out, err := fsm.ReadRecords(&buf)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// arBase is a consistent archive and history:
//   - epoch 0 (0..0), epoch 1 from an empty checkpoint at 0 with revisions
//     1..7 (reg-0 created, activated, a CAS to 7; set-1 created, deleted,
//     tombstoned, purged) and a periodic checkpoint at 4;
//   - a gap (revisions 8 and 9: a CAS of reg-0 to 8 at 8, shard s1
//     registered at 9), then epoch 2 from a checkpoint at 9 with a CAS of
//     reg-0 to 9 at 10 and shard s1 going down at 11; the cursor at 11.
func arBase(t *testing.T) ([]history.Op, ArchiveSnapshot) {
	t.Helper()
	reg1 := arNS("reg-0", 0, 1, 1, stProv)
	reg2 := arNS("reg-0", 0, 2, 1, stActive)
	reg3 := arNS("reg-0", 7, 3, 1, stActive)
	set4 := arNS("set-1", 1, 4, 4, stProv)
	set5 := arNS("set-1", 1, 5, 4, stDeleting)
	set6 := arNS("set-1", 1, 6, 4, stDeleted)
	reg8 := arNS("reg-0", 8, 8, 1, stActive)
	s9 := arShard("s1", 9, fsmpb.ShardState_SHARD_STATE_UP)
	reg10 := arNS("reg-0", 9, 10, 1, stActive)
	s11 := arShard("s1", 11, fsmpb.ShardState_SHARD_STATE_DOWN)
	ops := []history.Op{
		{Process: 0, Type: history.Init, Key: "reg-0", Outcome: history.OK, Val: 0, Rev: 2},
		{Process: 1, Type: history.CAS, Key: "reg-0", Outcome: history.OK, ExpRev: 2, Val: 7, Rev: 3},
		{Process: 100, Type: history.Create, Key: "set-1", Outcome: history.OK, Rev: 4},
		{Process: 100, Type: history.Delete, Key: "set-1", Outcome: history.OK, Rev: 5},
		{Process: 1, Type: history.CAS, Key: "reg-0", Outcome: history.OK, ExpRev: 3, Val: 8, Rev: 8},
		{Process: 2, Type: history.CAS, Key: "reg-0", Outcome: history.Fail, ExpRev: 3, Val: 55, CurRev: 8},
		{Process: 1, Type: history.CAS, Key: "reg-0", Outcome: history.OK, ExpRev: 8, Val: 9, Rev: 10},
	}
	s := ArchiveSnapshot{
		ClusterID: cid,
		Cursor:    ArchiveCursor{Revision: 11, Epoch: 2, Term: 3},
		Epochs: []ArchiveEpoch{
			{Epoch: 0, Start: 0, End: 0, Reason: "the archive began", Term: 2},
			{Epoch: 1, Start: 0, End: 7, Reason: "the archive starts at the cluster's first revision", Term: 2},
			{Epoch: 2, Start: 9, End: 11, Open: true, Reason: "revisions 8..9 are not in this node's journal (before this node started)", Term: 3},
		},
		Checkpoints: []ArchiveCheckpoint{
			{Revision: 0, Epoch: 1, Records: arRecords(t, 0, nil, nil)},
			{Revision: 4, Epoch: 1, Namespaces: 2, Records: arRecords(t, 4, []*fsmpb.Namespace{reg3, set4}, nil)},
			{Revision: 9, Epoch: 2, Namespaces: 1, Shards: 1, Records: arRecords(t, 9, []*fsmpb.Namespace{reg8}, []*fsmpb.Shard{s9})},
		},
		Rows: []ArchiveRow{
			arRow(t, 1, 1, archive.OpPut, reg1, nil),
			arRow(t, 2, 1, archive.OpPut, reg2, nil),
			arRow(t, 3, 1, archive.OpPut, reg3, nil),
			arRow(t, 4, 1, archive.OpPut, set4, nil),
			arRow(t, 5, 1, archive.OpPut, set5, nil),
			arRow(t, 6, 1, archive.OpPut, set6, nil),
			arRow(t, 7, 1, archive.OpDelete, set6, nil),
			arRow(t, 10, 2, archive.OpPut, reg10, nil),
			arRow(t, 11, 2, archive.OpPut, nil, s11),
		},
		CaughtUp: true, StatusArchived: 11, StatusCluster: 11,
		FinalRevision: 11,
		Namespaces:    map[string]*fsmpb.Namespace{"reg-0": reg10},
		Shards:        map[string]*fsmpb.Shard{"s1": s11},
		Rebuilt:       arRecords(t, 11, []*fsmpb.Namespace{reg10}, []*fsmpb.Shard{s11}),
	}
	return ops, s
}

func TestArchiveCheckers(t *testing.T) {
	type mut func(t *testing.T, ops *[]history.Op, s *ArchiveSnapshot)
	row := func(s *ArchiveSnapshot, rev int64) *ArchiveRow {
		for i := range s.Rows {
			if s.Rows[i].Revision == rev {
				return &s.Rows[i]
			}
		}
		panic("no row")
	}
	drop := func(s *ArchiveSnapshot, rev int64) {
		for i := range s.Rows {
			if s.Rows[i].Revision == rev {
				s.Rows = append(s.Rows[:i], s.Rows[i+1:]...)
				return
			}
		}
	}
	cases := []struct {
		name    string
		mutate  mut
		checker string // "" passes every checker; else this one fails
		want    string // ... with a problem containing this
	}{
		{"consistent", func(*testing.T, *[]history.Op, *ArchiveSnapshot) {}, "", ""},
		{"a revision missing inside an epoch", func(_ *testing.T, _ *[]history.Op, s *ArchiveSnapshot) {
			drop(s, 5)
		}, "archive-contiguous", "epoch 1: revisions 5 are missing"},
		{"the same gap counted", func(_ *testing.T, _ *[]history.Op, s *ArchiveSnapshot) {
			drop(s, 5)
			drop(s, 6)
		}, "archive-once", "epoch 1 holds 5 rows; its span 1..7 has 7 revisions"},
		{"a revision twice", func(_ *testing.T, _ *[]history.Op, s *ArchiveSnapshot) {
			s.Rows = append(s.Rows[:3], append([]ArchiveRow{s.Rows[2]}, s.Rows[3:]...)...)
		}, "archive-once", "revision 3 is archived twice"},
		{"an epoch without a reason", func(_ *testing.T, _ *[]history.Op, s *ArchiveSnapshot) {
			s.Epochs[2].Reason = " "
		}, "archive-contiguous", "epoch 2 (from revision 9) was opened without a reason"},
		{"an epoch without its checkpoint", func(_ *testing.T, _ *[]history.Op, s *ArchiveSnapshot) {
			s.Checkpoints = s.Checkpoints[:2]
		}, "archive-contiguous", "epoch 2 has no checkpoint at its start, revision 9"},
		{"an epoch overlapping the one before", func(_ *testing.T, _ *[]history.Op, s *ArchiveSnapshot) {
			s.Epochs[2].Start = 6
			s.Checkpoints[2].Revision = 6
		}, "archive-contiguous", "epoch 2 starts at revision 6, inside epoch 1"},
		{"the cursor elsewhere", func(_ *testing.T, _ *[]history.Op, s *ArchiveSnapshot) {
			s.Cursor.Revision = 12
		}, "archive-contiguous", "the cursor is at revision 12 of epoch 2"},
		{"a row outside its epoch", func(_ *testing.T, _ *[]history.Op, s *ArchiveSnapshot) {
			row(s, 10).Epoch = 1
		}, "archive-contiguous", "revision 10 is archived in epoch 1, outside its span 1..7"},
		{"a payload that does not decode", func(_ *testing.T, _ *[]history.Op, s *ArchiveSnapshot) {
			row(s, 4).Payload = []byte{0xff, 0xff}
		}, "archive-once", "revision 4 (put namespace \"set-1\"): archive: namespace payload"},
		{"a row naming another object", func(_ *testing.T, _ *[]history.Op, s *ArchiveSnapshot) {
			row(s, 4).Name = "set-2"
		}, "archive-once", "the payload is namespace \"set-1\""},
		{"the jsonb copy differs", func(_ *testing.T, _ *[]history.Op, s *ArchiveSnapshot) {
			row(s, 3).Object = row(s, 2).Object
		}, "archive-once", "revision 3 (put namespace \"reg-0\"): the jsonb object is not the payload's object"},
		{"a put archived with the previous version (the injected bug)", func(t *testing.T, _ *[]history.Op, s *ArchiveSnapshot) {
			r := arRow(t, 10, 2, archive.OpPut, arNS("reg-0", 8, 8, 1, stActive), nil)
			*row(s, 10) = r
		}, "archive-once", "revision 10 (put namespace \"reg-0\"): the archived object is at revision 8"},
		{"the injected bug, to the acknowledged checker", func(t *testing.T, _ *[]history.Op, s *ArchiveSnapshot) {
			*row(s, 10) = arRow(t, 10, 2, archive.OpPut, arNS("reg-0", 8, 8, 1, stActive), nil)
		}, "archive-acknowledged", "acknowledged cas of reg-0 at revision 10 (process 1): wrote value 9, archived 8"},
		{"the injected bug, to the final checker", func(t *testing.T, _ *[]history.Op, s *ArchiveSnapshot) {
			*row(s, 10) = arRow(t, 10, 2, archive.OpPut, arNS("reg-0", 8, 8, 1, stActive), nil)
		}, "archive-final", "replay at 11: namespace reg-0 differs: the cluster has revision 10, active, value 9; the archive revision 8"},
		{"a purge archived as a put", func(t *testing.T, _ *[]history.Op, s *ArchiveSnapshot) {
			row(s, 7).Op = archive.OpPut
		}, "archive-once", "revision 7 (put namespace \"set-1\"): the archived object is at revision 6"},
		{"a delete carrying the wrong version", func(t *testing.T, _ *[]history.Op, s *ArchiveSnapshot) {
			*row(s, 7) = arRow(t, 7, 1, archive.OpDelete, arNS("set-1", 1, 5, 4, stDeleting), nil)
		}, "archive-final", "revision 7 deletes namespace \"set-1\" carrying a version other than the last archived one"},
		{"an op none with an object", func(_ *testing.T, _ *[]history.Op, s *ArchiveSnapshot) {
			row(s, 2).Op = archive.OpNone
		}, "archive-once", "op none carries a kind"},
		{"an acknowledged CAS archived as another object", func(_ *testing.T, ops *[]history.Op, _ *ArchiveSnapshot) {
			(*ops)[1].Rev = 4
		}, "archive-acknowledged", "acknowledged cas of reg-0 at revision 4 (process 1): archived as put of namespace \"set-1\""},
		{"an acknowledged delete archived in another status", func(t *testing.T, _ *[]history.Op, s *ArchiveSnapshot) {
			*row(s, 5) = arRow(t, 5, 1, archive.OpPut, arNS("set-1", 1, 5, 4, stActive), nil)
		}, "archive-acknowledged", "acknowledged delete of set-1 at revision 5 (process 100): archived in status active, not deleting"},
		{"an acknowledged create that is not a new incarnation", func(t *testing.T, _ *[]history.Op, s *ArchiveSnapshot) {
			*row(s, 4) = arRow(t, 4, 1, archive.OpPut, arNS("set-1", 1, 4, 2, stProv), nil)
		}, "archive-acknowledged", "acknowledged create of set-1 at revision 4 (process 100): archived with create revision 2"},
		{"an acknowledged write beyond the head", func(_ *testing.T, ops *[]history.Op, _ *ArchiveSnapshot) {
			*ops = append(*ops, history.Op{Process: 1, Type: history.CAS, Key: "reg-0", Outcome: history.OK, Val: 10, Rev: 12})
		}, "archive-acknowledged", "acknowledged cas of reg-0 at revision 12 (process 1): beyond the archive's head 11"},
		{"a register value nobody wrote", func(t *testing.T, _ *[]history.Op, s *ArchiveSnapshot) {
			*row(s, 2) = arRow(t, 2, 1, archive.OpPut, arNS("reg-0", 55, 2, 1, stActive), nil)
		}, "archive-acknowledged", "revision 2: register reg-0 archived with value 55, which no write wrote"},
		{"a checkpoint that is not the changes before it", func(t *testing.T, _ *[]history.Op, s *ArchiveSnapshot) {
			s.Checkpoints[1].Records = arRecords(t, 4, []*fsmpb.Namespace{arNS("reg-0", 7, 3, 1, stActive)}, nil)
		}, "archive-final", "the checkpoint at 4 differs from the changes before it: namespace set-1 (revision 4, provisioning) is in the changes up to it, not in the checkpoint"},
		{"the archive never caught up", func(_ *testing.T, _ *[]history.Op, s *ArchiveSnapshot) {
			s.CaughtUp, s.StatusArchived, s.StatusError = false, 9, "archive: unreachable"
		}, "archive-final", "the archive never caught up after healing: archived revision 9, cluster revision 11"},
		{"the cluster holds what the archive lacks", func(_ *testing.T, _ *[]history.Op, s *ArchiveSnapshot) {
			s.Namespaces["set-9"] = arNS("set-9", 1, 11, 11, stProv)
		}, "archive-final", "replay at 11: namespace set-9 (revision 11, provisioning) is in the cluster, not in the archive"},
		{"a shard differs", func(_ *testing.T, _ *[]history.Op, s *ArchiveSnapshot) {
			s.Shards["s1"] = arShard("s1", 11, fsmpb.ShardState_SHARD_STATE_SUSPECT)
		}, "archive-final", "shard s1 differs"},
		{"the rebuild differs", func(t *testing.T, _ *[]history.Op, s *ArchiveSnapshot) {
			s.Rebuilt = arRecords(t, 11, nil, []*fsmpb.Shard{arShard("s1", 11, fsmpb.ShardState_SHARD_STATE_DOWN)})
		}, "archive-final", "rebuild at 11: namespace reg-0 (revision 10, active) is in the cluster, not in the archive"},
		{"the rebuild fails", func(_ *testing.T, _ *[]history.Op, s *ArchiveSnapshot) {
			s.Rebuilt, s.RebuildErr = nil, "archive: gap: revision 10 of epoch 2 is missing"
		}, "archive-final", "archive.Rebuild at 11: archive: gap"},
		{"the final revision in a gap", func(t *testing.T, _ *[]history.Op, s *ArchiveSnapshot) {
			s.FinalRevision = 8
			s.Rebuilt = arRecords(t, 8, nil, nil)
		}, "archive-final", "the cluster's final revision 8 is not archived (in no epoch)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ops, s := arBase(t)
			tc.mutate(t, &ops, &s)
			for _, r := range Archive(ops, s) {
				switch {
				case tc.checker == "" || r.Name != tc.checker:
					if tc.checker == "" && !r.OK {
						t.Errorf("%s failed on a consistent archive: %v", r.Name, r.Problems)
					}
				case r.OK:
					t.Errorf("%s passed, want a problem containing %q", r.Name, tc.want)
				case !containsProblem(r.Problems, tc.want):
					t.Errorf("%s problems %q, want one containing %q", r.Name, r.Problems, tc.want)
				}
			}
		})
	}
}

func containsProblem(ps []string, want string) bool {
	for _, p := range ps {
		if strings.Contains(p, want) {
			return true
		}
	}
	return false
}

func TestArchiveContiguousReportsEpochs(t *testing.T) {
	_, s := arBase(t)
	r := ArchiveContiguous(s)
	for _, want := range []string{
		"epoch 1 at 0 after 0 (no gap, term 2): the archive starts at the cluster's first revision",
		"epoch 2 at 9 after 7 (revisions 8..9 not archived, term 3): revisions 8..9 are not in this node's journal",
	} {
		if !strings.Contains(r.Note, want) {
			t.Errorf("note %q lacks %q", r.Note, want)
		}
	}
	a := ArchiveAcknowledged(arBaseOps(t), s)
	if !strings.Contains(a.Note, "5 acknowledged writes with a revision, 1 of them in an epoch gap") {
		t.Errorf("acknowledged note %q", a.Note)
	}
}

func arBaseOps(t *testing.T) []history.Op {
	ops, _ := arBase(t)
	return ops
}

func TestArchiveSecretsRedactedBeforeComparing(t *testing.T) {
	// The cluster holds a secret the archive stores redacted: equal.
	ops, s := arBase(t)
	ns := proto.Clone(s.Namespaces["reg-0"]).(*fsmpb.Namespace)
	ns.Spec.BackendConfigJson = []byte(`{"postgres":{"password":"hunter2"}}`)
	red := archive.Redact(ns)
	if proto.Equal(red, ns) {
		t.Skip("Redact does not change this config: nothing to test")
	}
	s.Namespaces["reg-0"] = ns
	s.Rows[7] = arRow(t, 10, 2, archive.OpPut, ns, nil)
	s.Rebuilt.Namespaces["reg-0"] = red
	for _, r := range Archive(ops, s) {
		if !r.OK {
			t.Errorf("%s: %v", r.Name, r.Problems)
		}
	}
	if bytes.Contains(s.Rows[7].Object, []byte("hunter2")) || bytes.Contains(s.Rows[7].Payload, []byte("hunter2")) {
		t.Errorf("the archived row holds the secret")
	}
}
