package acl

import (
	"testing"

	"github.com/prism/controlplane/internal/deptest"
)

// TestImportBoundary: acl is pure, so the FSM can apply its rules.
func TestImportBoundary(t *testing.T) {
	deptest.Check(t, deptest.Rules{
		Allow:        []string{"github.com/prism/controlplane/fsm/fsmpb"},
		NoGoroutines: true,
	})
}
