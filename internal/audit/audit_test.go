package audit

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func full() Event {
	return Event{
		Time: time.Date(2026, 3, 4, 5, 6, 7, 891, time.FixedZone("X", 3600)), Node: "n1",
		Principal: "team/payments", TokenID: "tok-123", Method: "/prism.v1.NamespaceService/Apply",
		Action: "namespace.apply", Resource: "orders", Decision: "deny", Code: "PermissionDenied",
		Reason: "not an owner of \"orders\"\nforged", Peer: "10.0.0.7:5123",
	}
}

func open(t *testing.T, cfg Config, reg prometheus.Registerer) *Log {
	t.Helper()
	l, err := Open(cfg, reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func lines(t *testing.T, b []byte) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("line %q is not JSON: %v", sc.Text(), err)
		}
		out = append(out, m)
	}
	return out
}

func readLines(t *testing.T, path string) []map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return lines(t, b)
}

// counter reads a counter from reg; label is "name=value" or "".
func counter(t *testing.T, reg *prometheus.Registry, name, label string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			var ls []string
			for _, lp := range m.GetLabel() {
				ls = append(ls, lp.GetName()+"="+lp.GetValue())
			}
			if strings.Join(ls, ",") == label {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

func TestLinesAreJSONWithTheFields(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	l := open(t, Config{Path: path, Buffer: 16}, nil)
	before := time.Now().UTC()
	l.Log(full())
	l.Log(Event{Principal: "anonymous", Decision: "allow"})
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	got := readLines(t, path)
	if len(got) != 2 {
		t.Fatalf("%d lines, want 2", len(got))
	}
	want := map[string]any{
		"time": "2026-03-04T04:06:07.000000891Z", "node": "n1", "principal": "team/payments",
		"token_id": "tok-123", "method": "/prism.v1.NamespaceService/Apply", "action": "namespace.apply",
		"resource": "orders", "decision": "deny", "code": "PermissionDenied",
		"reason": "not an owner of \"orders\"\nforged", "peer": "10.0.0.7:5123",
	}
	if len(got[0]) != len(want) {
		t.Errorf("first line has keys %v, want %d", got[0], len(want))
	}
	for k, v := range want {
		if got[0][k] != v {
			t.Errorf("%s = %v, want %v", k, got[0][k], v)
		}
	}
	// Empty fields are left out; a zero time is stamped by Log, in UTC.
	if keys := slices.Sorted(maps.Keys(got[1])); !slices.Equal(keys, []string{"decision", "principal", "time"}) {
		t.Errorf("second line has keys %v", keys)
	}
	ts, _ := got[1]["time"].(string)
	at, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil || !strings.HasSuffix(ts, "Z") || at.Before(before.Truncate(time.Second)) || time.Since(at) > time.Minute {
		t.Errorf("time %q (%v): want RFC3339Nano UTC, about now", ts, err)
	}
}

func TestFileIsOwnerOnly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	l := open(t, Config{Path: path, Buffer: 1}, nil)
	l.Close()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", st.Mode().Perm())
	}
}

func TestOpenAppends(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	for range 2 {
		l := open(t, Config{Path: path, Buffer: 1}, nil)
		l.Log(Event{Decision: "deny"})
		l.Close()
	}
	if n := len(readLines(t, path)); n != 2 {
		t.Errorf("%d lines after two opens, want 2", n)
	}
}

// blockingWriter blocks every Write until release is closed.
type blockingWriter struct {
	entered, release chan struct{}
	once             sync.Once
	mu               sync.Mutex
	buf              bytes.Buffer
}

func (w *blockingWriter) Write(p []byte) (int, error) {
	w.once.Do(func() { close(w.entered) })
	<-w.release
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(p)
}

