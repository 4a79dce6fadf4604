package rpc

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/prism/controlplane/acl"
	"github.com/prism/controlplane/cluster"
	"github.com/prism/controlplane/fsm"
	"github.com/prism/controlplane/fsm/fsmpb"
	"github.com/prism/controlplane/rpc/rpcpb"
	"github.com/prism/controlplane/watch"
)

// initialChunk bounds the events of one message while sending the state.
const initialChunk = 500

type watchService struct {
	rpcpb.UnimplementedWatchServiceServer
	node       *cluster.Node
	listings   *listings
	maxWatches int             // per Watches stream
	stopping   <-chan struct{} // closed when the node drains: streams end with ErrStopping
	noLeader   *leaderlessSignal
	auth       *authorizer // ends streams whose token is revoked or expires
}

// tokenCheckInterval is how often a watch stream opened with a token
// checks that this node still holds it: a revocation ends the stream
// (PermissionDenied) within this much of the node applying it.
const tokenCheckInterval = 200 * time.Millisecond

// restrictWatch narrows a watch to what its caller may see: a shard only
// its own assignments (as itself: asking for another shard is denied),
// owners and consumers only their namespaces, viewers everything.
func restrictWatch(c caller, req *rpcpb.WatchRequest, f *watch.Filter) error {
	switch {
	case !c.enforce || c.p.Has(acl.RoleViewer):
		return nil
	case c.p.Kind == acl.KindShard:
		if req.ShardId != "" && req.ShardId != c.p.Name {
			return fmt.Errorf("%w: %s may watch only its own assignments, not shard %q's", acl.ErrPermissionDenied, c.p, req.ShardId)
		}
		f.ShardID = c.p.Name
		return nil
	}
	p := c.p
	f.Allow = func(e watch.Event) bool {
		return e.Kind == watch.KindNamespace && acl.CanReadNamespace(p, e.Namespace)
	}
	return nil
}

func toWatchEvent(e watch.Event) *rpcpb.WatchEvent {
	return &rpcpb.WatchEvent{Type: e.Type, Revision: e.Revision, Kind: e.Kind, Name: e.Name, Namespace: redacted(e.Namespace), Shard: e.Shard}
}

func watchFilter(c caller, req *rpcpb.WatchRequest) (watch.Filter, error) {
	f := watch.Filter{ShardID: req.ShardId}
	if err := restrictWatch(c, req, &f); err != nil {
		return f, err
	}
	var bad []fsm.FieldError
	if len(req.Kinds) > 0 {
		f.Kinds = map[string]bool{}
		for _, k := range req.Kinds {
			if k != watch.KindNamespace && k != watch.KindShard {
				bad = append(bad, fsm.FieldError{Path: "kinds", Message: "must be namespace or shard (got " + strconv.Quote(k) + ")"})
			}
			f.Kinds[k] = true
		}
	}
	if len(req.Names) > 0 {
		f.Names = map[string]bool{}
		for _, n := range req.Names {
			f.Names[n] = true
		}
	}
	if req.FromRevision < 0 {
		bad = append(bad, fsm.FieldError{Path: "from_revision", Message: "must not be negative"})
	}
	if ms := req.BookmarkIntervalMs; ms != 0 && (ms < minBookmarkMs || ms > maxBookmarkMs) {
		bad = append(bad, fsm.FieldError{Path: "bookmark_interval_ms",
			Message: fmt.Sprintf("must be 0 (every 5 s) or from %d to %d (got %d)", minBookmarkMs, maxBookmarkMs, ms)})
	}
	if bad != nil {
		return f, &fsm.ValidationError{Fields: bad}
	}
	return f, nil
}

// watchStatus turns the end of a watch into a gRPC status with a reason.
func watchStatus(err error) error {
	var st *status.Status
	var meta map[string]string
	var reason string
	switch {
	case errors.Is(err, watch.ErrCompacted):
		st, reason = status.New(codes.OutOfRange, err.Error()), rpcpb.ReasonCompacted
		meta = map[string]string{"oldest_revision": strconv.FormatInt(compactedOldest(err), 10)}
	case errors.Is(err, watch.ErrSlow):
		st, reason = status.New(codes.Aborted, err.Error()), rpcpb.ReasonWatcherTooSlow
	case errors.Is(err, watch.ErrReset):
		st, reason = status.New(codes.Aborted, err.Error()), rpcpb.ReasonReset
	default:
		return toStatus(err)
	}
	if d, derr := st.WithDetails(&errdetails.ErrorInfo{Domain: rpcpb.ErrorDomain, Reason: reason, Metadata: meta}); derr == nil {
		st = d
	}
	return st.Err()
}

