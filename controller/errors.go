package controller

import "errors"

// ErrStale: the namespace changed (a new spec, or deleted and re-created)
// while the controller worked on it; its result was not recorded.
var ErrStale = errors.New("controller: namespace changed meanwhile")
