package provision

import (
	"context"

	"github.com/prism/controlplane/provision/plan"
)

// Provisioner manages one backend's resources. Every method is idempotent
// (a new leader may repeat its predecessor's step), honours ctx, is safe
// for concurrent use, and never puts a credential in an error.
type Provisioner interface {
	// Observe reports the resource as it is now, without changing it.
	Observe(ctx context.Context, req Request) (Observation, error)
	// Ensure creates the resource when it is absent (recording Prism's
	// ownership where the backend can hold it) or, when it is Prism's,
	// brings its managed settings to the plan: partitions only grow and
	// only managed config keys change. A resource that exists and is not
	// this namespace's is left untouched: ErrForeign.
	Ensure(ctx context.Context, req Request) (Observation, error)
	// Delete removes the resource if it is this namespace's; absent is
	// success. Not this namespace's (another namespace, an older
	// incarnation, or never Prism's): ErrForeign, nothing dropped. Kafka
	// deletes asynchronously: call Observe until it is gone.
	Delete(ctx context.Context, req Request) error
	// Release gives the resource up without deleting it (on_delete:
	// retain): it stays, and is never again this namespace's.
	Release(ctx context.Context, req Request) error
}

// Registry maps a backend name (plan.Postgres, plan.Kafka) to its
// provisioner.
type Registry map[string]Provisioner

// Request names one resource of one namespace incarnation.
type Request struct {
	ClusterID string
	Namespace string
	// CreateRevision fences the namespace's incarnation: a namespace
	// re-created under the same name has a new one, so a deposed leader
	// acting on the old incarnation cannot drop the new one's table.
	CreateRevision int64
	Resource       plan.Resource
	// Target is the declared target the resource lives on (resolved by
	// Targets.Resolve).
	Target string
	// Owned: the controller committed this resource as the namespace's
	// through raft before any create call (an intent), so an existing
	// resource of that name is taken as Prism's where the backend cannot
	// record ownership itself (Kafka). Postgres checks its registry.
	Owned bool
}

// Owner says whose a resource is.
type Owner int

const (
	OwnerNone    Owner = iota // the resource does not exist
	OwnerThis                 // recorded as this namespace incarnation's
	OwnerOther                // exists, recorded as someone else's or as nobody's
	OwnerUnknown              // exists; the backend records no ownership (Kafka)
)

// Observation is a resource as a provisioner saw it.
type Observation struct {
	Exists bool
	Owner  Owner
	// OwnerDetail names the other owner for status reasons ("namespace x,
	// cluster c"), or says that Prism did not create it.
	OwnerDetail string

	Partitions        int32             // Kafka
	ReplicationFactor int32             // Kafka
	Configs           map[string]string // Kafka: current values of the managed keys
	// Detail describes what exists, for resources[].detail ("20
	// partitions, replication factor 3", "table public.x (keyvalue)").
	Detail string
}
