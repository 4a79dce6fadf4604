package audit

import (
	"testing"

	"github.com/prism/controlplane/internal/leakcheck"
)

// TestMain fails the package if a Log's writer goroutine outlives its tests.
func TestMain(m *testing.M) { leakcheck.Main(m) }
