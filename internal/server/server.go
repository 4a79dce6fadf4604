// Package server assembles one control-plane process: listeners, the
// cluster node, the gRPC and HTTP servers and their metrics. prismd and the
// in-process cluster tests share it, so tests run what users run.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"

	"github.com/prism/controlplane/archive"
	"github.com/prism/controlplane/cluster"
	"github.com/prism/controlplane/controller"
	"github.com/prism/controlplane/internal/audit"
	"github.com/prism/controlplane/internal/tlsutil"
	"github.com/prism/controlplane/provision"
	"github.com/prism/controlplane/rpc"
)

// Config is a process's settings: the node's plus its API listeners.
type Config struct {
	Cluster cluster.Config
	// GRPCAddr and HTTPAddr are listen addresses; port 0 picks a free port.
	GRPCAddr string
	HTTPAddr string
	// Pprof serves net/http/pprof under /debug/pprof/ on the HTTP listener.
	Pprof bool
	// RPC bounds what clients of the gRPC listener can make the node hold;
	// the zero value means rpc.DefaultConfig().
	RPC rpc.Config
	// TLS, when its files are set (all three, or none), serves TLS on
	// every listener: gRPC requires a client certificate of the cluster,
	// HTTP asks for one and requires it except on rpc.OpenHTTPPaths, and
	// the raft port takes node certificates only (cluster.Deps.TLS). The
	// files are read again when they change. Needs Cluster.GossipKey.
	TLS tlsutil.Files
	// AuditLog is the audit log's file ("" for none): denials, reads and
	// ACL changes as JSON lines (internal/audit).
	AuditLog string
	// MetricsOpen serves /metrics without a token when RPC.ACL is on.
	MetricsOpen bool
}

// With TLS, a client connection is closed after about tlsMaxConnAge (its
// calls given tlsMaxConnAgeGrace to finish; watches resume on a new one),
// so even a connection that never idles handshakes again with the
// certificates in use now.
const (
	tlsMaxConnAge      = time.Hour
	tlsMaxConnAgeGrace = 5 * time.Minute
)

// serverTLS is a process's TLS: the reloading source and the options and
// listeners built on it. Nil fields without TLS.
type serverTLS struct {
	src      *tlsutil.Source
	grpc     []grpc.ServerOption // public gRPC
	internal []grpc.ServerOption // Internal, on the raft port
	http     *tls.Config
}

func newServerTLS(cfg Config, log *slog.Logger) (serverTLS, error) {
	f := cfg.TLS
	if f == (tlsutil.Files{}) {
		return serverTLS{}, nil
	}
	if f.CA == "" || f.Cert == "" || f.Key == "" {
		return serverTLS{}, errors.New("server: TLS needs a CA, a certificate and its key")
	}
	cc := cfg.Cluster
	if err := tlsutil.ValidateClusterName(cc.ClusterName); err != nil {
		return serverTLS{}, fmt.Errorf("server: TLS: %w", err)
	}
	src, err := tlsutil.NewSource(tlsutil.SourceConfig{Files: f, ClusterName: cc.ClusterName,
		Self: tlsutil.Identity{Cluster: cc.ClusterName, Kind: tlsutil.KindNode, Name: cc.NodeID}}, log)
	if err != nil {
		return serverTLS{}, fmt.Errorf("server: TLS: %w", err)
	}
	age := grpc.KeepaliveParams(keepalive.ServerParameters{MaxConnectionAge: tlsMaxConnAge, MaxConnectionAgeGrace: tlsMaxConnAgeGrace})
	return serverTLS{
		src:      src,
		grpc:     []grpc.ServerOption{grpc.Creds(credentials.NewTLS(src.ServerConfig(tlsutil.ServerOptions{ClientAuth: tls.RequireAndVerifyClientCert}))), age},
		internal: []grpc.ServerOption{age},
		http:     src.ServerConfig(tlsutil.ServerOptions{ClientAuth: tls.VerifyClientCertIfGiven, NextProtos: []string{"h2", "http/1.1"}}),
	}, nil
}

// Server is a running process.
type Server struct {
	Node     *cluster.Node
	GRPCAddr string // bound gRPC address
	HTTPAddr string // bound HTTP address

	log      *slog.Logger
	grpc     *rpc.Server
	internal *grpc.Server // Internal, on the raft port
	http     *http.Server
	audit    *audit.Log
}

// Backends are the provisioners and targets a node manages namespaces'
// resources with, and the archive it writes every change to. Nil
// Provisioners (or a nil *Backends) disable provisioning; a nil Archive
// means no archive.
type Backends struct {
	Provisioners provision.Registry
	Targets      provision.Targets
	Hooks        *controller.Hooks // test seams
	Archive      archive.Backend
}

