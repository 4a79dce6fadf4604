package fsm

import (
	"testing"

	"github.com/prism/controlplane/internal/deptest"
)

// TestImportBoundary: fsm stays pure. Besides deptest.PureStd it imports
// only its generated types, the protobuf runtime and context (WaitIndex
// waits on a caller's cancellation; deptest forbids the context functions
// that read the clock). No clock, randomness, network, database, raft or
// goroutine.
func TestImportBoundary(t *testing.T) {
	deptest.Check(t, deptest.Rules{
		Allow: []string{
			"context",
			"github.com/prism/controlplane/acl",
			"github.com/prism/controlplane/fsm/fsmpb",
			"github.com/prism/controlplane/provision/plan",
			"google.golang.org/protobuf/proto",
			"google.golang.org/protobuf/reflect/protoreflect",
		},
		NoGoroutines: true,
	})
}
