package testpg_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/prism/controlplane/internal/leakcheck"
	"github.com/prism/controlplane/internal/testpg"
)

func TestMain(m *testing.M) { os.Exit(leakcheck.Check(testpg.Main(m))) }

func exec(t *testing.T, url, sql string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, sql); err != nil {
		t.Fatal(err)
	}
}

func query(t *testing.T, url, sql string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return "", err
	}
	defer conn.Close(context.Background())
	var s string
	err = conn.QueryRow(ctx, sql).Scan(&s)
	return s, err
}

func TestSharedServerGivesEachTestItsOwnDatabase(t *testing.T) {
	srv := testpg.Start(t)
	a, b := srv.CreateDB(t), srv.CreateDB(t)
	if a == b {
		t.Fatalf("two CreateDB calls gave one URL %s", a)
	}
	if !strings.HasPrefix(a, "postgres://postgres@127.0.0.1:") {
		t.Fatalf("URL %s is not a loopback postgres:// URL without a password", a)
	}
	db, err := query(t, a, "SELECT current_database()")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(strings.SplitN(a, "?", 2)[0], "/"+db) {
		t.Fatalf("connected to %q through %s", db, a)
	}
	if testpg.Start(t) != srv {
		t.Fatal("Start gave a second server in one binary")
	}
}

func TestPrivateServerStopsAndRestartsOnItsPort(t *testing.T) {
	srv := testpg.StartPrivate(t)
	url := srv.CreateDB(t)
	exec(t, url, "CREATE TABLE kept (x int)")
	srv.Stop(t)
	if _, err := query(t, url, "SELECT 'x'"); err == nil {
		t.Fatal("a stopped server answered")
	}
	srv.Restart(t)
	got, err := query(t, url, "SELECT to_regclass('kept')::text")
	if err != nil {
		t.Fatal(err)
	}
	if got != "kept" {
		t.Fatalf("after restart: table kept is %q", got)
	}
}
