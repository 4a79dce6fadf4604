package client

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/prism/controlplane/rpc/rpcpb"
)

// watchMux carries every watch of one connection over one Watches stream,
// as etcd's client does: a node then sends each revision once per
// connection, naming the watches it is for. The stream opens with the
// first watch and closes with the last.
type watchMux struct {
	cc     *grpc.ClientConn
	buffer int         // Config.WatchBuffer
	legacy atomic.Bool // the node answered Unimplemented: use Watch

	mu     sync.Mutex
	cur    *muxStream // nil: none open
	nextID int64
}

// muxStream is one Watches stream and the watches on it.
type muxStream struct {
	mux     *watchMux
	opened  chan struct{} // closed once the stream is open, or failed to
	openErr error
	stream  rpcpb.WatchService_WatchesClient
	cancel  context.CancelFunc
	sendMu  sync.Mutex          // gRPC streams allow one sender at a time
	watches map[int64]*muxWatch // guarded by mux.mu
}

// muxWatch is one watch: what the stream delivered for it, not yet taken.
type muxWatch struct {
	id    int64
	s     *muxStream
	ready chan struct{} // capacity 1

	mu    sync.Mutex
	queue [][]*rpcpb.WatchEvent
	ended bool
	err   error
}

func (c *Client) watchMux(cc *grpc.ClientConn) *watchMux {
	c.mu.Lock()
	defer c.mu.Unlock()
	m, ok := c.muxes[cc]
	if !ok {
		m = &watchMux{cc: cc, buffer: c.cfg.WatchBuffer}
		c.muxes[cc] = m
	}
	return m
}

// watch runs one watch on the connection's stream, handing each message's
// events to handle, until the watch ends (its error), handle fails, or ctx
// ends. establish (a per-attempt deadline) bounds only the wait for the
// watch's first message: a node that cannot serve it (cut off from its
// leader, say) costs that much before the client tries another, while an
// established watch lives as long as ctx. Its expiry is DeadlineExceeded,
// which the client retries elsewhere.
func (m *watchMux) watch(ctx, establish context.Context, req *rpcpb.WatchRequest, handle func([]*rpcpb.WatchEvent) error) error {
	w, err := m.open(establish, req)
	if err != nil {
		return attemptError(err)
	}
	defer w.close()
	var reuse [][]*rpcpb.WatchEvent
	wait := establish
	for {
		q, err := w.next(wait, reuse)
		if err != nil {
			if wait == establish {
				return attemptError(err)
			}
			return err
		}
		wait = ctx
		for _, events := range q {
			if err := handle(events); err != nil {
				return err
			}
		}
		reuse = q
	}
}

// attemptError turns the end of an attempt's context into a gRPC status
// (DeadlineExceeded or Canceled), as a stream would report it.
func attemptError(err error) error {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return status.FromContextError(err).Err()
	}
	return err
}

func (m *watchMux) open(ctx context.Context, req *rpcpb.WatchRequest) (*muxWatch, error) {
	m.mu.Lock()
	s := m.cur
	if s == nil {
		sctx, cancel := context.WithCancel(context.Background()) // outlives this watch
		s = &muxStream{mux: m, opened: make(chan struct{}), cancel: cancel, watches: map[int64]*muxWatch{}}
		m.cur = s
		go s.run(sctx)
	}
	m.nextID++
	w := &muxWatch{id: m.nextID, s: s, ready: make(chan struct{}, 1)}
	s.watches[w.id] = w
	m.mu.Unlock()
	select {
	case <-s.opened:
	case <-ctx.Done():
		w.close()
		return nil, ctx.Err()
	}
	if s.openErr != nil {
		w.close()
		return nil, s.openErr
	}
	create := &rpcpb.WatchesRequest{Op: &rpcpb.WatchesRequest_Create{Create: &rpcpb.WatchCreate{WatchId: w.id, Request: req}}}
	// A failed send means the stream broke (Send says only io.EOF): the
	// receiver then ends w with the stream's real status, which next returns.
	_ = s.send(create)
	return w, nil
}

func (s *muxStream) send(req *rpcpb.WatchesRequest) error {
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	return s.stream.Send(req)
}

