package cluster

import (
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
)

// The peer table forgets members gone long enough that are not raft
// servers, and keeps the others.
func TestPeerTableForgetsDeparted(t *testing.T) {
	pt := newPeerTable()
	now := time.Now()
	old := now.Add(-time.Hour)
	pt.set(peer{meta: nodeMeta{ID: "alive"}, state: memberlist.StateAlive, since: old})
	pt.set(peer{meta: nodeMeta{ID: "left-long-ago"}, state: memberlist.StateLeft, since: old})
	pt.set(peer{meta: nodeMeta{ID: "dead-voter"}, state: memberlist.StateDead, since: old})
	pt.set(peer{meta: nodeMeta{ID: "just-left"}, state: memberlist.StateLeft, since: now})
	got := pt.forget(now, forgetDepartedAfter, func(id string) bool { return id == "dead-voter" })
	if len(got) != 1 || got[0] != "left-long-ago" {
		t.Fatalf("forgot %v, want [left-long-ago]", got)
	}
	for _, id := range []string{"alive", "dead-voter", "just-left"} {
		if _, ok := pt.get(id); !ok {
			t.Errorf("%s was forgotten", id)
		}
	}
	// A state seen again keeps the time it was first seen in.
	pt.set(peer{meta: nodeMeta{ID: "just-left"}, state: memberlist.StateLeft, since: now.Add(time.Minute)})
	if p, _ := pt.get("just-left"); !p.since.Equal(now) {
		t.Fatalf("since moved to %v", p.since)
	}
}

// The connection pool closes connections to addresses no member uses.
func TestConnPoolRetain(t *testing.T) {
	p := newConnPool("", nil)
	defer p.close()
	for _, a := range []string{"127.0.0.1:1", "127.0.0.1:2"} {
		if _, err := p.conn(a); err != nil {
			t.Fatal(err)
		}
	}
	p.retain(map[string]bool{"127.0.0.1:2": true})
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.conns["127.0.0.1:1"]; ok || len(p.conns) != 1 {
		t.Fatalf("pool holds %v", p.conns)
	}
}
