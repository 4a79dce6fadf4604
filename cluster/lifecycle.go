package cluster

import (
	"context"

	"github.com/prism/controlplane/fsm/fsmpb"
)

// Provisioner creates and removes a namespace's backend resources. The
// leader's lifecycle reconciler calls it; both methods must be idempotent
// (a new leader may repeat work the old one finished but did not record),
// must honour ctx, and must be safe for concurrent use (the reconciler
// moves up to 32 namespaces at once).
type Provisioner interface {
	Provision(ctx context.Context, ns *fsmpb.Namespace) error
	Deprovision(ctx context.Context, ns *fsmpb.Namespace) error
}

// NoopProvisioner has no backends: namespaces become active at once and
// deletions finish at once.
type NoopProvisioner struct{}

func (NoopProvisioner) Provision(context.Context, *fsmpb.Namespace) error   { return nil }
func (NoopProvisioner) Deprovision(context.Context, *fsmpb.Namespace) error { return nil }
