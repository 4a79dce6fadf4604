package archive

import (
	"sync"

	"github.com/prism/controlplane/fsm"
)

// DefaultJournalChanges is how many changes a journal holds by default:
// at 2,000 writes a second, close to a minute of archive outage, after
// which the archiver writes a checkpoint instead (a new epoch).
const DefaultJournalChanges = 100_000

// Journal is a node's record of the changes it applied, in revision order,
// contiguous: it holds the revisions Base()+1 .. Head(), at most max of
// them (older ones are dropped first). Record is called by the one
// goroutine that applies the log; the rest is safe from any goroutine.
//
// Invariant: every change held is exactly what the FSM committed at that
// revision, and no revision between Base()+1 and Head() is missing. When
// the state skips ahead (a restore, a follower installing the leader's
// snapshot, a revision floor) the journal empties and starts again after
// the new revision, saying why.
type Journal struct {
	mu      sync.Mutex
	max     int
	changes []Change // revisions base+1 .. base+len
	base    int64
	reason  string // why nothing at or before base is held
	wake    chan struct{}
}

// NewJournal returns an empty journal after revision base (the state's
// revision when the node starts), holding at most max changes (0:
// DefaultJournalChanges).
func NewJournal(max int, base int64) *Journal {
	if max <= 0 {
		max = DefaultJournalChanges
	}
	return &Journal{max: max, base: base, reason: "before this node started", wake: make(chan struct{})}
}

// Record takes one applied entry's result: a change that advanced the
// revision is appended; anything else is ignored.
func (j *Journal) Record(r fsm.Result) {
	if r.Err != nil || r.Unchanged {
		return
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	head := j.base + int64(len(j.changes))
	switch {
	case r.Revision <= head:
		return // no bump (cluster id), or a replay
	case r.Revision > head+1:
		j.resetLocked(r.Revision, "the revision skipped ahead")
		return
	}
	j.changes = append(j.changes, ChangeOf(r))
	if over := len(j.changes) - j.max; over > 0 {
		// Trim in chunks, so appends stay amortised O(1).
		drop := max(over, j.max/8)
		j.base += int64(drop)
		j.changes = append(j.changes[:0:0], j.changes[drop:]...)
		j.reason = "dropped from the journal (it holds at most the newest changes)"
	}
	j.signalLocked()
}

// Reset empties the journal after the state was replaced or skipped to
// revision rev.
func (j *Journal) Reset(rev int64, reason string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.resetLocked(rev, reason)
}

func (j *Journal) resetLocked(rev int64, reason string) {
	j.changes, j.base, j.reason = nil, rev, reason
	j.signalLocked()
}

func (j *Journal) signalLocked() {
	close(j.wake)
	j.wake = make(chan struct{})
}

// Trim drops the changes at or before rev: the archive holds them. So a
// journal holds what the archive still needs, not the newest max changes,
// and its memory follows the archive's lag (about nothing while it keeps
// up). A rev past the head empties it; what follows is still recorded.
func (j *Journal) Trim(rev int64) {
	j.mu.Lock()
	defer j.mu.Unlock()
	n := min(rev-j.base, int64(len(j.changes)))
	if n <= 0 {
		return
	}
	clear(j.changes[:n]) // release the records
	j.changes = j.changes[n:]
	j.base += n
	j.reason = "archived already"
}

// Changed is closed at the next Record or Reset.
func (j *Journal) Changed() <-chan struct{} {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.wake
}

// Bounds are the revisions held: Base()+1 .. Head().
func (j *Journal) Bounds() (base, head int64) {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.base, j.base + int64(len(j.changes))
}

// Since returns up to limit changes after revision after, in order: none
// when after is the head. A revision no longer held is a *CompactedError;
// one past the head returns nothing.
func (j *Journal) Since(after int64, limit int) ([]Change, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if after < j.base {
		return nil, &CompactedError{Asked: after, Base: j.base, Reason: j.reason}
	}
	i := after - j.base
	if i >= int64(len(j.changes)) {
		return nil, nil
	}
	end := min(int64(len(j.changes)), i+int64(limit))
	return append([]Change(nil), j.changes[i:end]...), nil
}

// CommittedAt is the leader's time of the change at rev, if held.
func (j *Journal) CommittedAt(rev int64) (int64, bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	i := rev - j.base - 1
	if i < 0 || i >= int64(len(j.changes)) {
		return 0, false
	}
	return j.changes[i].UnixNano, true
}
