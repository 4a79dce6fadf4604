//go:build !prism_clock

package server

import (
	"net/http"

	"github.com/prism/controlplane/cluster"
)

// withTestClock: production builds use the real clock and serve no clock
// control (see clock_on.go).
func withTestClock(*cluster.Config) func(*http.ServeMux) { return nil }
