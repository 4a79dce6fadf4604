package archive

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prism/controlplane/fsm"
)

// memSink is an in-memory Sink with the store's rules (fence, contiguity,
// epochs), for testing the archiver's loop without Postgres.
type memSink struct {
	mu          sync.Mutex
	cur         Cursor
	rows        map[int64]Change
	epochs      []Checkpoint
	checkpoints []Checkpoint
	failNext    int // Appends to fail with a transient error
}

func newMemSink() *memSink { return &memSink{rows: map[int64]Change{}} }

func (m *memSink) Claim(_ context.Context, id string, term uint64) (Cursor, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cur.Term > term {
		return m.cur, fmt.Errorf("%w: cursor at term %d, writer at %d", ErrFenced, m.cur.Term, term)
	}
	m.cur.ClusterID, m.cur.Term = id, term
	return m.cur, nil
}

func (m *memSink) Append(_ context.Context, id string, term uint64, epoch int64, cs []Change) (Cursor, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.failNext > 0 {
		m.failNext--
		return m.cur, fmt.Errorf("%w: injected", ErrUnreachable)
	}
	if m.cur.Term > term {
		return m.cur, ErrFenced
	}
	if epoch != m.cur.Epoch || cs[0].Revision != m.cur.Revision+1 {
		return m.cur, ErrCursorMoved
	}
	for i, c := range cs {
		if c.Revision != cs[0].Revision+int64(i) {
			return m.cur, errors.New("not contiguous")
		}
		if _, dup := m.rows[c.Revision]; dup {
			return m.cur, fmt.Errorf("revision %d twice", c.Revision)
		}
	}
	for _, c := range cs {
		m.rows[c.Revision] = c
	}
	m.cur.Revision, m.cur.Term = cs[len(cs)-1].Revision, term
	return m.cur, nil
}

func (m *memSink) WriteCheckpoint(_ context.Context, id string, term uint64, epoch int64, cp Checkpoint) (Cursor, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cur.Term > term {
		return m.cur, ErrFenced
	}
	if epoch != m.cur.Epoch {
		return m.cur, ErrCursorMoved
	}
	if cp.NewEpoch {
		m.cur.Epoch++
		m.cur.Revision = cp.Revision
		m.epochs = append(m.epochs, cp)
	}
	m.checkpoints = append(m.checkpoints, cp)
	return m.cur, nil
}

func (m *memSink) cursor() Cursor {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cur
}

// fsmSource applies real commands to a real FSM and records them in a
// journal, as the node's FSM adapter does.
type fsmSource struct {
	*fsm.FSM
	j     *Journal
	index uint64
}

func (s *fsmSource) put(t *testing.T, name string) {
	t.Helper()
	s.index++
	b, err := fsm.EncodeCommand(putCmd(name, s.index))
	if err != nil {
		t.Fatal(err)
	}
	s.j.Record(s.Apply(s.index, b))
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func newTestArchiver(t *testing.T, sink Sink, src *fsmSource) *Archiver {
	cfg := DefaultConfig()
	cfg.RetryMin, cfg.RetryMax = time.Millisecond, 5*time.Millisecond
	cfg.BatchMax = 7
	a, err := NewArchiver(cfg, Deps{Sink: sink, Journal: src.j, Source: src})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestArchiverArchivesEveryRevisionOnce(t *testing.T) {
	src := &fsmSource{FSM: fsm.New(), j: NewJournal(1000, 0)}
	src.setClusterID(t, "c1")
	sink := newMemSink()
	sink.failNext = 3
	a := newTestArchiver(t, sink, src)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); a.Run(ctx, 2) }()
	for i := 0; i < 50; i++ {
		src.put(t, fmt.Sprintf("ns-%d", i%10))
	}
	waitFor(t, "the archive to reach revision 50", func() bool { return sink.cursor().Revision == 50 })
	cancel()
	<-done
	if len(sink.rows) != 50 || sink.cur.Epoch != 1 || len(sink.epochs) != 1 || sink.epochs[0].Revision != 0 {
		t.Fatalf("rows %d epoch %d epochs %+v", len(sink.rows), sink.cur.Epoch, sink.epochs)
	}
	for r := int64(1); r <= 50; r++ {
		if c := sink.rows[r]; c.Revision != r || c.Kind != KindNamespace || c.Namespace.Revision != r {
			t.Fatalf("row %d: %+v", r, c)
		}
	}
	if st := a.Status(); st.ArchivedRevision != 50 || st.LagRevisions != 0 || st.Running || st.LastError != "" {
		t.Fatalf("status %+v", st)
	}
}