func TestFullBufferDropsWithoutBlocking(t *testing.T) {
	w := &blockingWriter{entered: make(chan struct{}), release: make(chan struct{})}
	reg := prometheus.NewRegistry()
	l, err := newLog(Config{Buffer: 4}, w, reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	l.Log(Event{Decision: "deny"})
	select {
	case <-w.entered: // the writer holds the first event; the queue is empty
	case <-time.After(5 * time.Second):
		t.Fatal("the first event was never written")
	}
	logged := make(chan struct{})
	go func() {
		defer close(logged)
		for range 4 + 10 {
			l.Log(Event{Decision: "deny"})
		}
	}()
	select {
	case <-logged:
	case <-time.After(5 * time.Second):
		t.Fatal("Log blocked on a full queue")
	}
	if d := l.Dropped(); d != 10 {
		t.Errorf("Dropped() = %d, want 10", d)
	}
	if c := counter(t, reg, "prism_audit_dropped_events_total", ""); c != 10 {
		t.Errorf("prism_audit_dropped_events_total = %v, want 10", c)
	}
	close(w.release)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if n := len(lines(t, w.buf.Bytes())); n != 5 {
		t.Errorf("%d lines written, want 5", n)
	}
	if c := counter(t, reg, "prism_audit_events_total", "decision=deny"); c != 5 {
		t.Errorf("prism_audit_events_total{decision=deny} = %v, want 5", c)
	}
}

func TestCloseFlushesEverythingQueued(t *testing.T) {
	var buf bytes.Buffer
	reg := prometheus.NewRegistry()
	l, err := newLog(Config{Buffer: 1000}, &buf, reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 1000 {
		l.Log(Event{Decision: []string{"allow", "deny", "bogus"}[i%4%3]})
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if n := len(lines(t, buf.Bytes())); n != 1000 {
		t.Errorf("%d lines, want 1000", n)
	}
	for d, want := range map[string]float64{"allow": 500, "deny": 250, "other": 250} {
		if c := counter(t, reg, "prism_audit_events_total", "decision="+d); c != want {
			t.Errorf("events_total{%s} = %v, want %v", d, c, want)
		}
	}
	l.Log(Event{Decision: "deny"})
	if l.Dropped() != 1 {
		t.Errorf("an event after Close: Dropped() = %d, want 1", l.Dropped())
	}
}

func TestNilAndDiscardingLogs(t *testing.T) {
	var nl *Log
	discard, err := Open(DefaultConfig(), prometheus.NewRegistry(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range []*Log{nl, discard} {
		l.Log(full())
		if l.Dropped() != 0 || l.Reopen() != nil || l.Close() != nil || l.Close() != nil {
			t.Errorf("%p: not a silent no-op", l)
		}
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func TestWriteErrorsAreCountedAndLoggedRarely(t *testing.T) {
	var logs lockedBuffer
	reg := prometheus.NewRegistry()
	l, err := newLog(Config{Buffer: 10}, failingWriter{}, reg, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 { // five failed flushes, one event each
		l.Log(full())
		for deadline := time.Now().Add(5 * time.Second); l.Dropped() != uint64(i+1); {
			if time.Now().After(deadline) {
				t.Fatalf("event %d: Dropped() = %d", i, l.Dropped())
			}
			time.Sleep(time.Millisecond)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if l.Dropped() != 5 || counter(t, reg, "prism_audit_dropped_events_total", "") != 5 {
		t.Errorf("Dropped() = %d, want 5", l.Dropped())
	}
	if c := counter(t, reg, "prism_audit_events_total", "decision=deny"); c != 0 {
		t.Errorf("events_total = %v for failed writes", c)
	}
	out := logs.b.String()
	if n := strings.Count(out, "audit log write failed"); n != 1 {
		t.Errorf("%d error lines, want 1 (rate-limited):\n%s", n, out)
	}
	if strings.Contains(out, "tok-123") || !strings.Contains(out, "disk full") {
		t.Errorf("log line: %s", out)
	}
}

func TestReopenAfterRotation(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.log")
	l := open(t, Config{Path: path, Buffer: 8}, nil)
	l.Log(Event{Resource: "before"})
	for deadline := time.Now().Add(5 * time.Second); ; {
		if b, _ := os.ReadFile(path); len(b) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("first event never reached the file")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	if err := l.Reopen(); err != nil {
		t.Fatal(err)
	}
	l.Log(Event{Resource: "after"})
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if !errors.Is(l.Reopen(), ErrClosed) {
		t.Error("Reopen after Close: want ErrClosed")
	}
	for file, want := range map[string]string{path + ".1": "before", path: "after"} {
		got := readLines(t, file)
		if len(got) != 1 || got[0]["resource"] != want {
			t.Errorf("%s: %v, want one %q line", filepath.Base(file), got, want)
		}
		if st, _ := os.Stat(file); st.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v", file, st.Mode().Perm())
		}
	}
}

// Events logged while Close runs are either written or counted as dropped.
func TestConcurrentLogAndClose(t *testing.T) {
	var buf bytes.Buffer
	l, err := newLog(Config{Buffer: 64}, &buf, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 500 {
				l.Log(Event{Decision: "allow"})
			}
		})
	}
	l.Close()
	wg.Wait()
	if written := len(lines(t, buf.Bytes())); uint64(written)+l.Dropped() != 8*500 {
		t.Errorf("written %d + dropped %d != %d", written, l.Dropped(), 8*500)
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Errorf("default: %v", err)
	}
	for _, b := range []int{0, -1, maxBuffer + 1} {
		if err := (Config{Path: "x", Buffer: b}).Validate(); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("buffer %d: %v, want ErrInvalidConfig", b, err)
		}
		if _, err := Open(Config{Buffer: b}, nil, nil); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("Open with buffer %d: %v", b, err)
		}
	}
	if _, err := Open(Config{Path: filepath.Join(t.TempDir(), "no", "such", "dir"), Buffer: 1}, nil, nil); !errors.Is(err, ErrOpen) {
		t.Errorf("Open in a missing dir: %v, want ErrOpen", err)
	}
}

func TestMetricsRegisterOnce(t *testing.T) {
	reg := prometheus.NewRegistry()
	open(t, Config{Path: filepath.Join(t.TempDir(), "a"), Buffer: 1}, reg)
	if _, err := Open(Config{Path: filepath.Join(t.TempDir(), "b"), Buffer: 1}, reg, nil); err == nil {
		t.Error("a second Log on the same registry: want a registration error")
	}
}
