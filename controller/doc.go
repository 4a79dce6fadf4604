// Package controller holds the leader's controllers, the business logic
// that moves the replicated state on: the namespace lifecycle (Lifecycle),
// placement with its facts and moves (Placement), and shard sessions
// (Sessions). A controller sees the cluster through narrow interfaces (an
// Applier that commits leader commands, a read-only state, a Clock), runs
// one loop per leadership stint (Run until its context ends, Nudge to act
// now), and so unit-tests with a fake applier and a frozen state. The
// placement read helpers (PlacementInput, PlacementPreview,
// DedicatedShards) are pure functions of the replicated state, so any
// node answers what the leader's Placement does. The package never
// imports cluster: the node adapts itself to these interfaces.
package controller
