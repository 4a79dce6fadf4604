package fsm

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/prism/controlplane/fsm/fsmpb"
)

func withID(c *fsmpb.Command, id string) *fsmpb.Command {
	c.RequestId = id
	return c
}

// A request id is applied once: a repeat, even after a delete came
// between, changes nothing and answers as the first did (Jepsen bug 5: a
// late copy of an apply re-created a deleted namespace).
func TestRequestIDAppliesOnce(t *testing.T) {
	h := newHarness(t)
	first := h.apply(withID(put(spec("a"), nil), "r1"))
	if first.Err != nil || first.Unchanged {
		t.Fatalf("first apply: %+v", first)
	}
	again := h.apply(withID(put(spec("a"), nil), "r1"))
	if !again.Unchanged || again.Revision != first.Revision || again.Namespace.GetRevision() != first.Revision {
		t.Fatalf("repeat: %+v, want unchanged at revision %d", again, first.Revision)
	}
	h.apply(setStatus("a", statusActive, first.Revision))
	h.apply(del("a"))
	rev := h.f.Revision()
	late := h.apply(withID(put(spec("a"), nil), "r1"))
	if !late.Unchanged || h.f.Revision() != rev {
		t.Fatalf("a late copy after the delete changed the state: %+v", late)
	}
	if ns, _ := h.f.s.live("a"); ns.GetStatus() != statusDeleting {
		t.Fatalf("a late copy brought the namespace back: %v", ns)
	}
	// Once a is deleted (a tombstone an apply would re-create), the late
	// copy still changes nothing; another id is another request.
	h.apply(setStatus("a", statusDeleted, rev))
	rev = h.f.Revision()
	if r := h.apply(withID(put(spec("a"), nil), "r1")); !r.Unchanged || h.f.Revision() != rev {
		t.Fatalf("a late copy re-created the deleted namespace: %+v", r)
	}
	if r := h.apply(withID(put(spec("a"), nil), "r2")); r.Err != nil || r.Unchanged {
		t.Fatalf("a new request: %+v", r)
	}
	// A failed request is not remembered: sent again, it runs again.
	bad := spec("b")
	bad.Backend = ""
	if r := h.apply(withID(put(bad, nil), "r3")); r.Err == nil {
		t.Fatal("invalid spec accepted")
	}
	if _, ok := h.f.s.requests.seen("r3"); ok {
		t.Fatal("a failed request was remembered")
	}
}

// Ids expire after RequestWindow of leader time, and the log keeps at most
// maxRequests, dropping the oldest.
func TestRequestIDsExpire(t *testing.T) {
	l := newRequestLog()
	l.record("old", applied{rev: 1}, 0)
	l.record("new", applied{rev: 2}, RequestWindow/2)
	l.record("now", applied{rev: 3}, RequestWindow+1)
	if _, ok := l.seen("old"); ok {
		t.Fatal("an id older than the window was kept")
	}
	for _, id := range []string{"new", "now"} {
		if _, ok := l.seen(id); !ok {
			t.Fatalf("%s forgotten", id)
		}
	}
	for i := 0; i < maxRequests+10; i++ {
		l.record(fmt.Sprint("id-", i), applied{rev: int64(i)}, RequestWindow+2)
	}
	if n := len(l.live()); n != maxRequests || len(l.byID) != maxRequests {
		t.Fatalf("%d records (%d ids) kept, want %d", n, len(l.byID), maxRequests)
	}
}

// The request log survives a snapshot: a repeat after a restore changes
// nothing either.
func TestSnapshotRoundTripRequests(t *testing.T) {
	h := newHarness(t)
	first := h.apply(withID(put(spec("a"), nil), "r1"))
	h.apply(withID(put(spec("b"), nil), "r2"))
	g, buf := h.roundTrip()
	if got, want := len(g.s.requests.live()), 2; got != want {
		t.Fatalf("%d request ids restored, want %d", got, want)
	}
	var again bytes.Buffer
	if _, err := g.Snapshot().WriteTo(&again); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), again.Bytes()) {
		t.Fatal("restored state writes a different snapshot")
	}
	h2 := &harness{t: t, f: g, index: h.index}
	rev := g.Revision()
	r := h2.apply(withID(put(spec("a"), nil), "r1"))
	if !r.Unchanged || r.Revision != first.Revision || g.Revision() != rev {
		t.Fatalf("repeat after restore: %+v", r)
	}
	_, _, counts, err := SnapshotInfo(bytes.NewReader(buf.Bytes()))
	if err != nil || counts["requests"] != 2 {
		t.Fatalf("info: %v %v", counts, err)
	}
}

// A repeated shard command answers with the shard (an rpc answer needs
// it), and a late copy of a register cannot bring back a removed shard.
func TestRequestIDAppliesOnceForShards(t *testing.T) {
	h := newHarness(t)
	reg := func() *fsmpb.Command {
		return withID(&fsmpb.Command{Body: &fsmpb.Command_RegisterShard{RegisterShard: &fsmpb.RegisterShard{
			Spec: &fsmpb.ShardSpec{Id: "s1", Endpoints: []string{"h:1"}, Backends: []string{"postgres"}}}}}, "reg-1")
	}
	first := h.apply(reg())
	again := h.apply(reg())
	if !again.Unchanged || again.Shard.GetSpec().GetId() != "s1" || again.Revision != first.Revision {
		t.Fatalf("repeat: %+v, want the shard, unchanged at %d", again, first.Revision)
	}
	h.apply(&fsmpb.Command{Body: &fsmpb.Command_RemoveShard{RemoveShard: &fsmpb.RemoveShard{Id: "s1"}}})
	rev := h.f.Revision()
	if late := h.apply(reg()); !late.Unchanged || h.f.Revision() != rev {
		t.Fatalf("a late copy of the register changed the state: %+v", late)
	}
	if _, _, err := h.f.GetShard("s1"); err == nil {
		t.Fatal("a late copy brought the removed shard back")
	}
}
