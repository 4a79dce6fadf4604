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
	"runtime/metrics"
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
	log := newLogger(opts.level, opts.logFormat)
	tuneGC()
	cfg, err := opts.serverConfig()
	if err != nil {
		return err
	}
	backends, closeBackends, err := opts.backends(log)
	if err != nil {
		return err
	}
	defer closeBackends()
	srv, err := server.Start(cfg, log, backends)
	if err != nil {
		return err
	}
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	var s os.Signal
	for s == nil {
		select {
		case s = <-sig:
		case <-hup: // logrotate moved the audit log
			if err := srv.ReopenAuditLog(); err != nil {
				log.Error("reopening the audit log failed", "err", err)
			}
		}
	}
	signal.Stop(hup)
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

// tuneGC trades memory for CPU while the heap is small and keeps memory
// bounded when it is not. A control plane's live heap is small (about 100 MB
// at 100,000 namespaces); on a 2-core machine GC at the default GOGC=100
// cost about a tenth of write throughput (prismctl bench put). So GC runs
// at GOGC=400, under a soft memory limit of 1.5x the live heap (at least
// gcFloor), re-read every second: small heaps get the CPU win, large ones
// stay near 1.5x their live size. GOGC or GOMEMLIMIT, when set, win.
func tuneGC() {
	if os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	const gcFloor = 128 << 20
	debug.SetGCPercent(400)
	debug.SetMemoryLimit(gcFloor)
	go func() {
		sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
		for range time.Tick(time.Second) {
			metrics.Read(sample)
			if sample[0].Value.Kind() == metrics.KindUint64 {
				debug.SetMemoryLimit(int64(max(gcFloor, sample[0].Value.Uint64()*3/2)))
			}
		}
	}()
}

// newLogger logs at level in format ("text" or "json"; parseOptions rejects
// anything else).
func newLogger(level slog.Level, format string) *slog.Logger {
	ho := &slog.HandlerOptions{Level: level}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, ho))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, ho))
}
