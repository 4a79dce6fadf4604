package archive

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/prism/controlplane/internal/testpg"
)

func TestStoreConfigValidate(t *testing.T) {
	if err := DefaultStoreConfig().Validate(); err == nil || !strings.Contains(err.Error(), "url is empty") {
		t.Fatalf("default config without a URL: %v", err)
	}
	for url, want := range map[string]string{
		"postgres://u:hunter2@db:5432/a":         "use PGPASSFILE or PGPASSWORD",
		"postgres://u@db/a?password=hunter2":     "use PGPASSFILE or PGPASSWORD",
		"mysql://u@db/a":                         "must be a postgres:// URL",
		"host=db password=hunter2":               "must be a postgres:// URL",
		"postgres://u@db/a?sslmode=hunter2-nope": "does not parse",
	} {
		cfg := DefaultStoreConfig()
		cfg.URL = url
		err := cfg.Validate()
		if err == nil || !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want %q", url, err, want)
			continue
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("the error repeats the URL: %v", err)
		}
	}
	cfg := DefaultStoreConfig()
	cfg.URL = "postgres://u@db/a"
	if err := cfg.Validate(); err != nil {
		t.Fatalf("a valid config: %v", err)
	}
	cfg.MaxConns, cfg.StatementTimeout, cfg.LockTimeout = 0, 0, cfg.IdleInTransactionTimeout
	err := cfg.Validate()
	for _, want := range []string{"max conns", "statement timeout", "lock timeout"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("every problem is named: missing %q in %v", want, err)
		}
	}
}

func TestWrapRedactsThePassword(t *testing.T) {
	s := &Store{password: "hunter2"}
	err := s.wrap("append", &pgconn.ConnectError{})
	if !errors.Is(err, ErrUnreachable) {
		t.Fatalf("a connect error: %v", err)
	}
	err = s.wrap("append", errors.New("server said: password hunter2 is wrong"))
	if strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("password in %v", err)
	}
	err = s.wrap("append", &pgconn.PgError{Code: sqlstateFenced, Message: "owned by term 6, hunter2"})
	if !errors.Is(err, ErrFenced) || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("fenced: %v", err)
	}
}

func TestOpenUnreachable(t *testing.T) {
	cfg := testStoreConfig("postgres://prism@127.0.0.1:1/archive?sslmode=disable")
	cfg.ConnectTimeout = time.Second
	_, err := Open(context.Background(), cfg, testLogger(t))
	if !errors.Is(err, ErrUnreachable) {
		t.Fatalf("Open of a closed port: %v", err)
	}
}

func TestOpenMigratesOnceWhileOthersDo(t *testing.T) {
	url := testpg.Start(t).CreateDB(t)
	// Three nodes start at once on an empty database.
	var wg sync.WaitGroup
	errs := make([]error, 3)
	stores := make([]*Store, 3)
	for i := range stores {
		wg.Go(func() {
			stores[i], errs[i] = Open(testCtx(t), testStoreConfig(url), testLogger(t))
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("Open %d: %v", i, err)
		}
		stores[i].Close()
	}
	s := openStore(t, testStoreConfig(url)) // and again: nothing to do
	var version int32
	var tables int
	ctx := testCtx(t)
	if err := s.pool.QueryRow(ctx, "SELECT version FROM prism_archive.schema_version").Scan(&version); err != nil || version != 1 {
		t.Fatalf("schema version %d, %v", version, err)
	}
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE schemaname = 'prism_archive'
AND tablename IN ('changes', 'cursor', 'epochs', 'checkpoints')`).Scan(&tables); err != nil || tables != 4 {
		t.Fatalf("%d tables, %v", tables, err)
	}
}
