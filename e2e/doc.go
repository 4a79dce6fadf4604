// Package e2e holds end-to-end tests that build prismd, prismctl and
// prism-shard and drive clusters of real processes the way a user would.
//
// TestMain builds the binaries once, with -race when the suite runs with
// it; a process's race report fails its test. Under -short nothing is built
// and every test skips, saying why.
package e2e
