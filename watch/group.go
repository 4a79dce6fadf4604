package watch

import (
	"fmt"
	"sync"
)

// Group is many watches served together by one sender: a multiplexed
// stream. The hub hands a group each revision once, whatever the number of
// its watches, and the sender passes it through each member's filter as it
// takes it (Member.Deliver). A group's sender is its only reader: members
// need no locks, and 10,000 watches cost 10,000 filter checks per revision,
// not 10,000 queues, locks and goroutines.
//
// A group lags as a whole: when its sender falls WatcherBuffer revisions
// (plus room for one history, see NewGroup) behind, every member ends with ErrSlow (each resumes from the last
// revision it was sent). Reset and Compact end it as they end a Sub.
type Group struct {
	hub   *Hub
	ready chan struct{} // capacity 1: something to take, or the group ended
	// mu guards the rest. Lock order: hub.mu, then mu.
	mu     sync.Mutex
	queue  []Batch
	joins  []*Member
	leaves []*Member
	limit  int
	ended  bool
	err    error
}

// Member is one watch of a group. After Join, its fields belong to the
// group's sender.
type Member struct {
	ID     int64
	Filter Filter
	// Last is the last revision delivered to the member or skipped by its
	// filter: what a bookmark may report.
	Last int64
	// Backlog is the history after the member's start, to deliver before
	// the group's batches newer than Last (set by Join).
	Backlog []Batch
	// Start is the layer above's own (say, a listing to send first).
	Start any
}

// Deliver passes b through the member's filter and advances Last: the
// part the member should get (whole: b itself, Memo included), and ok
// false when nothing (a revision at or before Last, or filtered out).
func (m *Member) Deliver(b Batch) (out Batch, whole, ok bool) {
	if b.Revision <= m.Last {
		return b, false, false
	}
	m.Last = b.Revision
	out, whole = m.Filter.MatchBatch(b)
	return out, whole, len(out.Events) > 0
}

// NewGroup registers an empty group; Close it when done.
func (h *Hub) NewGroup() *Group {
	h.mu.Lock()
	defer h.mu.Unlock()
	// Like a Sub's, the limit leaves room for a whole history: the sender
	// may spend that long sending one new member its backlog.
	g := &Group{hub: h, ready: make(chan struct{}, 1), limit: h.cfg.WatcherBuffer + h.cfg.HistoryEvents}
	if h.groups == nil {
		h.groups = map[*Group]struct{}{}
	}
	h.groups[g] = struct{}{}
	return g
}

// Join adds m, to receive the changes after revision from: the history
// after from becomes its Backlog. A from older than the history is a
// *CompactedError (m is not added); an ended group returns why it ended
// (ErrClosed after Close).
func (g *Group) Join(m *Member, from int64) error {
	h := g.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	if from < h.oldest {
		return &CompactedError{Oldest: h.oldest}
	}
	m.Last = from
	m.Backlog = nil
	for _, b := range h.history {
		if b.Revision > from {
			m.Backlog = append(m.Backlog, b)
		}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.ended {
		if g.err != nil {
			return g.err
		}
		return ErrClosed
	}
	g.joins = append(g.joins, m)
	g.signal()
	return nil
}

// Leave ends a member that has joined. Members are told apart by
// identity, not id: a client may reuse the id of a member that left.
func (g *Group) Leave(m *Member) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.leaves = append(g.leaves, m)
	g.signal()
}

// Ready is signalled when there is something to Take, or Wake was called.
func (g *Group) Ready() <-chan struct{} { return g.ready }

// Wake signals Ready, for work of the layer above.
func (g *Group) Wake() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.signal()
}

func (g *Group) signal() {
	select {
	case g.ready <- struct{}{}:
	default:
	}
}

// Take hands the sender what arrived since it last took: batches in
// revision order (for the members it already has), new members (each to
// get its Backlog, then the batches here newer than its Last), and the
// members that left (after joining, maybe in this same Take). ok is false once the group has ended (Err says
// why); what was queued before the end is still handed over. reuse, when
// not nil, is a batches slice from an earlier Take the caller is done with.
func (g *Group) Take(reuse []Batch) (batches []Batch, joins, leaves []*Member, ok bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	clear(reuse)
	batches, g.queue = g.queue, reuse[:0]
	joins, g.joins = g.joins, nil
	leaves, g.leaves = g.leaves, nil
	return batches, joins, leaves, !g.ended
}

// Err says why the group ended (nil after Close).
func (g *Group) Err() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.err
}

// Close ends the group.
func (g *Group) Close() {
	h := g.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	endIn(h.groups, g, nil)
}

// offer queues b for the group's sender; hub.mu is held.
func (g *Group) offer(b Batch) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.queue) >= g.limit {
		return false
	}
	g.queue = append(g.queue, b)
	if len(g.queue) == 1 {
		g.signal()
	}
	return true
}

func (g *Group) finish(err error) {
	g.mu.Lock()
	g.err, g.ended = err, true
	g.mu.Unlock()
	g.signal()
}

// endAllLocked ends every watcher and group with err (errors are values:
// one is shared by all).
func (h *Hub) endAllLocked(err error) {
	for s := range h.subs {
		endIn(h.subs, s, err)
	}
	for g := range h.groups {
		endIn(h.groups, g, err)
	}
}

// slowGroupError: the group's sender fell behind.
func slowGroupError() error {
	return fmt.Errorf("%w: every watch of the stream resumes from the last revision it was sent", ErrSlow)
}
