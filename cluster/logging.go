package cluster

import (
	"bytes"
	"context"
	"io"
	"log"
	"log/slog"

	"github.com/hashicorp/go-hclog"
)

// hclogSink forwards raft's hclog output to slog.
type hclogSink struct{ l *slog.Logger }

func (s hclogSink) Accept(name string, level hclog.Level, msg string, args ...interface{}) {
	var lvl slog.Level
	switch level {
	case hclog.Trace, hclog.Debug:
		lvl = slog.LevelDebug
	case hclog.Info:
		lvl = slog.LevelInfo
	case hclog.Warn:
		lvl = slog.LevelWarn
	default:
		lvl = slog.LevelError
	}
	s.l.Log(context.Background(), lvl, msg, args...)
}

func newHCLogger(name string, l *slog.Logger) hclog.Logger {
	il := hclog.NewInterceptLogger(&hclog.LoggerOptions{Name: name, Output: io.Discard, Level: hclog.Info})
	il.RegisterSink(sinkAdapter{hclogSink{l}})
	return il
}

// sinkAdapter makes hclogSink an hclog.SinkAdapter.
type sinkAdapter struct{ hclogSink }

var _ hclog.SinkAdapter = sinkAdapter{}

// levelWriter turns memberlist's "[LEVEL] memberlist: msg" lines into slog records.
type levelWriter struct{ l *slog.Logger }

func (w levelWriter) Write(p []byte) (int, error) {
	line := bytes.TrimSpace(p)
	lvl := slog.LevelInfo
	for prefix, l := range map[string]slog.Level{"[DEBUG]": slog.LevelDebug, "[INFO]": slog.LevelInfo, "[WARN]": slog.LevelWarn, "[ERR]": slog.LevelError, "[ERROR]": slog.LevelError} {
		if bytes.HasPrefix(line, []byte(prefix)) {
			lvl = l
			line = bytes.TrimSpace(line[len(prefix):])
			break
		}
	}
	w.l.Log(context.Background(), lvl, string(bytes.TrimPrefix(line, []byte("memberlist: "))))
	return len(p), nil
}

func newStdLogger(l *slog.Logger) *log.Logger { return log.New(levelWriter{l}, "", 0) }
