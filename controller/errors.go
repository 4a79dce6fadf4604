package controller

import "errors"

// ErrStale: the namespace changed (a new spec, or deleted and re-created)
// while the controller worked on it; its result was not recorded.
var ErrStale = errors.New("controller: namespace changed meanwhile")

// errDied: a test hook simulated the leader dying after a backend call;
// nothing of the step is recorded.
var errDied = errors.New("controller: leader died (test hook)")
