package cluster_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if any goroutine outlives its tests: a wait
// abandoned by a deadline, a stopped node's loops, connections to peers.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
