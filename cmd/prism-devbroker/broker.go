package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"

	"github.com/twmb/franz-go/pkg/kfake"
)

// config is what the flags set.
type config struct {
	// Addr is host:port of the first broker. The host is also the address
	// the brokers advertise in metadata, so it must be one clients can
	// dial: an unspecified address (0.0.0.0, ::) is refused. Port 0 picks
	// free ports; otherwise broker i listens on port+i.
	Addr string
	// Brokers is how many brokers the cluster has (at least 1).
	Brokers int
	// DataDir, if set, is where kfake persists topics and records across
	// restarts; empty keeps everything in memory.
	DataDir string
	// ReadyFile, if set, receives the bootstrap address list once every
	// broker listens.
	ReadyFile string
}

func defaultConfig() config {
	return config{Addr: "127.0.0.1:9092", Brokers: 1}
}

// validate reports every problem with the config at once.
func (c config) validate() error {
	var errs []error
	if c.Brokers < 1 {
		errs = append(errs, fmt.Errorf("--brokers: %d: at least 1", c.Brokers))
	}
	host, port, err := splitAddr(c.Addr)
	switch {
	case err != nil:
		errs = append(errs, fmt.Errorf("--addr: %w", err))
	case net.ParseIP(host) != nil && net.ParseIP(host).IsUnspecified():
		errs = append(errs, fmt.Errorf("--addr: %q: the host is advertised to clients, so it must be one they can dial (e.g. 127.0.0.1)", c.Addr))
	case port != 0 && port+c.Brokers-1 > 65535:
		errs = append(errs, fmt.Errorf("--addr: port %d with %d brokers runs past 65535", port, c.Brokers))
	}
	return errors.Join(errs...)
}

func splitAddr(addr string) (host string, port int, err error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	if host == "" {
		return "", 0, fmt.Errorf("%q: a host is required (e.g. 127.0.0.1:9092)", addr)
	}
	port, err = strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("%q: port must be 0..65535", addr)
	}
	return host, port, nil
}

// start starts the brokers and returns the cluster, whose ListenAddrs are
// the bootstrap addresses. The caller closes it. The config must be valid.
func start(cfg config, log *slog.Logger) (*kfake.Cluster, error) {
	host, port, err := splitAddr(cfg.Addr)
	if err != nil {
		return nil, err
	}
	opts := []kfake.Opt{
		kfake.NumBrokers(cfg.Brokers),
		kfake.WithLogger(slogLogger{log}),
		// kfake always asks for 127.0.0.1:port; listen on the configured
		// host with the port it asks for.
		kfake.ListenFn(func(network, address string) (net.Listener, error) {
			_, p, err := net.SplitHostPort(address)
			if err != nil {
				return nil, err
			}
			return net.Listen(network, net.JoinHostPort(host, p))
		}),
	}
	if port != 0 {
		ports := make([]int, cfg.Brokers)
		for i := range ports {
			ports[i] = port + i
		}
		opts = append(opts, kfake.Ports(ports...))
	}
	if cfg.DataDir != "" {
		opts = append(opts, kfake.DataDir(cfg.DataDir))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return nil, fmt.Errorf("starting brokers on %s: %w", cfg.Addr, err)
	}
	return c, nil
}

// slogLogger sends kfake's log lines to slog. kfake logs every request at
// its info level, so that level becomes slog's debug, and its debug level
// goes below that.
type slogLogger struct{ log *slog.Logger }

func (l slogLogger) Logf(level kfake.LogLevel, format string, args ...any) {
	var lv slog.Level
	switch level {
	case kfake.LogLevelError:
		lv = slog.LevelError
	case kfake.LogLevelWarn:
		lv = slog.LevelWarn
	case kfake.LogLevelInfo:
		lv = slog.LevelDebug
	default:
		lv = slog.LevelDebug - 4
	}
	ctx := context.Background()
	if l.log.Enabled(ctx, lv) {
		l.log.Log(ctx, lv, fmt.Sprintf(format, args...))
	}
}
