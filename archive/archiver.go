package archive

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/prism/controlplane/fsm"
	"github.com/prism/controlplane/fsm/fsmpb"
)

// Source is the replicated state the archiver reads: the node's FSM.
type Source interface {
	ClusterID() string
	Revision() int64
	// Snapshot is the state at one revision (its records and revision
	// read under one lock, so they agree).
	Snapshot() *fsm.Snapshot
}

// Deps are the archiver's collaborators.
type Deps struct {
	Logger  *slog.Logger
	Sink    Sink
	Journal *Journal
	Source  Source
	Metrics *Metrics
	Now     func() time.Time // nil: time.Now
}

// Archiver moves committed changes from the journal into the sink. It runs
// on the leader, one Run per leadership stint, after the stint's barrier
// (so the journal holds every committed entry up to the stint's start).
//
// Invariants: the sink's cursor only moves by Append (contiguous changes
// right after it) or by a checkpoint that opens a new epoch; so within an
// epoch the archive holds every revision exactly once, and a hole only
// ever appears as an epoch boundary whose reason is recorded.
type Archiver struct {
	cfg  Config
	deps Deps
	log  *slog.Logger

	mu sync.Mutex
	st Status
}

// NewArchiver returns an archiver; cfg must be valid.
func NewArchiver(cfg Config, deps Deps) (*Archiver, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Sink == nil || deps.Journal == nil || deps.Source == nil {
		return nil, fmt.Errorf("%w: the archiver needs a sink, a journal and a source", ErrInvalidConfig)
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	a := &Archiver{cfg: cfg, deps: deps, log: deps.Logger}
	deps.Metrics.bind(func() (int64, float64) {
		st := a.Status()
		return st.LagRevisions, st.LagSeconds
	})
	return a, nil
}

// Status is the archiver's last view (Running only during a Run).
func (a *Archiver) Status() Status {
	a.mu.Lock()
	st := a.st
	a.mu.Unlock()
	st.ClusterRevision = a.deps.Source.Revision()
	if st.ClusterID == "" {
		st.ClusterID = a.deps.Source.ClusterID()
	}
	if st.Running {
		st.LagRevisions, st.LagSeconds = a.lag(st)
	}
	return st
}

// lag is how far the archive trails the state.
func (a *Archiver) lag(st Status) (int64, float64) {
	revs := max(st.ClusterRevision-st.ArchivedRevision, 0)
	if revs == 0 {
		return 0, 0
	}
	// The age of the oldest change not archived; when the journal no
	// longer holds it, the age of the oldest it holds is a lower bound
	// (never the time of the last success: a claim that succeeds after an
	// outage archives nothing yet).
	base, _ := a.deps.Journal.Bounds()
	at, ok := a.deps.Journal.CommittedAt(max(st.ArchivedRevision, base) + 1)
	if !ok {
		if st.LastSuccess.IsZero() {
			return revs, 0
		}
		at = st.LastSuccess.UnixNano()
	}
	return revs, max(a.deps.Now().Sub(time.Unix(0, at)).Seconds(), 0)
}

func (a *Archiver) update(f func(*Status)) {
	a.mu.Lock()
	f(&a.st)
	a.mu.Unlock()
}

func (a *Archiver) fail(err error) {
	a.log.Warn("archive write failed; retrying", "err", err)
	a.update(func(s *Status) { s.LastError, s.LastErrorAt = err.Error(), a.deps.Now() })
}

// Run archives until ctx ends or a newer term fences this writer.
func (a *Archiver) Run(ctx context.Context, term uint64) {
	a.update(func(s *Status) { s.Running, s.Term = true, term })
	defer a.update(func(s *Status) { s.Running = false })
	backoff := a.cfg.RetryMin
	for ctx.Err() == nil {
		id := a.deps.Source.ClusterID()
		if id == "" { // the first leader records it right after its barrier
			if !a.pause(ctx, a.cfg.RetryMin) {
				return
			}
			continue
		}
		err := a.stream(ctx, id, term)
		if ctx.Err() != nil {
			return
		}
		if errors.Is(err, ErrFenced) {
			a.log.Info("a newer leader archives now; stopping", "term", term, "err", err)
			a.update(func(s *Status) { s.LastError, s.LastErrorAt = err.Error(), a.deps.Now() })
			return
		}
		a.fail(err)
		// Full jitter: two nodes retrying never march in step.
		if !a.pause(ctx, backoff/2+rand.N(backoff/2+1)) {
			return
		}
		backoff = min(2*backoff, a.cfg.RetryMax)
		if errors.Is(err, ErrCursorMoved) {
			backoff = a.cfg.RetryMin
		}
	}
}

// Trail runs on a node while it does not lead: every interval it reads
// the archive's cursor and trims the journal to it, so a follower holds
// only what the archive still lacks (all of it, should it lead next).
func (a *Archiver) Trail(ctx context.Context, r CursorReader, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		a.mu.Lock()
		running := a.st.Running
		a.mu.Unlock()
		id := a.deps.Source.ClusterID()
		if running || id == "" {
			continue // the leader's archiver trims as it writes
		}
		rctx, cancel := context.WithTimeout(ctx, every)
		cur, err := r.Cursor(rctx, id)
		cancel()
		if err == nil {
			a.deps.Journal.Trim(cur.Revision)
		}
	}
}

