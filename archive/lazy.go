package archive

import (
	"context"
	"log/slog"
	"sync"
)

// Lazy is a Store opened on first use, and again after a failed open: a
// node starts (and serves) while its archive is down, and the archiver
// connects once Postgres answers. It is a Backend.
type Lazy struct {
	cfg StoreConfig
	log *slog.Logger

	mu     sync.Mutex
	store  *Store
	closed bool
}

// Backend is an archive a node writes to and reads from.
type Backend interface {
	Sink
	CursorReader
	History(ctx context.Context, clusterID, kind, name string, limit int) ([]HistoryEntry, error)
}

var (
	_ Backend = (*Lazy)(nil)
	_ Backend = (*Store)(nil)
)

// NewLazy checks cfg and returns a Lazy; nothing is dialled yet.
func NewLazy(cfg StoreConfig, log *slog.Logger) (*Lazy, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Lazy{cfg: cfg, log: log}, nil
}

// get returns the open store, opening it now if needed.
func (l *Lazy) get(ctx context.Context) (*Store, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, ErrUnreachable
	}
	if l.store != nil {
		return l.store, nil
	}
	s, err := Open(ctx, l.cfg, l.log)
	if err != nil {
		return nil, err
	}
	l.store = s
	return s, nil
}

// Close closes the store if it was opened; later calls fail.
func (l *Lazy) Close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	if l.store != nil {
		l.store.Close()
		l.store = nil
	}
}

// Claim is Store.Claim.
func (l *Lazy) Claim(ctx context.Context, clusterID string, term uint64) (Cursor, error) {
	s, err := l.get(ctx)
	if err != nil {
		return Cursor{}, err
	}
	return s.Claim(ctx, clusterID, term)
}

// Append is Store.Append.
func (l *Lazy) Append(ctx context.Context, clusterID string, term uint64, epoch int64, changes []Change) (Cursor, error) {
	s, err := l.get(ctx)
	if err != nil {
		return Cursor{}, err
	}
	return s.Append(ctx, clusterID, term, epoch, changes)
}

// WriteCheckpoint is Store.WriteCheckpoint.
func (l *Lazy) WriteCheckpoint(ctx context.Context, clusterID string, term uint64, epoch int64, cp Checkpoint) (Cursor, error) {
	s, err := l.get(ctx)
	if err != nil {
		return Cursor{}, err
	}
	return s.WriteCheckpoint(ctx, clusterID, term, epoch, cp)
}

// Cursor is Store.Cursor.
func (l *Lazy) Cursor(ctx context.Context, clusterID string) (Cursor, error) {
	s, err := l.get(ctx)
	if err != nil {
		return Cursor{}, err
	}
	return s.Cursor(ctx, clusterID)
}

// History is Store.History.
func (l *Lazy) History(ctx context.Context, clusterID, kind, name string, limit int) ([]HistoryEntry, error) {
	s, err := l.get(ctx)
	if err != nil {
		return nil, err
	}
	return s.History(ctx, clusterID, kind, name, limit)
}