// compactedOldest is the oldest revision a *watch.CompactedError carries (0
// for other errors).
func compactedOldest(err error) int64 {
	var ce *watch.CompactedError
	if errors.As(err, &ce) {
		return ce.Oldest
	}
	return 0
}

// listing is the state at revision rev as the filter selects it: put
// events in chunks of at most initialChunk, the last chunk closed by a
// bookmark at rev.
func listing(filter watch.Filter, nss []*fsmpb.Namespace, shs []*fsmpb.Shard, rev int64) [][]*rpcpb.WatchEvent {
	var chunks [][]*rpcpb.WatchEvent
	var batch []*rpcpb.WatchEvent
	add := func(e watch.Event) {
		if m, ok := filter.Match(e); ok {
			batch = append(batch, toWatchEvent(m))
		}
		if len(batch) >= initialChunk {
			chunks, batch = append(chunks, batch), nil
		}
	}
	for _, ns := range nss {
		add(watch.Event{Type: watch.Put, Kind: watch.KindNamespace, Name: ns.Spec.GetName(), Revision: ns.Revision, Namespace: ns})
	}
	for _, sh := range shs {
		add(watch.Event{Type: watch.Put, Kind: watch.KindShard, Name: sh.Spec.GetId(), Revision: sh.Revision, Shard: sh})
	}
	return append(chunks, append(batch, &rpcpb.WatchEvent{Type: watch.Bookmark, Revision: rev}))
}

// Bookmark intervals a watch may ask for: 10 ms to an hour.
const (
	minBookmarkMs = 10
	maxBookmarkMs = 3_600_000
)

// listingTimeout bounds the linearizable point a listing starts from: a
// node that cannot reach its leader says so (Unavailable, NO_LEADER) and
// the client tries another, rather than holding the watch silently.
const listingTimeout = 5 * time.Second

// bookmarkInterval is the request's progress interval (default 5 s).
func bookmarkInterval(req *rpcpb.WatchRequest) time.Duration {
	if req.BookmarkIntervalMs > 0 {
		return time.Duration(req.BookmarkIntervalMs) * time.Millisecond
	}
	return 5 * time.Second
}

func (w *watchService) Watch(req *rpcpb.WatchRequest, stream rpcpb.WatchService_WatchServer) error {
	filter, err := watchFilter(callerOf(stream.Context()), req)
	if err != nil {
		return toStatus(err)
	}
	ctx, cancel := w.untilStopping(stream.Context())
	defer cancel()
	hub := w.node.Hub()
	var sub *watch.Sub
	if req.FromRevision == 0 {
		// The current state, as of a linearizable point, then what follows.
		chunks, rev, err := w.listings.list(ctx, w.node, filter)
		if err != nil {
			return w.endStatus(ctx, err)
		}
		if sub, err = hub.Subscribe(rev, filter); err != nil {
			return watchStatus(err)
		}
		defer sub.Close()
		for _, chunk := range chunks {
			if err := stream.Send(&rpcpb.WatchResponse{Events: chunk}); err != nil {
				return err
			}
		}
	} else {
		if sub, err = hub.Subscribe(req.FromRevision, filter); err != nil {
			return watchStatus(err)
		}
		defer sub.Close()
	}
	tick := time.NewTicker(bookmarkInterval(req))
	defer tick.Stop()
	var batches []watch.Batch
	for {
		select {
		case <-ctx.Done():
			return w.endStatus(ctx, ctx.Err())
		case <-sub.Ready():
			var ok bool
			if batches, ok = sub.Next(batches); !ok {
				err := sub.Err()
				if errors.Is(err, watch.ErrReset) {
					_ = stream.Send(&rpcpb.WatchResponse{Events: []*rpcpb.WatchEvent{{Type: watch.Reset, Revision: hub.Latest()}}})
				}
				return watchStatus(err)
			}
			if err := sendBatches(stream, batches); err != nil {
				return err
			}
		case <-tick.C:
			// Report progress only when nothing is queued, so a bookmark
			// never runs ahead of an event not yet sent.
			p := sub.Progress()
			if sub.Pending() == 0 {
				if err := stream.Send(&rpcpb.WatchResponse{Events: []*rpcpb.WatchEvent{{Type: watch.Bookmark, Revision: p}}}); err != nil {
					return err
				}
			}
		}
	}
}

// watchNoLeaderLimit is how long a node may know no leader before it ends
// its watch streams (Unavailable, NO_LEADER): a node cut off from the
// cluster stops receiving changes, and its watchers should resume on a
// node that still gets them before the history they need is compacted
// away there (as etcd's WithRequireLeader does). Longer than an election.
const watchNoLeaderLimit = 5 * time.Second

