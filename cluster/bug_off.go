//go:build !prism_bug

package cluster

// injectedBug is off in every normal build; see bug_on.go.
const injectedBug = false
