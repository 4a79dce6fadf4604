package fsm

import (
	"context"
	"fmt"
	"sort"
	"sync"

	"github.com/prism/controlplane/acl"
	"github.com/prism/controlplane/fsm/fsmpb"
)

// Result is what applying one log entry produced.
type Result struct {
	Revision  int64            // cluster revision after the entry
	Namespace *fsmpb.Namespace // the namespace the command touched, if any
	Shard     *fsmpb.Shard     // the shard the command touched, if any
	Token     *fsmpb.Token     // the token the command touched (no secret hash)
	// Deleted: the object (Namespace or Shard) was removed from the state.
	Deleted bool
	// PrevShards: the shards the namespace was on before this change
	// (Involved); a shard in it and not on now sees the namespace leave.
	// Zero when the change did not touch assignments.
	PrevShards [2]string
	Unchanged  bool  // the command matched the state; nothing changed
	Err        error // business error; the state is unchanged
	// Command is the body name of the command applied ("apply_namespace",
	// ...), and UnixNano the time the leader stamped into it: what the
	// archive records as the kind and the time of a change.
	Command  string
	UnixNano int64
	// Principal is who sent the command (kind/name, "" for the leader's
	// own): what the archive records as who made the change.
	Principal string
}

// ToProto encodes the result for forwarding between nodes.
func (r Result) ToProto() *fsmpb.ApplyResult {
	return &fsmpb.ApplyResult{Revision: r.Revision, Namespace: r.Namespace, Shard: r.Shard, Token: r.Token, Error: ErrorToProto(r.Err), Unchanged: r.Unchanged}
}

// ResultFromProto is the inverse of Result.ToProto.
func ResultFromProto(p *fsmpb.ApplyResult) Result {
	return Result{Revision: p.GetRevision(), Namespace: p.GetNamespace(), Shard: p.GetShard(), Token: p.GetToken(), Err: ErrorFromProto(p.GetError()), Unchanged: p.GetUnchanged()}
}

// Entry is one raft log entry handed to ApplyBatch.
type Entry struct {
	Index uint64
	// Data is the encoded command; nil for entries that only advance the
	// index (raft configuration changes).
	Data []byte
}

// state is the replicated data. Stored *fsmpb.Namespace values are never
// mutated after they are stored: a change stores a new clone, so readers
// and snapshots may hold them without copying.
type state struct {
	namespaces map[string]*fsmpb.Namespace
	shards     map[string]*fsmpb.Shard
	revision   int64
	index      uint64
	clusterID  string
	generation uint64 // operator restores so far (SnapshotHeader.generation)
	requests   *requestLog
	claims     *claims // derived from namespaces; nil until first used
	acl        aclState
}

func newState() *state {
	return &state{namespaces: map[string]*fsmpb.Namespace{}, shards: map[string]*fsmpb.Shard{}, requests: newRequestLog(), acl: newACLState()}
}

// FSM is the state machine. Apply methods are called by one goroutine (raft's
// FSM loop); read methods are safe from any goroutine.
type FSM struct {
	mu sync.RWMutex
	s  *state

	// advanced is closed and replaced each time the applied index moves.
	waitMu   sync.Mutex
	advanced chan struct{}

	// OnRestore, when set, is called after a snapshot replaced the state,
	// so watchers can be told to reset. It must not block.
	OnRestore func(replaced bool)
}

// New returns an empty state machine.
func New() *FSM {
	return &FSM{s: newState(), advanced: make(chan struct{})}
}

// ApplyBatch applies entries in order and returns one Result per entry.
func (f *FSM) ApplyBatch(entries []Entry) []Result {
	out := make([]Result, len(entries))
	f.mu.Lock()
	for i, e := range entries {
		if e.Data != nil {
			out[i] = f.s.apply(e.Data)
		} else {
			out[i] = Result{Revision: f.s.revision, Unchanged: true}
		}
		f.s.index = e.Index
	}
	f.mu.Unlock()
	f.signal()
	return out
}

// Apply applies one entry.
func (f *FSM) Apply(index uint64, data []byte) Result {
	return f.ApplyBatch([]Entry{{Index: index, Data: data}})[0]
}

func (s *state) apply(data []byte) Result {
	cmd, err := DecodeCommand(data)
	if err != nil {
		// A committed entry this binary cannot read would make replicas
		// diverge if skipped.
		panic(err)
	}
	name := BodyName(cmd)
	h, ok := handlers[name]
	if !ok {
		if cmd.GetIgnorable() {
			return Result{Revision: s.revision, Unchanged: true, Err: fmt.Errorf("%w: %q skipped (ignorable)", ErrUnknownCommand, name)}
		}
		panic(fmt.Sprintf("%v: body %q is not ignorable; upgrade this node", ErrUnknownCommand, name))
	}
	var res Result
	if err := s.authorize(cmd, name); err != nil {
		res = Result{Revision: s.revision, Err: err}
	} else {
		res = s.applyOnce(cmd, h)
	}
	res.Command, res.UnixNano = name, cmd.UnixNano
	if cmd.Principal != nil {
		res.Principal = acl.FromProto(cmd.Principal).String()
	}
	return res
}

