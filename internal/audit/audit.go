package audit

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"
)

// Event is one audited decision. Empty fields are left out of its line.
type Event struct {
	Time      time.Time `json:"time"`                // set by Log when zero; written RFC3339Nano in UTC
	Node      string    `json:"node,omitempty"`      // node id
	Principal string    `json:"principal,omitempty"` // e.g. "team/payments", "role/admin", "shard/s1", "anonymous"
	TokenID   string    `json:"token_id,omitempty"`  // public accessor id of the token used, "" for certificates; never the secret
	Method    string    `json:"method,omitempty"`    // full gRPC method or "HTTP GET /v1/namespaces/{name}"
	Action    string    `json:"action,omitempty"`    // e.g. "namespace.apply"
	Resource  string    `json:"resource,omitempty"`  // e.g. namespace name or shard id
	Decision  string    `json:"decision,omitempty"`  // "allow" or "deny"
	Code      string    `json:"code,omitempty"`      // gRPC code name of the answer, e.g. "PermissionDenied"
	Reason    string    `json:"reason,omitempty"`    // why denied (no secrets)
	Peer      string    `json:"peer,omitempty"`      // remote address
}

// Config says where the audit log goes and how much it may queue.
type Config struct {
	// Path of the file, created with mode 0600 and appended to; "" writes
	// nothing.
	Path string
	// Buffer is how many events may wait to be written before new ones are
	// dropped: 4096 rides out a slow disk for a burst of denials without
	// holding more than a few MiB.
	Buffer int
}

// maxBuffer bounds the memory the queue may hold (about 300 B an event).
const maxBuffer = 1 << 20

// DefaultConfig is no audit file and a queue of 4096 events.
func DefaultConfig() Config { return Config{Buffer: 4096} }

// Validate lists every problem with the config.
func (c Config) Validate() error {
	if c.Buffer < 1 || c.Buffer > maxBuffer {
		return fmt.Errorf("%w: buffer %d not in 1..%d events", ErrInvalidConfig, c.Buffer, maxBuffer)
	}
	return nil
}

// Log is an open audit log. Its methods are safe for concurrent use and
// on a nil *Log, which, like a Log opened with no Path, discards events.
type Log struct {
	path    string
	log     *slog.Logger
	warn    rate.Sometimes // write errors: logged at most once per 10 s
	dropped atomic.Uint64
	events  *prometheus.CounterVec
	drops   prometheus.Counter

	mu     sync.RWMutex // held to send on ch; Close takes it to close ch
	closed bool
	ch     chan Event // nil: discard everything
	done   chan struct{}

	wmu     sync.Mutex // guards what follows: the writer goroutine, Reopen, Close
	w       io.Writer  // where bw writes: f, or a sink given to newLog
	f       *os.File   // nil for a sink, or once closed
	bw      *bufio.Writer
	enc     *json.Encoder
	pending map[string]int // events buffered since the last flush, by decision

	closeOnce sync.Once
	closeErr  error
}

// Open opens cfg.Path for appending (creating it with mode 0600) and starts
// the writer. Metrics are registered on reg unless it is nil. With no Path
// it returns a Log that discards everything and registers nothing.
func Open(cfg Config, reg prometheus.Registerer, log *slog.Logger) (*Log, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Path == "" {
		return &Log{}, nil
	}
	f, err := openFile(cfg.Path)
	if err != nil {
		return nil, err
	}
	l, err := newLog(cfg, f, reg, log)
	if err != nil {
		f.Close()
		return nil, err
	}
	return l, nil
}

func openFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrOpen, err)
	}
	return f, nil
}

