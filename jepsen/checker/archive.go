package checker

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/prism/controlplane/archive"
	"github.com/prism/controlplane/fsm"
	"github.com/prism/controlplane/fsm/fsmpb"
	"github.com/prism/controlplane/jepsen/history"
	"github.com/prism/controlplane/nsfile"
)

// ArchiveEpoch is one row of prism_archive.epochs: the epoch holds the
// revisions Start+1 .. End (End is the cursor's revision while Open).
type ArchiveEpoch struct {
	Epoch  int64  `json:"epoch"`
	Start  int64  `json:"start_revision"`
	End    int64  `json:"end_revision"`
	Open   bool   `json:"open,omitempty"`
	Reason string `json:"reason"`
	Term   uint64 `json:"term"`
}

// ArchiveCheckpoint is one row of prism_archive.checkpoints with its
// snapshot decoded (Records nil and Err set when it does not decode).
type ArchiveCheckpoint struct {
	Revision   int64        `json:"revision"`
	Epoch      int64        `json:"epoch"`
	Namespaces int          `json:"namespaces"` // the counts the row declares
	Shards     int          `json:"shards"`
	Records    *fsm.Records `json:"-"`
	Err        string       `json:"err,omitempty"`
}

// ArchiveRow is one row of prism_archive.changes.
type ArchiveRow struct {
	Revision int64
	Epoch    int64
	Kind     string
	Name     string
	Op       string
	Object   []byte // the jsonb column (nil: null)
	Payload  []byte // nil: null
}

// ArchiveCursor is the row of prism_archive.cursor.
type ArchiveCursor struct {
	Revision int64  `json:"revision"`
	Epoch    int64  `json:"epoch"`
	Term     uint64 `json:"term"`
}

// ArchiveSnapshot is what the archive checkers judge: the cluster's
// archive as read from Postgres in one transaction once it caught up, and
// the cluster's final linearizable state.
type ArchiveSnapshot struct {
	ClusterID   string
	Cursor      ArchiveCursor
	Epochs      []ArchiveEpoch // by epoch
	Checkpoints []ArchiveCheckpoint
	Rows        []ArchiveRow // by revision
	// CaughtUp: after healing, `archive status` answered lag_revisions 0
	// with archived_revision equal to cluster_revision. The Status fields
	// are that answer (or the last one, when it never did).
	CaughtUp       bool
	StatusArchived int64
	StatusCluster  int64
	StatusError    string // the status's last_error, or why it could not be read
	// The cluster's state at FinalRevision, read linearizably: every
	// namespace (tombstones included) and every shard.
	FinalRevision int64
	Namespaces    map[string]*fsmpb.Namespace
	Shards        map[string]*fsmpb.Shard
	// Rebuilt is archive.Rebuild at FinalRevision (RebuildErr: it failed).
	Rebuilt    *fsm.Records
	RebuildErr string
}

// Archive runs every archive checker.
func Archive(ops []history.Op, s ArchiveSnapshot) []Result {
	return []Result{ArchiveContiguous(s), ArchiveOnce(s), ArchiveAcknowledged(ops, s), ArchiveFinal(s)}
}

func (s *ArchiveSnapshot) epoch(e int64) (ArchiveEpoch, bool) {
	for _, x := range s.Epochs {
		if x.Epoch == e {
			return x, true
		}
	}
	return ArchiveEpoch{}, false
}

func (s *ArchiveSnapshot) checkpoint(epoch, rev int64) (ArchiveCheckpoint, bool) {
	for _, cp := range s.Checkpoints {
		if cp.Epoch == epoch && cp.Revision == rev {
			return cp, true
		}
	}
	return ArchiveCheckpoint{}, false
}

// archived: revision rev lies inside an epoch (not in a gap between two).
func (s *ArchiveSnapshot) archived(rev int64) bool {
	for _, e := range s.Epochs {
		if rev > e.Start && rev <= e.End {
			return true
		}
	}
	return false
}