// bump advances the cluster revision for one committed change.
func (s *state) bump() int64 {
	s.revision++
	return s.revision
}

func (f *FSM) signal() {
	f.waitMu.Lock()
	close(f.advanced)
	f.advanced = make(chan struct{})
	f.waitMu.Unlock()
}

// Index is the raft index of the last entry applied.
func (f *FSM) Index() uint64 {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.s.index
}

// ClusterID is the id the cluster's first leader chose ("" until then).
func (f *FSM) ClusterID() string {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.s.clusterID
}

// Generation counts the operator restores this state has been through.
func (f *FSM) Generation() uint64 {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.s.generation
}

// Revision is the current cluster revision.
func (f *FSM) Revision() int64 {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.s.revision
}

// WaitIndex blocks until the entry at index has been applied.
func (f *FSM) WaitIndex(ctx context.Context, index uint64) error {
	for {
		f.waitMu.Lock()
		ch := f.advanced
		f.waitMu.Unlock()
		if f.Index() >= index {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Get returns a namespace (tombstones included) and the current revision.
// The returned value is shared: callers must not modify it.
func (f *FSM) Get(name string) (*fsmpb.Namespace, int64, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	ns, ok := f.s.namespaces[name]
	if !ok {
		return nil, f.s.revision, fmt.Errorf("%w: %q", ErrNotFound, name)
	}
	return ns, f.s.revision, nil
}

// State returns every live namespace and every shard, sorted, at one
// revision (one read lock).
func (f *FSM) State() ([]*fsmpb.Namespace, []*fsmpb.Shard, int64) {
	f.mu.RLock()
	nss := make([]*fsmpb.Namespace, 0, len(f.s.namespaces))
	for _, ns := range f.s.namespaces {
		if ns.Status != statusDeleted {
			nss = append(nss, ns)
		}
	}
	shs := make([]*fsmpb.Shard, 0, len(f.s.shards))
	for _, sh := range f.s.shards {
		shs = append(shs, sh)
	}
	rev := f.s.revision
	f.mu.RUnlock()
	sort.Slice(nss, func(i, j int) bool { return nss[i].Spec.GetName() < nss[j].Spec.GetName() })
	sort.Slice(shs, func(i, j int) bool { return shs[i].Spec.GetId() < shs[j].Spec.GetId() })
	return nss, shs, rev
}

// Moving lists the namespaces with a move in flight, sorted by name.
func (f *FSM) Moving() []*fsmpb.Namespace {
	f.mu.RLock()
	var out []*fsmpb.Namespace
	for _, ns := range f.s.namespaces {
		if ns.Move != nil && ns.Status != fsmpb.NamespaceStatus_NAMESPACE_STATUS_DELETED {
			out = append(out, ns)
		}
	}
	f.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Spec.GetName() < out[j].Spec.GetName() })
	return out
}

// Cooling lists the live namespaces cooling after a placement move, sorted
// by name.
func (f *FSM) Cooling() []*fsmpb.Namespace {
	f.mu.RLock()
	var out []*fsmpb.Namespace
	for _, ns := range f.s.namespaces {
		if ns.CoolingSinceRevision != 0 && ns.Status != fsmpb.NamespaceStatus_NAMESPACE_STATUS_DELETED {
			out = append(out, ns)
		}
	}
	f.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Spec.GetName() < out[j].Spec.GetName() })
	return out
}

// AssignedTo lists the live namespaces assigned to a shard, sorted.
func (f *FSM) AssignedTo(id string) []string {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.s.assignedTo(id)
}

// Filter selects namespaces in List. Zero values match everything except
// tombstones (status deleted), which need IncludeDeleted or Status deleted.
type Filter struct {
	Status         fsmpb.NamespaceStatus
	ShardID        string
	IncludeDeleted bool
}

func (fl Filter) match(ns *fsmpb.Namespace) bool {
	if fl.Status != fsmpb.NamespaceStatus_NAMESPACE_STATUS_UNSPECIFIED {
		return ns.Status == fl.Status && (fl.ShardID == "" || IsOn(ns, fl.ShardID))
	}
	if ns.Status == fsmpb.NamespaceStatus_NAMESPACE_STATUS_DELETED && !fl.IncludeDeleted {
		return false
	}
	return fl.ShardID == "" || IsOn(ns, fl.ShardID)
}

// List returns matching namespaces sorted by name, and the current revision.
func (f *FSM) List(fl Filter) ([]*fsmpb.Namespace, int64) {
	f.mu.RLock()
	out := make([]*fsmpb.Namespace, 0, len(f.s.namespaces))
	for _, ns := range f.s.namespaces {
		if fl.match(ns) {
			out = append(out, ns)
		}
	}
	rev := f.s.revision
	f.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Spec.GetName() < out[j].Spec.GetName() })
	return out, rev
}
