package archive_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/prism/controlplane/archive"
	"github.com/prism/controlplane/cluster"
	"github.com/prism/controlplane/fsm/fsmpb"
	"github.com/prism/controlplane/internal/server"
	"github.com/prism/controlplane/internal/testcluster"
	"github.com/prism/controlplane/internal/testpg"
	"github.com/prism/controlplane/rpc/rpcpb"
)

// holdingSink holds one Append of the armed term until released, then
// sends it to Postgres anyway (with a context no leadership change
// cancels): a paused old leader's late batch.
type holdingSink struct {
	archive.Backend
	mu      sync.Mutex
	term    uint64
	held    chan []archive.Change // receives the held batch
	release chan struct{}
	result  chan error
}

func (s *holdingSink) arm(term uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.term = term
	s.held, s.release, s.result = make(chan []archive.Change, 1), make(chan struct{}), make(chan error, 1)
}

func (s *holdingSink) Append(ctx context.Context, id string, term uint64, epoch int64, cs []archive.Change) (archive.Cursor, error) {
	s.mu.Lock()
	hold := s.term != 0 && term == s.term
	if hold {
		s.term = 0
	}
	held, release, result := s.held, s.release, s.result
	s.mu.Unlock()
	if !hold {
		return s.Backend.Append(ctx, id, term, epoch, cs)
	}
	held <- cs
	<-release
	cur, err := s.Backend.Append(context.Background(), id, term, epoch, cs)
	result <- err
	return cur, err
}

func storeConfig(url string) archive.StoreConfig {
	cfg := archive.DefaultStoreConfig()
	cfg.URL = url
	return cfg
}

type row struct {
	revision, epoch int64
	kind, name, op  string
	term            int64
	payload         []byte
}

