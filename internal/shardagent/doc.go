// Package shardagent is the reference shard agent behind cmd/prism-shard:
// it registers a shard, keeps its session alive with heartbeats through any
// control-plane node, watches the namespaces assigned to it, and serves its
// view at GET /assignments. It never forgets what it serves while the
// control plane is unreachable, and resumes from its last revision.
package shardagent
