package watch

import (
	"errors"
	"fmt"
	"sync"

	"github.com/prism/controlplane/fsm"
	"github.com/prism/controlplane/fsm/fsmpb"
)

// Event types and kinds, as the watch JSON names them.
const (
	Put      = "put"
	Delete   = "delete"
	Reset    = "reset"
	Bookmark = "bookmark"

	KindNamespace = "namespace"
	KindShard     = "shard"
)

var (
	// ErrCompacted: the requested revision is older than the history held.
	ErrCompacted = errors.New("watch: compacted")
	// ErrSlow: the watcher fell behind its buffer and was cut; resume from
	// the last revision it received.
	ErrSlow = errors.New("watch: watcher too slow")
	// ErrReset: the state was replaced (snapshot restore); list again.
	ErrReset = errors.New("watch: state reset")
	// ErrClosed: the group was closed.
	ErrClosed = errors.New("watch: closed")
)

// CompactedError carries the oldest revision a watch can resume from.
type CompactedError struct{ Oldest int64 }

func (e *CompactedError) Error() string {
	return fmt.Sprintf("%v: the oldest revision held is %d", ErrCompacted, e.Oldest)
}
func (e *CompactedError) Is(t error) bool { return t == ErrCompacted }

// Event is one change of one object at one revision.
type Event struct {
	Type      string
	Kind      string
	Name      string
	Revision  int64
	Namespace *fsmpb.Namespace // Kind namespace (the tombstone for deletes)
	Shard     *fsmpb.Shard     // Kind shard
	// PrevShards: for namespaces, the shards it was on before the change
	// (fsm.Involved: the serving shard and, during a move, the other end).
	PrevShards [2]string
}

// Filter selects events. Zero values match everything.
type Filter struct {
	Kinds   map[string]bool
	Names   map[string]bool
	ShardID string // namespaces on (or leaving) this shard, and the shard itself
	// Allow, when set, is asked last about each event that matched: what
	// the watcher may see (the API's per-identity filter). It must not
	// block and must be safe from any goroutine.
	Allow func(Event) bool
}

// Match reports whether the filter selects the event, and the event as the
// watcher should see it: a namespace leaving the watched shard is a delete.
func (f Filter) Match(e Event) (Event, bool) {
	e, ok := f.match(e)
	if ok && f.Allow != nil && e.Type != Bookmark && e.Type != Reset {
		ok = f.Allow(e)
	}
	return e, ok
}

func (f Filter) match(e Event) (Event, bool) {
	if len(f.Kinds) > 0 && !f.Kinds[e.Kind] {
		return e, false
	}
	if len(f.Names) > 0 && !f.Names[e.Name] {
		return e, false
	}
	if f.ShardID == "" {
		return e, true
	}
	switch e.Kind {
	case KindShard:
		return e, e.Name == f.ShardID
	case KindNamespace:
		now := e.Type == Put && fsm.IsOn(e.Namespace, f.ShardID)
		before := e.PrevShards[0] == f.ShardID || e.PrevShards[1] == f.ShardID
		switch {
		case now:
			return e, true
		case before:
			e.Type = Delete
			return e, true
		}
	}
	return e, false
}

// MatchBatch is the part of b the filter selects, each event as the watcher
// should see it. whole: b passed unchanged, and out is b itself (Memo
// included), so the layer above can encode it once for every such watcher.
func (f Filter) MatchBatch(b Batch) (out Batch, whole bool) {
	out, whole = b, true
	for i, e := range b.Events {
		m, ok := f.Match(e)
		if whole && ok && m == e {
			continue
		}
		if whole { // first difference: copy what passed so far
			out, whole = Batch{Revision: b.Revision, Events: append([]Event(nil), b.Events[:i]...)}, false
		}
		if ok {
			out.Events = append(out.Events, m)
		}
	}
	return out, whole
}

// Config bounds the hub's memory.
type Config struct {
	// HistoryEvents is how many recent events are kept for resumption.
	HistoryEvents int
	// WatcherBuffer is how many revisions a watcher may lag before it is cut.
	WatcherBuffer int
}

// DefaultConfig keeps 10,000 events and lets a watcher lag 1,024 revisions.
func DefaultConfig() Config { return Config{HistoryEvents: 10000, WatcherBuffer: 1024} }

// Batch is every event of one revision (atomic: never split).
type Batch struct {
	Revision int64
	Events   []Event
	// Memo is shared by every watcher that receives this batch whole (nil
	// for a filtered copy): the layer above keeps the batch's encoding there.
	Memo *Memo
}

// Memo holds one value computed at most once, on first use.
type Memo struct {
	once sync.Once
	val  any
}

// Do returns the memoized value, computing it with f the first time.
func (m *Memo) Do(f func() any) any {
	m.once.Do(func() { m.val = f() })
	return m.val
}

// Hub is safe for concurrent use.
type Hub struct {
	cfg     Config
	mu      sync.Mutex
	history []Batch // ring in order; history[0] is the oldest
	held    int     // events held in history
	oldest  int64   // a watch may resume from any revision >= oldest
	latest  int64
	subs    map[*Sub]struct{}
	groups  map[*Group]struct{}
}

// NewHub returns a hub whose history starts at revision latest.
func NewHub(cfg Config, latest int64) *Hub {
	return &Hub{cfg: cfg, oldest: latest, latest: latest, subs: map[*Sub]struct{}{}}
}

