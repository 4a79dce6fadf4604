// Package leakcheck fails a test binary whose goroutines outlive its tests
// (go.uber.org/goleak), giving those that end by themselves a few seconds.
package leakcheck

import (
	"fmt"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// grace is how long goroutines may take to end after the last test: some
// end by themselves shortly after a Shutdown returns (memberlist's probe in
// flight ends within its probe interval). A leaked goroutine never does.
const grace = 5 * time.Second

// Main runs the tests, then fails if goroutines are still running after
// the grace. Call it from TestMain.
func Main(m *testing.M) { os.Exit(Check(m.Run())) }

// Check is Main's leak check for a TestMain that must do more after the
// tests (stop a server they shared): given the tests' exit code, it
// returns it, or 1 if goroutines are still running after the grace.
func Check(code int) int {
	if code != 0 {
		return code
	}
	deadline := time.Now().Add(grace)
	for {
		err := goleak.Find()
		if err == nil {
			return code
		}
		if time.Now().After(deadline) {
			fmt.Fprintf(os.Stderr, "leakcheck: goroutines outlived the tests by %s: %v\n", grace, err)
			return 1
		}
		time.Sleep(100 * time.Millisecond)
	}
}