func readRows(t *testing.T, url, clusterID string) []row {
	t.Helper()
	ctx := testcluster.Ctx(t, 30*time.Second)
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT revision, epoch, kind, name, op, term, payload FROM prism_archive.changes WHERE cluster_id = $1 ORDER BY revision`, clusterID)
	if err != nil {
		t.Fatal(err)
	}
	var out []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.revision, &r.epoch, &r.kind, &r.name, &r.op, &r.term, &r.payload); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// committed is what a watch from the start saw: every revision's event.
type committed struct {
	mu     sync.Mutex
	events map[int64]*rpcpb.WatchEvent
}

func (c *committed) add(e *rpcpb.WatchEvent) error {
	if e.Type != "put" && e.Type != "delete" {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, dup := c.events[e.Revision]; dup {
		return fmt.Errorf("revision %d twice on the watch", e.Revision)
	}
	c.events[e.Revision] = e
	return nil
}

func waitArchived(t *testing.T, c *testcluster.Cluster, d time.Duration) archive.Status {
	t.Helper()
	var st archive.Status
	testcluster.Eventually(t, d, func() error {
		l := c.Leader()
		if l < 0 {
			return errors.New("no leader")
		}
		var ok bool
		st, ok = c.Servers[l].Node.ArchiveStatus()
		if !ok || !st.Running {
			return errors.New("the leader's archiver is not running")
		}
		if st.ArchivedRevision != st.ClusterRevision || st.ClusterRevision == 0 {
			return fmt.Errorf("archived %d of %d (last error %q)", st.ArchivedRevision, st.ClusterRevision, st.LastError)
		}
		return nil
	})
	return st
}

// TestArchiveHoldsEveryRevisionOnceThroughFaults: under a write load,
// Postgres crashes and comes back, the leader is killed, and a leader's
// batch is held while another node takes over and archives past it; then
// the archive holds every revision from the first to the last exactly
// once, each equal to what the cluster committed, and the held batch was
// refused inside Postgres.
func TestArchiveHoldsEveryRevisionOnceThroughFaults(t *testing.T) {
	pg := testpg.StartPrivate(t)
	url := pg.CreateDB(t)
	store, err := archive.Open(testcluster.Ctx(t, 30*time.Second), storeConfig(url), testcluster.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	sink := &holdingSink{Backend: store}
	c := testcluster.StartWithBackends(t, 3, func(cc *cluster.Config) {
		cc.Archive.RetryMin, cc.Archive.RetryMax = 50*time.Millisecond, 500*time.Millisecond
		cc.Archive.CheckpointEvery = 150
	}, &server.Backends{Archive: sink})
	cl := c.Client()
	defer cl.Close()
	ctx, cancel := context.WithCancel(testcluster.Ctx(t, 3*time.Minute))
	defer cancel()

	seen := &committed{events: map[int64]*rpcpb.WatchEvent{}}
	watchDone := make(chan error, 1)
	go func() {
		watchDone <- cl.Watch(ctx, &rpcpb.WatchRequest{FromRevision: 0}, func(e *rpcpb.WatchEvent) error {
			if e.Revision == 0 {
				return nil
			}
			return seen.add(e)
		})
	}()

	// The load: creates, updates and deletes; every acknowledged write is
	// remembered with its revision.
	var acked sync.Map // revision -> name
	var writes atomic.Int64
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				name := fmt.Sprintf("w%d-ns-%d", w, i%7)
				actx, acancel := context.WithTimeout(ctx, 5*time.Second)
				var rev int64
				if i%5 == 4 {
					r, err := cl.Delete(actx, &rpcpb.DeleteRequest{Name: name})
					if err == nil {
						rev = r.GetRevision()
					}
				} else {
					r, err := cl.Apply(actx, &rpcpb.ApplyRequest{Spec: &fsmpb.NamespaceSpec{Name: name, Abstraction: "keyvalue", Backend: "bench",
						Capacity: &fsmpb.Capacity{EstimatedReadRps: int64(i + 1)}}})
					if err == nil && !r.GetUnchanged() {
						rev = r.GetNamespace().GetRevision()
					}
				}
				acancel()
				if rev > 0 {
					acked.Store(rev, name)
					writes.Add(1)
				}
			}
		}(w)
	}
	waitWrites := func(n int64) {
		t.Helper()
		target := writes.Load() + n
		testcluster.Eventually(t, 60*time.Second, func() error {
			if got := writes.Load(); got < target {
				return fmt.Errorf("%d acknowledged writes of %d", got, target)
			}
			return nil
		})
	}
	waitWrites(100)

	// Postgres crashes (immediate shutdown) under load and comes back.
	pg.Stop(t)
	waitWrites(100)
	pg.Restart(t)
	waitWrites(100)

	// The leader is killed under load and comes back.
	l := c.WaitLeader(10 * time.Second)
	c.Stop(l, false)
	c.WaitLeader(10 * time.Second)
	waitWrites(100)
	c.Restart(l)
	waitWrites(100)

	// A leader's batch is held; another node takes over and archives past
	// it; the held batch then reaches Postgres and must be refused.
	l = c.WaitLeader(10 * time.Second)
	heldTerm := int64(c.Servers[l].Node.Term())
	sink.arm(uint64(heldTerm))
	var held []archive.Change
	select {
	case held = <-sink.held:
	case <-time.After(30 * time.Second):
		t.Fatal("no batch was held")
	}
	if _, err := c.Servers[l].Node.TransferLeader(ctx, ""); err != nil {
		t.Fatalf("transfer leadership: %v", err)
	}
	end := held[len(held)-1].Revision
	testcluster.Eventually(t, 30*time.Second, func() error {
		nl := c.Leader()
		if nl < 0 || nl == l {
			return errors.New("no new leader yet")
		}
		if st, _ := c.Servers[nl].Node.ArchiveStatus(); st.ArchivedRevision <= end {
			return fmt.Errorf("new leader archived %d, the held batch ends at %d", st.ArchivedRevision, end)
		}
		return nil
	})
	close(sink.release)
	if err := <-sink.result; !errors.Is(err, archive.ErrFenced) {
		t.Fatalf("the held batch of the old term: %v, want ErrFenced", err)
	}
	waitWrites(100)
	close(stop)
	wg.Wait()

	st := waitArchived(t, c, 60*time.Second)
	testcluster.Eventually(t, 30*time.Second, func() error {
		seen.mu.Lock()
		defer seen.mu.Unlock()
		if int64(len(seen.events)) < st.ClusterRevision {
			return fmt.Errorf("watch saw %d of %d revisions", len(seen.events), st.ClusterRevision)
		}
		return nil
	})
	cancel()
	<-watchDone

	rows := readRows(t, url, st.ClusterID)
	if int64(len(rows)) != st.ClusterRevision {
		t.Fatalf("archive holds %d rows for revisions 1..%d", len(rows), st.ClusterRevision)
	}
	for i, r := range rows {
		if r.revision != int64(i+1) {
			t.Fatalf("row %d is revision %d: a gap or a duplicate", i, r.revision)
		}
		if r.epoch != 1 {
			t.Fatalf("revision %d in epoch %d: the archive should never have needed a new epoch", r.revision, r.epoch)
		}
		e := seen.events[r.revision]
		if e == nil || e.Kind != r.kind || e.Name != r.name || e.Type != r.op {
			t.Fatalf("revision %d archived as %s %s %s, committed as %+v", r.revision, r.op, r.kind, r.name, e)
		}
		ns, sh, err := archive.DecodePayload(r.kind, r.payload)
		if err != nil {
			t.Fatal(err)
		}
		if (ns != nil && !proto.Equal(ns, archive.Redact(e.Namespace))) || (sh != nil && !proto.Equal(sh, e.Shard)) {
			t.Fatalf("revision %d: archived object differs from the committed one", r.revision)
		}
		if r.revision >= held[0].Revision && r.revision <= end && r.term == heldTerm {
			t.Fatalf("revision %d was written by the fenced term %d", r.revision, heldTerm)
		}
	}
	missing := 0
	acked.Range(func(k, v any) bool {
		rev := k.(int64)
		if rev > int64(len(rows)) || rows[rev-1].name != v.(string) {
			missing++
		}
		return true
	})
	if missing > 0 {
		t.Fatalf("%d acknowledged writes are not in the archive at their revision", missing)
	}
	t.Logf("archived %d revisions (%d acknowledged writes) through a Postgres crash, a leader kill and a fenced batch", len(rows), writes.Load())
}

// TestRebuildFromTheArchiveIntoAFreshCluster: load, archive, lose every
// node, rebuild a snapshot from the archive, restore it into a new
// cluster: the namespaces and shards are the same, with the same
// revisions, and the new cluster's next revision is above the archive's.
func TestRebuildFromTheArchiveIntoAFreshCluster(t *testing.T) {
	url := testpg.Start(t).CreateDB(t)
	ctx := testcluster.Ctx(t, 2*time.Minute)
	store, err := archive.Open(ctx, storeConfig(url), testcluster.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	c := testcluster.StartWithBackends(t, 3, func(cc *cluster.Config) { cc.Archive.CheckpointEvery = 40 }, &server.Backends{Archive: store})
	cl := c.Client()
	for i := 0; i < 60; i++ {
		name := fmt.Sprintf("ns-%02d", i%25)
		if _, err := cl.Apply(ctx, &rpcpb.ApplyRequest{Spec: &fsmpb.NamespaceSpec{Name: name, Abstraction: "keyvalue", Backend: "bench",
			Capacity: &fsmpb.Capacity{EstimatedReadRps: int64(i)}}}); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 3; i++ {
		if _, err := cl.RegisterShard(ctx, &fsmpb.ShardSpec{Id: fmt.Sprintf("s%d", i), Endpoints: []string{"127.0.0.1:1"}, Backends: []string{"bench"},
			Capacity: &fsmpb.ShardCapacity{ReadRps: 1000, WriteRps: 1000, DataGb: 10}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := cl.Delete(ctx, &rpcpb.DeleteRequest{Name: "ns-03"}); err != nil {
		t.Fatal(err)
	}
	// The state settles (the lifecycle controller has its say) and the
	// archive catches up with it.
	var st archive.Status
	var before *rpcpb.ListResponse
	var shardsBefore *rpcpb.ListShardsResponse
	testcluster.Eventually(t, 30*time.Second, func() error {
		st = waitArchived(t, c, 30*time.Second)
		var err error
		if before, err = cl.List(ctx, &rpcpb.ListRequest{IncludeDeleted: true}); err != nil {
			return err
		}
		if shardsBefore, err = cl.ListShards(ctx, rpcpb.Consistency_CONSISTENCY_LINEARIZABLE); err != nil {
			return err
		}
		if before.Header.Revision != st.ArchivedRevision || shardsBefore.Revision != st.ArchivedRevision {
			return fmt.Errorf("listed at %d and %d, archived %d", before.Header.Revision, shardsBefore.Revision, st.ArchivedRevision)
		}
		return nil
	})
	cl.Close()
	c.StopAll() // every node and disk is lost

	rc, info, err := archive.Rebuild(ctx, store, st.ClusterID, 0)
	if err != nil {
		t.Fatal(err)
	}
	if info.Revision != before.Header.Revision {
		t.Fatalf("rebuilt revision %d, the cluster was at %d", info.Revision, before.Header.Revision)
	}
	sn, err := rc.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := sn.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}

	fresh := testcluster.Start(t, 3)
	fcl := fresh.Client()
	defer fcl.Close()
	r, err := fcl.RestoreSnapshot(ctx, buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if r.Revision != before.Header.Revision {
		t.Fatalf("restored at revision %d, want the archive's %d", r.Revision, before.Header.Revision)
	}
	after, err := fcl.List(ctx, &rpcpb.ListRequest{IncludeDeleted: true})
	if err != nil {
		t.Fatal(err)
	}
	shardsAfter, err := fcl.ListShards(ctx, rpcpb.Consistency_CONSISTENCY_LINEARIZABLE)
	if err != nil {
		t.Fatal(err)
	}
	sameNamespaces(t, before.Namespaces, after.Namespaces)
	if len(shardsBefore.Shards) != len(shardsAfter.Shards) {
		t.Fatalf("%d shards before, %d after", len(shardsBefore.Shards), len(shardsAfter.Shards))
	}
	for i := range shardsBefore.Shards {
		if !proto.Equal(shardsBefore.Shards[i].Shard, shardsAfter.Shards[i].Shard) {
			t.Fatalf("shard %d differs:\n%v\n%v", i, shardsBefore.Shards[i], shardsAfter.Shards[i])
		}
	}
	w, err := fcl.Apply(ctx, &rpcpb.ApplyRequest{Spec: &fsmpb.NamespaceSpec{Name: "after-rebuild", Abstraction: "keyvalue", Backend: "bench"}})
	if err != nil {
		t.Fatal(err)
	}
	if w.Namespace.Revision <= info.Revision {
		t.Fatalf("first write after the rebuild got revision %d, not above the archive's %d", w.Namespace.Revision, info.Revision)
	}
}

func sameNamespaces(t *testing.T, want, got []*fsmpb.Namespace) {
	t.Helper()
	sort.Slice(want, func(i, j int) bool { return want[i].Spec.Name < want[j].Spec.Name })
	sort.Slice(got, func(i, j int) bool { return got[i].Spec.Name < got[j].Spec.Name })
	if len(want) != len(got) {
		t.Fatalf("%d namespaces before, %d after", len(want), len(got))
	}
	for i := range want {
		if !proto.Equal(want[i], got[i]) {
			t.Fatalf("namespace %s differs:\nbefore %v\nafter  %v", want[i].Spec.Name, want[i], got[i])
		}
	}
}

// TestNodesWithoutAnArchiveSaySo: history and archive status on a cluster
// without --archive-url fail with FailedPrecondition, saying no archive is
// configured, instead of answering empty.
func TestNodesWithoutAnArchiveSaySo(t *testing.T) {
	c := testcluster.Start(t, 1)
	cl := c.Client()
	defer cl.Close()
	ctx := testcluster.Ctx(t, 10*time.Second)
	_, herr := cl.History(ctx, &rpcpb.HistoryRequest{Name: "user-profiles"})
	_, serr := cl.ArchiveStatus(ctx)
	for what, err := range map[string]error{"history": herr, "archive status": serr} {
		if status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "no archive configured") {
			t.Errorf("%s without an archive: %v", what, err)
		}
	}
	if _, err := cl.History(ctx, &rpcpb.HistoryRequest{Name: "", Kind: "table", Limit: -1}); status.Code(err) != codes.InvalidArgument ||
		!strings.Contains(err.Error(), "name") || !strings.Contains(err.Error(), "kind") || !strings.Contains(err.Error(), "limit") {
		t.Errorf("a bad history request: %v", err)
	}
}