// CursorReader reads where an archive stands (Store, Lazy).
type CursorReader interface {
	Cursor(ctx context.Context, clusterID string) (Cursor, error)
}

func (a *Archiver) pause(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// stream claims the cursor and writes until an error.
func (a *Archiver) stream(ctx context.Context, id string, term uint64) error {
	cur, err := a.withTimeout(ctx, func(ctx context.Context) (Cursor, error) { return a.deps.Sink.Claim(ctx, id, term) })
	if err != nil {
		return err
	}
	a.succeeded(cur, 0)
	lastCheckpoint := cur.Revision
	var pending *fsm.Snapshot // a periodic checkpoint waiting for the cursor to reach it
	var lastWrite time.Time
	for {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if cur.Epoch == 0 {
			if cur, err = a.openEpoch(ctx, id, term, cur, nil); err != nil {
				return err
			}
			lastCheckpoint, pending = cur.Revision, nil
			continue
		}
		if wait := a.cfg.BatchWait - a.deps.Now().Sub(lastWrite); wait > 0 {
			if base, head := a.deps.Journal.Bounds(); head-max(base, cur.Revision) < int64(a.cfg.BatchMax) && !a.pause(ctx, wait) {
				return ctx.Err()
			}
		}
		changed := a.deps.Journal.Changed()
		changes, err := a.deps.Journal.Since(cur.Revision, a.cfg.BatchMax)
		var ce *CompactedError
		if errors.As(err, &ce) {
			if cur, err = a.openEpoch(ctx, id, term, cur, ce); err != nil {
				return err
			}
			lastCheckpoint, pending = cur.Revision, nil
			continue
		}
		if pending != nil && cur.Revision >= pending.Revision() {
			// The changes up to the snapshot are archived: its checkpoint
			// can be written (under load too, between batches).
			if err := a.periodicCheckpoint(ctx, id, term, cur, pending); err != nil {
				return err
			}
			lastCheckpoint, pending = pending.Revision(), nil
			continue
		}
		if len(changes) == 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-changed:
			}
			continue
		}
		start := a.deps.Now()
		lastWrite = start
		next, err := a.withTimeout(ctx, func(ctx context.Context) (Cursor, error) {
			return a.deps.Sink.Append(ctx, id, term, cur.Epoch, changes)
		})
		if err != nil {
			a.deps.Metrics.batch(outcome(err), 0, 0, start, 0)
			return err
		}
		cur = next
		a.deps.Journal.Trim(cur.Revision)
		now := a.deps.Now()
		a.deps.Metrics.batch("ok", len(changes), now.Sub(start), now, changes[0].UnixNano)
		a.succeeded(cur, 0)
		if pending == nil && cur.Revision-lastCheckpoint >= a.cfg.CheckpointEvery {
			pending = a.deps.Source.Snapshot()
		}
	}
}

func outcome(err error) string {
	switch {
	case errors.Is(err, ErrFenced):
		return "fenced"
	case errors.Is(err, ErrCursorMoved):
		return "moved"
	}
	return "error"
}