// ArchiveContiguous checks the archive's shape: epochs numbered from 0,
// epoch 0 starting empty at revision 0, each later one starting at or
// after the end of the one before, with a recorded reason and a
// checkpoint at its start; only the last is open and it ends at the
// cursor; every row lies in its epoch's span, and every revision of each
// span is there (no gap inside an epoch). Each epoch boundary is reported
// in the note (a new epoch is allowed, not a violation).
func ArchiveContiguous(s ArchiveSnapshot) Result {
	r := Result{Name: "archive-contiguous", OK: true}
	if len(s.Epochs) == 0 {
		r.fail("the archive of cluster %q has no epochs", s.ClusterID)
		return r
	}
	var notes []string
	for i, e := range s.Epochs {
		last := i == len(s.Epochs)-1
		if e.Epoch != int64(i) {
			r.fail("epochs are not numbered 0..%d: epoch %d is number %d", len(s.Epochs)-1, e.Epoch, i)
		}
		if e.End < e.Start {
			r.fail("epoch %d ends at %d, before its start %d", e.Epoch, e.End, e.Start)
		}
		if e.Open != last {
			r.fail("epoch %d open=%v: only the last epoch is open", e.Epoch, e.Open)
		}
		if i == 0 {
			if e.Start != 0 {
				r.fail("epoch 0 starts at revision %d, not 0", e.Start)
			}
			continue
		}
		prev := s.Epochs[i-1]
		if e.Start < prev.End {
			r.fail("epoch %d starts at revision %d, inside epoch %d (which ends at %d)", e.Epoch, e.Start, prev.Epoch, prev.End)
		}
		if strings.TrimSpace(e.Reason) == "" {
			r.fail("epoch %d (from revision %d) was opened without a reason", e.Epoch, e.Start)
		}
		if _, ok := s.checkpoint(e.Epoch, e.Start); !ok {
			r.fail("epoch %d has no checkpoint at its start, revision %d", e.Epoch, e.Start)
		}
		gap := "no gap"
		if e.Start > prev.End {
			gap = fmt.Sprintf("revisions %s not archived", span(prev.End+1, e.Start))
		}
		notes = append(notes, fmt.Sprintf("epoch %d at %d after %d (%s, term %d): %s", e.Epoch, e.Start, prev.End, gap, e.Term, e.Reason))
	}
	last := s.Epochs[len(s.Epochs)-1]
	if s.Cursor.Epoch != last.Epoch || s.Cursor.Revision != last.End {
		r.fail("the cursor is at revision %d of epoch %d, but the last epoch is %d ending at %d", s.Cursor.Revision, s.Cursor.Epoch, last.Epoch, last.End)
	}
	for _, cp := range s.Checkpoints {
		e, ok := s.epoch(cp.Epoch)
		if !ok {
			r.fail("checkpoint at revision %d names epoch %d, which does not exist", cp.Revision, cp.Epoch)
		} else if cp.Revision < e.Start || cp.Revision > e.End {
			r.fail("checkpoint at revision %d lies outside its epoch %d (%d..%d)", cp.Revision, cp.Epoch, e.Start, e.End)
		}
	}
	revs := map[int64][]int64{}
	for _, row := range s.Rows {
		e, ok := s.epoch(row.Epoch)
		switch {
		case !ok:
			r.fail("revision %d is archived in epoch %d, which does not exist", row.Revision, row.Epoch)
		case row.Revision <= e.Start || row.Revision > e.End:
			r.fail("revision %d is archived in epoch %d, outside its span %s", row.Revision, row.Epoch, span(e.Start+1, e.End))
		default:
			revs[row.Epoch] = append(revs[row.Epoch], row.Revision)
		}
	}
	for _, e := range s.Epochs {
		for _, m := range missingSpans(e.Start+1, e.End, revs[e.Epoch]) {
			r.fail("epoch %d: revisions %s are missing (the epoch holds %s)", e.Epoch, m, span(e.Start+1, e.End))
		}
	}
	r.Note = fmt.Sprintf("head %d, %d revisions archived in %d epochs, %d checkpoints", s.Cursor.Revision, len(s.Rows), len(s.Epochs), len(s.Checkpoints))
	if len(notes) > 0 {
		r.Note += "; " + strings.Join(notes, "; ")
	}
	return r
}

