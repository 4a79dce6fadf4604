//go:build prism_archive_bug

package archive

import (
	"sync"

	"github.com/prism/controlplane/fsm/fsmpb"
)

// withInjectedBug is the bug `make jepsen-archive-selftest` must catch
// (jepsen/README.md): a namespace put at a revision that is a multiple of
// 50 is archived with the name's previous version (the object as it was
// before the change), when this process saw one. The store accepts it
// (kind, name and op agree), and so does a rebuild; only comparing the
// archive with what the cluster committed finds it. Only a
// `-tags prism_archive_bug` build has it.
func withInjectedBug(c Change) Change {
	if c.Namespace == nil || c.Op != OpPut {
		return c
	}
	injected.mu.Lock()
	defer injected.mu.Unlock()
	if injected.last == nil {
		injected.last = map[string]*fsmpb.Namespace{}
	}
	prev := injected.last[c.Name]
	injected.last[c.Name] = c.Namespace
	if prev != nil && c.Revision%50 == 0 {
		c.Namespace = prev
	}
	return c
}

// injected holds, per name, the last namespace version ChangeOf saw.
var injected struct {
	mu   sync.Mutex
	last map[string]*fsmpb.Namespace
}
