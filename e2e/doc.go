// Package e2e holds end-to-end tests that build prismd and prismctl and
// drive a 3-node cluster of real processes the way a user would.
package e2e
