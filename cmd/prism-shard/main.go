// Command prism-shard is the reference shard agent: it registers a shard,
// keeps its session alive, watches the namespaces assigned to it and serves
// them at GET /assignments. It stands in for a real Prism gateway in demos
// and fault tests.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prism/controlplane/internal/shardagent"
	"github.com/prism/controlplane/internal/tlsutil"
	"github.com/prism/controlplane/internal/version"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "prism-shard:", err)
		os.Exit(1)
	}
}

// run runs the agent until ctx ends (SIGINT or SIGTERM).
func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("prism-shard", flag.ContinueOnError)
	var id, cp, endpoint, backends, capacity, labels, httpAddr, logLevel string
	var caFile, certFile, keyFile, token string
	var showVersion bool
	def := shardagent.DefaultConfig()
	fs.StringVar(&id, "id", "", "shard id (required)")
	fs.StringVar(&cp, "control-plane", "127.0.0.1:7400", "comma list of control-plane gRPC addresses (any nodes)")
	fs.StringVar(&endpoint, "endpoint", "", "comma list of host:port this shard serves on")
	fs.StringVar(&backends, "backends", "", "comma list of backends it serves (postgres,kafka,...)")
	fs.StringVar(&capacity, "capacity", "", "read_rps=N,write_rps=N,data_gb=N")
	fs.StringVar(&labels, "labels", "", "k=v,... (e.g. zone=z1)")
	fs.StringVar(&httpAddr, "http-addr", "127.0.0.1:7800", "serves GET /assignments and /healthz (port 0 picks one)")
	fs.DurationVar(&def.HeartbeatInterval, "heartbeat-interval", def.HeartbeatInterval, "heartbeat period until the leader asks for another")
	fs.DurationVar(&def.RequestTimeout, "request-timeout", def.RequestTimeout, "bound on one call to the control plane")
	fs.StringVar(&logLevel, "log-level", "info", "debug|info|warn|error")
	fs.StringVar(&caFile, "cacert", os.Getenv("PRISM_CACERT"), "PEM CA certificate the nodes' certificates must chain to: connect with TLS (env PRISM_CACERT)")
	fs.StringVar(&certFile, "cert", os.Getenv("PRISM_CERT"), "PEM client certificate (prismctl tls cert create --shard ID; env PRISM_CERT)")
	fs.StringVar(&keyFile, "key", os.Getenv("PRISM_KEY"), "PEM private key of --cert (env PRISM_KEY)")
	// No default from the environment here: flag usage prints defaults,
	// and the token must not appear in --help.
	fs.StringVar(&token, "token", "", "ACL token to send on every call (prismctl acl token create --shard ID); env PRISM_TOKEN, which keeps it out of the process list")
	fs.BoolVar(&showVersion, "version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if showVersion {
		fmt.Println("prism-shard", version.Version)
		return nil
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	if token == "" {
		token = os.Getenv("PRISM_TOKEN")
	}

	spec, err := shardagent.ParseSpec(id, endpoint, backends, capacity, labels)
	cfg := def
	cfg.Spec, cfg.ControlPlane, cfg.Logger, cfg.Token = spec, shardagent.SplitList(cp), log, token
	if caFile != "" || certFile != "" || keyFile != "" {
		tc, terr := tlsutil.APIClientConfig(tlsutil.Files{CA: caFile, Cert: certFile, Key: keyFile}, log)
		if terr != nil {
			terr = fmt.Errorf("--cacert/--cert/--key: %w", terr)
		}
		err, cfg.TLS = errors.Join(err, terr), tc
	}
	if err = errors.Join(err, cfg.Validate()); err != nil {
		return err
	}
	agent, err := shardagent.New(cfg)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", httpAddr)
	if err != nil {
		return fmt.Errorf("--http-addr: %w", err)
	}
	log.Info("serving assignments", "http_addr", ln.Addr().String(), "shard", id)
	hs := &http.Server{Handler: agent.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = hs.Serve(ln) }()

	err = agent.Run(ctx)
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = hs.Shutdown(sctx)
	return err
}
