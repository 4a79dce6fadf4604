package fsm

import (
	"errors"
	"strings"
	"testing"

	"github.com/prism/controlplane/fsm/fsmpb"
)

func kafkaSpec(name, cfg string) *fsmpb.NamespaceSpec {
	s := &fsmpb.NamespaceSpec{Name: name, Abstraction: "pubsub", Backend: "kafka"}
	if cfg != "" {
		s.BackendConfigJson = []byte(`{"kafka":` + cfg + `}`)
	}
	return s
}

func setResources(name string, create, spec int64, st fsmpb.NamespaceStatus, rs ...*fsmpb.Resource) *fsmpb.Command {
	return &fsmpb.Command{Body: &fsmpb.Command_SetNamespaceResources{SetNamespaceResources: &fsmpb.SetNamespaceResources{
		Name: name, CreateRevision: create, SpecRevision: spec, Status: st, Reason: "r", Resources: rs}}}
}

func topic(name string, partitions int32) *fsmpb.Resource {
	return &fsmpb.Resource{Backend: "kafka", Kind: "topic", Name: name, Target: "default", State: resReady, Partitions: partitions}
}

// The controller's commits are fenced by incarnation and spec, not by the
// namespace revision: a result for a deleted-and-re-created namespace, or
// for an older spec, changes nothing.
func TestSetNamespaceResourcesFences(t *testing.T) {
	h := newHarness(t)
	r := h.apply(put(kafkaSpec("ev", `{"partitions":4}`), nil))
	create := r.Namespace.CreateRevision
	if got := h.apply(setResources("ev", create+100, 0, statusActive, topic("ev", 4))); !errors.Is(got.Err, ErrRevisionMismatch) {
		t.Fatalf("wrong incarnation: %v", got.Err)
	}
	up := h.apply(put(kafkaSpec("ev", `{"partitions":6}`), nil))
	if up.Namespace.SpecRevision != up.Revision {
		t.Fatalf("spec_revision %d after update at %d", up.Namespace.SpecRevision, up.Revision)
	}
	if got := h.apply(setResources("ev", create, create, statusActive, topic("ev", 4))); !errors.Is(got.Err, ErrRevisionMismatch) {
		t.Fatalf("old spec: %v", got.Err)
	}
	got := h.apply(setResources("ev", create, up.Revision, statusActive, topic("ev", 6)))
	if got.Err != nil || got.Namespace.Status != statusActive || len(got.Namespace.Resources) != 1 {
		t.Fatalf("current spec: %+v", got)
	}
	if again := h.apply(setResources("ev", create, up.Revision, statusActive, topic("ev", 6))); !again.Unchanged {
		t.Fatal("an identical record is not unchanged")
	}
}

func TestProvisionedNamesAndPartitionsAreFixed(t *testing.T) {
	h := newHarness(t)
	r := h.apply(put(kafkaSpec("ev", `{"partitions":8,"topic":"events"}`), nil))
	h.apply(setResources("ev", r.Namespace.CreateRevision, 0, statusActive, topic("events", 8)))
	for _, tc := range []struct{ cfg, path string }{
		{`{"partitions":8,"topic":"other"}`, "backend_config.kafka.topic"},
		{`{"partitions":4,"topic":"events"}`, "backend_config.kafka.partitions"},
		{`{"partitions":8,"topic":"events","target":"other"}`, "backend_config.kafka"},
	} {
		got := h.apply(put(kafkaSpec("ev", tc.cfg), nil))
		var ve *ValidationError
		if !errors.As(got.Err, &ve) || ve.Fields[0].Path != tc.path {
			t.Fatalf("%s: %v", tc.cfg, got.Err)
		}
	}
	// Derived partitions going down is not an error: they never decrease.
	if got := h.apply(put(kafkaSpec("ev", `{"topic":"events"}`), nil)); got.Err != nil {
		t.Fatalf("derived partitions below the current count: %v", got.Err)
	}
}

func TestTwoNamespacesCannotClaimOneResource(t *testing.T) {
	h := newHarness(t)
	h.apply(put(kafkaSpec("a", `{"topic":"shared"}`), nil))
	got := h.apply(put(kafkaSpec("b", `{"topic":"shared"}`), nil))
	if got.Err == nil || !strings.Contains(got.Err.Error(), `already namespace "a"'s`) {
		t.Fatalf("second claim: %v", got.Err)
	}
	// The claim survives a snapshot round trip (the index is rebuilt).
	g, _ := h.roundTrip()
	h2 := &harness{t: t, f: g}
	if got := h2.apply(put(kafkaSpec("b", `{"topic":"shared"}`), nil)); got.Err == nil {
		t.Fatal("claim lost in a snapshot")
	}
	// Once a is gone, b may have it.
	h.apply(del("a"))
	a, _, _ := h.f.Get("a")
	h.apply(setResources("a", a.CreateRevision, 0, statusDeleted))
	if got := h.apply(put(kafkaSpec("b", `{"topic":"shared"}`), nil)); got.Err != nil {
		t.Fatalf("after a was deleted: %v", got.Err)
	}
}

func TestReconcileRequestIsAcknowledged(t *testing.T) {
	h := newHarness(t)
	r := h.apply(put(kafkaSpec("ev", ""), nil))
	req := h.apply(&fsmpb.Command{Body: &fsmpb.Command_ReconcileNamespace{ReconcileNamespace: &fsmpb.ReconcileNamespace{Name: "ev", Recreate: true}}})
	if rr := req.Namespace.GetReconcile(); rr.GetRevision() != req.Revision || !rr.GetRecreate() {
		t.Fatalf("request %v", rr)
	}
	cmd := setResources("ev", r.Namespace.CreateRevision, 0, 0)
	cmd.GetSetNamespaceResources().AckReconcile = req.Revision
	if got := h.apply(cmd); got.Err != nil || got.Namespace.Reconcile != nil {
		t.Fatalf("ack: %+v", got)
	}
}

func TestPasswordInNamespaceIsRefused(t *testing.T) {
	for _, conn := range []string{"postgres://app:s3cret@db/prism", "host=db password=s3cret dbname=prism", "postgres://db/prism?password=s3cret"} {
		s := spec("p")
		s.BackendConfigJson, _ = ConfigJSON(map[string]any{"postgres": map[string]any{"connection_string": conn}})
		errs := ValidateSpec(s)
		if len(errs) != 1 || errs[0].Path != "backend_config.postgres.connection_string" || strings.Contains(errs[0].Message, "s3cret") {
			t.Fatalf("%q: %v", conn, errs)
		}
	}
}

func TestAbstractionABackendCannotServe(t *testing.T) {
	s := spec("p")
	s.Abstraction = "graph"
	errs := ValidateSpec(s)
	if len(errs) != 1 || errs[0].Path != "abstraction" || !strings.Contains(errs[0].Message, "document, keyvalue, queue, timeseries") {
		t.Fatalf("%v", errs)
	}
}
