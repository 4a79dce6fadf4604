package rpc

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/prism/controlplane/cluster"
	"github.com/prism/controlplane/rpc/rpcpb"
	"github.com/prism/controlplane/watch"
)

// listings bounds the watches from revision 0 a node lists at once: each
// copies and sorts the whole state and builds its events. At most
// cap(slots) build at once; at most maxWaiting wait for a slot, each no
// longer than the listing timeout. Waiting, not refusing at once, because
// many watchers starting together is normal (every agent lists once) and
// one listing takes milliseconds.
type listings struct {
	slots      chan struct{}
	waiting    atomic.Int64
	maxWaiting int64
}

func newListings(n int) *listings {
	return &listings{slots: make(chan struct{}, n), maxWaiting: int64(n) * listingQueuePerSlot}
}

// acquire takes a slot, waiting until ctx ends; ErrTooManyListings when
// the queue is full or the wait timed out.
func (l *listings) acquire(ctx context.Context) (release func(), err error) {
	select {
	case l.slots <- struct{}{}:
		return l.release, nil
	default:
	}
	if l.waiting.Add(1) > l.maxWaiting {
		l.waiting.Add(-1)
		return nil, fmt.Errorf("%w: %d building, %d waiting", ErrTooManyListings, cap(l.slots), l.maxWaiting)
	}
	defer l.waiting.Add(-1)
	select {
	case l.slots <- struct{}{}:
		return l.release, nil
	case <-ctx.Done():
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil, fmt.Errorf("%w: no slot within %v", ErrTooManyListings, listingTimeout)
		}
		return nil, ctx.Err()
	}
}

func (l *listings) release() { <-l.slots }

// list is the state the filter selects as of a linearizable point (see
// listing), and its revision. The barrier and the wait for a slot share
// the listing timeout.
func (l *listings) list(ctx context.Context, node *cluster.Node, filter watch.Filter) ([][]*rpcpb.WatchEvent, int64, error) {
	ctx, cancel := context.WithTimeout(ctx, listingTimeout)
	defer cancel()
	if err := node.LinearizableBarrier(ctx); err != nil {
		return nil, 0, err
	}
	release, err := l.acquire(ctx)
	if err != nil {
		return nil, 0, err
	}
	defer release()
	nss, shs, rev := node.FSM().State()
	return listing(filter, nss, shs, rev), rev, nil
}
