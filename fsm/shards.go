package fsm

import (
	"fmt"
	"sort"

	"github.com/prism/controlplane/fsm/fsmpb"
)

// GetShard returns a shard and the current revision. The value is shared:
// callers must not modify it.
func (f *FSM) GetShard(id string) (*fsmpb.Shard, int64, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	sh, ok := f.s.shards[id]
	if !ok {
		return nil, f.s.revision, fmt.Errorf("%w: %q", ErrShardNotFound, id)
	}
	return sh, f.s.revision, nil
}

// ListShards returns every shard sorted by id, and the current revision.
func (f *FSM) ListShards() ([]*fsmpb.Shard, int64) {
	f.mu.RLock()
	out := make([]*fsmpb.Shard, 0, len(f.s.shards))
	for _, sh := range f.s.shards {
		out = append(out, sh)
	}
	rev := f.s.revision
	f.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Spec.GetId() < out[j].Spec.GetId() })
	return out, rev
}
