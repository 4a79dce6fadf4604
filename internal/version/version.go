// Package version holds the build version, set with -ldflags by make build.
package version

// Version is the build's version (git describe), "dev" when not set.
var Version = "dev"