// span writes a..b (a alone when equal; "none" when empty).
func span(a, b int64) string {
	switch {
	case b < a:
		return "none"
	case a == b:
		return fmt.Sprint(a)
	}
	return fmt.Sprintf("%d..%d", a, b)
}

// missingSpans lists the stretches of from..to absent from have (sorted,
// maybe with repeats).
func missingSpans(from, to int64, have []int64) []string {
	sort.Slice(have, func(i, j int) bool { return have[i] < have[j] })
	var out []string
	next := from
	for _, v := range have {
		if v < next {
			continue
		}
		if v > next {
			out = append(out, span(next, v-1))
		}
		next = v + 1
	}
	if next <= to {
		out = append(out, span(next, to))
	}
	return out
}

// decodeRow decodes a put's or delete's payload and checks it names the
// row's object.
func decodeRow(row ArchiveRow) (*fsmpb.Namespace, *fsmpb.Shard, error) {
	if row.Payload == nil {
		return nil, nil, fmt.Errorf("no payload")
	}
	ns, sh, err := archive.DecodePayload(row.Kind, row.Payload)
	if err != nil {
		return nil, nil, err
	}
	switch {
	case ns != nil && ns.GetSpec().GetName() != row.Name:
		return nil, nil, fmt.Errorf("the payload is namespace %q", ns.GetSpec().GetName())
	case sh != nil && sh.GetSpec().GetId() != row.Name:
		return nil, nil, fmt.Errorf("the payload is shard %q", sh.GetSpec().GetId())
	}
	return ns, sh, nil
}

// ArchiveOnce checks each change: no revision twice, each epoch's row
// count equal to its span, and every row well formed: op none has no kind,
// name or object; a put's or delete's payload decodes to the object the
// row names (kind and name), its jsonb copy is that object as the API
// shows it, a put's object is at the row's revision (exactly the change
// committed there, in order) and a delete's object (the last version) is
// older than the row.
func ArchiveOnce(s ArchiveSnapshot) Result {
	r := Result{Name: "archive-once", OK: true}
	count := map[int64]int64{}
	var prev int64 = -1
	for _, row := range s.Rows {
		if row.Revision == prev {
			r.fail("revision %d is archived twice", row.Revision)
		} else if row.Revision < prev {
			r.fail("the rows are out of order: revision %d after %d", row.Revision, prev)
		}
		prev = row.Revision
		count[row.Epoch]++
		where := fmt.Sprintf("revision %d (%s %s %q)", row.Revision, row.Op, row.Kind, row.Name)
		switch row.Op {
		case archive.OpNone:
			if row.Kind != "" || row.Name != "" || row.Object != nil || row.Payload != nil {
				r.fail("%s: op none carries a kind, a name or an object", where)
			}
			continue
		case archive.OpPut, archive.OpDelete:
		default:
			r.fail("%s: unknown op", where)
			continue
		}
		ns, sh, err := decodeRow(row)
		if err != nil {
			r.fail("%s: %v", where, err)
			continue
		}
		var objRev int64
		var view []byte
		var want any
		if ns != nil {
			objRev = ns.GetRevision()
			view, err = json.Marshal(nsfile.ToView(ns))
		} else {
			objRev = sh.GetRevision()
			view, err = protojson.MarshalOptions{UseProtoNames: true}.Marshal(sh)
		}
		if err == nil {
			err = json.Unmarshal(view, &want)
		}
		var got any
		if err == nil {
			if row.Object == nil {
				err = fmt.Errorf("no object")
			} else {
				err = json.Unmarshal(row.Object, &got)
			}
		}
		switch {
		case err != nil:
			r.fail("%s: jsonb object: %v", where, err)
		case !reflect.DeepEqual(got, want):
			r.fail("%s: the jsonb object is not the payload's object: %s", where, short(string(row.Object)))
		}
		switch {
		case row.Op == archive.OpPut && objRev != row.Revision:
			r.fail("%s: the archived object is at revision %d, not the row's", where, objRev)
		case row.Op == archive.OpDelete && objRev >= row.Revision:
			r.fail("%s: a delete carries the object at revision %d, not an older version", where, objRev)
		}
	}
	for _, e := range s.Epochs {
		if want := e.End - e.Start; count[e.Epoch] != want {
			r.fail("epoch %d holds %d rows; its span %s has %d revisions", e.Epoch, count[e.Epoch], span(e.Start+1, e.End), want)
		}
	}
	r.Note = fmt.Sprintf("%d rows", len(s.Rows))
	return r
}

