package controller

import (
	"errors"
	"log/slog"
	"time"

	"github.com/prism/controlplane/fsm/fsmpb"
	"github.com/prism/controlplane/provision"
)

// LifecycleConfig tunes the lifecycle controller.
type LifecycleConfig struct {
	// Interval is how often the controller looks for due work when not
	// nudged by a change.
	Interval time.Duration
	// MinRoundGap is the least time between two rounds: a burst of
	// changes (each nudges) costs one scan of the state per gap, not one
	// per change.
	MinRoundGap time.Duration
	// CheckInterval is how often an active namespace's resources are
	// observed again for drift (prismd --provision-check-interval).
	CheckInterval time.Duration
	// ChecksPerRound bounds the drift observations started per round.
	ChecksPerRound int
	// Workers bounds the namespaces worked on at once (backend calls wait
	// on servers; raft batches the resulting commits).
	Workers int
	// BackoffMin and BackoffMax bound the per-namespace retry delay after
	// a failure; it doubles per failure.
	BackoffMin, BackoffMax time.Duration
	// StepTimeout bounds one backend call.
	StepTimeout time.Duration
	// DeleteWait bounds how long a deletion waits for Kafka to finish
	// deleting a topic before it retries with backoff.
	DeleteWait time.Duration
	// TombstoneRetention is how long a deleted namespace stays visible
	// before it is purged.
	TombstoneRetention time.Duration
	// Disabled: Prism manages no backend resources (prismd
	// --provisioning=false). Namespaces become active with no resources
	// and a reason that says nothing was created.
	Disabled bool
}

// DefaultLifecycleConfig returns the defaults.
func DefaultLifecycleConfig() LifecycleConfig {
	return LifecycleConfig{
		Interval:           time.Second,
		MinRoundGap:        50 * time.Millisecond,
		CheckInterval:      30 * time.Second,
		ChecksPerRound:     200,
		Workers:            32,
		BackoffMin:         time.Second,
		BackoffMax:         30 * time.Second,
		StepTimeout:        30 * time.Second,
		DeleteWait:         10 * time.Second,
		TombstoneRetention: time.Hour,
	}
}

// Validate checks the config.
func (c LifecycleConfig) Validate() error {
	var errs []error
	if c.Interval <= 0 || c.CheckInterval <= 0 || c.StepTimeout <= 0 || c.DeleteWait <= 0 {
		errs = append(errs, errors.New("controller: intervals and timeouts must be > 0"))
	}
	if c.MinRoundGap < 0 || c.MinRoundGap > c.Interval {
		errs = append(errs, errors.New("controller: min round gap must be between 0 and the interval"))
	}
	if c.Workers < 1 || c.ChecksPerRound < 1 {
		errs = append(errs, errors.New("controller: workers and checks per round must be >= 1"))
	}
	if c.BackoffMin <= 0 || c.BackoffMax < c.BackoffMin {
		errs = append(errs, errors.New("controller: backoff must be 0 < min <= max"))
	}
	if c.TombstoneRetention < 0 {
		errs = append(errs, errors.New("controller: tombstone retention must be >= 0"))
	}
	return errors.Join(errs...)
}

// LifecycleDeps are the lifecycle controller's collaborators.
type LifecycleDeps struct {
	Log     *slog.Logger
	Applier Applier
	State   State
	Clock   Clock
	// Provisioners by backend; Targets the servers they may manage.
	Provisioners provision.Registry
	Targets      provision.Targets
	// AwaitsPlacement reports a provisioning namespace the placement
	// controller has not placed yet: it is not activated before it is.
	AwaitsPlacement func(*fsmpb.Namespace) bool
	// Hooks are test seams; nil in production.
	Hooks *Hooks
	// Metrics, when set, records operations (NewMetrics).
	Metrics *Metrics
}

// Hooks let tests act at the points where a leader may die.
type Hooks struct {
	// AfterBackend runs after a backend call returned and before its
	// result is committed. Returning true simulates the leader dying right
	// there: the controller drops the step without recording anything.
	AfterBackend func(namespace, step string) (die bool)
}
