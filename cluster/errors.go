package cluster

import "errors"

var (
	// ErrNoLeader: no leader is known (election in progress or no quorum).
	ErrNoLeader = errors.New("cluster: no leader")
	// ErrNotLeader: this node is not the leader and may not forward.
	ErrNotLeader = errors.New("cluster: not the leader")
	// ErrUncertain: the write reached the leader, then leadership or the
	// connection was lost; it may or may not have been committed.
	ErrUncertain = errors.New("cluster: outcome unknown")
	// ErrShutdown: the node is shutting down.
	ErrShutdown = errors.New("cluster: shutting down")
	// ErrUnauthenticated: a node-to-node call without this cluster's token.
	ErrUnauthenticated = errors.New("cluster: not a node of this cluster")
	// ErrListenerClosed: the raft port's listeners (raft's and Internal's)
	// are closed because the node stopped.
	ErrListenerClosed = errors.New("cluster: raft listener closed")
	// ErrInvalidConfig: a Config field is invalid.
	ErrInvalidConfig = errors.New("cluster: invalid config")
	// ErrRestoreInProgress: this node is already restoring a snapshot.
	ErrRestoreInProgress = errors.New("cluster: a snapshot restore is already in progress")
	// ErrSnapshotTooLarge: a snapshot sent to restore is over the limit.
	ErrSnapshotTooLarge = errors.New("cluster: snapshot too large")
)
