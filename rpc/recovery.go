package rpc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync/atomic"

	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/recovery"
	"golang.org/x/time/rate"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// panicError is a handler panic caught by the recovery interceptor. The
// caller sees only its status (Internal, no internals); the value and the
// stack are for the log.
type panicError struct {
	value any
	stack []byte
}

func (e *panicError) Error() string { return fmt.Sprintf("rpc: handler panicked: %v", e.value) }

// GRPCStatus is what the caller is answered.
func (e *panicError) GRPCStatus() *status.Status {
	return status.New(codes.Internal, "internal error: the request handler failed; the node logged it")
}

// recovered turns a panic into a *panicError, capturing the stack while
// the panicking frames are still on it, and counts it.
func (m *Metrics) recovered(ctx context.Context, p any) error {
	method, _ := grpc.Method(ctx)
	m.panics.WithLabelValues(method).Inc()
	return &panicError{value: p, stack: debug.Stack()}
}

// recoveryOpt makes the library's interceptors hand panics to recovered.
func (m *Metrics) recoveryOpt() recovery.Option {
	return recovery.WithRecoveryHandlerContext(m.recovered)
}

// internalLogger logs each call answered Internal, once: with the stack
// when a handler panicked. It sits outside the recovery interceptor.
// Other Internal answers (a stream message that does not decode, say) are
// what untrusted input can cause at will: they are logged at most a few a
// second, and the count of those dropped is logged with the next one
// (every answer is counted in prism_grpc_requests_total either way).
type internalLogger struct {
	log     *slog.Logger
	limit   *rate.Limiter
	dropped *atomic.Int64
}

func newInternalLogger(log *slog.Logger) internalLogger {
	return internalLogger{log: log, limit: rate.NewLimiter(rate.Limit(2), 10), dropped: new(atomic.Int64)}
}

func (l internalLogger) note(method string, err error) {
	if status.Code(err) != codes.Internal {
		return
	}
	if pe := (*panicError)(nil); errors.As(err, &pe) {
		l.log.Error("handler panicked", "method", method, "panic", fmt.Sprint(pe.value), "stack", string(pe.stack))
		return
	}
	if !l.limit.Allow() {
		l.dropped.Add(1)
		return
	}
	l.log.Error("internal error", "method", method, "err", err, "not_logged_since_last", l.dropped.Swap(0))
}

func (l internalLogger) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	resp, err := h(ctx, req)
	l.note(info.FullMethod, err)
	return resp, err
}

func (l internalLogger) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	err := h(srv, ss)
	l.note(info.FullMethod, err)
	return err
}
