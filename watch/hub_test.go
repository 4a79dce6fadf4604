package watch

import (
	"errors"
	"testing"

	"github.com/prism/controlplane/fsm/fsmpb"
)

func nsEvent(rev int64, name, shard, prev string) Batch {
	return Batch{Revision: rev, Events: []Event{{Type: Put, Kind: KindNamespace, Name: name, Revision: rev,
		Namespace: &fsmpb.Namespace{Spec: &fsmpb.NamespaceSpec{Name: name}, ShardId: shard}, PrevShards: [2]string{prev}}}}
}

func drain(s *Sub) []Batch {
	out, _ := s.Next(nil)
	return out
}

func TestOrderedResumeAndCompaction(t *testing.T) {
	h := NewHub(Config{HistoryEvents: 3, WatcherBuffer: 16}, 0)
	live, err := h.Subscribe(0, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	for r := int64(1); r <= 5; r++ {
		h.Publish(nsEvent(r, "a", "", ""))
	}
	got := drain(live)
	if len(got) != 5 {
		t.Fatalf("%d batches", len(got))
	}
	for i, b := range got {
		if b.Revision != int64(i+1) {
			t.Fatalf("batch %d has revision %d", i, b.Revision)
		}
	}
	// History keeps 3 events: revisions 3..5, so resuming after 2 works
	// and after 1 is compacted.
	s, err := h.Subscribe(2, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if b := drain(s); len(b) != 3 || b[0].Revision != 3 {
		t.Fatalf("resume after 2: %+v", b)
	}
	_, err = h.Subscribe(1, Filter{})
	var ce *CompactedError
	if !errors.As(err, &ce) || ce.Oldest != 2 || !errors.Is(err, ErrCompacted) {
		t.Fatalf("want compacted with oldest 2, got %v", err)
	}
	// Publishing an old revision again (a replay) is ignored.
	h.Publish(nsEvent(4, "a", "", ""))
	if b := drain(live); len(b) != 0 {
		t.Fatalf("replayed revision delivered: %+v", b)
	}
}

func TestSlowWatcherIsCutAlone(t *testing.T) {
	h := NewHub(Config{HistoryEvents: 100, WatcherBuffer: 2}, 0)
	slow, _ := h.Subscribe(0, Filter{})
	fast, _ := h.Subscribe(0, Filter{})
	for r := int64(1); r <= 10; r++ {
		h.Publish(nsEvent(r, "a", "", ""))
		drain(fast)
	}
	got := drain(slow)
	if len(got) != 2 || !errors.Is(slow.Err(), ErrSlow) {
		t.Fatalf("slow watcher: %d batches, err %v", len(got), slow.Err())
	}
	if fast.Err() != nil {
		t.Fatalf("fast watcher cut: %v", fast.Err())
	}
}

func TestShardFilterSeesArrivalsAndDepartures(t *testing.T) {
	h := NewHub(DefaultConfig(), 0)
	s, _ := h.Subscribe(0, Filter{ShardID: "s1"})
	h.Publish(nsEvent(1, "a", "s1", ""))   // arrives
	h.Publish(nsEvent(2, "b", "s2", ""))   // elsewhere
	h.Publish(nsEvent(3, "a", "s2", "s1")) // leaves
	got := drain(s)
	if len(got) != 2 || got[0].Events[0].Type != Put || got[1].Events[0].Type != Delete {
		t.Fatalf("%+v", got)
	}
	if s.Progress() != 3 {
		t.Fatalf("progress %d", s.Progress())
	}
}

func TestResetEndsWatchers(t *testing.T) {
	h := NewHub(DefaultConfig(), 0)
	s, _ := h.Subscribe(0, Filter{})
	h.Publish(nsEvent(1, "a", "", ""))
	h.Reset(10)
	drain(s)
	if !errors.Is(s.Err(), ErrReset) {
		t.Fatalf("err %v", s.Err())
	}
	if _, err := h.Subscribe(5, Filter{}); !errors.Is(err, ErrCompacted) {
		t.Fatalf("resume before a reset: %v", err)
	}
}

// A node that skipped ahead (installed its leader's snapshot) ends its
// watchers as compacted at the new revision, not with a reset.
func TestCompactEndsWatchersResumably(t *testing.T) {
	h := NewHub(Config{HistoryEvents: 10, WatcherBuffer: 16}, 0)
	s, err := h.Subscribe(0, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	h.Publish(nsEvent(1, "a", "", ""))
	h.Compact(50)
	drain(s)
	var ce *CompactedError
	if _, ok := s.Next(nil); ok || !errors.As(s.Err(), &ce) || ce.Oldest != 50 {
		t.Fatalf("after compact: err %v", s.Err())
	}
	if _, err := h.Subscribe(10, Filter{}); !errors.Is(err, ErrCompacted) {
		t.Fatalf("resume below the new oldest: %v", err)
	}
	if _, err := h.Subscribe(50, Filter{}); err != nil {
		t.Fatalf("resume at the new oldest: %v", err)
	}
}