func short(s string) string {
	if len(s) > 300 {
		return s[:300] + "..."
	}
	return s
}

// ArchiveAcknowledged checks the history against the archive: every
// acknowledged write that recorded a revision (a register CAS, a create,
// a delete, a resize), whose revision is archived (not in a gap between
// epochs), is archived at exactly that revision as a put of that
// namespace: a CAS with the value it wrote, a create as a new incarnation
// (create revision = its revision; the provision workload's backend), a
// delete as the namespace in status deleting. And every archived value of
// a register key is one some write (acknowledged or not) wrote, or the
// key's initial value: nothing archived that nobody wrote.
func ArchiveAcknowledged(ops []history.Op, s ArchiveSnapshot) Result {
	r := Result{Name: "archive-acknowledged", OK: true}
	rows := make(map[int64]ArchiveRow, len(s.Rows))
	for _, row := range s.Rows {
		rows[row.Revision] = row
	}
	written := map[string]map[int64]bool{} // register key -> values written or initial
	checked, gap := 0, 0
	for _, op := range ops {
		switch op.Type {
		case history.Init:
			if written[op.Key] == nil {
				written[op.Key] = map[int64]bool{}
			}
			written[op.Key][op.Val] = true
		case history.CAS:
			if op.Outcome != history.Fail {
				if written[op.Key] == nil {
					written[op.Key] = map[int64]bool{}
				}
				written[op.Key][op.Val] = true
			}
		}
		if op.Outcome != history.OK || op.Rev <= 0 || op.Key == "" {
			continue
		}
		switch op.Type {
		case history.CAS, history.Create, history.Delete, history.Resize:
		default:
			continue
		}
		checked++
		what := fmt.Sprintf("acknowledged %s of %s at revision %d (process %d)", op.Type, op.Key, op.Rev, op.Process)
		if !s.archived(op.Rev) {
			if op.Rev > s.Cursor.Revision {
				r.fail("%s: beyond the archive's head %d", what, s.Cursor.Revision)
			} else {
				gap++
			}
			continue
		}
		row, ok := rows[op.Rev]
		if !ok {
			r.fail("%s: not archived", what)
			continue
		}
		if row.Kind != archive.KindNamespace || row.Name != op.Key || row.Op != archive.OpPut {
			r.fail("%s: archived as %s of %s %q", what, row.Op, row.Kind, row.Name)
			continue
		}
		ns, _, err := decodeRow(row)
		if err != nil {
			r.fail("%s: %v", what, err)
			continue
		}
		switch op.Type {
		case history.CAS:
			if v := ns.GetSpec().GetCapacity().GetEstimatedReadRps(); v != op.Val {
				r.fail("%s: wrote value %d, archived %d", what, op.Val, v)
			}
		case history.Create:
			if ns.GetCreateRevision() != op.Rev {
				r.fail("%s: archived with create revision %d (not a new incarnation)", what, ns.GetCreateRevision())
			}
			if op.Backend != "" && ns.GetSpec().GetBackend() != op.Backend {
				r.fail("%s: backend %s, archived %s", what, op.Backend, ns.GetSpec().GetBackend())
			}
		case history.Delete:
			if ns.GetStatus() != fsmpb.NamespaceStatus_NAMESPACE_STATUS_DELETING {
				r.fail("%s: archived in status %s, not deleting", what, nsfile.StatusString(ns.GetStatus()))
			}
		}
	}
	phantoms := 0
	for _, row := range s.Rows {
		vals, ok := written[row.Name]
		if !ok || row.Kind != archive.KindNamespace || row.Op != archive.OpPut {
			continue
		}
		ns, _, err := decodeRow(row)
		if err != nil {
			continue // archive-once reports it
		}
		if v := ns.GetSpec().GetCapacity().GetEstimatedReadRps(); !vals[v] {
			phantoms++
			r.fail("revision %d: register %s archived with value %d, which no write wrote", row.Revision, row.Name, v)
		}
	}
	r.Note = fmt.Sprintf("%d acknowledged writes with a revision, %d of them in an epoch gap (not archived, allowed); %d register values nobody wrote", checked, gap, phantoms)
	return r
}

