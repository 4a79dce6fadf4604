package rpc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/prism/controlplane/cluster"
	"github.com/prism/controlplane/rpc/rpcpb"
	"github.com/prism/controlplane/watch"
)

// Watches serves many watches over one stream. A receiver goroutine takes
// creates and cancels; this goroutine is the stream's only sender. The
// watches are members of one watch.Group: each revision reaches the group
// once and goes out as one message naming every watch that gets it whole
// (its events encoded once for every stream, in the batch's Memo), plus one
// message per watch whose filter changed it.
func (w *watchService) Watches(stream rpcpb.WatchService_WatchesServer) error {
	ctx, cancel := w.untilStopping(stream.Context())
	defer cancel()
	s := &watchesStream{node: w.node, listings: w.listings, maxWatches: w.maxWatches, stream: stream,
		g: w.node.Hub().NewGroup(), state: map[int64]*watchEntry{}, drained: make(chan struct{}, 1)}
	defer s.g.Close()
	recvErr := make(chan error, 1)
	go func() { recvErr <- s.receive(ctx) }()
	err := s.serve(ctx, recvErr)
	if ctx.Err() != nil {
		return w.endStatus(ctx, err)
	}
	return err
}

type watchesStream struct {
	node       *cluster.Node
	listings   *listings
	maxWatches int
	stream     rpcpb.WatchService_WatchesServer
	g          *watch.Group

	mu       sync.Mutex
	state    map[int64]*watchEntry    // watches created and not cancelled (at most maxWatches)
	notes    []*rpcpb.WatchesResponse // ends of watches that never joined
	progress []int64                  // bookmarks asked for (0: every watch)
	drained  chan struct{}            // signalled when the sender takes notes and progress

	// The sender's own.
	live []*liveWatch
	pos  map[*watch.Member]int // position in live
	byID map[int64]*liveWatch
	ids  []int64 // scratch
}

// watchEntry is a created watch: joined to the group, or still listing.
type watchEntry struct {
	cancel context.CancelFunc // ends its listing
	m      *watch.Member
	joined bool
}

// watchStart is what a member carries to the sender: the listing to send
// before its changes, and its bookmark interval.
type watchStart struct {
	listing  [][]*rpcpb.WatchEvent
	interval time.Duration
}

// liveWatch is a member as the sender keeps it.
type liveWatch struct {
	m        *watch.Member
	interval time.Duration
	due      time.Time // next bookmark
}

// maxPendingAnswers bounds the notes and progress requests queued for the
// sender: past it the receiver stops reading until the sender catches up,
// so a client that sends requests and never reads the answers is held
// back by flow control instead of growing the queue.
const maxPendingAnswers = 1024

// receive takes creates and cancels until the client stops sending. A
// client that half-closes keeps its watches.
func (s *watchesStream) receive(ctx context.Context) error {
	for {
		if err := s.waitPending(ctx); err != nil {
			return err
		}
		req, err := s.stream.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		switch op := req.Op.(type) {
		case *rpcpb.WatchesRequest_Create:
			s.create(ctx, op.Create)
		case *rpcpb.WatchesRequest_Cancel:
			s.cancel(op.Cancel)
		case *rpcpb.WatchesRequest_Progress:
			s.mu.Lock()
			s.progress = append(s.progress, op.Progress)
			s.g.Wake()
			s.mu.Unlock()
		}
	}
}

// waitPending waits until fewer than maxPendingAnswers answers are queued.
func (s *watchesStream) waitPending(ctx context.Context) error {
	for {
		s.mu.Lock()
		n := len(s.notes) + len(s.progress)
		s.mu.Unlock()
		if n < maxPendingAnswers {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.drained:
		}
	}
}

