package cluster

import (
	"context"
	"reflect"
	"unsafe"

	"github.com/hashicorp/raft"
)

// Waiting for a raft future without a goroutine. hashicorp/raft answers a
// future by sending once on its (buffered) errCh and closing it, but a
// future still queued in its apply channel, or in a commit batch not yet
// handed to the FSM, when raft shuts down is never answered, and its
// Error() has no ShutdownCh to give up on: a goroutine blocked in Error()
// would outlive the wait, and the node, for good. So a wait selects on the
// future's own channel, read from raft's unexported deferError.errCh, next
// to ctx and the node's shutdown. TestFutureChannelFound fails if a raft
// upgrade moves the field; until then every wait leaves nothing behind.

// futureCh returns f's answer channel, or false when f is not a future with
// one (raft's errorFuture answers at once).
func futureCh(f raft.Future) (<-chan error, bool) {
	v := reflect.ValueOf(f)
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
		return nil, false
	}
	de := v.Elem().FieldByName("deferError")
	if !de.IsValid() || de.Kind() != reflect.Struct {
		return nil, false
	}
	ch := de.FieldByName("errCh")
	if !ch.IsValid() || ch.Type() != reflect.TypeOf((chan error)(nil)) || !ch.CanAddr() {
		return nil, false
	}
	c := *(*chan error)(unsafe.Pointer(ch.UnsafeAddr()))
	return c, c != nil
}

// awaitFuture waits for f's answer, ctx or stop. ok is false when ctx or
// stop ended the wait (the future may still be answered later, to no
// one). The caller must not call f.Error() afterwards: the answer was
// taken from its channel.
func awaitFuture(ctx context.Context, f raft.Future, stop <-chan struct{}) (ok bool, err error) {
	ch, found := futureCh(f)
	if !found {
		// Not a future raft answers later (an errorFuture answers at once).
		return true, f.Error()
	}
	select {
	case err := <-ch:
		return true, err
	case <-ctx.Done():
		return false, nil
	case <-stop:
		return false, nil
	}
}

// await waits for a raft future until ctx ends or the node shuts down,
// leaving no goroutine behind; an abandoned wait returns ctx's error or
// ErrShutdown (the operation may still take effect).
func (n *Node) await(ctx context.Context, f raft.Future) error {
	ok, err := awaitFuture(ctx, f, n.shutdownCh)
	switch {
	case ok:
		return err
	case ctx.Err() != nil:
		return ctx.Err()
	default:
		return ErrShutdown
	}
}
