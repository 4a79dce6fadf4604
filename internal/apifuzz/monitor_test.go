package apifuzz_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/prism/controlplane/internal/testcluster"
	"github.com/prism/controlplane/rpc/rpcpb"
	"github.com/prism/controlplane/watch"
)

// violations collects broken invariants seen while the fuzzer runs.
type violations struct {
	mu   sync.Mutex
	errs []string
}

func (v *violations) addf(format string, args ...any) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.errs) < 50 {
		v.errs = append(v.errs, fmt.Sprintf(format, args...))
	}
}

func (v *violations) list() []string {
	v.mu.Lock()
	defer v.mu.Unlock()
	return append([]string(nil), v.errs...)
}

// sampleRevisions reads every node's applied revision every few
// milliseconds until ctx ends: it must never go down, nor below zero.
// It returns the highest revision seen per node.
func sampleRevisions(ctx context.Context, c *testcluster.Cluster, v *violations) []int64 {
	last := make([]int64, len(c.Servers))
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		for i, s := range c.Servers {
			r := s.Node.FSM().Revision()
			if r < last[i] || r < 0 {
				v.addf("node %d: revision went from %d to %d", i+1, last[i], r)
			}
			last[i] = max(last[i], r)
		}
		select {
		case <-ctx.Done():
			return last
		case <-tick.C:
		}
	}
}

// watchState checks one node's watch stream across reopenings: after the
// listing's closing bookmark, every change comes at a revision above
// everything already closed (by an earlier message or a bookmark), in
// order within a message, and a new listing starts at or above it.
type watchState struct {
	node    int
	closed  int64 // every revision up to this one was delivered
	listing bool  // the current stream is still sending its listing
	events  int64
	reopens int
}

func (w *watchState) check(resp *rpcpb.WatchResponse, v *violations) {
	top := w.closed
	prev := int64(-1)
	for _, e := range resp.Events {
		w.events++
		switch e.Type {
		case watch.Bookmark:
			if e.Revision < w.closed {
				v.addf("node %d watch: bookmark at %d after revision %d was closed", w.node+1, e.Revision, w.closed)
			}
			w.listing = false
			top = max(top, e.Revision)
		case watch.Reset:
			if e.Revision < w.closed {
				v.addf("node %d watch: reset at %d after revision %d was closed", w.node+1, e.Revision, w.closed)
			}
		default:
			if w.listing {
				continue // listed records carry their own, older revisions
			}
			if e.Revision <= w.closed || e.Revision < prev {
				v.addf("node %d watch: %s %s at revision %d after %d (closed %d)", w.node+1, e.Type, e.Name, e.Revision, prev, w.closed)
			}
			prev = e.Revision
			top = max(top, e.Revision)
		}
	}
	w.closed = top
}

// watchNode keeps a watch from revision 0 open on node i until ctx ends,
// reopening it where it stopped when the server ends it (a reset, a
// leader change during a listing, a slow-watcher cut), and checks it.
func watchNode(ctx context.Context, addr string, i int, v *violations) *watchState {
	w := &watchState{node: i}
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64<<20)))
	if err != nil {
		v.addf("node %d watch: %v", i+1, err)
		return w
	}
	defer cc.Close()
	wc := rpcpb.NewWatchServiceClient(cc)
	from := int64(0)
	for ctx.Err() == nil {
		w.listing = from == 0
		stream, err := wc.Watch(ctx, &rpcpb.WatchRequest{FromRevision: from, BookmarkIntervalMs: 50})
		for err == nil {
			var resp *rpcpb.WatchResponse
			if resp, err = stream.Recv(); err == nil {
				w.check(resp, v)
			}
		}
		if ctx.Err() != nil {
			break
		}
		w.reopens++
		switch {
		case errors.Is(err, io.EOF):
			v.addf("node %d watch: the stream ended without a status", i+1)
		case status.Code(err) == codes.OutOfRange || status.Code(err) == codes.Aborted:
			from = 0 // compacted or reset: list again
		case w.closed > 0:
			from = w.closed
		}
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
	return w
}
