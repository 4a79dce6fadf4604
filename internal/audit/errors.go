package audit

import "errors"

var (
	// ErrInvalidConfig: a Config field is invalid.
	ErrInvalidConfig = errors.New("audit: invalid config")
	// ErrOpen: the audit file could not be opened, or closed.
	ErrOpen = errors.New("audit: cannot open the audit file")
	// ErrClosed: the Log was closed.
	ErrClosed = errors.New("audit: log closed")
)
