//go:build race

package main

// raceEnabled: this test binary runs with the race detector, so the
// prismctl it builds does too.
const raceEnabled = true
