package cluster

import "sync/atomic"

// roundCounts counts the rounds this node's background loops have run, so
// that a test of "nothing happens" can wait for enough rounds of the loop
// that would do it, instead of sleeping and hoping the loop ran.
type roundCounts struct {
	autopilot atomic.Uint64 // membership rounds completed as leader
	bootstrap atomic.Uint64 // bootstrap-loop rounds begun
	sessions  atomic.Uint64 // shard liveness checks completed as leader
}

// AutopilotRounds is how many autopilot (membership) rounds this node has
// completed as leader, over all its leadership stints.
func (n *Node) AutopilotRounds() uint64 { return n.rounds.autopilot.Load() }

// BootstrapRounds is how many rounds the bootstrap loop has begun. The loop
// stops once the node has raft state.
func (n *Node) BootstrapRounds() uint64 { return n.rounds.bootstrap.Load() }

// SessionRounds is how many shard liveness checks this node has completed
// as leader.
func (n *Node) SessionRounds() uint64 { return n.rounds.sessions.Load() }
