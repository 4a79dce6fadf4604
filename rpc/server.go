package rpc

import (
	"context"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/recovery"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"

	"github.com/prism/controlplane/cluster"
	"github.com/prism/controlplane/internal/audit"
	"github.com/prism/controlplane/rpc/rpcpb"
)

// Metrics are the API's Prometheus collectors; one set per registry.
type Metrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	panics   *prometheus.CounterVec
	// rateLimited counts calls refused by a rate limit, by class.
	rateLimited *prometheus.CounterVec
}

func (m *Metrics) limited(c Class) {
	if m != nil {
		m.rateLimited.WithLabelValues(string(c)).Inc()
	}
}

// NewMetrics registers the API metrics on reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "prism_grpc_requests_total", Help: "gRPC requests served, by method and code.",
		}, []string{"method", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "prism_grpc_request_seconds", Help: "gRPC request latency by method.",
			Buckets: prometheus.ExponentialBuckets(0.0002, 2, 16),
		}, []string{"method"}),
		panics: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "prism_grpc_panics_total", Help: "gRPC handler panics recovered (answered Internal), by method.",
		}, []string{"method"}),
		rateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "prism_rate_limited_total", Help: "Calls refused by a rate limit (ResourceExhausted), by class.",
		}, []string{"class"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.latency, m.panics, m.rateLimited} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *Metrics) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	start := time.Now()
	ctx, cancel := answerBeforeDeadline(ctx)
	defer cancel()
	resp, err := h(ctx, req)
	m.requests.WithLabelValues(info.FullMethod, status.Code(err).String()).Inc()
	m.latency.WithLabelValues(info.FullMethod).Observe(time.Since(start).Seconds())
	return resp, err
}

// Server is the node's public gRPC server with every service registered.
// While it serves, gRPC health ("" and every service name) follows the
// node's readiness: NOT_SERVING without a leader, with a stalled disk, or
// behind on applies, and from Drain on.
type Server struct {
	*grpc.Server
	node     *cluster.Node
	log      *slog.Logger
	health   *health.Server
	stopping chan struct{} // closed by Drain
	drain    sync.Once
	noLeader *leaderlessSignal // watch streams end once the node has known no leader for watchNoLeaderLimit
}

// healthInterval is how often health is brought in line with readiness.
const healthInterval = 200 * time.Millisecond

// NewGRPCServer builds the node's gRPC server with every service
// registered, within cfg's limits. A handler panic is answered Internal,
// counted and logged with its stack; every Internal answer is logged once.
// extra options come last (the transport credentials of a TLS server).
// Calls are authenticated (a token, else a client certificate) and, with
// cfg.ACL, authorized; denials and reads go to al (nil: no audit log).
func NewGRPCServer(node *cluster.Node, cfg Config, m *Metrics, al *audit.Log, log *slog.Logger, extra ...grpc.ServerOption) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log = log.With("component", "rpc")
	il := newInternalLogger(log)
	lim := newLimiters(cfg.RateLimits, m)
	auth := &authorizer{node: node, enabled: cfg.ACL, audit: al}
	s := grpc.NewServer(append([]grpc.ServerOption{
		grpc.MaxRecvMsgSize(cfg.MaxRecvMsgBytes),
		grpc.MaxConcurrentStreams(cfg.MaxConcurrentStreams),
		// Reused handler goroutines keep their grown stacks: less stack
		// copying per request than a fresh goroutine each time.
		grpc.NumStreamWorkers(64),
		grpc.ForceServerCodecV2(newCodec()),
		// Outermost first: metrics see the final code, the Internal log
		// sees what recovery made of a panic.
		// Auth before the rate limit: limits are per identity.
		grpc.ChainUnaryInterceptor(m.unary, il.unary, auth.unary, lim.unary, recovery.UnaryServerInterceptor(m.recoveryOpt())),
		grpc.ChainStreamInterceptor(m.stream, il.stream, auth.stream, lim.stream, recovery.StreamServerInterceptor(m.recoveryOpt())),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 5 * time.Second, PermitWithoutStream: true}),
	}, extra...)...)
	srv := &Server{Server: s, node: node, log: log, health: health.NewServer(), stopping: make(chan struct{}), noLeader: newLeaderlessSignal()}
	rpcpb.RegisterNamespaceServiceServer(s, &namespaceService{node: node})
	rpcpb.RegisterClusterServiceServer(s, &clusterService{node: node})
	rpcpb.RegisterSnapshotServiceServer(s, &snapshotService{node: node, maxBytes: cfg.MaxSnapshotBytes})
	rpcpb.RegisterShardServiceServer(s, &shardService{node: node})
	rpcpb.RegisterAclServiceServer(s, &aclService{node: node, enabled: cfg.ACL})
	rpcpb.RegisterWatchServiceServer(s, &watchService{node: node, auth: auth, listings: newListings(cfg.MaxConcurrentListings), maxWatches: cfg.MaxWatchesPerStream, stopping: srv.stopping, noLeader: srv.noLeader})
	rpcpb.RegisterPlacementServiceServer(s, &placementService{node: node})
	rpcpb.RegisterArchiveServiceServer(s, &archiveService{node: node})
	healthpb.RegisterHealthServer(s, &healthService{Server: srv.health, stopping: srv.stopping})
	reflection.Register(s)
	srv.followReadiness(node.Ready())
	return srv, nil
}

