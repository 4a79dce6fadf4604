package watch

import (
	"errors"
	"testing"
)

// take drains a group the way a sender does: batches to the members it has,
// then new members (backlog, then newer batches), then leaves. It returns
// the revisions each member got and whether it got them whole.
func take(g *Group, members map[int64]*Member, got map[int64][]int64, whole map[int64]int) bool {
	batches, joins, leaves, ok := g.Take(nil)
	deliver := func(m *Member, b Batch) {
		if _, w, any := m.Deliver(b); any {
			got[m.ID] = append(got[m.ID], b.Revision)
			if w {
				whole[m.ID]++
			}
		}
	}
	for _, b := range batches {
		for _, m := range members {
			deliver(m, b)
		}
	}
	for _, m := range joins {
		for _, b := range m.Backlog {
			deliver(m, b)
		}
		for _, b := range batches {
			deliver(m, b)
		}
		members[m.ID] = m
	}
	for _, m := range leaves {
		if members[m.ID] == m {
			delete(members, m.ID)
		}
	}
	return ok
}

func TestGroupFiltersPerMemberAndResumesFromHistory(t *testing.T) {
	h := NewHub(Config{HistoryEvents: 100, WatcherBuffer: 16}, 0)
	g := h.NewGroup()
	defer g.Close()
	members, got, whole := map[int64]*Member{}, map[int64][]int64{}, map[int64]int{}
	if err := g.Join(&Member{ID: 1}, 0); err != nil {
		t.Fatal(err)
	}
	if err := g.Join(&Member{ID: 2, Filter: Filter{Names: map[string]bool{"b": true}}}, 0); err != nil {
		t.Fatal(err)
	}
	h.Publish(nsEvent(1, "a", "", ""))
	h.Publish(nsEvent(2, "b", "", ""))
	take(g, members, got, whole)
	// A member joining later from revision 1 gets revision 2 from its
	// backlog, and revision 3 once, though it is also in the group's queue.
	h.Publish(nsEvent(3, "a", "", ""))
	if err := g.Join(&Member{ID: 3}, 1); err != nil {
		t.Fatal(err)
	}
	take(g, members, got, whole)
	want := map[int64][]int64{1: {1, 2, 3}, 2: {2}, 3: {2, 3}}
	for id, revs := range want {
		if len(got[id]) != len(revs) {
			t.Fatalf("member %d got %v, want %v", id, got[id], revs)
		}
		for i := range revs {
			if got[id][i] != revs[i] {
				t.Fatalf("member %d got %v, want %v", id, got[id], revs)
			}
		}
	}
	if whole[1] != 3 || whole[2] != 1 {
		t.Fatalf("whole batches: %v", whole)
	}
	// Progress: member 2 skipped revisions 1 and 3 but has seen up to 3.
	if members[2].Last != 3 {
		t.Fatalf("member 2 last %d", members[2].Last)
	}
	g.Leave(members[1])
	take(g, members, got, whole)
	if _, ok := members[1]; ok {
		t.Fatal("member 1 did not leave")
	}
}

func TestGroupCutWhenItsSenderLags(t *testing.T) {
	// The limit is WatcherBuffer plus one history: 3 revisions.
	h := NewHub(Config{HistoryEvents: 1, WatcherBuffer: 2}, 0)
	slow := h.NewGroup()
	fast := h.NewGroup()
	defer fast.Close()
	_ = slow.Join(&Member{ID: 1}, 0)
	_ = fast.Join(&Member{ID: 1}, 0)
	fm, fgot, fwhole := map[int64]*Member{}, map[int64][]int64{}, map[int64]int{}
	for r := int64(1); r <= 5; r++ {
		h.Publish(nsEvent(r, "a", "", ""))
		if !take(fast, fm, fgot, fwhole) {
			t.Fatal("the fast group ended")
		}
	}
	if len(fgot[1]) != 5 {
		t.Fatalf("fast group got %v", fgot[1])
	}
	if _, _, _, ok := slow.Take(nil); ok || !errors.Is(slow.Err(), ErrSlow) {
		t.Fatalf("slow group: ok=%v err=%v", ok, slow.Err())
	}
	if err := slow.Join(&Member{ID: 2}, 5); !errors.Is(err, ErrSlow) {
		t.Fatalf("joining a cut group: %v", err)
	}
}

func TestGroupEndsOnResetAndCompact(t *testing.T) {
	h := NewHub(DefaultConfig(), 0)
	g1, g2 := h.NewGroup(), h.NewGroup()
	h.Reset(10)
	if !errors.Is(g1.Err(), ErrReset) {
		t.Fatalf("after reset: %v", g1.Err())
	}
	_ = g2 // ended by the same reset
	g3 := h.NewGroup()
	if err := g3.Join(&Member{ID: 1}, 9); !errors.Is(err, ErrCompacted) {
		t.Fatalf("joining before the history: %v", err)
	}
	h.Compact(20)
	var ce *CompactedError
	if !errors.As(g3.Err(), &ce) || ce.Oldest != 20 {
		t.Fatalf("after compact: %v", g3.Err())
	}
	g3.Close()
	if err := g3.Join(&Member{ID: 2}, 20); !errors.Is(err, ErrCompacted) {
		t.Fatalf("joining an ended group: %v", err)
	}
}
