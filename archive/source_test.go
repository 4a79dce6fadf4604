package archive

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/prism/controlplane/fsm"
	"github.com/prism/controlplane/fsm/fsmpb"
	"github.com/prism/controlplane/internal/testpg"
)

// source is a cluster's state machine without raft: commands applied to a
// real fsm.FSM at increasing indexes, each result recorded by a Journal as
// a node records it, so the changes are exactly what a leader archives.
type source struct {
	tb    testing.TB
	f     *fsm.FSM
	j     *Journal
	index uint64
}

// sourceEpoch is the leader's clock at index 0 (2026-01-01).
const sourceEpoch = int64(1767225600) * int64(time.Second)

func newSource(tb testing.TB) *source {
	return &source{tb: tb, f: fsm.New(), j: NewJournal(10_000_000, 0)}
}

// apply commits c and fails the test on a business error.
func (s *source) apply(c *fsmpb.Command) fsm.Result {
	s.tb.Helper()
	s.index++
	c.UnixNano = sourceEpoch + int64(s.index)*int64(time.Millisecond)
	b, err := fsm.EncodeCommand(c)
	if err != nil {
		s.tb.Fatal(err)
	}
	r := s.f.Apply(s.index, b)
	if r.Err != nil {
		s.tb.Fatalf("apply %s: %v", fsm.BodyName(c), r.Err)
	}
	s.j.Record(r)
	return r
}

// since is every change after revision after.
func (s *source) since(after int64) []Change {
	s.tb.Helper()
	cs, err := s.j.Since(after, 1<<30)
	if err != nil {
		s.tb.Fatal(err)
	}
	return cs
}

// checkpoint is the state now, as the archiver writes it.
func (s *source) checkpoint(newEpoch bool, reason string) Checkpoint {
	s.tb.Helper()
	sn := s.f.Snapshot()
	var buf bytes.Buffer
	if _, err := sn.WriteTo(&buf); err != nil {
		s.tb.Fatal(err)
	}
	nss, _ := s.f.List(fsm.Filter{IncludeDeleted: true})
	_, shs, _ := s.f.State()
	at, _ := s.j.CommittedAt(sn.Revision())
	return Checkpoint{Revision: sn.Revision(), UnixNano: at, Snapshot: buf.Bytes(),
		Namespaces: len(nss), Shards: len(shs), NewEpoch: newEpoch, Reason: reason}
}

// frozen is a copy of the state now, for comparing later.
func (s *source) frozen() *fsm.FSM {
	s.tb.Helper()
	var buf bytes.Buffer
	if _, err := s.f.Snapshot().WriteTo(&buf); err != nil {
		s.tb.Fatal(err)
	}
	g := fsm.New()
	if err := g.Restore(&buf); err != nil {
		s.tb.Fatal(err)
	}
	return g
}

// nsSpec is a namespace spec with about 512 bytes of capacity, access and
// backend_config, as a real one carries.
func nsSpec(tb testing.TB, name string, rps int64) *fsmpb.NamespaceSpec {
	cfg, err := fsm.ConfigJSON(map[string]any{"postgres": map[string]any{
		"schema": "app_" + strings.ReplaceAll(name, "-", "_"), "pool_size": 8,
	}})
	if err != nil {
		tb.Fatal(err)
	}
	access := &fsmpb.Access{Owners: []*fsmpb.Owner{{Kind: "team", Name: "storage-platform"}}}
	for _, svc := range []string{"checkout-api", "billing-worker", "search-indexer", "recommendations",
		"fraud-scoring", "notifications", "analytics-export", "inventory-sync", "order-history", "audit-log"} {
		access.Consumers = append(access.Consumers, &fsmpb.Consumer{Service: svc + "-service-prod", Access: "read-write"})
	}
	return &fsmpb.NamespaceSpec{Name: name, Abstraction: "keyvalue", Backend: "postgres",
		Capacity:          &fsmpb.Capacity{EstimatedReadRps: rps, EstimatedWriteRps: rps / 2, EstimatedDataSizeGb: 12.5},
		Access:            access,
		BackendConfigJson: cfg}
}

func putNS(spec *fsmpb.NamespaceSpec) *fsmpb.Command {
	return &fsmpb.Command{Body: &fsmpb.Command_ApplyNamespace{ApplyNamespace: &fsmpb.ApplyNamespace{Spec: spec}}}
}

