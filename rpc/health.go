package rpc

import (
	"context"

	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// healthService is grpc's health server whose Watch streams end when the
// node drains: a watcher (a load balancer, say) is told NOT_SERVING, then
// the stream ends with ErrStopping, instead of holding a graceful stop
// open until its timeout.
type healthService struct {
	*health.Server
	stopping <-chan struct{}
}

// stoppableWatch is a health Watch stream whose context also ends on drain.
type stoppableWatch struct {
	healthpb.Health_WatchServer
	ctx context.Context
}

func (w *stoppableWatch) Context() context.Context { return w.ctx }

func (h *healthService) Watch(req *healthpb.HealthCheckRequest, stream healthpb.Health_WatchServer) error {
	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()
	go func() {
		select {
		case <-h.stopping:
			cancel()
		case <-ctx.Done():
		}
	}()
	err := h.Server.Watch(req, &stoppableWatch{Health_WatchServer: stream, ctx: ctx})
	select {
	case <-h.stopping:
		_ = stream.Send(&healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_NOT_SERVING})
		return toStatus(ErrStopping)
	default:
		return err
	}
}
