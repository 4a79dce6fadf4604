package fsm

import (
	"bytes"
	"errors"
	"testing"

	"github.com/prism/controlplane/fsm/fsmpb"
)

func TestRecordsRoundTrip(t *testing.T) {
	h := newHarness(t)
	h.apply(&fsmpb.Command{Body: &fsmpb.Command_SetClusterId{SetClusterId: &fsmpb.SetClusterID{ClusterId: "c1"}}})
	if r := h.apply(put(spec("alpha"), nil)); r.Command != "apply_namespace" || r.UnixNano != 2000 {
		t.Fatalf("result names command %q at %d", r.Command, r.UnixNano)
	}
	h.apply(put(spec("beta"), nil))
	var buf bytes.Buffer
	if _, err := h.f.Snapshot().WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	rc, err := ReadRecords(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if rc.ClusterID != "c1" || rc.Revision != 2 || len(rc.Namespaces) != 2 {
		t.Fatalf("records: id %q rev %d namespaces %d", rc.ClusterID, rc.Revision, len(rc.Namespaces))
	}
	delete(rc.Namespaces, "alpha")
	sn, err := rc.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	buf.Reset()
	if _, err := sn.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	g := New()
	if err := g.Restore(&buf); err != nil {
		t.Fatal(err)
	}
	if g.Revision() != 2 || g.ClusterID() != "c1" {
		t.Fatalf("restored rev %d id %q", g.Revision(), g.ClusterID())
	}
	if _, _, err := g.Get("alpha"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("alpha after delete: %v", err)
	}
	if _, _, err := g.Get("beta"); err != nil {
		t.Fatal(err)
	}
}

func TestRecordsSnapshotChecksRecords(t *testing.T) {
	ns := &fsmpb.Namespace{Spec: spec("alpha"), Status: fsmpb.NamespaceStatus_NAMESPACE_STATUS_ACTIVE, Revision: 5, CreateRevision: 5}
	for name, rc := range map[string]*Records{
		"newer than the header": {Revision: 4, Namespaces: map[string]*fsmpb.Namespace{"alpha": ns}},
		"filed under another":   {Revision: 5, Namespaces: map[string]*fsmpb.Namespace{"beta": ns}},
		"no spec":               {Revision: 5, Shards: map[string]*fsmpb.Shard{"s1": {}}},
	} {
		if _, err := rc.Snapshot(); !errors.Is(err, ErrBadSnapshot) {
			t.Errorf("%s: got %v, want ErrBadSnapshot", name, err)
		}
	}
}