// newLog starts a Log writing to w: the file at cfg.Path, or, in tests,
// any writer (with Path "").
func newLog(cfg Config, w io.Writer, reg prometheus.Registerer, log *slog.Logger) (*Log, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	f, _ := w.(*os.File)
	l := &Log{
		path: cfg.Path,
		f:    f,
		log:  log.With("component", "audit"),
		warn: rate.Sometimes{Interval: 10 * time.Second},
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "prism_audit_events_total", Help: "Audit events written, by decision (allow, deny, other).",
		}, []string{"decision"}),
		drops: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "prism_audit_dropped_events_total", Help: "Audit events dropped: the queue was full, a write failed, or the log was closed.",
		}),
		ch:      make(chan Event, cfg.Buffer),
		done:    make(chan struct{}),
		w:       w,
		bw:      bufio.NewWriterSize(w, 64<<10),
		pending: map[string]int{},
	}
	l.enc = json.NewEncoder(l.bw)
	l.enc.SetEscapeHTML(false)
	if reg != nil {
		for _, c := range []prometheus.Collector{l.events, l.drops} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	go l.run()
	return l, nil
}

// Log queues e to be written and returns at once; when the queue is full
// (or the Log closed) e is dropped and counted.
func (l *Log) Log(e Event) {
	if l == nil || l.ch == nil {
		return
	}
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	e.Time = e.Time.UTC()
	l.mu.RLock()
	defer l.mu.RUnlock()
	if !l.closed {
		select {
		case l.ch <- e:
			return
		default:
		}
	}
	l.drop(1)
}

// Dropped is how many events were dropped so far.
func (l *Log) Dropped() uint64 {
	if l == nil {
		return 0
	}
	return l.dropped.Load()
}

func (l *Log) drop(n int) {
	l.dropped.Add(uint64(n))
	l.drops.Add(float64(n))
}

func (l *Log) run() {
	defer close(l.done)
	for e := range l.ch {
		l.wmu.Lock()
		if err := l.enc.Encode(e); err != nil {
			l.failed(err, 1)
		} else {
			l.pending[decisionLabel(e.Decision)]++
		}
		if len(l.ch) == 0 {
			l.flush()
		}
		l.wmu.Unlock()
	}
}

// decisionLabel bounds the label's values whatever a caller passes.
func decisionLabel(d string) string {
	if d == "allow" || d == "deny" {
		return d
	}
	return "other"
}

// flush writes what is buffered; wmu must be held.
func (l *Log) flush() {
	if err := l.bw.Flush(); err != nil {
		l.failed(err, 0)
		return
	}
	for d, n := range l.pending {
		l.events.WithLabelValues(d).Add(float64(n))
	}
	clear(l.pending)
}

// failed counts the buffered events and extra more as dropped and starts
// the buffer afresh (a bufio.Writer keeps its first error); wmu must be held.
func (l *Log) failed(err error, extra int) {
	n := extra
	for _, c := range l.pending {
		n += c
	}
	clear(l.pending)
	l.drop(n)
	l.bw.Reset(l.w)
	l.warn.Do(func() {
		l.log.Error("audit log write failed; events dropped", "err", err, "dropped_total", l.dropped.Load())
	})
}

// Reopen flushes to the current file and continues in a new one at the same
// path: after logrotate has moved the old one away. Without a Path it does
// nothing.
func (l *Log) Reopen() error {
	if l == nil || l.path == "" {
		return nil
	}
	nf, err := openFile(l.path)
	if err != nil {
		return err
	}
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if l.f == nil {
		nf.Close()
		return ErrClosed
	}
	l.flush()
	old := l.f
	l.f, l.w = nf, nf
	l.bw.Reset(nf)
	if err := old.Close(); err != nil {
		return fmt.Errorf("%w: closing the previous file: %w", ErrOpen, err)
	}
	return nil
}

// Close writes what is queued, then closes the file. Later calls return
// the first one's result; events logged after it are dropped.
func (l *Log) Close() error {
	if l == nil || l.ch == nil {
		return nil
	}
	l.closeOnce.Do(func() {
		l.mu.Lock()
		l.closed = true
		close(l.ch)
		l.mu.Unlock()
		<-l.done
		l.wmu.Lock()
		defer l.wmu.Unlock()
		if l.f != nil {
			if err := l.f.Close(); err != nil {
				l.closeErr = fmt.Errorf("%w: closing: %w", ErrOpen, err)
			}
			l.f = nil
		}
	})
	return l.closeErr
}
