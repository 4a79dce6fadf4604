package controller

import (
	"context"
	"time"
)

// loop runs step now, then every interval or when nudged, until ctx ends;
// two steps are at least gap apart, so a burst of nudges costs one step
// per gap (0: no gap).
func loop(ctx context.Context, interval, gap time.Duration, nudge <-chan struct{}, step func()) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		last := time.Now()
		step()
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-nudge:
		}
		if wait := gap - time.Since(last); wait > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
		}
	}
}
