// Package watch fans committed changes out to watchers: a bounded history of
// recent events for resumption, per-watcher queues that hold only what is
// pending (each with its own lock), and filters. A batch a watcher receives
// whole carries a Memo shared by all such watchers, so the layer above
// encodes it once. It
// is fed by the state machine's apply loop on each node and never blocks it:
// a watcher that cannot keep up is cut with a resumable error carrying the
// last revision it was sent. It imports no network, database or clock.
package watch
