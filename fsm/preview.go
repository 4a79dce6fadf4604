package fsm

import "github.com/prism/controlplane/fsm/fsmpb"

// Preview runs ApplyNamespace against the current state without changing
// it: what a dry run shows. The command's time is left at zero.
func Preview(f *FSM, spec *fsmpb.NamespaceSpec, expected *int64) Result {
	f.mu.RLock()
	scratch := &state{namespaces: map[string]*fsmpb.Namespace{}, shards: map[string]*fsmpb.Shard{}, revision: f.s.revision, index: f.s.index}
	if ns, ok := f.s.namespaces[spec.GetName()]; ok {
		scratch.namespaces[spec.GetName()] = ns
	}
	f.mu.RUnlock()
	cmd := &fsmpb.Command{Body: &fsmpb.Command_ApplyNamespace{ApplyNamespace: &fsmpb.ApplyNamespace{Spec: spec, ExpectedRevision: expected}}}
	return applyNamespace(scratch, cmd)
}
