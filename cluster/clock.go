package cluster

import (
	"sync"
	"time"
)

// Clock is the wall clock a node decides with: the times the leader stamps
// into commands, tombstone retention, shard sessions, the down-shard grace
// and move phases. Raft's own timers (heartbeats, elections, the leader
// lease) do not use it: they run on the monotonic clock, so skew cannot
// make two leaders.
type Clock interface {
	Now() time.Time
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

// SkewClock is a Clock whose offset and rate can be changed while the node
// runs: the Jepsen clock nemesis drives it (only builds with the
// prism_clock tag expose it, at POST /debug/clock).
type SkewClock struct {
	mu   sync.Mutex
	base time.Time // real time at the last Set
	virt time.Time // this clock's time at the last Set
	rate float64
}

// NewSkewClock starts in step with the real clock.
func NewSkewClock() *SkewClock {
	now := time.Now()
	return &SkewClock{base: now, virt: now, rate: 1}
}

// Now is the skewed time (wall clock only: no monotonic reading).
func (c *SkewClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.at(time.Now())
}

func (c *SkewClock) at(real time.Time) time.Time {
	return c.virt.Add(time.Duration(float64(real.Sub(c.base)) * c.rate)).Round(0)
}

// Set jumps the clock to real time plus offset, and from then on runs it at
// rate times real speed (drift). Set(0, 1) is back in step.
func (c *SkewClock) Set(offset time.Duration, rate float64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	c.base, c.virt, c.rate = now, now.Add(offset), rate
}
