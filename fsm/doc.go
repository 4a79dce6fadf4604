// Package fsm is the deterministic state machine of the Prism control plane.
//
// It owns the replicated state (namespaces, shards, manual assignments and
// the cluster revision), the
// encoding of raft log entries (a version byte, then one fsmpb.Command with a
// oneof body), one handler per command registered in one table, and
// snapshots written per table.
//
// It must not read a clock, randomness or map order inside apply, and it
// imports no network, database or raft package: the cluster package adapts
// it to hashicorp/raft. Leader-made decisions (times, placement) arrive
// stamped inside the commands. Business errors are values in a Result; only
// an unknown, non-ignorable command panics, so replicas never diverge.
package fsm
