package fsm

import (
	"bytes"
	"errors"
	"slices"
	"testing"

	"github.com/prism/controlplane/fsm/fsmpb"
)

func move(name, to string, phase fsmpb.MovePhase, abort bool) *fsmpb.Command {
	return &fsmpb.Command{Body: &fsmpb.Command_MoveNamespace{MoveNamespace: &fsmpb.MoveNamespace{Name: name, To: to, Phase: phase, Abort: abort}}}
}

// A move goes shadow → cutover → done; both shards list the namespace
// while it moves, and each step says which shards it was on before.
func TestMovePhases(t *testing.T) {
	h := newHarness(t)
	h.apply(regShard(shardSpec("a", "postgres")))
	h.apply(regShard(shardSpec("b", "postgres")))
	h.apply(put(spec("ns"), nil))
	h.apply(assign("ns", "a", false))
	shadow := fsmpb.MovePhase_MOVE_PHASE_SHADOW
	cut := fsmpb.MovePhase_MOVE_PHASE_CUTOVER
	done := fsmpb.MovePhase_MOVE_PHASE_UNSPECIFIED

	if r := h.apply(move("ns", "b", cut, false)); !errors.Is(r.Err, ErrFailedPrecondition) {
		t.Fatalf("cutover without shadow: %+v", r)
	}
	r := h.apply(move("ns", "b", shadow, false))
	if r.Err != nil || r.Namespace.ShardId != "a" || r.Namespace.Move.To != "b" || r.PrevShards != [2]string{"a"} {
		t.Fatalf("shadow: %+v", r)
	}
	if !slices.Equal(h.f.AssignedTo("a"), []string{"ns"}) || !slices.Equal(h.f.AssignedTo("b"), []string{"ns"}) {
		t.Fatal("both shards must list a namespace in motion")
	}
	if r := h.apply(move("ns", "b", shadow, false)); !errors.Is(r.Err, ErrFailedPrecondition) {
		t.Fatalf("second move: %+v", r)
	}
	r = h.apply(move("ns", "b", cut, false))
	if r.Err != nil || r.Namespace.ShardId != "b" || r.Namespace.Move.From != "a" || Involved(r.Namespace) != [2]string{"b", "a"} {
		t.Fatalf("cutover: %+v", r)
	}
	r = h.apply(move("ns", "", done, false))
	if r.Err != nil || r.Namespace.ShardId != "b" || r.Namespace.Move != nil || r.PrevShards != [2]string{"b", "a"} {
		t.Fatalf("done: %+v", r)
	}
	if len(h.f.AssignedTo("a")) != 0 {
		t.Fatal("the old shard still lists the namespace after the move")
	}
	// Abort: only from shadow; the serving shard never changed.
	h.apply(move("ns", "a", shadow, false))
	r = h.apply(move("ns", "", done, true))
	if r.Err != nil || r.Namespace.ShardId != "b" || r.Namespace.Move != nil {
		t.Fatalf("abort: %+v", r)
	}
	// An operator's assignment ends a move in flight.
	h.apply(move("ns", "a", shadow, false))
	r = h.apply(assign("ns", "b", true))
	if r.Err != nil || r.Namespace.Move != nil || !r.Namespace.Pinned || r.PrevShards != [2]string{"b", "a"} {
		t.Fatalf("assign during a move: %+v", r)
	}
}

// Deleting a namespace in motion ends its move (regression: a deleted
// namespace kept its move record and blocked every later move).
func TestDeleteEndsMove(t *testing.T) {
	h := newHarness(t)
	h.apply(regShard(shardSpec("a", "postgres")))
	h.apply(regShard(shardSpec("b", "postgres")))
	h.apply(put(spec("ns"), nil))
	h.apply(assign("ns", "a", false))
	h.apply(move("ns", "b", fsmpb.MovePhase_MOVE_PHASE_SHADOW, false))
	r := h.apply(del("ns"))
	if r.Err != nil || r.Namespace.Move != nil || r.Namespace.ShardId != "a" || r.PrevShards != [2]string{"a", "b"} {
		t.Fatalf("delete during a move: %+v", r)
	}
	if len(h.f.Moving()) != 0 || len(h.f.AssignedTo("b")) != 0 {
		t.Fatal("a deleted namespace still moves")
	}
}

// A snapshot of the same history (a follower catching up) continues it; a
// rebased one (an operator's restore) replaces it.
func TestRestoreTellsReplacementFromCatchUp(t *testing.T) {
	h := newHarness(t)
	h.apply(put(spec("a"), nil))
	var buf bytes.Buffer
	h.f.Snapshot().WriteTo(&buf)
	snap := buf.Bytes()

	g := New()
	var got []bool
	g.OnRestore = func(replaced bool) { got = append(got, replaced) }
	if err := g.Restore(bytes.NewReader(snap)); err != nil {
		t.Fatal(err)
	}
	var rebased bytes.Buffer
	if _, err := RebaseSnapshot(&rebased, bytes.NewReader(snap), 10, "c", 5, g.Generation()+1); err != nil {
		t.Fatal(err)
	}
	if err := g.Restore(&rebased); err != nil {
		t.Fatal(err)
	}
	var again bytes.Buffer
	g.Snapshot().WriteTo(&again)
	if err := g.Restore(bytes.NewReader(again.Bytes())); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []bool{false, true, false}) || g.Generation() != 1 {
		t.Fatalf("replaced flags %v, generation %d", got, g.Generation())
	}
}