// ArchiveFinal replays the archive (each epoch from its checkpoint, the
// changes in order) and checks: a delete removes the version the archive
// last held of its object; every checkpoint inside an epoch equals the
// replay up to it; the archive caught up with the cluster after healing
// (lag 0, its head the cluster's revision then); and at the cluster's
// final revision both the replay and archive.Rebuild equal the cluster's
// linearizable state, object by object (namespaces secrets-redacted,
// tombstones included; shards).
func ArchiveFinal(s ArchiveSnapshot) Result {
	r := Result{Name: "archive-final", OK: true}
	if !s.CaughtUp {
		r.fail("the archive never caught up after healing: archived revision %d, cluster revision %d (last error %q)", s.StatusArchived, s.StatusCluster, s.StatusError)
	}
	if s.Cursor.Revision < s.FinalRevision {
		r.fail("the archive's head %d is below the cluster's final revision %d", s.Cursor.Revision, s.FinalRevision)
	}
	final, problems := replay(s)
	for _, p := range problems {
		r.fail("replay: %s", p)
	}
	switch {
	case final == nil && s.archived(s.FinalRevision):
		// replay reported why
	case final == nil:
		r.fail("the cluster's final revision %d is not archived (in no epoch)", s.FinalRevision)
	default:
		for _, p := range diffState(final, s.Namespaces, s.Shards) {
			r.fail("replay at %d: %s", s.FinalRevision, p)
		}
	}
	switch {
	case s.RebuildErr != "":
		r.fail("archive.Rebuild at %d: %s", s.FinalRevision, s.RebuildErr)
	case s.Rebuilt == nil:
		r.fail("archive.Rebuild at %d: no result", s.FinalRevision)
	default:
		if s.Rebuilt.Revision != s.FinalRevision || s.Rebuilt.ClusterID != s.ClusterID {
			r.fail("archive.Rebuild at %d: returned revision %d of cluster %q", s.FinalRevision, s.Rebuilt.Revision, s.Rebuilt.ClusterID)
		}
		for _, p := range diffState(s.Rebuilt, s.Namespaces, s.Shards) {
			r.fail("rebuild at %d: %s", s.FinalRevision, p)
		}
	}
	r.Note = fmt.Sprintf("final revision %d: %d namespaces, %d shards; archive head %d", s.FinalRevision, len(s.Namespaces), len(s.Shards), s.Cursor.Revision)
	return r
}

// replay rebuilds each epoch from its base (a checkpoint, or epoch 0's
// empty state) by applying its rows in order, checking deletes and the
// checkpoints on the way, and returns the state at s.FinalRevision (nil
// when no epoch holds it or its epoch cannot be replayed).
func replay(s ArchiveSnapshot) (*fsm.Records, []string) {
	var problems []string
	byEpoch := map[int64][]ArchiveRow{}
	for _, row := range s.Rows {
		byEpoch[row.Epoch] = append(byEpoch[row.Epoch], row)
	}
	var final *fsm.Records
	for _, e := range s.Epochs {
		var st *fsm.Records
		if cp, ok := s.checkpoint(e.Epoch, e.Start); ok {
			if cp.Records == nil {
				problems = append(problems, fmt.Sprintf("epoch %d: its checkpoint at %d does not decode: %s", e.Epoch, e.Start, cp.Err))
				continue
			}
			st = copyRecords(cp.Records)
		} else if e.Start == 0 {
			st = &fsm.Records{Namespaces: map[string]*fsmpb.Namespace{}, Shards: map[string]*fsmpb.Shard{}}
		} else {
			continue // archive-contiguous reports it
		}
		if s.FinalRevision == e.Start && final == nil {
			final = copyRecords(st) // an epoch's base (or the end of the one before)
		}
		for _, row := range byEpoch[e.Epoch] {
			if p := applyArchived(st, row); p != "" {
				problems = append(problems, p)
			}
			st.Revision = row.Revision
			if cp, ok := s.checkpoint(e.Epoch, row.Revision); ok {
				switch {
				case cp.Records == nil:
					problems = append(problems, fmt.Sprintf("the checkpoint at %d does not decode: %s", cp.Revision, cp.Err))
				default:
					for _, d := range diffRecords(cp.Records, st, "the checkpoint", "the changes up to it") {
						problems = append(problems, fmt.Sprintf("the checkpoint at %d differs from the changes before it: %s", cp.Revision, d))
					}
				}
			}
			if row.Revision == s.FinalRevision {
				final = copyRecords(st)
			}
		}
	}
	return final, problems
}

