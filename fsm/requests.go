package fsm

import "github.com/prism/controlplane/fsm/fsmpb"

// The request log makes a client's write take effect at most once, however
// often it is sent: the client tags a change with an id it keeps across
// retries, and a command whose id was applied recently changes nothing (the
// Raft thesis' client sessions, §6.3, with one id per request instead of a
// session). Without it, a retry after an uncertain failure could apply a
// change twice, and a copy delivered late (held up in a partition) could
// apply it again after a change that came between: a re-apply after a
// delete re-creates the namespace (Jepsen bug 5).
//
// Entries expire by leader-stamped time (RequestWindow) and by count
// (maxRequests), in apply order, so every replica keeps the same ones. A
// late copy is in practice bounded by gRPC keepalive (a connection that
// stops answering is dropped within ~15 s, by clients and by forwarding
// nodes); the window is far longer. Memory: an entry holds the namespace
// version it left, shared with the state until replaced, so at most
// maxRequests old versions (tens of MB under a sustained heavy write load).
const (
	// RequestWindow is how long an applied request id is remembered.
	RequestWindow int64 = 10 * 60 * 1e9 // ns
	maxRequests         = 100_000
	// MaxRequestIDBytes bounds a request id.
	MaxRequestIDBytes = 64
)

type requestLog struct {
	byID  map[string]applied
	order []*fsmpb.RequestRecord
	head  int // order[head:] are live
}

// applied is what a repeat of a request answers: the revision it was
// applied at and the namespace or shard it left (nil after a restore:
// snapshots keep only ids and revisions).
type applied struct {
	rev   int64
	ns    *fsmpb.Namespace
	shard *fsmpb.Shard
}

func newRequestLog() *requestLog { return &requestLog{byID: map[string]applied{}} }

// seen reports whether id was applied, and how.
func (l *requestLog) seen(id string) (applied, bool) {
	a, ok := l.byID[id]
	return a, ok
}

// record remembers id, first dropping entries older than the window as of
// now (the command's stamp) or beyond the count limit.
func (l *requestLog) record(id string, a applied, now int64) {
	for l.head < len(l.order) {
		r := l.order[l.head]
		if r.UnixNano >= now-RequestWindow && len(l.order)-l.head < maxRequests {
			break
		}
		delete(l.byID, r.Id)
		l.order[l.head] = nil
		l.head++
	}
	if l.head > len(l.order)/2 && l.head > 1024 { // compact the slice now and then
		l.order = append([]*fsmpb.RequestRecord(nil), l.order[l.head:]...)
		l.head = 0
	}
	l.byID[id] = a
	l.order = append(l.order, &fsmpb.RequestRecord{Id: id, Revision: a.rev, UnixNano: now})
}

// live is the records remembered, oldest first (shared: records are
// immutable).
func (l *requestLog) live() []*fsmpb.RequestRecord { return l.order[l.head:] }

// restore appends a record read from a snapshot (in its order).
func (l *requestLog) restore(r *fsmpb.RequestRecord) {
	l.byID[r.Id] = applied{rev: r.Revision}
	l.order = append(l.order, r)
}

// applyOnce runs h unless cmd's request id was applied already. A repeat
// changes nothing and answers as the first did: its revision and the
// namespace it left (the namespace as it is now, when the first was
// applied before a snapshot this node restored).
func (s *state) applyOnce(cmd *fsmpb.Command, h handler) Result {
	id := cmd.GetRequestId()
	if id == "" {
		return h(s, cmd)
	}
	if a, dup := s.requests.seen(id); dup {
		res := Result{Revision: a.rev, Namespace: a.ns, Shard: a.shard, Unchanged: true}
		if res.Namespace == nil && res.Shard == nil {
			res.Namespace, res.Shard = s.touched(cmd)
		}
		return res
	}
	res := h(s, cmd)
	if res.Err == nil {
		s.requests.record(id, applied{rev: res.Revision, ns: res.Namespace, shard: res.Shard}, cmd.UnixNano)
	}
	return res
}

// touched is the object a command names, as it is now (nil when gone):
// what a repeat answers when the first attempt's answer was not kept.
func (s *state) touched(cmd *fsmpb.Command) (*fsmpb.Namespace, *fsmpb.Shard) {
	var name, shard string
	switch b := cmd.Body.(type) {
	case *fsmpb.Command_ApplyNamespace:
		name = b.ApplyNamespace.GetSpec().GetName()
	case *fsmpb.Command_DeleteNamespace:
		name = b.DeleteNamespace.GetName()
	case *fsmpb.Command_AssignNamespace:
		name = b.AssignNamespace.GetName()
	case *fsmpb.Command_RegisterShard:
		shard = b.RegisterShard.GetSpec().GetId()
	case *fsmpb.Command_SetShardState:
		shard = b.SetShardState.GetId()
	}
	if name != "" {
		ns, _ := s.live(name)
		return ns, nil
	}
	if shard != "" {
		return nil, s.shards[shard]
	}
	return nil, nil
}
