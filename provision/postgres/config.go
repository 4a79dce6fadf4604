package postgres

import (
	"errors"
	"time"
)

// Config tunes the provisioner. Zero values are invalid; start from
// DefaultConfig.
type Config struct {
	// PoolSize is the most connections kept per target. DDL is rare and
	// serialized per table: a few connections suffice. Default 4.
	PoolSize int32
	// ConnectTimeout bounds one connection attempt, so an unreachable
	// server fails a call instead of hanging it. Default 5 s.
	ConnectTimeout time.Duration
	// LockTimeout bounds each wait for a lock (the advisory lock of a
	// table, or a lock held by a user's long transaction on it): a call
	// waiting longer fails as transient and is retried. Default 10 s.
	LockTimeout time.Duration
	// StatementTimeout bounds each statement. Default 30 s.
	StatementTimeout time.Duration
}

// DefaultConfig returns the defaults documented on Config.
func DefaultConfig() Config {
	return Config{
		PoolSize:         4,
		ConnectTimeout:   5 * time.Second,
		LockTimeout:      10 * time.Second,
		StatementTimeout: 30 * time.Second,
	}
}

// Validate reports every out-of-range field.
func (c Config) Validate() error {
	var errs []error
	if c.PoolSize < 1 || c.PoolSize > 1000 {
		errs = append(errs, errors.New("postgres: PoolSize must be 1..1000"))
	}
	if c.ConnectTimeout < 10*time.Millisecond {
		errs = append(errs, errors.New("postgres: ConnectTimeout must be at least 10ms"))
	}
	if c.LockTimeout < time.Millisecond {
		errs = append(errs, errors.New("postgres: LockTimeout must be at least 1ms"))
	}
	if c.StatementTimeout < time.Millisecond {
		errs = append(errs, errors.New("postgres: StatementTimeout must be at least 1ms"))
	}
	return errors.Join(errs...)
}