// applyArchived applies one row to st; a problem when a delete does not
// carry the version st holds.
func applyArchived(st *fsm.Records, row ArchiveRow) string {
	if row.Op != archive.OpPut && row.Op != archive.OpDelete {
		return ""
	}
	ns, sh, err := decodeRow(row)
	if err != nil {
		return "" // archive-once reports it
	}
	if row.Op == archive.OpDelete {
		var held proto.Message
		var ok bool
		if ns != nil {
			held, ok = st.Namespaces[row.Name]
			delete(st.Namespaces, row.Name)
		} else {
			held, ok = st.Shards[row.Name]
			delete(st.Shards, row.Name)
		}
		var obj proto.Message = sh
		if ns != nil {
			obj = ns
		}
		switch {
		case !ok:
			return fmt.Sprintf("revision %d deletes %s %q, which the archive does not hold", row.Revision, row.Kind, row.Name)
		case !proto.Equal(held, obj):
			return fmt.Sprintf("revision %d deletes %s %q carrying a version other than the last archived one", row.Revision, row.Kind, row.Name)
		}
		return ""
	}
	if ns != nil {
		st.Namespaces[row.Name] = ns
	} else {
		st.Shards[row.Name] = sh
	}
	return ""
}

func copyRecords(rc *fsm.Records) *fsm.Records {
	out := &fsm.Records{ClusterID: rc.ClusterID, Revision: rc.Revision,
		Namespaces: make(map[string]*fsmpb.Namespace, len(rc.Namespaces)), Shards: make(map[string]*fsmpb.Shard, len(rc.Shards))}
	for k, v := range rc.Namespaces {
		out.Namespaces[k] = v
	}
	for k, v := range rc.Shards {
		out.Shards[k] = v
	}
	return out
}

// diffState compares an archived state with the cluster's (whose
// namespaces are redacted as the archive stores them).
func diffState(got *fsm.Records, nss map[string]*fsmpb.Namespace, shs map[string]*fsmpb.Shard) []string {
	want := &fsm.Records{Namespaces: make(map[string]*fsmpb.Namespace, len(nss)), Shards: shs}
	for k, v := range nss {
		want.Namespaces[k] = archive.Redact(v)
	}
	return diffRecords(want, got, "the cluster", "the archive")
}