func deleteNS(name string) *fsmpb.Command {
	return &fsmpb.Command{Body: &fsmpb.Command_DeleteNamespace{DeleteNamespace: &fsmpb.DeleteNamespace{Name: name}}}
}

func setStatus(name string, st fsmpb.NamespaceStatus) *fsmpb.Command {
	return &fsmpb.Command{Body: &fsmpb.Command_SetNamespaceStatus{SetNamespaceStatus: &fsmpb.SetNamespaceStatus{Name: name, Status: st}}}
}

func purgeNS(name string) *fsmpb.Command {
	return &fsmpb.Command{Body: &fsmpb.Command_PurgeNamespace{PurgeNamespace: &fsmpb.PurgeNamespace{Name: name}}}
}

func registerShard(id string) *fsmpb.Command {
	return &fsmpb.Command{Body: &fsmpb.Command_RegisterShard{RegisterShard: &fsmpb.RegisterShard{Spec: &fsmpb.ShardSpec{
		Id: id, Endpoints: []string{"10.0.0.1:8980"}, Backends: []string{"postgres"},
		Capacity: &fsmpb.ShardCapacity{ReadRps: 50000, WriteRps: 10000, DataGb: 1000}}}}}
}

func removeShard(id string) *fsmpb.Command {
	return &fsmpb.Command{Body: &fsmpb.Command_RemoveShard{RemoveShard: &fsmpb.RemoveShard{Id: id}}}
}

func assignNS(name, shard string) *fsmpb.Command {
	return &fsmpb.Command{Body: &fsmpb.Command_AssignNamespace{AssignNamespace: &fsmpb.AssignNamespace{Name: name, ShardId: shard, Pinned: true}}}
}

const (
	statusActive  = fsmpb.NamespaceStatus_NAMESPACE_STATUS_ACTIVE
	statusDeleted = fsmpb.NamespaceStatus_NAMESPACE_STATUS_DELETED
)

// testStoreConfig has timeouts short enough for tests.
func testStoreConfig(url string) StoreConfig {
	cfg := DefaultStoreConfig()
	cfg.URL = url
	cfg.ConnectTimeout = 2 * time.Second
	return cfg
}

func testLogger(tb testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tbWriter{tb}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tbWriter struct{ tb testing.TB }

func (w tbWriter) Write(p []byte) (int, error) {
	w.tb.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// openStore opens a store on url, closed at the test's cleanup.
func openStore(tb testing.TB, cfg StoreConfig) *Store {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := Open(ctx, cfg, testLogger(tb))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(s.Close)
	return s
}

// newStore is a store on a fresh database of the shared test server.
func newStore(tb testing.TB) (*Store, string) {
	tb.Helper()
	url := testpg.Start(tb).CreateDB(tb)
	return openStore(tb, testStoreConfig(url)), url
}

func testCtx(tb testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	tb.Cleanup(cancel)
	return ctx
}

// sameState fails unless got holds exactly want's namespaces (tombstones
// included), shards and revision.
func sameState(tb testing.TB, want, got *fsm.FSM) {
	tb.Helper()
	wn, wrev := want.List(fsm.Filter{IncludeDeleted: true})
	gn, grev := got.List(fsm.Filter{IncludeDeleted: true})
	if wrev != grev {
		tb.Fatalf("revision %d, want %d", grev, wrev)
	}
	if len(wn) != len(gn) {
		tb.Fatalf("%d namespaces, want %d", len(gn), len(wn))
	}
	for i := range wn {
		if !proto.Equal(wn[i], gn[i]) {
			tb.Fatalf("namespace %s differs:\n got %v\nwant %v", wn[i].Spec.GetName(), gn[i], wn[i])
		}
	}
	_, ws, _ := want.State()
	_, gs, _ := got.State()
	if len(ws) != len(gs) {
		tb.Fatalf("%d shards, want %d", len(gs), len(ws))
	}
	for i := range ws {
		if !proto.Equal(ws[i], gs[i]) {
			tb.Fatalf("shard %s differs:\n got %v\nwant %v", ws[i].Spec.GetId(), gs[i], ws[i])
		}
	}
}

func names(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%06d", prefix, i)
	}
	return out
}
