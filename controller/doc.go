// Package controller holds the leader's controllers: the business logic
// that moves the replicated state on (today the namespace lifecycle; the
// placement and shard-session controllers still live in cluster). A
// controller sees the cluster through narrow interfaces (an Applier that
// commits leader commands, a read-only State, a Clock), runs one loop per
// leadership stint (Run until its context ends), and so unit-tests with a
// fake applier and a frozen state.
package controller