func (s *watchesStream) create(ctx context.Context, c *rpcpb.WatchCreate) {
	id, req := c.WatchId, c.Request
	if req == nil {
		req = &rpcpb.WatchRequest{}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.state[id]; dup || id <= 0 {
		s.noteLocked(id, status.Errorf(codes.InvalidArgument, "watch_id %d: must be positive and not in use on this stream", id))
		return
	}
	if len(s.state) >= s.maxWatches {
		s.noteLocked(id, toStatus(fmt.Errorf("%w: watch_id %d: %d watches are open, the most one stream may have; end some or open another stream", ErrTooManyWatches, id, len(s.state))))
		return
	}
	filter, err := watchFilter(callerOf(ctx), req)
	if err != nil {
		s.noteLocked(id, toStatus(err))
		return
	}
	m := &watch.Member{ID: id, Filter: filter}
	start := &watchStart{interval: bookmarkInterval(req)}
	m.Start = start
	if req.FromRevision != 0 {
		if err := s.g.Join(m, req.FromRevision); err != nil {
			s.noteLocked(id, watchStatus(err))
			return
		}
		s.state[id] = &watchEntry{m: m, joined: true}
		return
	}
	// The current state as of a linearizable point, then what follows. The
	// barrier may take a round trip to the leader: not on this goroutine.
	lctx, cancel := context.WithCancel(ctx)
	e := &watchEntry{cancel: cancel, m: m}
	s.state[id] = e
	go func() {
		defer cancel()
		chunks, rev, err := s.listings.list(lctx, s.node, filter)
		start.listing = chunks
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.state[id] != e {
			return // cancelled meanwhile
		}
		if err == nil {
			err = s.g.Join(m, rev)
		}
		if err != nil {
			delete(s.state, id)
			s.noteLocked(id, watchStatus(err))
			return
		}
		e.joined = true
	}()
}

func (s *watchesStream) cancel(id int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.state[id]
	if !ok {
		return
	}
	delete(s.state, id)
	if e.joined {
		s.g.Leave(e.m)
	} else {
		e.cancel()
	}
}

// noteLocked queues the end of a watch that never joined. s.mu is held.
func (s *watchesStream) noteLocked(id int64, err error) {
	s.notes = append(s.notes, &rpcpb.WatchesResponse{WatchIds: []int64{id}, Ended: statusBytes(err)})
	s.g.Wake()
}

// takeRequests hands the sender the notes and progress requests queued.
func (s *watchesStream) takeRequests() (notes []*rpcpb.WatchesResponse, progress []int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	notes, progress = s.notes, s.progress
	s.notes, s.progress = nil, nil
	select {
	case s.drained <- struct{}{}:
	default:
	}
	return notes, progress
}

// statusBytes is err as a serialized google.rpc.Status.
func statusBytes(err error) []byte {
	b, mErr := proto.Marshal(status.Convert(err).Proto())
	if mErr != nil {
		b, _ = proto.Marshal(status.New(codes.Internal, err.Error()).Proto())
	}
	return b
}

// serve is the sender loop.
func (s *watchesStream) serve(ctx context.Context, recvErr <-chan error) error {
	every := time.Second // bookmark check period: the shortest interval asked, at most 1 s
	tick := time.NewTicker(every)
	defer tick.Stop()
	var batches []watch.Batch
	s.pos, s.byID = map[*watch.Member]int{}, map[int64]*liveWatch{}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-recvErr:
			if err != nil {
				return err
			}
			recvErr = nil // half-closed: keep serving
		case now := <-tick.C:
			if err := s.bookmarks(now); err != nil {
				return err
			}
		case <-s.g.Ready():
			var joins, leaves []*watch.Member
			var ok bool
			// Requests first: a watch created before a progress request
			// asked about it is then among the joins taken.
			notes, progress := s.takeRequests()
			batches, joins, leaves, ok = s.g.Take(batches)
			for _, n := range notes {
				if err := s.stream.Send(n); err != nil {
					return err
				}
			}
			for _, b := range batches {
				if err := s.deliver(b, s.live); err != nil {
					return err
				}
			}
			now := time.Now()
			for _, m := range joins {
				lw := &liveWatch{m: m, interval: m.Start.(*watchStart).interval}
				if err := s.catchUp(lw, batches); err != nil {
					return err
				}
				lw.due = now.Add(lw.interval)
				s.pos[m] = len(s.live)
				s.byID[m.ID] = lw
				s.live = append(s.live, lw)
				if lw.interval < every {
					every = lw.interval
					tick.Reset(every)
				}
			}
			for _, m := range leaves {
				s.remove(m)
			}
			if len(leaves) > 0 {
				if e := s.tickPeriod(); e != every {
					every = e
					tick.Reset(every)
				}
			}
			if !ok {
				return s.end()
			}
			if err := s.sendProgress(progress); err != nil {
				return err
			}
		}
	}
}

// remove drops a member that left.
func (s *watchesStream) remove(m *watch.Member) {
	i, ok := s.pos[m]
	if !ok {
		return
	}
	last := len(s.live) - 1
	s.live[i] = s.live[last]
	s.pos[s.live[i].m] = i
	s.live[last] = nil
	s.live = s.live[:last]
	delete(s.pos, m)
	if lw, ok := s.byID[m.ID]; ok && lw.m == m {
		delete(s.byID, m.ID)
	}
}

