package testpg

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvURL names an existing server to use instead of starting one.
const EnvURL = "PRISM_TEST_PG_URL"

// Install is what to run when the binaries are missing.
const Install = "apt-get install -y postgresql"

// startTimeout bounds initdb plus the server becoming ready.
const startTimeout = 60 * time.Second

// Server is a PostgreSQL server for tests: one testpg started, or the one
// PRISM_TEST_PG_URL names.
type Server struct {
	external *url.URL // PRISM_TEST_PG_URL, or nil
	inst     *instance
	private  bool
	dbs      atomic.Int64
}

var shared struct {
	mu   sync.Mutex
	main bool // Main is running the tests
	srv  *Server
	err  error
}

// Main runs the tests of a binary that uses Start, then stops the shared
// server (if one was started) and removes its directory. It returns the
// tests' exit code; call it from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(leakcheck.Check(testpg.Main(m))) }
func Main(m *testing.M) int {
	shared.mu.Lock()
	shared.main = true
	shared.mu.Unlock()
	code := m.Run()
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if s := shared.srv; s != nil && s.inst != nil {
		if err := s.inst.close(); err != nil {
			fmt.Fprintf(os.Stderr, "testpg: stopping the shared server: %v\n", err)
			if code == 0 {
				code = 1
			}
		}
	}
	shared.srv, shared.err = nil, nil
	return code
}

// Start returns the server shared by the test binary, starting it on first
// use (the binary's TestMain must call Main). Without the binaries the test
// is skipped, or fails when CI=true.
func Start(tb testing.TB) *Server {
	tb.Helper()
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if !shared.main {
		tb.Fatal("testpg: call testpg.Main from TestMain, so the shared server is stopped after the tests")
	}
	if shared.srv == nil && shared.err == nil {
		if u := os.Getenv(EnvURL); u != "" {
			pu, err := url.Parse(u)
			if err != nil || (pu.Scheme != "postgres" && pu.Scheme != "postgresql") {
				shared.err = fmt.Errorf("testpg: %s is not a postgres:// URL", EnvURL)
			} else {
				shared.srv = &Server{external: pu}
			}
		} else {
			inst, err := startInstance()
			if err != nil {
				shared.err = err
			} else {
				shared.srv = &Server{inst: inst}
			}
		}
	}
	if shared.err != nil {
		unavailable(tb, shared.err)
	}
	return shared.srv
}

// StartPrivate starts a server for this test alone, stopped and removed at
// its cleanup; it may be stopped and restarted (Stop, Restart). It needs
// the binaries even when PRISM_TEST_PG_URL is set.
func StartPrivate(tb testing.TB) *Server {
	tb.Helper()
	inst, err := startInstance()
	if err != nil {
		unavailable(tb, err)
	}
	tb.Cleanup(func() {
		if err := inst.close(); err != nil {
			tb.Errorf("testpg: stopping the private server: %v", err)
		}
	})
	return &Server{inst: inst, private: true}
}

// unavailable skips the test for missing binaries (fails with CI=true) and
// fails it for any other reason the server could not start.
func unavailable(tb testing.TB, err error) {
	tb.Helper()
	if !errors.Is(err, errNoBinaries) {
		tb.Fatalf("testpg: %v", err)
	}
	msg := fmt.Sprintf("testpg: %v; install them (%s) or set %s to a server's URL", err, Install, EnvURL)
	if os.Getenv("CI") == "true" {
		tb.Fatal(msg + " (CI=true: not skipped)")
	}
	tb.Skip(msg)
}

// Addr is the server's host:port.
func (s *Server) Addr() string {
	if s.external != nil {
		return s.external.Host
	}
	return net.JoinHostPort("127.0.0.1", fmt.Sprint(s.inst.port))
}

// URL is the URL of database db on the server (no password: the server
// trusts loopback, or PGPASSWORD / PGPASSFILE supply it for an external
// one).
func (s *Server) URL(db string) string {
	if s.external != nil {
		u := *s.external
		u.Path = "/" + db
		return u.String()
	}
	return fmt.Sprintf("postgres://%s@%s/%s?sslmode=disable", superuser, s.Addr(), url.PathEscape(db))
}

// adminURL is where CREATE and DROP DATABASE run.
func (s *Server) adminURL() string {
	if s.external != nil {
		return s.external.String()
	}
	return s.URL("postgres")
}

// CreateDB creates a fresh database for the test and returns its URL; it
// is dropped at the test's cleanup (with its connections).
func (s *Server) CreateDB(tb testing.TB) string {
	tb.Helper()
	name := dbName(s.dbs.Add(1), tb.Name())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		tb.Fatalf("testpg: create database %s: %v", name, err)
	}
	tb.Cleanup(func() {
		if s.inst != nil && !s.inst.running() {
			return // stopped by the test; its directory goes with it
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := s.exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			tb.Logf("testpg: drop database %s: %v", name, err)
		}
	})
	return s.URL(name)
}

func (s *Server) exec(ctx context.Context, sql string) error {
	conn, err := pgx.Connect(ctx, s.adminURL())
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql)
	return err
}

// dbName is a unique, valid database name for a test.
func dbName(n int64, test string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "t%d_", n)
	for _, r := range strings.ToLower(test) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	name := b.String()
	if len(name) > 63 {
		name = name[:63]
	}
	return name
}

// Stop kills the server as a crash would (immediate shutdown: no
// checkpoint, connections cut). Only a StartPrivate server.
func (s *Server) Stop(tb testing.TB) {
	tb.Helper()
	s.mustPrivate(tb, "Stop")
	if err := s.inst.stop(true); err != nil {
		tb.Fatalf("testpg: stop: %v", err)
	}
}

// Restart starts the server again on the same port and waits until it
// accepts connections (stopping it first if it runs). Only a StartPrivate
// server.
func (s *Server) Restart(tb testing.TB) {
	tb.Helper()
	s.mustPrivate(tb, "Restart")
	if s.inst.running() {
		if err := s.inst.stop(true); err != nil {
			tb.Fatalf("testpg: restart: stop: %v", err)
		}
	}
	if err := s.inst.start(); err != nil {
		tb.Fatalf("testpg: restart: %v", err)
	}
}

func (s *Server) mustPrivate(tb testing.TB, op string) {
	tb.Helper()
	if !s.private {
		tb.Fatalf("testpg: %s: only a server from StartPrivate may be stopped (others share this one)", op)
	}
}
