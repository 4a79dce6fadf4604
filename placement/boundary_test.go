package placement

import (
	"testing"

	"github.com/prism/controlplane/internal/deptest"
)

// TestImportBoundary: the engine is pure computation over its inputs. It
// imports nothing but deptest.PureStd: no clock, randomness, I/O or
// goroutine.
func TestImportBoundary(t *testing.T) {
	deptest.Check(t, deptest.Rules{NoGoroutines: true})
}