// diffRecords lists how got differs from want, object by object, naming
// them wantIs and gotIs ("the cluster", "the archive").
func diffRecords(want, got *fsm.Records, wantIs, gotIs string) []string {
	var out []string
	for _, name := range keys(want.Namespaces, got.Namespaces) {
		w, g := want.Namespaces[name], got.Namespaces[name]
		switch {
		case g == nil:
			out = append(out, fmt.Sprintf("namespace %s (revision %d, %s) is in %s, not in %s", name, w.GetRevision(), nsfile.StatusString(w.GetStatus()), wantIs, gotIs))
		case w == nil:
			out = append(out, fmt.Sprintf("namespace %s (revision %d, %s) is in %s, not in %s", name, g.GetRevision(), nsfile.StatusString(g.GetStatus()), gotIs, wantIs))
		case !proto.Equal(w, g):
			out = append(out, fmt.Sprintf("namespace %s differs: %s has revision %d, %s, value %d; %s revision %d, %s, value %d", name,
				wantIs, w.GetRevision(), nsfile.StatusString(w.GetStatus()), w.GetSpec().GetCapacity().GetEstimatedReadRps(),
				gotIs, g.GetRevision(), nsfile.StatusString(g.GetStatus()), g.GetSpec().GetCapacity().GetEstimatedReadRps()))
		}
	}
	for _, id := range keys(want.Shards, got.Shards) {
		w, g := want.Shards[id], got.Shards[id]
		switch {
		case g == nil:
			out = append(out, fmt.Sprintf("shard %s (revision %d) is in %s, not in %s", id, w.GetRevision(), wantIs, gotIs))
		case w == nil:
			out = append(out, fmt.Sprintf("shard %s (revision %d) is in %s, not in %s", id, g.GetRevision(), gotIs, wantIs))
		case !proto.Equal(w, g):
			out = append(out, fmt.Sprintf("shard %s differs: %s has revision %d %s; %s revision %d %s", id, wantIs, w.GetRevision(), w.GetState(), gotIs, g.GetRevision(), g.GetState()))
		}
	}
	return out
}

func keys[V any](a, b map[string]V) []string {
	seen := map[string]bool{}
	var out []string
	for _, m := range []map[string]V{a, b} {
		for k := range m {
			if !seen[k] {
				seen[k] = true
				out = append(out, k)
			}
		}
	}
	sort.Strings(out)
	return out
}

// ArchiveSummary is archive.json: where the archive stands, its epochs
// and checkpoints, what it holds, and the checkers' verdicts.
type ArchiveSummary struct {
	ClusterID      string              `json:"cluster_id"`
	Head           ArchiveCursor       `json:"head"`
	FinalRevision  int64               `json:"final_revision"`
	CaughtUp       bool                `json:"caught_up"`
	CatchUpSec     float64             `json:"catch_up_sec"`
	StatusArchived int64               `json:"status_archived_revision"`
	StatusCluster  int64               `json:"status_cluster_revision"`
	StatusError    string              `json:"status_error,omitempty"`
	Epochs         []ArchiveEpochRows  `json:"epochs"`
	Checkpoints    []ArchiveCheckpoint `json:"checkpoints"`
	Rows           int                 `json:"rows"`
	ByOp           map[string]int      `json:"by_op"`   // put|delete|none
	ByKind         map[string]int      `json:"by_kind"` // namespace|shard|""
	Namespaces     int                 `json:"final_namespaces"`
	Shards         int                 `json:"final_shards"`
	RebuildErr     string              `json:"rebuild_error,omitempty"`
	Results        []Result            `json:"results"`
}

// ArchiveEpochRows is an epoch with the number of rows it holds.
type ArchiveEpochRows struct {
	ArchiveEpoch
	Rows int `json:"rows"`
}

// Summarize is the summary of s judged by results.
func Summarize(s ArchiveSnapshot, results []Result) ArchiveSummary {
	sum := ArchiveSummary{ClusterID: s.ClusterID, Head: s.Cursor, FinalRevision: s.FinalRevision, CaughtUp: s.CaughtUp,
		StatusArchived: s.StatusArchived, StatusCluster: s.StatusCluster, StatusError: s.StatusError,
		Checkpoints: s.Checkpoints, Rows: len(s.Rows), ByOp: map[string]int{}, ByKind: map[string]int{},
		Namespaces: len(s.Namespaces), Shards: len(s.Shards), RebuildErr: s.RebuildErr, Results: results}
	rows := map[int64]int{}
	for _, row := range s.Rows {
		rows[row.Epoch]++
		sum.ByOp[row.Op]++
		sum.ByKind[row.Kind]++
	}
	for _, e := range s.Epochs {
		sum.Epochs = append(sum.Epochs, ArchiveEpochRows{ArchiveEpoch: e, Rows: rows[e.Epoch]})
	}
	return sum
}
