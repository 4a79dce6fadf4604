package archive

import (
	"errors"
	"fmt"
)

var (
	// ErrFenced: a writer of a newer raft term owns the archive cursor;
	// this writer must stop (it is no longer the leader).
	ErrFenced = errors.New("archive: fenced by a newer term")
	// ErrCursorMoved: the cursor is not where the batch starts (another
	// writer advanced it, or an unknown outcome did commit); read it again.
	ErrCursorMoved = errors.New("archive: cursor moved")
	// ErrJournalCompacted: the journal no longer holds the revision asked
	// for (see *CompactedError).
	ErrJournalCompacted = errors.New("archive: journal compacted")
	// ErrNoArchive: the archive holds nothing for the cluster asked for.
	ErrNoArchive = errors.New("archive: nothing archived")
	// ErrGap: the archive lacks a revision a rebuild needs.
	ErrGap = errors.New("archive: gap")
	// ErrNotConfigured: this node has no archive (no --archive-url).
	ErrNotConfigured = errors.New("archive: no archive configured on this node")
	// ErrUnreachable: Postgres did not answer.
	ErrUnreachable = errors.New("archive: unreachable")
	// ErrInvalidConfig: a Config field is invalid.
	ErrInvalidConfig = errors.New("archive: invalid config")
)

// CompactedError: the journal holds changes only after Base (Reason says
// why the older ones are gone).
type CompactedError struct {
	Asked  int64
	Base   int64
	Reason string
}

func (e *CompactedError) Error() string {
	return fmt.Sprintf("%v: asked for changes after revision %d, held only after %d (%s)", ErrJournalCompacted, e.Asked, e.Base, e.Reason)
}

func (e *CompactedError) Is(t error) bool { return t == ErrJournalCompacted }
