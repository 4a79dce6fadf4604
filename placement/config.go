package placement

import (
	"errors"
	"fmt"
)

// Config tunes the engine. Fractions are per mille (750 = 75 %).
type Config struct {
	// TargetUtil: a placement never takes a shared shard above this in any dimension.
	TargetUtil int64
	// HighWatermark: a shard above this in some dimension is relieved back to TargetUtil.
	HighWatermark int64
	// DedicatedFraction: a namespace whose demand exceeds this fraction of the
	// largest eligible shard in some dimension needs a shard of its own.
	DedicatedFraction int64
	// PackFloor: small namespaces are co-located on already-used shards up to
	// at least this utilization before an empty shard is opened (see DESIGN.md).
	PackFloor int64
	// PackSlack: the pack limit is the projected mean fill of the backend's
	// shared shards times (1000+PackSlack)/1000, at least PackFloor, at most TargetUtil.
	PackSlack int64
	// RebalanceMaxMoves is the default budget of Rebalance; 0 means 0.5 % of
	// the namespaces, at least 1.
	RebalanceMaxMoves int
	// RebalanceMinGain: a rebalance move must lower the worst-dimension
	// utilization of the busier of its two shards by at least this (per mille).
	RebalanceMinGain int64
}

// DefaultConfig returns the defaults from the issue plus the engine's own choices.
func DefaultConfig() Config {
	return Config{
		TargetUtil:        750,
		HighWatermark:     850,
		DedicatedFraction: 500,
		PackFloor:         375,
		PackSlack:         50,
		RebalanceMaxMoves: 0,
		RebalanceMinGain:  10,
	}
}

// Validate lists every problem of the config.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalidConfig}, args...)...))
	}
	if c.TargetUtil <= 0 || c.TargetUtil > 1000 {
		bad("TargetUtil %d not in (0, 1000]", c.TargetUtil)
	}
	if c.HighWatermark <= 0 || c.HighWatermark > 1000 {
		bad("HighWatermark %d not in (0, 1000]", c.HighWatermark)
	}
	if c.HighWatermark < c.TargetUtil {
		bad("HighWatermark %d below TargetUtil %d", c.HighWatermark, c.TargetUtil)
	}
	if c.DedicatedFraction <= 0 || c.DedicatedFraction > 1000 {
		bad("DedicatedFraction %d not in (0, 1000]", c.DedicatedFraction)
	}
	if c.PackFloor < 0 || c.PackFloor > 1000 {
		bad("PackFloor %d not in [0, 1000]", c.PackFloor)
	}
	if c.PackSlack < 0 {
		bad("PackSlack %d negative", c.PackSlack)
	}
	if c.RebalanceMaxMoves < 0 {
		bad("RebalanceMaxMoves %d negative", c.RebalanceMaxMoves)
	}
	if c.RebalanceMinGain < 0 || c.RebalanceMinGain > 1000 {
		bad("RebalanceMinGain %d not in [0, 1000]", c.RebalanceMinGain)
	}
	return errors.Join(errs...)
}

// normalized replaces out-of-range fields with defaults so the engine never
// fails on a bad config (callers should Validate first).
func (c Config) normalized() Config {
	d := DefaultConfig()
	if c.TargetUtil <= 0 || c.TargetUtil > 1000 {
		c.TargetUtil = d.TargetUtil
	}
	if c.HighWatermark <= 0 || c.HighWatermark > 1000 || c.HighWatermark < c.TargetUtil {
		c.HighWatermark = max(d.HighWatermark, c.TargetUtil)
	}
	if c.DedicatedFraction <= 0 || c.DedicatedFraction > 1000 {
		c.DedicatedFraction = d.DedicatedFraction
	}
	if c.PackFloor < 0 || c.PackFloor > 1000 {
		c.PackFloor = d.PackFloor
	}
	if c.PackSlack < 0 {
		c.PackSlack = d.PackSlack
	}
	if c.RebalanceMaxMoves < 0 {
		c.RebalanceMaxMoves = 0
	}
	if c.RebalanceMinGain < 0 || c.RebalanceMinGain > 1000 {
		c.RebalanceMinGain = d.RebalanceMinGain
	}
	return c
}

// rebalanceBudget is the default move budget for n namespaces.
func (c Config) rebalanceBudget(n int) int {
	if c.RebalanceMaxMoves > 0 {
		return c.RebalanceMaxMoves
	}
	return max(1, n*5/1000)
}
