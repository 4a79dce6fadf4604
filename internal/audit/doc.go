// Package audit writes the node's audit log: one JSON object per line for
// each authorization decision worth keeping (denials, reads), to a file
// named by a flag.
//
// It is bounded and asynchronous: Log hands the event to a queue of
// Config.Buffer events and returns at once; one goroutine writes them
// through a buffered writer flushed whenever the queue empties, so a burst
// costs one write. When the queue is full, or a write fails, the event is
// dropped and counted (prism_audit_dropped_events_total, Dropped), never
// blocking the request being served and never failing the node.
//
// It must not see secrets: an Event carries a token's public accessor id,
// never the token, and reasons are written as given. JSON escaping keeps a
// field from forging a line of its own. Reopen starts a new file at the
// same path, for logrotate (on SIGHUP).
package audit