// run opens the stream and hands what arrives to the watches it names.
func (s *muxStream) run(ctx context.Context) {
	st, err := rpcpb.NewWatchServiceClient(s.mux.cc).Watches(ctx)
	s.stream, s.openErr = st, err
	close(s.opened)
	if err != nil {
		s.fail(err)
		return
	}
	for {
		resp, err := st.Recv()
		if err != nil {
			s.fail(err)
			return
		}
		var ended error
		if resp.Ended != nil {
			sp := &spb.Status{}
			if uErr := proto.Unmarshal(resp.Ended, sp); uErr != nil {
				sp = status.New(codes.Internal, "undecodable watch end: "+uErr.Error()).Proto()
			}
			ended = status.ErrorProto(sp)
		}
		var slow []int64
		s.mux.mu.Lock()
		for _, id := range resp.WatchIds {
			w := s.watches[id]
			switch {
			case w == nil: // cancelled meanwhile
			case ended != nil:
				delete(s.watches, id)
				w.finish(ended)
			case !w.push(resp.Events):
				delete(s.watches, id)
				slow = append(slow, id)
			}
		}
		s.mux.mu.Unlock()
		for _, id := range slow {
			_ = s.send(&rpcpb.WatchesRequest{Op: &rpcpb.WatchesRequest_Cancel{Cancel: id}})
		}
	}
}

// fail ends every watch on the stream with err (each resumes elsewhere).
func (s *muxStream) fail(err error) {
	m := s.mux
	m.mu.Lock()
	if m.cur == s {
		m.cur = nil
	}
	for id, w := range s.watches {
		delete(s.watches, id)
		w.finish(err)
	}
	m.mu.Unlock()
	s.cancel()
}

// push queues one message's events; false (and the watch ended, too slow)
// when its buffer (Config.WatchBuffer) is full: a watch whose function
// falls behind ends alone, as a node would end it. mux.mu is held.
func (w *muxWatch) push(events []*rpcpb.WatchEvent) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.queue) >= w.s.mux.buffer {
		w.ended, w.err = true, slowWatchError()
		w.signal()
		return false
	}
	w.queue = append(w.queue, events)
	if len(w.queue) == 1 {
		w.signal()
	}
	return true
}

func slowWatchError() error {
	st := status.New(codes.Aborted, "watch: watcher too slow: its function fell behind; resume from the last revision it was given")
	if d, err := st.WithDetails(&errdetails.ErrorInfo{Domain: rpcpb.ErrorDomain, Reason: rpcpb.ReasonWatcherTooSlow}); err == nil {
		st = d
	}
	return st.Err()
}

func (w *muxWatch) finish(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.ended {
		w.ended, w.err = true, err
	}
	w.signal()
}

func (w *muxWatch) signal() {
	select {
	case w.ready <- struct{}{}:
	default:
	}
}

// next takes every queued message; after the last one, the watch's end.
func (w *muxWatch) next(ctx context.Context, reuse [][]*rpcpb.WatchEvent) ([][]*rpcpb.WatchEvent, error) {
	for {
		w.mu.Lock()
		if len(w.queue) > 0 {
			clear(reuse)
			q := w.queue
			w.queue = reuse[:0]
			w.mu.Unlock()
			return q, nil
		}
		if w.ended {
			err := w.err
			w.mu.Unlock()
			return nil, err
		}
		w.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-w.ready:
		}
	}
}

// close ends the watch: the node is told, and the stream closes with its
// last watch.
func (w *muxWatch) close() {
	s, m := w.s, w.s.mux
	m.mu.Lock()
	live := s.watches[w.id] == w
	if live {
		delete(s.watches, w.id)
	}
	last := len(s.watches) == 0
	if last && m.cur == s {
		m.cur = nil
	}
	m.mu.Unlock()
	if last {
		s.cancel()
		return
	}
	if !live {
		return
	}
	select {
	case <-s.opened:
		if s.openErr == nil {
			// Not on the caller's goroutine: against a node that stopped
			// reading, Send blocks until keepalive drops the connection.
			go func() { _ = s.send(&rpcpb.WatchesRequest{Op: &rpcpb.WatchesRequest_Cancel{Cancel: w.id}}) }()
		}
	default: // not open yet: the node never heard of it
	}
}

// RequestProgress asks, on every stream this client watches through, for a
// bookmark on each of its watches now (etcd's RequestProgress): an idle
// watch learns how far it is caught up without waiting for its interval.
// Watches on a node from before Watches get none.
func (c *Client) RequestProgress(ctx context.Context) error {
	c.mu.Lock()
	muxes := make([]*watchMux, 0, len(c.muxes))
	for _, m := range c.muxes {
		muxes = append(muxes, m)
	}
	c.mu.Unlock()
	var errs []error
	for _, m := range muxes {
		m.mu.Lock()
		s := m.cur
		m.mu.Unlock()
		if s == nil {
			continue
		}
		select {
		case <-s.opened:
		case <-ctx.Done():
			return ctx.Err()
		}
		if s.openErr == nil {
			errs = append(errs, s.send(&rpcpb.WatchesRequest{Op: &rpcpb.WatchesRequest_Progress{Progress: 0}}))
		}
	}
	return errors.Join(errs...)
}
