//go:build !prism_archive_bug

package archive

// withInjectedBug is the identity in every normal build; see bug_on.go.
func withInjectedBug(c Change) Change { return c }
