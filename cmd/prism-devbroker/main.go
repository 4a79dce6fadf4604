package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/prism/controlplane/internal/version"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "prism-devbroker:", err)
		os.Exit(1)
	}
}

const usage = `prism-devbroker serves the Kafka protocol in process (franz-go's kfake)
for "make run" and tests ONLY. It is not a Kafka: it does not replicate,
accepts configs and partition counts that Kafka refuses, and deletes topics
at once. In production, point prismd at a real Kafka (--kafka-brokers).

Usage: prism-devbroker [flags]

It prints the bootstrap addresses (comma list) on stdout once it listens,
and stops on SIGINT or SIGTERM.

Flags:
`

// run serves until ctx is done. It prints the bootstrap addresses to
// stdout and logs to stderr.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("prism-devbroker", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usage)
		fs.PrintDefaults()
	}
	cfg := defaultConfig()
	var logLevel string
	var showVersion bool
	fs.StringVar(&cfg.Addr, "addr", cfg.Addr, "host:port of the first broker, also advertised to clients (port 0 picks a free one; broker i listens on port+i)")
	fs.IntVar(&cfg.Brokers, "brokers", cfg.Brokers, "number of brokers")
	fs.StringVar(&cfg.DataDir, "data-dir", "", "keep topics and records in this directory across restarts (default: in memory)")
	fs.StringVar(&cfg.ReadyFile, "ready-file", "", "once listening, write the bootstrap addresses to this file")
	fs.StringVar(&logLevel, "log-level", "info", "debug|info|warn|error (debug logs every request)")
	fs.BoolVar(&showVersion, "version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if showVersion {
		fmt.Fprintln(stdout, "prism-devbroker", version.Version)
		return nil
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	if err := cfg.validate(); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level})).With("component", "devbroker")

	c, err := start(cfg, log)
	if err != nil {
		return err
	}
	defer c.Close()
	addrs := strings.Join(c.ListenAddrs(), ",")
	if cfg.ReadyFile != "" {
		if err := writeAtomic(cfg.ReadyFile, addrs+"\n"); err != nil {
			return fmt.Errorf("--ready-file: %w", err)
		}
	}
	fmt.Fprintln(stdout, addrs)
	log.Info("serving the Kafka protocol (for make run and tests only, not production)",
		"bootstrap", addrs, "brokers", cfg.Brokers, "data_dir", cfg.DataDir)

	<-ctx.Done()
	log.Info("stopping")
	return nil
}

// writeAtomic writes content to path through a temporary file in the same
// directory and a rename, so a reader sees the whole content or no file.
func writeAtomic(path, content string) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".ready-*")
	if err != nil {
		return err
	}
	_, err = f.WriteString(content)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		_ = os.Remove(f.Name())
	}
	return err
}
