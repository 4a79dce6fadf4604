package fsm

import (
	"bytes"
	"errors"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/prism/controlplane/fsm/fsmpb"
)

func spec(name string) *fsmpb.NamespaceSpec {
	return &fsmpb.NamespaceSpec{Name: name, Abstraction: "keyvalue", Backend: "postgres",
		Capacity: &fsmpb.Capacity{EstimatedReadRps: 10}}
}

// harness applies commands at increasing raft indexes with a fixed clock.
type harness struct {
	t     *testing.T
	f     *FSM
	index uint64
}

func newHarness(t *testing.T) *harness { return &harness{t: t, f: New()} }

func (h *harness) apply(c *fsmpb.Command) Result {
	h.t.Helper()
	h.index++
	c.UnixNano = int64(h.index) * 1000
	b, err := EncodeCommand(c)
	if err != nil {
		h.t.Fatal(err)
	}
	return h.f.Apply(h.index, b)
}

// roundTrip writes a snapshot of the harness' state and restores it into a
// new FSM.
func (h *harness) roundTrip() (*FSM, *bytes.Buffer) {
	h.t.Helper()
	var buf bytes.Buffer
	if _, err := h.f.Snapshot().WriteTo(&buf); err != nil {
		h.t.Fatal(err)
	}
	g := New()
	if err := g.Restore(bytes.NewReader(buf.Bytes())); err != nil {
		h.t.Fatal(err)
	}
	return g, &buf
}

func put(s *fsmpb.NamespaceSpec, expected *int64) *fsmpb.Command {
	return &fsmpb.Command{Body: &fsmpb.Command_ApplyNamespace{ApplyNamespace: &fsmpb.ApplyNamespace{Spec: s, ExpectedRevision: expected}}}
}

func del(name string) *fsmpb.Command {
	return &fsmpb.Command{Body: &fsmpb.Command_DeleteNamespace{DeleteNamespace: &fsmpb.DeleteNamespace{Name: name}}}
}

func setStatus(name string, st fsmpb.NamespaceStatus, ifRev int64) *fsmpb.Command {
	return &fsmpb.Command{Body: &fsmpb.Command_SetNamespaceStatus{SetNamespaceStatus: &fsmpb.SetNamespaceStatus{Name: name, Status: st, IfRevision: ifRev}}}
}

func i64(v int64) *int64 { return &v }

func TestApplyCreateUpdateUnchanged(t *testing.T) {
	h := newHarness(t)
	r := h.apply(put(spec("a"), nil))
	if r.Err != nil || r.Revision != 1 || r.Namespace.Status != statusProvisioning || r.Namespace.CreateRevision != 1 {
		t.Fatalf("create: %+v", r)
	}
	if r.Namespace.CreatedUnixNano != 1000 {
		t.Fatalf("leader time not recorded: %d", r.Namespace.CreatedUnixNano)
	}
	r = h.apply(put(spec("a"), nil))
	if r.Err != nil || !r.Unchanged || r.Revision != 1 {
		t.Fatalf("identical apply should change nothing: %+v", r)
	}
	s := spec("a")
	s.Capacity.EstimatedReadRps = 20
	r = h.apply(put(s, nil))
	if r.Err != nil || r.Revision != 2 || r.Namespace.CreateRevision != 1 || r.Namespace.Revision != 2 {
		t.Fatalf("update: %+v", r)
	}
	if got := h.f.Revision(); got != 2 {
		t.Fatalf("revision %d, want 2", got)
	}
}

func TestApplyExpectedRevision(t *testing.T) {
	h := newHarness(t)
	if r := h.apply(put(spec("a"), i64(0))); r.Err != nil {
		t.Fatalf("create-if-absent: %v", r.Err)
	}
	r := h.apply(put(spec("a"), i64(0)))
	var re *RevisionError
	if !errors.As(r.Err, &re) || re.Current != 1 || !errors.Is(r.Err, ErrRevisionMismatch) {
		t.Fatalf("want revision mismatch with current 1, got %v", r.Err)
	}
	s := spec("a")
	s.Backend = "postgres"
	s.Capacity.EstimatedWriteRps = 5
	if r := h.apply(put(s, i64(1))); r.Err != nil || r.Revision != 2 {
		t.Fatalf("conditional update: %+v", r)
	}
	if h.f.Revision() != 2 {
		t.Fatal("failed commands must not bump the revision")
	}
}

func TestApplyImmutableFieldsAndInvalid(t *testing.T) {
	h := newHarness(t)
	h.apply(put(spec("a"), nil))
	s := spec("a")
	s.Backend = "kafka"
	s.Abstraction = "queue"
	r := h.apply(put(s, nil))
	var ve *ValidationError
	if !errors.As(r.Err, &ve) || len(ve.Fields) != 2 {
		t.Fatalf("want 2 field errors, got %v", r.Err)
	}
	r = h.apply(put(&fsmpb.NamespaceSpec{Name: "Bad_Name"}, nil))
	if !errors.Is(r.Err, ErrInvalid) {
		t.Fatalf("invalid spec applied: %v", r.Err)
	}
	if h.f.Revision() != 1 {
		t.Fatalf("revision %d after rejected commands", h.f.Revision())
	}
}

