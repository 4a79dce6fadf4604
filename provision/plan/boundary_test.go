package plan

import (
	"testing"

	"github.com/prism/controlplane/internal/deptest"
)

// TestImportBoundary: the plan is a pure function of the spec, and the
// state machine imports it, so it reaches no clock, network or database.
func TestImportBoundary(t *testing.T) {
	deptest.Check(t, deptest.Rules{
		Allow: []string{
			"crypto/sha256",
			"net/url",
			"github.com/prism/controlplane/fsm/fsmpb",
		},
		NoGoroutines: true,
	})
}
