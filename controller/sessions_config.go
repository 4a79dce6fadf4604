package controller

import (
	"errors"
	"log/slog"
	"time"
)

// SessionsConfig tunes the shard-session controller.
type SessionsConfig struct {
	// SuspectAfter and DownAfter: a shard whose heartbeats this leader has
	// not seen for this long is marked suspect, then down; a heartbeat
	// brings it back up. Silence counts from the controller's start at the
	// earliest, so a leader change never marks a healthy shard down.
	SuspectAfter time.Duration
	DownAfter    time.Duration
	// Interval is how often liveness is checked when not nudged (a
	// heartbeat from a suspect or down shard nudges).
	Interval time.Duration
	// ApplyTimeout bounds the commit of one transition.
	ApplyTimeout time.Duration
}

// DefaultSessionsConfig returns the defaults: suspect after 10 s of
// silence, down after 30 s, checked every second.
func DefaultSessionsConfig() SessionsConfig {
	return SessionsConfig{SuspectAfter: 10 * time.Second, DownAfter: 30 * time.Second, Interval: time.Second, ApplyTimeout: 5 * time.Second}
}

// Validate checks the config.
func (c SessionsConfig) Validate() error {
	var errs []error
	if c.SuspectAfter <= 0 || c.DownAfter <= c.SuspectAfter {
		errs = append(errs, errors.New("controller: sessions need 0 < suspect-after < down-after"))
	}
	if c.Interval <= 0 || c.ApplyTimeout <= 0 {
		errs = append(errs, errors.New("controller: sessions interval and apply timeout must be > 0"))
	}
	return errors.Join(errs...)
}

// SessionsDeps are the shard-session controller's collaborators.
type SessionsDeps struct {
	Log     *slog.Logger
	Applier Applier
	State   ShardState
	// Clock is the leader's wall clock (the one commands are stamped
	// with: a shard's registration time is compared with it).
	Clock Clock
	// Checked, when set, runs after each completed liveness check.
	Checked func()
}