// Serve serves l until Stop or GracefulStop; meanwhile health follows the
// node's readiness, and watch streams end once the node has known no
// leader for watchNoLeaderLimit.
func (s *Server) Serve(l net.Listener) error {
	done := make(chan struct{})
	defer close(done)
	go func() {
		tick := time.NewTicker(healthInterval)
		defer tick.Stop()
		ready := s.node.Ready()
		s.followReadiness(ready)
		var leaderless time.Time // since when no leader is known; zero while one is
		for {
			select {
			case <-done:
				return
			case <-s.stopping:
				return
			case now := <-tick.C:
				if r := s.node.Ready(); r != ready {
					ready = r
					s.followReadiness(r)
				}
				switch {
				case s.node.LeaderID() != "":
					leaderless = time.Time{}
					s.noLeader.set(false)
				case leaderless.IsZero():
					leaderless = now
				case now.Sub(leaderless) >= watchNoLeaderLimit:
					s.noLeader.set(true)
				}
			}
		}
	}()
	return s.Server.Serve(l)
}

// followReadiness sets every service's health to SERVING when ready, to
// NOT_SERVING otherwise.
func (s *Server) followReadiness(ready bool) {
	st := healthpb.HealthCheckResponse_NOT_SERVING
	if ready {
		st = healthpb.HealthCheckResponse_SERVING
	}
	s.health.SetServingStatus("", st)
	for name := range s.GetServiceInfo() {
		s.health.SetServingStatus(name, st)
	}
}

// Drain starts a stop: health turns NOT_SERVING for good, and every watch
// and health watch stream ends with ErrStopping (Unavailable: clients
// resume on another node), so a GracefulStop that follows waits only for
// the calls in flight. Calls still arrive and are served (forwarded to the
// leader) until then.
func (s *Server) Drain() {
	s.drain.Do(func() {
		s.health.Shutdown()
		close(s.stopping)
		s.log.Info("draining: health NOT_SERVING, watch streams ended")
	})
}

func (m *Metrics) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	start := time.Now()
	err := h(srv, ss)
	m.requests.WithLabelValues(info.FullMethod, status.Code(err).String()).Inc()
	m.latency.WithLabelValues(info.FullMethod).Observe(time.Since(start).Seconds())
	return err
}

// answerBeforeDeadline shortens a request's deadline a little, so that a
// request that cannot finish (no leader, no quorum) is answered with
// Unavailable before the caller's own deadline turns it into a bare
// DeadlineExceeded.
func answerBeforeDeadline(ctx context.Context) (context.Context, context.CancelFunc) {
	dl, ok := ctx.Deadline()
	if !ok {
		return context.WithTimeout(ctx, 30*time.Second)
	}
	margin := min(time.Until(dl)/10, 200*time.Millisecond)
	return context.WithDeadline(ctx, dl.Add(-margin))
}