func TestLifecycle(t *testing.T) {
	h := newHarness(t)
	h.apply(put(spec("a"), nil))
	// A reconciler acting on an old revision is refused.
	if r := h.apply(setStatus("a", statusActive, 99)); !errors.Is(r.Err, ErrRevisionMismatch) {
		t.Fatalf("stale status change: %v", r.Err)
	}
	if r := h.apply(setStatus("a", statusActive, 1)); r.Err != nil || r.Namespace.Status != statusActive {
		t.Fatalf("activate: %+v", r)
	}
	if r := h.apply(setStatus("a", statusDeleted, 0)); !errors.Is(r.Err, ErrFailedPrecondition) {
		t.Fatalf("active → deleted must be refused: %v", r.Err)
	}
	r := h.apply(del("a"))
	if r.Err != nil || r.Namespace.Status != statusDeleting {
		t.Fatalf("delete: %+v", r)
	}
	if r := h.apply(put(spec("a"), nil)); !errors.Is(r.Err, ErrFailedPrecondition) {
		t.Fatalf("apply while deleting: %v", r.Err)
	}
	if r := h.apply(del("a")); r.Err != nil || !r.Unchanged {
		t.Fatalf("second delete should be a no-op: %+v", r)
	}
	r = h.apply(setStatus("a", statusDeleted, 0))
	if r.Err != nil || r.Namespace.DeletedUnixNano == 0 {
		t.Fatalf("deleted: %+v", r)
	}
	if _, _, err := h.f.Get("a"); err != nil {
		t.Fatal("tombstone must stay readable")
	}
	if list, _ := h.f.List(Filter{}); len(list) != 0 {
		t.Fatal("tombstones are not listed by default")
	}
	if r := h.apply(del("a")); !errors.Is(r.Err, ErrNotFound) {
		t.Fatalf("deleting a tombstone: %v", r.Err)
	}
	purge := &fsmpb.Command{Body: &fsmpb.Command_PurgeNamespace{PurgeNamespace: &fsmpb.PurgeNamespace{Name: "a", IfRevision: r.Revision}}}
	if r := h.apply(purge); r.Err != nil {
		t.Fatalf("purge: %v", r.Err)
	}
	if _, _, err := h.f.Get("a"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("purged namespace still there: %v", err)
	}
	// The name can be used again, with a new create revision.
	r = h.apply(put(spec("a"), i64(0)))
	if r.Err != nil || r.Namespace.CreateRevision != r.Revision {
		t.Fatalf("re-create: %+v", r)
	}
}

func TestRevisionStrictlyIncreasing(t *testing.T) {
	h := newHarness(t)
	var last int64
	for i := 0; i < 50; i++ {
		s := spec("a")
		s.Capacity.EstimatedReadRps = int64(i + 100)
		r := h.apply(put(s, nil))
		if r.Revision <= last || r.Namespace.Revision != r.Revision {
			t.Fatalf("revision %d after %d", r.Revision, last)
		}
		last = r.Revision
	}
}

func TestUnknownCommand(t *testing.T) {
	// A body this binary does not know decodes as an unknown field.
	unknown := []byte{EntryVersion}
	unknown = append(unknown, 0xfa, 0x06, 0x00) // field 111, length 0
	ign, _ := proto.Marshal(&fsmpb.Command{Ignorable: true})
	ignorable := append([]byte{EntryVersion}, append(ign, 0xfa, 0x06, 0x00)...)

	f := New()
	r := f.Apply(1, ignorable)
	if !errors.Is(r.Err, ErrUnknownCommand) || f.Index() != 1 {
		t.Fatalf("ignorable unknown command: %+v", r)
	}
	defer func() {
		if recover() == nil {
			t.Fatal("a non-ignorable unknown command must panic")
		}
	}()
	f.Apply(2, unknown)
}

func TestDecodeRejectsOtherVersions(t *testing.T) {
	if _, err := DecodeCommand([]byte{9, 1, 2}); !errors.Is(err, ErrBadEntry) {
		t.Fatalf("got %v", err)
	}
	if _, err := DecodeCommand(nil); !errors.Is(err, ErrBadEntry) {
		t.Fatalf("got %v", err)
	}
}

func TestDuplicateRegistrationPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("duplicate registration must panic")
		}
	}()
	register("noop", applyNoop)
}