// tickPeriod is how often the sender checks for bookmarks due: the
// shortest interval of its watches, at most a second.
func (s *watchesStream) tickPeriod() time.Duration {
	every := time.Second
	for _, lw := range s.live {
		every = min(every, lw.interval)
	}
	return every
}

// catchUp sends a new member its listing, its backlog, then the batches
// just taken that are newer than what it has.
func (s *watchesStream) catchUp(lw *liveWatch, batches []watch.Batch) error {
	m := lw.m
	start := m.Start.(*watchStart)
	for _, chunk := range start.listing {
		if err := s.stream.Send(&rpcpb.WatchesResponse{Events: chunk, WatchIds: []int64{m.ID}}); err != nil {
			return err
		}
	}
	start.listing = nil
	one := []*liveWatch{lw}
	for _, b := range m.Backlog {
		if err := s.deliver(b, one); err != nil {
			return err
		}
	}
	m.Backlog = nil
	for _, b := range batches {
		if err := s.deliver(b, one); err != nil {
			return err
		}
	}
	return nil
}

// deliver sends one revision to the watches: one message for all that get
// it whole, and one for each that gets a filtered part.
func (s *watchesStream) deliver(b watch.Batch, to []*liveWatch) error {
	ids := s.ids[:0]
	for _, lw := range to {
		out, whole, ok := lw.m.Deliver(b)
		switch {
		case !ok:
		case whole:
			ids = append(ids, lw.m.ID)
		default:
			if err := s.stream.Send(&rpcpb.WatchesResponse{Events: batchResponse(out).Events, WatchIds: []int64{lw.m.ID}}); err != nil {
				return err
			}
		}
	}
	s.ids = ids
	if len(ids) == 0 {
		return nil
	}
	enc, err := encodedBatch(b)
	if err != nil {
		return toStatus(err)
	}
	tail, err := encode(&rpcpb.WatchesResponse{WatchIds: ids})
	if err != nil {
		return toStatus(err)
	}
	// Serialized messages concatenate: the shared events (field 1 in both
	// WatchResponse and WatchesResponse), then this stream's watch ids.
	msg := make(preEncoded, 0, len(enc)+len(tail))
	return s.stream.SendMsg(append(append(msg, enc...), tail...))
}

// bookmarks reports progress to every watch whose interval has passed.
func (s *watchesStream) bookmarks(now time.Time) error {
	var due []*liveWatch
	for _, lw := range s.live {
		if !now.Before(lw.due) {
			due = append(due, lw)
			lw.due = now.Add(lw.interval)
		}
	}
	return s.sendBookmarks(due)
}

// sendProgress answers progress requests: a bookmark for each watch asked
// about (every watch for id 0), after everything taken so far was sent.
func (s *watchesStream) sendProgress(ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	if slices.Contains(ids, 0) {
		return s.sendBookmarks(s.live)
	}
	var to []*liveWatch
	for _, id := range ids {
		if lw, ok := s.byID[id]; ok && !slices.Contains(to, lw) {
			to = append(to, lw)
		}
	}
	return s.sendBookmarks(to)
}

// sendBookmarks sends each watch a bookmark at the last revision it was
// sent (or skipped): one message per revision reported.
func (s *watchesStream) sendBookmarks(to []*liveWatch) error {
	byRev := map[int64][]int64{}
	for _, lw := range to {
		byRev[lw.m.Last] = append(byRev[lw.m.Last], lw.m.ID)
	}
	for rev, ids := range byRev {
		if err := s.stream.Send(&rpcpb.WatchesResponse{Events: []*rpcpb.WatchEvent{{Type: watch.Bookmark, Revision: rev}}, WatchIds: ids}); err != nil {
			return err
		}
	}
	return nil
}

// end tells every watch why the group ended, then ends the stream with the
// same error (watches still being created end with it).
func (s *watchesStream) end() error {
	err := s.g.Err()
	if err == nil {
		return nil
	}
	ids := make([]int64, len(s.live))
	for i, lw := range s.live {
		ids[i] = lw.m.ID
	}
	if errors.Is(err, watch.ErrReset) {
		reset := []*rpcpb.WatchEvent{{Type: watch.Reset, Revision: s.node.Hub().Latest()}}
		if sErr := s.stream.Send(&rpcpb.WatchesResponse{Events: reset, WatchIds: ids}); sErr != nil {
			return sErr
		}
	}
	st := watchStatus(err)
	if sErr := s.stream.Send(&rpcpb.WatchesResponse{WatchIds: ids, Ended: statusBytes(st)}); sErr != nil {
		return sErr
	}
	return st
}