func TestArchiverOpensAnEpochWhenTheJournalLostTheRevisions(t *testing.T) {
	src := &fsmSource{FSM: fsm.New(), j: NewJournal(8, 0)}
	src.setClusterID(t, "c1")
	sink := newMemSink()
	sink.cur = Cursor{ClusterID: "c1", Revision: 3, Epoch: 1, Term: 1}
	for i := 0; i < 40; i++ { // revisions 1..40; the journal keeps only the newest
		src.put(t, fmt.Sprintf("ns-%d", i))
	}
	a := newTestArchiver(t, sink, src)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go a.Run(ctx, 2)
	waitFor(t, "a new epoch", func() bool { c := sink.cursor(); return c.Epoch == 2 && c.Revision == 40 })
	sink.mu.Lock()
	cp := sink.epochs[0]
	sink.mu.Unlock()
	if cp.Revision != 40 || cp.Namespaces != 40 || !cp.NewEpoch {
		t.Fatalf("epoch checkpoint %+v", cp)
	}
	rc, err := fsm.ReadRecords(bytesReader(cp.Snapshot))
	if err != nil || len(rc.Namespaces) != 40 || rc.Revision != 40 || rc.ClusterID != "c1" {
		t.Fatalf("checkpoint records: %v", err)
	}
	src.put(t, "after")
	waitFor(t, "revision 41", func() bool { return sink.cursor().Revision == 41 })
}

func TestArchiverStopsWhenFenced(t *testing.T) {
	src := &fsmSource{FSM: fsm.New(), j: NewJournal(100, 0)}
	src.setClusterID(t, "c1")
	sink := newMemSink()
	sink.cur = Cursor{ClusterID: "c1", Term: 9}
	a := newTestArchiver(t, sink, src)
	done := make(chan struct{})
	go func() { defer close(done); a.Run(context.Background(), 3) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("a fenced archiver kept running")
	}
	if st := a.Status(); !strings.Contains(st.LastError, "fenced") {
		t.Fatalf("status after fence: %+v", st)
	}
	if len(sink.rows) != 0 {
		t.Fatal("a fenced writer wrote")
	}
}

func TestArchiverWritesPeriodicCheckpointsUnderLoad(t *testing.T) {
	src := &fsmSource{FSM: fsm.New(), j: NewJournal(10000, 0)}
	src.setClusterID(t, "c1")
	sink := newMemSink()
	cfg := DefaultConfig()
	cfg.RetryMin, cfg.RetryMax, cfg.BatchMax, cfg.CheckpointEvery = time.Millisecond, 5*time.Millisecond, 3, 20
	a, err := NewArchiver(cfg, Deps{Sink: sink, Journal: src.j, Source: src})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go a.Run(ctx, 1)
	for i := 1; i <= 200; i++ { // a steady load: the archive never idles long
		src.put(t, fmt.Sprintf("ns-%d", i%30))
		if i%4 == 0 {
			waitFor(t, "the archive to follow", func() bool { return sink.cursor().Revision >= int64(i-8) })
		}
	}
	waitFor(t, "the load archived", func() bool { return sink.cursor().Revision == 200 })
	sink.mu.Lock()
	defer sink.mu.Unlock()
	periodic := 0
	for _, cp := range sink.checkpoints {
		if !cp.NewEpoch {
			periodic++
			if cp.Revision > 200 || cp.Namespaces == 0 {
				t.Fatalf("checkpoint %+v", cp)
			}
		}
	}
	if periodic < 3 {
		t.Fatalf("%d periodic checkpoints over 200 revisions every 20", periodic)
	}
}
