package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/prism/controlplane/internal/leakcheck"
	"github.com/prism/controlplane/internal/testpg"
	"github.com/prism/controlplane/provision"
	"github.com/prism/controlplane/provision/plan"
	"github.com/prism/controlplane/provision/postgres"
)

func TestMain(m *testing.M) { os.Exit(leakcheck.Check(testpg.Main(m))) }

// env is one test's database and a provisioner of it.
type env struct {
	t   *testing.T
	url string
	p   *postgres.Provisioner
}

func newEnv(t *testing.T) *env {
	t.Helper()
	return newEnvAt(t, testpg.Start(t).CreateDB(t), postgres.DefaultConfig())
}

func newEnvAt(t *testing.T, url string, cfg postgres.Config) *env {
	t.Helper()
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
	p, err := postgres.NewWithConfig(cfg, []provision.PostgresTarget{{Name: provision.DefaultTarget, URL: url}}, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return &env{t: t, url: url, p: p}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

var keyvalue = []plan.Column{
	{Name: "key", Type: "text PRIMARY KEY"},
	{Name: "value", Type: "bytea NOT NULL"},
	{Name: "updated_at", Type: "timestamptz NOT NULL DEFAULT now()"},
}

// req is a request for table schema.table of namespace ns, incarnation rev.
func req(ns string, rev int64, schema, table string) provision.Request {
	return provision.Request{
		ClusterID: "cluster-a", Namespace: ns, CreateRevision: rev, Target: provision.DefaultTarget,
		Resource: plan.Resource{Backend: plan.Postgres, Kind: plan.KindTable, Schema: schema, Table: table, Columns: keyvalue},
	}
}

// sql runs a statement on the test database outside the provisioner.
func (e *env) sql(q string, args ...any) {
	e.t.Helper()
	conn, err := pgx.Connect(ctx(e.t), e.url)
	if err != nil {
		e.t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx(e.t), q, args...); err != nil {
		e.t.Fatalf("%s: %v", q, err)
	}
}

// count returns one integer a query selects.
func (e *env) count(q string, args ...any) int {
	e.t.Helper()
	conn, err := pgx.Connect(ctx(e.t), e.url)
	if err != nil {
		e.t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var n int
	if err := conn.QueryRow(ctx(e.t), q, args...).Scan(&n); err != nil {
		e.t.Fatalf("%s: %v", q, err)
	}
	return n
}

func (e *env) tables(schema, table string) int {
	return e.count(`SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2`, schema, table)
}

func (e *env) rows(schema, table string) int {
	return e.count(`SELECT count(*) FROM prism.resources WHERE schema_name = $1 AND table_name = $2`, schema, table)
}

func (e *env) ensure(r provision.Request) provision.Observation {
	e.t.Helper()
	o, err := e.p.Ensure(ctx(e.t), r)
	if err != nil {
		e.t.Fatalf("Ensure %s: %v", r.Resource.Name(), err)
	}
	return o
}

func (e *env) observe(r provision.Request) provision.Observation {
	e.t.Helper()
	o, err := e.p.Observe(ctx(e.t), r)
	if err != nil {
		e.t.Fatalf("Observe %s: %v", r.Resource.Name(), err)
	}
	return o
}

func TestEnsureCreatesTheTableItsRowAndComment(t *testing.T) {
	e := newEnv(t)
	r := req("user-profiles", 7, "public", "user_profiles")
	if o := e.observe(r); o.Exists || o.Owner != provision.OwnerNone {
		t.Fatalf("before Ensure: %+v", o)
	}
	o := e.ensure(r)
	if !o.Exists || o.Owner != provision.OwnerThis || o.Detail != "table public.user_profiles (key, value, updated_at)" {
		t.Fatalf("after Ensure: %+v", o)
	}
	if n := e.count(`SELECT count(*) FROM prism.resources WHERE schema_name = 'public' AND table_name = 'user_profiles'
		AND cluster_id = 'cluster-a' AND namespace = 'user-profiles' AND create_revision = 7 AND released_at IS NULL`); n != 1 {
		t.Fatalf("registry rows for the table: %d", n)
	}
	if n := e.count(`SELECT count(*) FROM pg_description d WHERE d.objoid = 'public.user_profiles'::regclass
		AND d.description LIKE 'Managed by Prism: namespace "user-profiles", cluster cluster-a, create revision 7.%'`); n != 1 {
		t.Fatal("the table has no Prism comment")
	}
	// The table works as the abstraction says.
	e.sql(`INSERT INTO public.user_profiles (key, value) VALUES ('k', 'v')`)
}

func TestEnsureRepeatedIsOneTable(t *testing.T) {
	e := newEnv(t)
	r := req("orders", 1, "public", "orders")
	first := e.ensure(r)
	e.sql(`INSERT INTO orders (key, value) VALUES ('k', 'v')`)
	for range 3 {
		if o := e.ensure(r); !reflect.DeepEqual(o, first) {
			t.Fatalf("repeated Ensure: %+v, first %+v", o, first)
		}
	}
	if e.tables("public", "orders") != 1 || e.rows("public", "orders") != 1 || e.count(`SELECT count(*) FROM orders`) != 1 {
		t.Fatal("repeating Ensure changed the table or its row")
	}
	// Columns are fixed at creation: a plan with others alters nothing.
	r.Resource.Columns = append(r.Resource.Columns, plan.Column{Name: "extra", Type: "text"})
	if o := e.ensure(r); o.Detail != first.Detail {
		t.Fatalf("Ensure with other columns: %+v", o)
	}
}

func TestEnsureInANewSchemaWithTableConstraintAndOddNames(t *testing.T) {
	e := newEnv(t)
	r := req("metrics", 3, `Tele "metry"`, `Points; DROP TABLE x`)
	r.Resource.Columns = []plan.Column{
		{Name: "series", Type: "text NOT NULL"},
		{Name: "ts", Type: "timestamptz NOT NULL"},
		{Name: "value", Type: "jsonb NOT NULL"},
		{Name: "PRIMARY KEY", Type: "(series, ts)"},
	}
	o := e.ensure(r)
	if o.Owner != provision.OwnerThis || o.Detail != `table Tele "metry".Points; DROP TABLE x (series, ts, value)` {
		t.Fatalf("after Ensure: %+v", o)
	}
	if e.tables(`Tele "metry"`, `Points; DROP TABLE x`) != 1 {
		t.Fatal("table not where the plan put it")
	}
	if n := e.count(`SELECT count(*) FROM prism.resources WHERE schema_name = $1 AND created_schema`, `Tele "metry"`); n != 1 {
		t.Fatal("the registry does not say Prism created the schema")
	}
	if n := e.count(`SELECT count(*) FROM pg_index i WHERE i.indrelid = '"Tele ""metry"""."Points; DROP TABLE x"'::regclass AND i.indisprimary AND i.indnatts = 2`); n != 1 {
		t.Fatal("the PRIMARY KEY (series, ts) constraint is missing")
	}
}

func TestForeignTableIsRefusedAndUntouched(t *testing.T) {
	e := newEnv(t)
	e.sql(`CREATE TABLE public.handmade (id int)`)
	e.sql(`INSERT INTO public.handmade VALUES (42)`)
	r := req("handmade", 1, "public", "handmade")
	o := e.observe(r)
	if !o.Exists || o.Owner != provision.OwnerOther || !strings.Contains(o.OwnerDetail, "not created by Prism") {
		t.Fatalf("Observe of a hand-made table: %+v", o)
	}
	_, err := e.p.Ensure(ctx(t), r)
	if !errors.Is(err, provision.ErrForeign) || !strings.Contains(err.Error(), "public.handmade") {
		t.Fatalf("Ensure of a hand-made table: %v", err)
	}
	if err := e.p.Delete(ctx(t), r); !errors.Is(err, provision.ErrForeign) {
		t.Fatalf("Delete of a hand-made table: %v", err)
	}
	if err := e.p.Release(ctx(t), r); err != nil {
		t.Fatalf("Release of a hand-made table: %v", err)
	}
	if e.count(`SELECT id FROM public.handmade`) != 42 || e.rows("public", "handmade") != 0 {
		t.Fatal("the hand-made table or the registry changed")
	}
	if n := e.count(`SELECT count(*) FROM pg_attribute WHERE attrelid = 'public.handmade'::regclass AND attnum > 0`); n != 1 {
		t.Fatalf("the hand-made table has %d columns now", n)
	}

	// A view of the name is not a table Prism made either.
	e.sql(`CREATE VIEW public.aview AS SELECT 1 AS one`)
	o = e.observe(req("aview", 1, "public", "aview"))
	if o.Owner != provision.OwnerOther || o.OwnerDetail != "a view, not a table Prism created" {
		t.Fatalf("Observe of a view: %+v", o)
	}
}

func TestOtherNamespacesTableIsForeign(t *testing.T) {
	e := newEnv(t)
	e.ensure(req("first", 1, "public", "shared"))
	other := req("second", 2, "public", "shared")
	o := e.observe(other)
	if o.Owner != provision.OwnerOther || o.OwnerDetail != `created by Prism for namespace "first"` {
		t.Fatalf("Observe by another namespace: %+v", o)
	}
	if _, err := e.p.Ensure(ctx(t), other); !errors.Is(err, provision.ErrForeign) {
		t.Fatalf("Ensure by another namespace: %v", err)
	}
	if err := e.p.Delete(ctx(t), other); !errors.Is(err, provision.ErrForeign) {
		t.Fatalf("Delete by another namespace: %v", err)
	}
	otherCluster := req("first", 1, "public", "shared")
	otherCluster.ClusterID = "cluster-b"
	if err := e.p.Delete(ctx(t), otherCluster); !errors.Is(err, provision.ErrForeign) {
		t.Fatalf("Delete by another cluster: %v", err)
	}
	if e.tables("public", "shared") != 1 {
		t.Fatal("another namespace's call dropped the table")
	}
}

func TestDeleteDropsTheTableAndItsRow(t *testing.T) {
	e := newEnv(t)
	r := req("gone", 5, "public", "gone")
	e.ensure(r)
	if err := e.p.Delete(ctx(t), r); err != nil {
		t.Fatal(err)
	}
	if e.tables("public", "gone") != 0 || e.rows("public", "gone") != 0 {
		t.Fatal("table or row left after Delete")
	}
	if err := e.p.Delete(ctx(t), r); err != nil {
		t.Fatalf("Delete of an absent table: %v", err)
	}
	if o := e.observe(r); o.Exists {
		t.Fatalf("Observe after Delete: %+v", o)
	}
}

func TestDeleteRefusesWhenAnotherObjectDependsOnTheTable(t *testing.T) {
	e := newEnv(t)
	r := req("viewed", 1, "public", "viewed")
	e.ensure(r)
	e.sql(`CREATE VIEW public.on_viewed AS SELECT key FROM public.viewed`)
	err := e.p.Delete(ctx(t), r)
	if !errors.Is(err, provision.ErrInvalid) || !strings.Contains(err.Error(), "2BP01") {
		t.Fatalf("Delete of a table a view depends on: %v", err)
	}
	if e.tables("public", "viewed") != 1 || e.tables("public", "on_viewed") != 1 || e.rows("public", "viewed") != 1 {
		t.Fatal("a refused Delete changed something")
	}
}

func TestReleaseKeepsTheTableAndGivesItUp(t *testing.T) {
	e := newEnv(t)
	r := req("archive", 4, "public", "archive")
	e.ensure(r)
	e.sql(`INSERT INTO archive (key, value) VALUES ('k', 'v')`)
	for range 2 {
		if err := e.p.Release(ctx(t), r); err != nil {
			t.Fatal(err)
		}
	}
	if e.count(`SELECT count(*) FROM archive`) != 1 || e.count(`SELECT count(*) FROM prism.resources WHERE table_name = 'archive' AND released_at IS NOT NULL`) != 1 {
		t.Fatal("Release did not keep the table and mark its row")
	}
	o := e.observe(r)
	if !o.Exists || o.Owner != provision.OwnerOther || !strings.Contains(o.OwnerDetail, "released") {
		t.Fatalf("Observe after Release: %+v", o)
	}
	if err := e.p.Delete(ctx(t), r); !errors.Is(err, provision.ErrForeign) {
		t.Fatalf("Delete after Release: %v", err)
	}
	if _, err := e.p.Ensure(ctx(t), r); !errors.Is(err, provision.ErrForeign) {
		t.Fatalf("Ensure after Release: %v", err)
	}
	if n := e.count(`SELECT count(*) FROM pg_description WHERE objoid = 'public.archive'::regclass AND description LIKE '%no longer manages it%'`); n != 1 {
		t.Fatal("the released table's comment does not say so")
	}
}

// A deposed leader still working on a namespace's old incarnation can
// neither drop nor claim the table of the namespace re-created under the
// same name.
func TestCreateRevisionFencesOldIncarnations(t *testing.T) {
	e := newEnv(t)
	old, cur := req("events", 10, "public", "events"), req("events", 20, "public", "events")
	e.ensure(old)
	if err := e.p.Delete(ctx(t), old); err != nil {
		t.Fatal(err)
	}
	e.ensure(cur)
	e.sql(`INSERT INTO events (key, value) VALUES ('new', 'v')`)

	if err := e.p.Delete(ctx(t), old); !errors.Is(err, provision.ErrForeign) || !strings.Contains(err.Error(), "later incarnation") {
		t.Fatalf("Delete by the old incarnation: %v", err)
	}
	if _, err := e.p.Ensure(ctx(t), old); !errors.Is(err, provision.ErrForeign) {
		t.Fatalf("Ensure by the old incarnation: %v", err)
	}
	if err := e.p.Release(ctx(t), old); err != nil {
		t.Fatal(err)
	}
	if o := e.observe(cur); o.Owner != provision.OwnerThis {
		t.Fatalf("the current incarnation's table after the old one's calls: %+v", o)
	}
	if e.count(`SELECT count(*) FROM events`) != 1 || e.count(`SELECT count(*) FROM prism.resources WHERE table_name = 'events' AND create_revision = 20 AND released_at IS NULL`) != 1 {
		t.Fatal("the old incarnation's calls changed the new table or its row")
	}

	// With the new table dropped behind Prism's back, the old incarnation
	// still may not create one in its place.
	e.sql(`DROP TABLE events`)
	if _, err := e.p.Ensure(ctx(t), old); !errors.Is(err, provision.ErrForeign) {
		t.Fatalf("Ensure by the old incarnation of a missing newer table: %v", err)
	}
	if e.tables("public", "events") != 0 {
		t.Fatal("the old incarnation created the table")
	}
}

// A table dropped behind Prism's back is reported missing; its row stays
// until Ensure (the controller's --recreate) makes it again.
func TestDroppedBehindPrismsBack(t *testing.T) {
	e := newEnv(t)
	r := req("drift", 1, "public", "drift")
	e.ensure(r)
	e.sql(`DROP TABLE drift`)
	if o := e.observe(r); o.Exists || o.Owner != provision.OwnerNone {
		t.Fatalf("Observe of a dropped table: %+v", o)
	}
	if o := e.ensure(r); o.Owner != provision.OwnerThis || e.rows("public", "drift") != 1 {
		t.Fatalf("Ensure after drift: %+v", o)
	}
}

func TestConcurrentEnsureMakesOneTable(t *testing.T) {
	e := newEnv(t)
	r := req("hot", 1, "public", "hot")
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 8 {
		wg.Go(func() {
			o, err := e.p.Ensure(ctx(t), r)
			if err == nil && o.Owner != provision.OwnerThis {
				err = fmt.Errorf("owner %v", o.Owner)
			}
			errs <- err
		})
	}
	// And 8 tables at once in a schema none of them finds.
	for i := range 8 {
		wg.Go(func() {
			_, err := e.p.Ensure(ctx(t), req(fmt.Sprintf("ns-%d", i), 1, "fresh", fmt.Sprintf("t%d", i)))
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if e.tables("public", "hot") != 1 || e.rows("public", "hot") != 1 {
		t.Fatal("concurrent Ensure did not make exactly one table and row")
	}
	if n := e.count(`SELECT count(*) FROM prism.resources WHERE schema_name = 'fresh'`); n != 8 {
		t.Fatalf("%d of 8 tables in the new schema", n)
	}
}

func TestServerDownThenBack(t *testing.T) {
	srv := testpg.StartPrivate(t)
	cfg := postgres.DefaultConfig()
	cfg.ConnectTimeout = time.Second
	e := newEnvAt(t, srv.CreateDB(t), cfg)
	r := req("resilient", 1, "public", "resilient")
	e.ensure(r)

	srv.Stop(t)
	for _, call := range []struct {
		name string
		fn   func() error
	}{
		{"Observe", func() error { _, err := e.p.Observe(ctx(t), r); return err }},
		{"Ensure", func() error { _, err := e.p.Ensure(ctx(t), r); return err }},
		{"Delete", func() error { return e.p.Delete(ctx(t), r) }},
	} {
		start := time.Now()
		err := call.fn()
		if !errors.Is(err, provision.ErrUnreachable) || !provision.Retriable(err) {
			t.Fatalf("%s with the server down: %v", call.name, err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("%s took %s to fail", call.name, d)
		}
		t.Logf("%s with the server down: %v", call.name, err)
	}

	srv.Restart(t)
	deadline := time.Now().Add(20 * time.Second)
	for {
		o, err := e.p.Ensure(ctx(t), r)
		if err == nil {
			if o.Owner != provision.OwnerThis {
				t.Fatalf("after restart: %+v", o)
			}
			break
		}
		if !errors.Is(err, provision.ErrUnreachable) || time.Now().After(deadline) {
			t.Fatalf("Ensure after restart: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if e.tables("public", "resilient") != 1 {
		t.Fatal("not exactly one table after the restart")
	}
	if err := e.p.Delete(ctx(t), r); err != nil {
		t.Fatal(err)
	}
}

func TestLockHeldElsewhereIsTransient(t *testing.T) {
	url := testpg.Start(t).CreateDB(t)
	cfg := postgres.DefaultConfig()
	cfg.LockTimeout = 200 * time.Millisecond
	e := newEnvAt(t, url, cfg)
	r := req("locked", 1, "public", "locked")
	e.ensure(r)
	// A user's transaction holding a lock on the table stops the DROP.
	conn, err := pgx.Connect(ctx(t), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	tx, err := conn.Begin(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx(t), `LOCK TABLE locked IN ACCESS SHARE MODE`); err != nil {
		t.Fatal(err)
	}
	err = e.p.Delete(ctx(t), r)
	if !errors.Is(err, provision.ErrTransient) || !strings.Contains(err.Error(), "55P03") {
		t.Fatalf("Delete while a transaction holds the table: %v", err)
	}
	if err := tx.Rollback(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if err := e.p.Delete(ctx(t), r); err != nil {
		t.Fatalf("Delete once the lock is gone: %v", err)
	}
}

func TestWithoutRightsIsPermission(t *testing.T) {
	srv := testpg.Start(t)
	url := srv.CreateDB(t)
	admin := &env{t: t, url: url}
	admin.sql(`DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'prism_limited') THEN CREATE ROLE prism_limited LOGIN; END IF; END $$`)
	limited := strings.Replace(url, "postgres://postgres@", "postgres://prism_limited@", 1)
	e := newEnvAt(t, limited, postgres.DefaultConfig())
	r := req("nope", 1, "public", "nope")
	_, err := e.p.Ensure(ctx(t), r)
	if !errors.Is(err, provision.ErrPermission) || provision.Retriable(err) {
		t.Fatalf("Ensure without CREATE rights: %v", err)
	}
	// Observe needs no rights beyond connecting, and no registry.
	if o, err := e.p.Observe(ctx(t), r); err != nil || o.Exists {
		t.Fatalf("Observe without rights: %+v %v", o, err)
	}
}

func TestTargets(t *testing.T) {
	p := postgres.New([]provision.PostgresTarget{{Name: "bad", URL: "postgres://u:s3cret@[::1"}}, nil)
	defer p.Close()
	r := req("x", 1, "public", "x")
	r.Target = "missing"
	if _, err := p.Observe(context.Background(), r); !errors.Is(err, provision.ErrTargetUnknown) {
		t.Fatalf("undeclared target: %v", err)
	}
	r.Target = "bad"
	_, err := p.Observe(context.Background(), r)
	if !errors.Is(err, provision.ErrInvalid) || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("unparseable target URL: %v", err)
	}
	r.Target = provision.DefaultTarget
	r.Resource.Backend = plan.Kafka
	if _, err := p.Observe(context.Background(), r); !errors.Is(err, provision.ErrInvalid) {
		t.Fatalf("a Kafka resource: %v", err)
	}
}

// The password a connection uses (here from PGPASSWORD) never appears in
// an error, even when a server message repeats it.
func TestErrorsNeverCarryThePassword(t *testing.T) {
	const secret = "hunter2-Pa55"
	t.Setenv("PGPASSWORD", secret)
	p := postgres.New([]provision.PostgresTarget{{Name: provision.DefaultTarget, URL: testpg.Start(t).CreateDB(t)}}, nil)
	defer p.Close()
	// A table name that makes the server's error quote the password.
	r := req("leak", 1, "public", "leak")
	r.Resource.Columns = []plan.Column{{Name: "x", Type: `"` + secret + `"`}}
	_, err := p.Ensure(context.Background(), r)
	if err == nil || !errors.Is(err, provision.ErrInvalid) {
		t.Fatalf("Ensure with a bad column type: %v", err)
	}
	if strings.Contains(err.Error(), secret) {
		t.Fatalf("error carries the password: %v", err)
	}
	t.Log(err)
}
