// Package watch fans committed changes out to watchers. It is fed by the
// state machine's apply loop on each node and never blocks it. It imports
// no network, database or clock.
//
// The Hub keeps a bounded history of recent revisions for resumption and
// serves two kinds of subscriber:
//
//   - a Sub is one watch with its own filtered queue and lock (the Watch RPC:
//     one stream per watch);
//   - a Group is many watches served by one sender (the Watches RPC: one
//     stream per client connection). The hub hands a group each revision
//     once; the sender passes it through each Member's filter. 10,000
//     watches cost 10,000 filter checks per revision, not 10,000 queues,
//     locks and goroutines.
//
// A batch a watcher receives whole carries a Memo shared by every such
// watcher, so the layer above encodes it once. A watcher (or a group) that
// cannot keep up is cut with a resumable error; a watcher resumes from the
// last revision it was sent.
package watch
