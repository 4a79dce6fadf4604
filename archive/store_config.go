package archive

import (
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/prism/controlplane/provision"
)

// StoreConfig tunes the Postgres store. Zero values are invalid; start
// from DefaultStoreConfig.
type StoreConfig struct {
	// URL is the archive database, postgres://user@host:port/db?... It
	// never holds a password: pgx reads PGPASSFILE or PGPASSWORD.
	URL string
	// MaxConns is the most connections kept: one writer (the archiver)
	// plus readers (status, history). Default 4.
	MaxConns int32
	// ConnectTimeout bounds one connection attempt, so an unreachable
	// server fails a call (ErrUnreachable) instead of hanging it.
	// Default 5 s.
	ConnectTimeout time.Duration
	// StatementTimeout bounds each statement (statement_timeout). A batch
	// of changes or a checkpoint takes well under a second. Default 30 s.
	StatementTimeout time.Duration
	// LockTimeout bounds each wait for a lock (lock_timeout), the cursor
	// row's above all. It exceeds IdleInTransactionTimeout, so a writer
	// waiting behind a stalled one outlasts it. Default 10 s.
	LockTimeout time.Duration
	// IdleInTransactionTimeout ends a session idle inside a transaction
	// for longer (idle_in_transaction_session_timeout): a writer paused
	// while holding the cursor row's lock (an old leader stopped mid
	// batch) releases it then, and its batch is rolled back. Default 5 s.
	IdleInTransactionTimeout time.Duration
}

// DefaultStoreConfig returns the defaults documented on StoreConfig, with
// no URL.
func DefaultStoreConfig() StoreConfig {
	return StoreConfig{
		MaxConns:                 4,
		ConnectTimeout:           5 * time.Second,
		StatementTimeout:         30 * time.Second,
		LockTimeout:              10 * time.Second,
		IdleInTransactionTimeout: 5 * time.Second,
	}
}

// Validate reports every invalid field (each wraps ErrInvalidConfig). Its
// errors never repeat the URL.
func (c StoreConfig) Validate() error {
	var errs []error
	bad := func(format string, a ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalidConfig}, a...)...))
	}
	if err := checkURL(c.URL); err != nil {
		bad("url %v", err)
	}
	if c.MaxConns < 1 || c.MaxConns > 100 {
		bad("max conns %d: must be 1..100", c.MaxConns)
	}
	if c.ConnectTimeout < 10*time.Millisecond {
		bad("connect timeout %v: must be at least 10ms", c.ConnectTimeout)
	}
	if c.StatementTimeout < time.Millisecond {
		bad("statement timeout %v: must be at least 1ms", c.StatementTimeout)
	}
	if c.IdleInTransactionTimeout < time.Millisecond {
		bad("idle in transaction timeout %v: must be at least 1ms", c.IdleInTransactionTimeout)
	}
	if c.LockTimeout <= c.IdleInTransactionTimeout {
		bad("lock timeout %v: must exceed the idle in transaction timeout (%v), so a writer waiting for the cursor outlasts a stalled one", c.LockTimeout, c.IdleInTransactionTimeout)
	}
	return errors.Join(errs...)
}

// checkURL: a postgres:// URL pgx accepts, without a password. The
// errors do not quote it.
func checkURL(raw string) error {
	if raw == "" {
		return errors.New("is empty")
	}
	if err := provision.CheckPostgresURL(raw); err != nil {
		return err
	}
	if _, err := pgx.ParseConfig(raw); err != nil {
		// pgx's message quotes the URL: not repeated.
		return errors.New("does not parse as a connection string")
	}
	return nil
}
