package archive

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Store is the archive in Postgres (schema prism_archive): the Sink the
// archiver writes to and the reader of history, epochs and rebuilds. Safe
// for concurrent use. Every method's error is free of the password.
type Store struct {
	pool     *pgxpool.Pool
	log      *slog.Logger
	password string // from PGPASSWORD or PGPASSFILE: kept out of errors

	// insert writes the rows of a batch inside Append's transaction and
	// returns how many it wrote (copyInsert; the benchmark swaps in the
	// alternatives it measures).
	insert insertFunc
	// afterCursor, when set (tests), runs inside Append's transaction once
	// the cursor row is updated (and locked), before the rows are sent.
	afterCursor func()
}

var _ Sink = (*Store)(nil)

// Open connects to the archive database, creates or upgrades schema
// prism_archive (migrations; safe while other nodes do the same) and
// returns the store. Close it.
func Open(ctx context.Context, cfg StoreConfig, log *slog.Logger) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	pc, err := pgxpool.ParseConfig(cfg.URL)
	if err != nil {
		// The parse error quotes the URL: not repeated.
		return nil, fmt.Errorf("%w: url does not parse as a connection string", ErrInvalidConfig)
	}
	pc.MaxConns = cfg.MaxConns
	pc.MinConns = 0
	pc.ConnConfig.ConnectTimeout = cfg.ConnectTimeout
	rp := pc.ConnConfig.RuntimeParams
	rp["statement_timeout"] = millis(cfg.StatementTimeout)
	rp["lock_timeout"] = millis(cfg.LockTimeout)
	rp["idle_in_transaction_session_timeout"] = millis(cfg.IdleInTransactionTimeout)
	if rp["application_name"] == "" {
		rp["application_name"] = "prism-archive"
	}
	s := &Store{log: log.With("component", "archive-store"), password: pc.ConnConfig.Password, insert: copyInsert}
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, s.wrap("pool", err)
	}
	s.pool = pool
	version, err := s.migrate(ctx, pc.ConnConfig)
	if err != nil {
		pool.Close()
		return nil, err
	}
	s.log.Info("archive store open", "host", pc.ConnConfig.Host, "port", pc.ConnConfig.Port,
		"database", pc.ConnConfig.Database, "schema_version", version)
	return s, nil
}

// Close closes the store's connections; calls after Close fail.
func (s *Store) Close() { s.pool.Close() }

func millis(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) }

// errRefused: the cursor did not match a write's condition; the caller
// reads it to say why (refusal).
var errRefused = errors.New("archive: cursor condition not met")

// wrap gives err the store's context and, for a connection failure,
// ErrUnreachable; a fence raised inside Postgres (SQLSTATE PF001) is
// ErrFenced. Context errors pass through. It never carries a password.
func (s *Store) wrap(what string, err error) error {
	if err == nil {
		return nil
	}
	var out error
	var pg *pgconn.PgError
	switch {
	case errors.As(err, &pg) && pg.Code == sqlstateFenced:
		out = fmt.Errorf("%w: %s: %s", ErrFenced, what, pg.Message)
	case unreachable(err):
		out = fmt.Errorf("%w: %s: %w", ErrUnreachable, what, err)
	default:
		out = fmt.Errorf("archive: %s: %w", what, err)
	}
	if s.password != "" && strings.Contains(out.Error(), s.password) {
		kind := error(nil)
		for _, k := range []error{ErrFenced, ErrUnreachable, context.Canceled, context.DeadlineExceeded} {
			if errors.Is(out, k) {
				kind = k
				break
			}
		}
		return &redacted{msg: strings.ReplaceAll(out.Error(), s.password, "********"), kind: kind}
	}
	return out
}

// sqlstateFenced is what the cursor's trigger raises (migrations).
const sqlstateFenced = "PF001"

// unreachable: the server could not be reached or went away (not a
// cancelled context, which passes through as it is).
func unreachable(err error) bool {
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return true
	}
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		switch pg.Code {
		case "57P01", "57P02", "57P03": // admin_shutdown, crash_shutdown, cannot_connect_now
			return true
		}
		return strings.HasPrefix(pg.Code, "08") // connection exception
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var ne net.Error
	return pgconn.Timeout(err) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, pgconn.ErrConnClosed) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.As(err, &ne)
}

// redacted hides a password that a message happens to repeat. It unwraps
// to its kind alone: the chain below holds the password.
type redacted struct {
	msg  string
	kind error
}

func (r *redacted) Error() string { return r.msg }
func (r *redacted) Unwrap() error { return r.kind }

// querier is the pool or a transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}