// untilStopping is ctx, also cancelled when the node drains (cause
// ErrStopping) or has known no leader for watchNoLeaderLimit (cause
// cluster.ErrNoLeader).
func (w *watchService) untilStopping(ctx context.Context) (context.Context, context.CancelFunc) {
	c := callerOf(ctx)
	ctx, cancel := context.WithCancelCause(ctx)
	noLeader := w.noLeader.C()
	watchToken := w.auth != nil && c.enforce && c.p.TokenID != ""
	go func() {
		var check <-chan time.Time // a stream opened with a token ends when the token goes
		if watchToken {
			t := time.NewTicker(tokenCheckInterval)
			defer t.Stop()
			check = t.C
		}
		for {
			select {
			case <-w.stopping:
				cancel(ErrStopping)
			case <-noLeader:
				cancel(fmt.Errorf("%w: none known for %s; resume the watch on another node", cluster.ErrNoLeader, watchNoLeaderLimit))
			case now := <-check:
				if err := w.auth.tokenGone(c, now); err == nil {
					continue
				} else {
					cancel(err)
				}
			case <-ctx.Done():
			}
			return
		}
	}()
	return ctx, func() { cancel(context.Canceled) }
}

// leaderlessSignal is closed while the node has known no leader for
// watchNoLeaderLimit: one check for the node (the server's readiness
// loop), not a timer per watch stream.
type leaderlessSignal struct {
	mu     sync.Mutex
	ch     chan struct{}
	closed bool
}

func newLeaderlessSignal() *leaderlessSignal { return &leaderlessSignal{ch: make(chan struct{})} }

// C is closed once the node is leaderless past the limit (at once if it is now).
func (l *leaderlessSignal) C() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ch
}

func (l *leaderlessSignal) set(leaderless bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case leaderless && !l.closed:
		close(l.ch)
		l.closed = true
	case !leaderless && l.closed:
		l.ch, l.closed = make(chan struct{}), false
	}
}

// endStatus is how a watch stream that ended with err answers: why the
// node ended it (stopping, no leader), whatever the stream was doing.
func (w *watchService) endStatus(ctx context.Context, err error) error {
	if cause := context.Cause(ctx); errors.Is(cause, ErrStopping) || errors.Is(cause, cluster.ErrNoLeader) || errors.Is(cause, acl.ErrPermissionDenied) {
		return toStatus(cause)
	}
	return toStatus(err)
}

// maxCoalesced bounds one coalesced message (the client's default receive
// limit is 4 MiB).
const maxCoalesced = 1 << 20

// sendBatches sends queued revisions, whole, in as few messages as fit
// maxCoalesced: a watcher that fell behind catches up with one message per
// many revisions instead of one each, so per-message costs shrink exactly
// when the server is loaded. Serialized WatchResponses concatenate into a
// valid WatchResponse (repeated fields append), so a batch the watcher gets
// whole is encoded once, in its Memo, for every watcher.
func sendBatches(stream rpcpb.WatchService_WatchServer, batches []watch.Batch) error {
	var buf []byte
	for i, b := range batches {
		enc, err := encodedBatch(b)
		if err != nil {
			return toStatus(err)
		}
		if len(batches) == 1 {
			return stream.SendMsg(enc) // shared bytes, no copy
		}
		if len(buf) > 0 && len(buf)+len(enc) > maxCoalesced {
			if err := stream.SendMsg(preEncoded(buf)); err != nil {
				return err
			}
			buf = nil
		}
		if buf == nil {
			buf = make([]byte, 0, min(maxCoalesced, len(enc)*(len(batches)-i)))
		}
		buf = append(buf, enc...)
	}
	if len(buf) == 0 {
		return nil
	}
	return stream.SendMsg(preEncoded(buf))
}

// encodedBatch is a batch's WatchResponse in wire form, memoized when the
// batch is shared by every watcher that gets it whole.
func encodedBatch(b watch.Batch) (preEncoded, error) {
	if b.Memo == nil {
		return encode(batchResponse(b))
	}
	v := b.Memo.Do(func() any {
		msg, err := encode(batchResponse(b))
		if err != nil {
			return err
		}
		return msg
	})
	if err, bad := v.(error); bad {
		return nil, err
	}
	return v.(preEncoded), nil
}

func batchResponse(b watch.Batch) *rpcpb.WatchResponse {
	out := make([]*rpcpb.WatchEvent, len(b.Events))
	for i, e := range b.Events {
		out[i] = toWatchEvent(e)
	}
	return &rpcpb.WatchResponse{Events: out}
}