// Sub is one watcher's subscription. Its queue grows only with what is
// actually pending (a caught-up watcher holds almost nothing), up to a
// limit past which it is cut with ErrSlow.
type Sub struct {
	hub    *Hub
	filter Filter
	ready  chan struct{} // capacity 1: something was queued, or the sub ended
	// mu guards the rest. Its own lock, not the hub's: 10,000 watchers
	// draining their queues must not convoy on one mutex. Lock order:
	// hub.mu, then mu.
	mu    sync.Mutex
	queue []Batch
	limit int
	ended bool
	err   error
	last  int64 // last revision queued (or skipped by the filter)
}

// Ready is signalled when batches are queued or the sub ends; call Next.
func (s *Sub) Ready() <-chan struct{} { return s.ready }

// Next takes every queued batch, in revision order. ok is false once the
// sub has ended and nothing is left (Err says why). reuse, when not nil,
// is a slice returned by an earlier Next that the caller is done with: its
// array is reused, so a steady watcher allocates nothing per batch.
func (s *Sub) Next(reuse []Batch) (batches []Batch, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.queue) == 0 {
		return nil, !s.ended
	}
	clear(reuse)
	batches, s.queue = s.queue, reuse[:0]
	return batches, true
}

// Pending is how many batches are queued.
func (s *Sub) Pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.queue)
}

func (s *Sub) signal() {
	select {
	case s.ready <- struct{}{}:
	default:
	}
}

// Err says why the sub ended (nil after Close).
func (s *Sub) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Progress is the newest revision this watcher is caught up to: what a
// bookmark may report once nothing is pending.
func (s *Sub) Progress() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last
}

// Close ends the subscription.
func (s *Sub) Close() {
	h := s.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	endIn(h.subs, s, nil)
}

// Latest is the newest revision the hub has published.
func (h *Hub) Latest() int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.latest
}

// Subscribe starts a watch of changes after revision from. The backlog
// (history after from) is queued first. A from older than the history is
// a *CompactedError.
func (h *Hub) Subscribe(from int64, f Filter) (*Sub, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if from < h.oldest {
		return nil, &CompactedError{Oldest: h.oldest}
	}
	s := &Sub{hub: h, filter: f, ready: make(chan struct{}, 1), limit: h.cfg.WatcherBuffer + len(h.history), last: from}
	for _, b := range h.history {
		if b.Revision > from {
			s.offer(b)
		}
	}
	s.mu.Lock()
	s.last = max(s.last, h.latest)
	s.mu.Unlock()
	h.subs[s] = struct{}{}
	return s, nil
}

// offer queues the filtered part of a batch; false when the queue is full
// (last is then the last revision it did queue). hub.mu is held.
// A batch that passes the filter whole is queued as is, Memo included, so
// the layer above can encode it once for every such watcher.
func (s *Sub) offer(b Batch) (ok bool, last int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if b.Revision <= s.last {
		return true, s.last // already covered by the state the watcher listed
	}
	out, _ := s.filter.MatchBatch(b)
	if len(out.Events) == 0 {
		s.last = b.Revision
		return true, s.last
	}
	if len(s.queue) >= s.limit {
		return false, s.last
	}
	s.queue = append(s.queue, out)
	s.last = b.Revision
	if len(s.queue) == 1 {
		s.signal()
	}
	return true, s.last
}

// Publish records one revision's events and hands them to every watcher.
// It never blocks: a watcher whose buffer is full is cut with ErrSlow.
func (h *Hub) Publish(b Batch) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if b.Revision <= h.latest {
		return // already seen (a replay after restart)
	}
	h.latest = b.Revision
	if b.Memo == nil {
		b.Memo = &Memo{}
	}
	h.history = append(h.history, b)
	h.held += len(b.Events)
	for h.held > h.cfg.HistoryEvents && len(h.history) > 1 {
		h.held -= len(h.history[0].Events)
		h.oldest = h.history[0].Revision
		h.history = h.history[1:]
	}
	for s := range h.subs {
		if ok, last := s.offer(b); !ok {
			endIn(h.subs, s, fmt.Errorf("%w: resume from revision %d", ErrSlow, last))
		}
	}
	for g := range h.groups {
		if !g.offer(b) {
			endIn(h.groups, g, slowGroupError())
		}
	}
}

// Reset drops the history after the state was replaced: every watcher ends
// with ErrReset, and watches resume only from revision latest on.
func (h *Hub) Reset(latest int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.history, h.held = nil, 0
	h.oldest, h.latest = latest, latest
	h.endAllLocked(ErrReset)
}

// Compact drops the history after the node skipped ahead to revision
// latest (it installed a snapshot of the same history): every watcher ends
// with a *CompactedError, so it resumes where its revision is still held,
// or lists again.
func (h *Hub) Compact(latest int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.history, h.held = nil, 0
	// Never below what was published: a watch from there would get an
	// empty history and miss what came between.
	h.latest = max(h.latest, latest)
	h.oldest = h.latest
	h.endAllLocked(&CompactedError{Oldest: h.oldest})
}

func (s *Sub) finish(err error) {
	s.mu.Lock()
	s.err, s.ended = err, true
	s.mu.Unlock()
	s.signal()
}

// endIn ends x with err once, if it is still in the hub's set. hub.mu is
// held.
func endIn[T interface {
	comparable
	finish(error)
}](set map[T]struct{}, x T, err error) {
	if _, ok := set[x]; !ok {
		return
	}
	delete(set, x)
	x.finish(err)
}
