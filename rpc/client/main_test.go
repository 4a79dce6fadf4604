package client

import (
	"testing"

	"github.com/prism/controlplane/internal/leakcheck"
)

// TestMain fails the package if any goroutine outlives its tests: a wait
// abandoned by a deadline, a stopped node's loops, connections to peers.
func TestMain(m *testing.M) { leakcheck.Main(m) }