// TestSnapshotRoundTripNamespaces is the round trip of the namespaces table.
func TestSnapshotRoundTripNamespaces(t *testing.T) {
	h := newHarness(t)
	for _, n := range []string{"c", "a", "b"} {
		h.apply(put(spec(n), nil))
	}
	h.apply(setStatus("a", statusActive, 2))
	h.apply(del("b"))
	g, buf := h.roundTrip()
	if g.Index() != h.f.Index() || g.Revision() != h.f.Revision() {
		t.Fatalf("header: index %d/%d revision %d/%d", g.Index(), h.f.Index(), g.Revision(), h.f.Revision())
	}
	want, _ := h.f.List(Filter{IncludeDeleted: true})
	got, _ := g.List(Filter{IncludeDeleted: true})
	if len(got) != len(want) {
		t.Fatalf("%d namespaces restored, want %d", len(got), len(want))
	}
	for i := range want {
		if !proto.Equal(got[i], want[i]) {
			t.Fatalf("namespace %d differs:\n got %v\nwant %v", i, got[i], want[i])
		}
	}
	// Snapshots are deterministic: the same state writes the same bytes.
	var again bytes.Buffer
	if _, err := g.Snapshot().WriteTo(&again); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), again.Bytes()) {
		t.Fatal("restored state writes a different snapshot")
	}
	idx, rev, counts, err := SnapshotInfo(bytes.NewReader(buf.Bytes()))
	if err != nil || idx != h.f.Index() || rev != h.f.Revision() || counts["namespaces"] != 3 {
		t.Fatalf("info: %d %d %v %v", idx, rev, counts, err)
	}
}

func TestRestoreRejectsCorruptSnapshots(t *testing.T) {
	h := newHarness(t)
	h.apply(put(spec("a"), nil))
	var buf bytes.Buffer
	h.f.Snapshot().WriteTo(&buf)
	b := buf.Bytes()
	for _, bad := range [][]byte{nil, b[:len(b)-1], b[:5], append([]byte{7}, b...)} {
		if err := New().Restore(bytes.NewReader(bad)); err == nil {
			t.Fatalf("corrupt snapshot of %d bytes accepted", len(bad))
		}
	}
}

// TestReplicasAgree: the same log gives byte-identical state.
func TestReplicasAgree(t *testing.T) {
	var snaps [2][]byte
	for k := range snaps {
		h := newHarness(t)
		for i := 0; i < 20; i++ {
			s := spec("n" + string(rune('a'+i%5)))
			s.Capacity.EstimatedReadRps = int64(i)
			h.apply(put(s, nil))
			if i%7 == 0 {
				h.apply(del(s.Name))
			}
		}
		var buf bytes.Buffer
		h.f.Snapshot().WriteTo(&buf)
		snaps[k] = buf.Bytes()
	}
	if !bytes.Equal(snaps[0], snaps[1]) {
		t.Fatal("two replicas of the same log differ")
	}
}

func TestClusterIDFirstWins(t *testing.T) {
	h := newHarness(t)
	set := func(id string) Result {
		return h.apply(&fsmpb.Command{Body: &fsmpb.Command_SetClusterId{SetClusterId: &fsmpb.SetClusterID{ClusterId: id}}})
	}
	if r := set("one"); r.Err != nil || r.Unchanged {
		t.Fatalf("first id: %+v", r)
	}
	if r := set("two"); !r.Unchanged || h.f.ClusterID() != "one" {
		t.Fatalf("second id replaced the first: %q", h.f.ClusterID())
	}
	if h.f.Revision() != 0 {
		t.Fatal("cluster id is not a revisioned change")
	}
	var buf bytes.Buffer
	h.f.Snapshot().WriteTo(&buf)
	g := New()
	if err := g.Restore(&buf); err != nil || g.ClusterID() != "one" {
		t.Fatalf("cluster id after restore: %q %v", g.ClusterID(), err)
	}
}

func TestCloneCopiesEveryField(t *testing.T) {
	ns := &fsmpb.Namespace{Spec: spec("a"), Status: statusActive, StatusReason: "r", ShardId: "s",
		Revision: 2, CreateRevision: 1, CreatedUnixNano: 3, UpdatedUnixNano: 4, DeletedUnixNano: 5, Pinned: true,
		Move: &fsmpb.NamespaceMove{From: "s", To: "t", Phase: fsmpb.MovePhase_MOVE_PHASE_SHADOW, StartedUnixNano: 6}, CoolingSinceRevision: 2,
		Resources:    []*fsmpb.Resource{{Backend: "postgres", Kind: "table", Name: "public.a", State: fsmpb.ResourceState_RESOURCE_STATE_READY}},
		SpecRevision: 1, Reconcile: &fsmpb.ReconcileRequest{Revision: 2, Recreate: true}}
	// Every field is set above: a new field must be added there and to clone.
	fields := ns.ProtoReflect().Descriptor().Fields()
	for i := 0; i < fields.Len(); i++ {
		if !ns.ProtoReflect().Has(fields.Get(i)) {
			t.Fatalf("test does not set field %s", fields.Get(i).Name())
		}
	}
	if c := clone(ns); !proto.Equal(c, ns) {
		t.Fatalf("clone lost a field:\n%v\n%v", c, ns)
	}
}
