package controller

import (
	"context"
	"time"

	"github.com/prism/controlplane/fsm"
	"github.com/prism/controlplane/fsm/fsmpb"
)

// Applier commits a leader command through raft on this node (never
// forwarded: a controller runs only on the leader).
type Applier interface {
	Apply(ctx context.Context, cmd *fsmpb.Command) (fsm.Result, error)
	// VerifyLeader confirms this node still leads (a quorum answered): a
	// controller calls it right before a destructive backend call.
	VerifyLeader(ctx context.Context) error
}

// State is the replicated state, read-only.
type State interface {
	List(fsm.Filter) ([]*fsmpb.Namespace, int64)
	Get(name string) (*fsmpb.Namespace, int64, error)
	ClusterID() string
}

// Clock is the leader's wall clock.
type Clock interface{ Now() time.Time }

// ShardState is the replicated shard table, read-only.
type ShardState interface {
	ListShards() ([]*fsmpb.Shard, int64)
	GetShard(id string) (*fsmpb.Shard, int64, error)
}

// PlacementState is what the placement controller reads of the
// replicated state.
type PlacementState interface {
	ShardState
	Get(name string) (*fsmpb.Namespace, int64, error)
	List(fsm.Filter) ([]*fsmpb.Namespace, int64)
	// State is every namespace and shard at one revision.
	State() ([]*fsmpb.Namespace, []*fsmpb.Shard, int64)
	// Moving lists the namespaces with a move in flight; Cooling those
	// whose last move has not cooled yet.
	Moving() []*fsmpb.Namespace
	Cooling() []*fsmpb.Namespace
	// Revision is the state's current revision.
	Revision() int64
}

// Readiness tells whether a shard's last heartbeat said it is ready to
// take a namespace over (the shard-session controller knows).
type Readiness interface {
	IsReady(shard, namespace string) bool
}
