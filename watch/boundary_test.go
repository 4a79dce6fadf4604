package watch

import (
	"testing"

	"github.com/prism/controlplane/internal/deptest"
)

// TestImportBoundary: the hub is fed by the apply loop and must never block
// it or depend on time. Besides deptest.PureStd it imports only the state
// machine's types: no clock, network, database or goroutine of its own.
func TestImportBoundary(t *testing.T) {
	deptest.Check(t, deptest.Rules{
		Allow: []string{
			"github.com/prism/controlplane/fsm",
			"github.com/prism/controlplane/fsm/fsmpb",
		},
		NoGoroutines: true,
	})
}