// Start opens the listeners, starts the node and serves.
func Start(cfg Config, log *slog.Logger, b *Backends) (*Server, error) {
	if cfg.RPC == (rpc.Config{}) {
		cfg.RPC = rpc.DefaultConfig()
	}
	if err := cfg.RPC.Validate(); err != nil {
		return nil, err
	}
	st, err := newServerTLS(cfg, log)
	if err != nil {
		return nil, err
	}
	gl, err := net.Listen("tcp", cfg.GRPCAddr)
	if err != nil {
		return nil, fmt.Errorf("server: grpc listen %s: %w", cfg.GRPCAddr, err)
	}
	hl, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		gl.Close()
		return nil, fmt.Errorf("server: http listen %s: %w", cfg.HTTPAddr, err)
	}
	cc := cfg.Cluster
	cc.GRPCAdvertise, cc.HTTPAdvertise = gl.Addr().String(), hl.Addr().String()
	clockAPI := withTestClock(&cc)
	deps := cluster.Deps{Logger: log, TLS: st.src}
	if b != nil {
		deps.Provisioners, deps.Targets, deps.LifecycleHooks, deps.Archive = b.Provisioners, b.Targets, b.Hooks, b.Archive
	}
	node, err := cluster.New(cc, deps)
	if err != nil {
		gl.Close()
		hl.Close()
		return nil, err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics, err := rpc.NewMetrics(reg)
	if err == nil {
		err = node.RegisterMetrics(reg)
	}
	var al *audit.Log
	if err == nil {
		acfg := audit.DefaultConfig()
		acfg.Path = cfg.AuditLog
		al, err = audit.Open(acfg, reg, log)
	}
	var gs *rpc.Server
	if err == nil {
		gs, err = rpc.NewGRPCServer(node, cfg.RPC, metrics, al, log, st.grpc...)
	}
	if err != nil {
		_ = al.Close()
		_ = node.Shutdown(false)
		gl.Close()
		hl.Close()
		return nil, err
	}
	handler := httpHandler(node, reg, cfg.Pprof, clockAPI)
	switch {
	case cfg.RPC.ACL:
		// A token or a client certificate: the ACL rules decide.
		handler = rpc.WithHTTPAuth(node, rpc.HTTPAuth{ACL: true, MetricsOpen: cfg.MetricsOpen, Audit: al}, handler)
	case st.http != nil:
		handler = rpc.RequireClientCert(handler, rpc.OpenHTTPPaths)
	}
	if st.http != nil {
		hl = tls.NewListener(hl, st.http)
	}
	s := &Server{
		Node: node, GRPCAddr: gl.Addr().String(), HTTPAddr: hl.Addr().String(),
		log:      log.With("component", "server", "node", cc.NodeID),
		grpc:     gs,
		internal: rpc.NewInternalGRPCServer(node, cfg.RPC, metrics, log, st.internal...),
		http:     &http.Server{Handler: handler, ReadHeaderTimeout: 5 * time.Second},
		audit:    al,
	}
	go func() {
		if err := s.grpc.Serve(gl); err != nil {
			s.log.Error("grpc server stopped", "err", err)
		}
	}()
	go func() {
		// The raft port closes with the node: that ends Internal normally.
		if err := s.internal.Serve(node.InternalListener()); err != nil && !errors.Is(err, cluster.ErrListenerClosed) {
			s.log.Error("internal grpc server stopped", "err", err)
		}
	}()
	go func() {
		if err := s.http.Serve(hl); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("http server stopped", "err", err)
		}
	}()
	if cfg.RPC.ACL && st.src == nil {
		s.log.Warn("ACLs on without TLS: tokens cross the network in the clear; use --tls-* outside a trusted network")
	}
	s.log.Info("serving", "grpc", s.GRPCAddr, "http", s.HTTPAddr, "raft", node.RaftAddr(), "gossip", node.GossipAddr(), "tls", st.src != nil, "acl", cfg.RPC.ACL)
	return s, nil
}

func httpHandler(node *cluster.Node, reg *prometheus.Registry, withPprof bool, clockAPI func(*http.ServeMux)) http.Handler {
	h := rpc.NewHTTPHandler(node, reg)
	if !withPprof && clockAPI == nil {
		return h
	}
	mux := http.NewServeMux()
	mux.Handle("/", h)
	if withPprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	if clockAPI != nil {
		clockAPI(mux)
	}
	return mux
}

// Stop stops the process. Graceful drains first, in this order: health
// turns NOT_SERVING and watch streams end with "node stopping" (clients
// resume elsewhere); a leader hands over leadership while it still serves,
// so calls in flight are forwarded to the new leader; the gRPC server then
// lets those calls finish (up to a few seconds); last, the node leaves
// gossip and stops raft. A hard stop stops the node first, as a crash.
func (s *Server) Stop(graceful bool) error {
	var err error
	if graceful {
		s.grpc.Drain()
		s.Node.HandOverLeadership()
		done := make(chan struct{})
		go func() { s.grpc.GracefulStop(); close(done) }()
		select {
		case <-done:
		case <-time.After(3 * time.Second):
			s.log.Warn("calls still running 3 s into a graceful stop: ending them")
			s.grpc.Stop()
		}
		err = s.Node.Shutdown(true)
	} else {
		err = s.Node.Shutdown(false)
		s.grpc.Stop()
	}
	s.internal.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = s.http.Shutdown(ctx)
	_ = s.audit.Close() // after the servers: nothing logs to it any more
	return err
}

// ReopenAuditLog reopens the audit log's file (after logrotate moved it).
func (s *Server) ReopenAuditLog() error { return s.audit.Reopen() }

// GRPCServiceInfo is every service and method the public gRPC server
// registers (what the ACL matrix test enumerates).
func (s *Server) GRPCServiceInfo() map[string]grpc.ServiceInfo { return s.grpc.GetServiceInfo() }
