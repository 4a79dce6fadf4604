package controller

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prism/controlplane/placement"
)

// PlacementConfig tunes the placement controller.
type PlacementConfig struct {
	// Engine tunes the placement engine (placement.DefaultConfig). Every
	// node must use the same, so that plans, previews and explanations on
	// a follower equal what the leader commits.
	Engine placement.Config
	// Interval is how often the controller runs a round when not nudged
	// (a round places only when the state's revision changed).
	Interval time.Duration
	// MinRoundGap is the least time between two rounds: a burst of
	// changes (each nudges) costs one round per gap, not one per change.
	MinRoundGap time.Duration
	// ShardDownGrace: namespaces of a down shard are degraded for this
	// long before they are moved. MoveCooling: a namespace the engine
	// moved is not moved again for this long unless forced.
	ShardDownGrace time.Duration
	MoveCooling    time.Duration
	// MoveShadowTimeout: a move's shadow phase cuts over when the target
	// shard reports ready, or after this long. MoveDrainPeriod: after
	// cutover the old shard keeps the namespace this long, then the move
	// is done (ADR-009).
	MoveShadowTimeout time.Duration
	MoveDrainPeriod   time.Duration
}

// DefaultPlacementConfig returns the defaults: a round every second, a
// 30 s grace for a down shard, 5 min of cooling after a move, a shadow
// phase of at most 30 s and a drain of 5 s.
func DefaultPlacementConfig() PlacementConfig {
	return PlacementConfig{
		Engine:            placement.DefaultConfig(),
		Interval:          time.Second,
		MinRoundGap:       50 * time.Millisecond,
		ShardDownGrace:    30 * time.Second,
		MoveCooling:       5 * time.Minute,
		MoveShadowTimeout: 30 * time.Second,
		MoveDrainPeriod:   5 * time.Second,
	}
}

// Validate checks the config.
func (c PlacementConfig) Validate() error {
	var errs []error
	if c.Interval <= 0 {
		errs = append(errs, errors.New("controller: placement interval must be > 0"))
	}
	if c.MinRoundGap < 0 || c.MinRoundGap > c.Interval {
		errs = append(errs, errors.New("controller: placement min round gap must be between 0 and the interval"))
	}
	if c.ShardDownGrace < 0 || c.MoveCooling < 0 || c.MoveShadowTimeout < 0 || c.MoveDrainPeriod < 0 {
		errs = append(errs, errors.New("controller: shard down grace, move cooling, shadow timeout and drain period must be >= 0"))
	}
	if err := c.Engine.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("controller: placement engine: %w", err))
	}
	return errors.Join(errs...)
}

// PlacementDeps are the placement controller's collaborators.
type PlacementDeps struct {
	Log     *slog.Logger
	Applier Applier
	State   PlacementState
	// Clock measures graces, cooling and move phases from when this
	// controller first saw a state. It must be monotonic (the real
	// time.Now), never the node's skewable wall clock: a leader whose
	// wall clock jumps must not cut a grace short or hold a cutover up.
	Clock Clock
	// Ready is what shards said they are ready to take over (the
	// shard-session controller); nil: none is, and shadow phases end on
	// MoveShadowTimeout.
	Ready Readiness
}
