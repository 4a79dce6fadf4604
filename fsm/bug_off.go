//go:build !prism_bug

package fsm

// revokeKeepsToken is off in every normal build; see bug_on.go.
const revokeKeepsToken = false
