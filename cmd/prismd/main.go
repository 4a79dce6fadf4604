// Command prismd runs one Prism control-plane node.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/prism/controlplane/internal/server"
	"github.com/prism/controlplane/internal/version"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "prismd:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) > 0 && args[0] == "recover" {
		return runRecover(args[1:])
	}
	opts, err := parseOptions(args, os.Getenv)
	if err != nil {
		return err
	}
	if opts.version {
		fmt.Println("prismd", version.Version)
		return nil
	}
	log := newLogger(opts.logLevel, opts.logFormat)
	tuneGC()
	cfg, err := opts.serverConfig()
	if err != nil {
		return err
	}
	srv, err := server.Start(cfg, log, nil)
	if err != nil {
		return err
	}
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	s := <-sig
	log.Info("stopping", "signal", s.String())
	go func() {
		<-sig
		log.Warn("second signal: stopping now")
		os.Exit(1)
	}()
	if opts.leaveOnTerm && s == syscall.SIGTERM {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := srv.Node.Leave(ctx); err != nil {
			log.Error("leaving the cluster failed; stopping anyway", "err", err)
		} else {
			log.Info("left the cluster")
		}
		cancel()
	}
	return srv.Stop(true)
}

// tuneGC trades memory for CPU: a control plane holds little live data, and
// on a 2-core machine GC at the default GOGC=100 costs about a tenth of the
// write throughput (measured with prismctl bench put). GOGC, when set, wins.
func tuneGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
}

func newLogger(level, format string) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(level))
	ho := &slog.HandlerOptions{Level: lvl}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, ho))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, ho))
}
