//go:build race

package e2e

// raceEnabled: this test binary runs with the race detector, so TestMain
// builds the binaries with it too.
const raceEnabled = true
