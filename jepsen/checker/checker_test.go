package checker

import (
	"testing"
	"time"

	"github.com/prism/controlplane/jepsen/history"
)

func op(p int, typ, key string, call, ret int64, outcome string, exp, val, rev, cur int64) history.Op {
	return history.Op{Process: p, Type: typ, Key: key, Call: call, Return: ret, Outcome: outcome, ExpRev: exp, Val: val, Rev: rev, CurRev: cur}
}

func TestRegisterModel(t *testing.T) {
	init := op(0, history.Init, "k", 0, 1, history.OK, 0, 0, 5, 0)
	cases := []struct {
		name string
		ops  []history.Op
		ok   bool
	}{
		{"cas then read", []history.Op{init,
			op(1, history.CAS, "k", 2, 3, history.OK, 5, 7, 9, 0),
			op(2, history.Read, "k", 4, 5, history.OK, 0, 7, 9, 0)}, true},
		{"stale read after acked cas", []history.Op{init,
			op(1, history.CAS, "k", 2, 3, history.OK, 5, 7, 9, 0),
			op(2, history.Read, "k", 4, 5, history.OK, 0, 0, 5, 0)}, false},
		{"concurrent read may see old", []history.Op{init,
			op(1, history.CAS, "k", 2, 6, history.OK, 5, 7, 9, 0),
			op(2, history.Read, "k", 3, 4, history.OK, 0, 0, 5, 0)}, true},
		{"mismatch must report current", []history.Op{init,
			op(1, history.CAS, "k", 2, 3, history.Fail, 4, 7, 0, 5)}, true},
		{"mismatch when revision matched", []history.Op{init,
			op(1, history.CAS, "k", 2, 3, history.Fail, 5, 7, 0, 5)}, false},
		{"unknown write later seen", []history.Op{init,
			op(1, history.CAS, "k", 2, 3, history.Unknown, 5, 7, 0, 0),
			op(2, history.Read, "k", 10, 11, history.OK, 0, 7, 12, 0),
			op(2, history.Read, "k", 12, 13, history.OK, 0, 7, 12, 0)}, true},
		{"unknown write never applied", []history.Op{init,
			op(1, history.CAS, "k", 2, 3, history.Unknown, 5, 7, 0, 0),
			op(2, history.Read, "k", 10, 11, history.OK, 0, 0, 5, 0)}, true},
		{"unknown write applied then undone", []history.Op{init,
			op(1, history.CAS, "k", 2, 3, history.Unknown, 5, 7, 0, 0),
			op(2, history.Read, "k", 10, 11, history.OK, 0, 7, 12, 0),
			op(2, history.Read, "k", 12, 13, history.OK, 0, 0, 5, 0)}, false},
		{"keys are independent", []history.Op{init, op(0, history.Init, "j", 0, 1, history.OK, 0, 3, 6, 0),
			op(1, history.CAS, "j", 2, 3, history.OK, 6, 8, 10, 0),
			op(2, history.Read, "k", 4, 5, history.OK, 0, 0, 5, 0)}, true},
	}
	for _, c := range cases {
		r := Linearizable(c.ops, 10*time.Second, "")
		if r.OK != c.ok {
			t.Errorf("%s: linearizable = %v, want %v (%v)", c.name, r.OK, c.ok, r.Problems)
		}
	}
}

func TestNoLostWrites(t *testing.T) {
	ops := []history.Op{op(1, history.CAS, "k", 2, 3, history.OK, 5, 7, 9, 0)}
	final := op(9, history.Read, "k", 10, 11, history.OK, 0, 0, 5, 0)
	final.Final = true
	if r := NoLostWrites(append(ops, final)); r.OK {
		t.Error("a final read before an acknowledged write passed")
	}
	final.Val, final.Rev = 7, 9
	if r := NoLostWrites(append(ops, final)); !r.OK {
		t.Errorf("good history failed: %v", r.Problems)
	}
}

func TestSet(t *testing.T) {
	ops := []history.Op{
		{Type: history.Create, Key: "a", Outcome: history.OK},
		{Type: history.Create, Key: "b", Outcome: history.OK},
		{Type: history.Delete, Key: "b", Outcome: history.OK},
		{Type: history.Create, Key: "c", Outcome: history.Unknown},
	}
	if r := Set(ops, map[string]bool{"a": true}); !r.OK {
		t.Errorf("good set failed: %v", r.Problems)
	}
	if r := Set(ops, map[string]bool{"a": true, "c": true}); !r.OK {
		t.Errorf("unknown create present failed: %v", r.Problems)
	}
	for _, present := range []map[string]bool{{}, {"a": true, "b": true}, {"a": true, "z": true}} {
		if r := Set(ops, present); r.OK {
			t.Errorf("bad set %v passed", present)
		}
	}
	// An apply of b (before its delete) whose outcome is unknown may land
	// after the delete: b present is then allowed. An acknowledged one
	// took effect before the delete returned, so it may not.
	for _, outcome := range []string{history.Unknown, history.OK} {
		withResize := append([]history.Op{ops[0], ops[1], {Type: history.Resize, Key: "b", Outcome: outcome}}, ops[2:]...)
		if r := Set(withResize, map[string]bool{"a": true, "b": true}); r.OK != (outcome == history.Unknown) {
			t.Errorf("b revived after a %s resize: ok=%v %v", outcome, r.OK, r.Problems)
		}
	}
}

func TestWatch(t *testing.T) {
	listing := []history.Event{{Type: "put", Name: "a", NsRev: 3, Rev: 3}, {Type: "bookmark", Rev: 4}}
	good := append(append([]history.Event{}, listing...),
		history.Event{Type: "put", Name: "a", Rev: 5, NsRev: 5, Val: 1},
		history.Event{Type: "bookmark", Rev: 5},
		history.Event{Type: "put", Name: "b", Rev: 6, NsRev: 6, Session: 1})
	ops := []history.Op{{Type: history.CAS, Key: "a", Outcome: history.OK, Rev: 5, Val: 1}}
	final := map[string]int64{"a": 5, "b": 6}
	w := func(evs []history.Event) []history.Watcher {
		return []history.Watcher{{ID: 0, Events: evs}, {ID: 1, Events: good}}
	}
	if r := Watch(w(good), ops, final, 6); !r.OK {
		t.Fatalf("good streams failed: %v", r.Problems)
	}
	gap := append(append([]history.Event{}, listing...), history.Event{Type: "put", Name: "b", Rev: 6, NsRev: 6})
	dup := append(append([]history.Event{}, good...), history.Event{Type: "put", Name: "b", Rev: 6, NsRev: 6, Session: 2})
	wrongVal := append(append([]history.Event{}, listing...),
		history.Event{Type: "put", Name: "a", Rev: 5, NsRev: 5, Val: 2}, history.Event{Type: "put", Name: "b", Rev: 6, NsRev: 6})
	torn := append(append([]history.Event{}, listing...),
		history.Event{Type: "put", Name: "a", Rev: 5, NsRev: 4, Val: 1}, history.Event{Type: "put", Name: "b", Rev: 6, NsRev: 6})
	for name, evs := range map[string][]history.Event{"gap": gap, "duplicate": dup, "wrong value": wrongVal, "torn": torn} {
		if r := Watch(w(evs), ops, final, 6); r.OK {
			t.Errorf("%s passed", name)
		}
	}
}