func (a *Archiver) withTimeout(ctx context.Context, f func(context.Context) (Cursor, error)) (Cursor, error) {
	wctx, cancel := context.WithTimeout(ctx, a.cfg.WriteTimeout)
	defer cancel()
	return f(wctx)
}

func (a *Archiver) succeeded(cur Cursor, checkpoints int64) {
	a.update(func(s *Status) {
		s.ClusterID, s.ArchivedRevision, s.Epoch = cur.ClusterID, cur.Revision, cur.Epoch
		s.LastSuccess, s.LastError = a.deps.Now(), ""
		s.Checkpoints += checkpoints
	})
}

// openEpoch writes a checkpoint that starts a new epoch: of the empty
// state at revision 0 when the journal holds the whole history (a new
// cluster), else of the current state.
func (a *Archiver) openEpoch(ctx context.Context, id string, term uint64, cur Cursor, ce *CompactedError) (Cursor, error) {
	var rc *fsm.Records
	var reason string
	if base, _ := a.deps.Journal.Bounds(); cur.Epoch == 0 && base == 0 {
		rc = &fsm.Records{ClusterID: id}
		reason = "the archive starts at the cluster's first revision"
	} else {
		rc = a.deps.Source.Snapshot().Records()
		reason = fmt.Sprintf("the archive starts here, from a checkpoint at revision %d", rc.Revision)
		if ce != nil {
			reason = fmt.Sprintf("revisions %d..%d are not archived one by one (%s); the epoch starts from a checkpoint at %d",
				cur.Revision+1, rc.Revision, ce.Reason, rc.Revision)
		}
	}
	if rc.Revision < cur.Revision {
		return cur, fmt.Errorf("archive: this node's state (revision %d) is behind the archive (revision %d)", rc.Revision, cur.Revision)
	}
	cp, err := checkpointOf(rc, a.deps.Journal)
	if err != nil {
		return cur, err
	}
	cp.NewEpoch, cp.Reason = true, reason
	next, err := a.withTimeout(ctx, func(ctx context.Context) (Cursor, error) {
		return a.deps.Sink.WriteCheckpoint(ctx, id, term, cur.Epoch, cp)
	})
	if err != nil {
		return cur, err
	}
	a.deps.Journal.Trim(next.Revision)
	a.log.Info("archive epoch opened with a checkpoint", "epoch", next.Epoch, "revision", cp.Revision, "reason", reason)
	a.deps.Metrics.checkpoint("epoch")
	a.succeeded(next, 1)
	return next, nil
}

func (a *Archiver) periodicCheckpoint(ctx context.Context, id string, term uint64, cur Cursor, sn *fsm.Snapshot) error {
	cp, err := checkpointOf(sn.Records(), a.deps.Journal)
	if err != nil {
		return err
	}
	next, err := a.withTimeout(ctx, func(ctx context.Context) (Cursor, error) {
		return a.deps.Sink.WriteCheckpoint(ctx, id, term, cur.Epoch, cp)
	})
	if err != nil {
		return err
	}
	a.log.Info("archive checkpoint written", "revision", cp.Revision, "namespaces", cp.Namespaces, "shards", cp.Shards)
	a.deps.Metrics.checkpoint("periodic")
	a.succeeded(next, 1)
	return nil
}

// checkpointOf encodes records as a checkpoint, namespaces redacted.
func checkpointOf(rc *fsm.Records, j *Journal) (Checkpoint, error) {
	red := &fsm.Records{ClusterID: rc.ClusterID, Revision: rc.Revision, Shards: rc.Shards,
		Namespaces: make(map[string]*fsmpb.Namespace, len(rc.Namespaces))}
	for name, ns := range rc.Namespaces {
		red.Namespaces[name] = Redact(ns)
	}
	sn, err := red.Snapshot()
	if err != nil {
		return Checkpoint{}, err
	}
	var buf bytes.Buffer
	if _, err := sn.WriteTo(&buf); err != nil {
		return Checkpoint{}, err
	}
	at, _ := j.CommittedAt(rc.Revision)
	return Checkpoint{Revision: rc.Revision, UnixNano: at, Snapshot: buf.Bytes(), Namespaces: len(rc.Namespaces), Shards: len(rc.Shards)}, nil
}
