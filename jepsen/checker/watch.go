package checker

import (
	"fmt"

	"github.com/prism/controlplane/jepsen/history"
)

type change struct {
	name  string
	typ   string
	nsRev int64
	val   int64
}

// Watch checks every watcher's stream (etcd robustness-test terms):
//   - ordered: change revisions strictly increase across all the sessions
//     of a watcher (each resume starts after the last revision delivered);
//   - unique: no (revision, name) delivered twice;
//   - atomic: a put delivered at revision R carries the object as changed at
//     R (its revision is R);
//   - bookmarkable: a bookmark never goes back, and no change after it is
//     at or below it;
//   - reliable: replaying the initial listing plus the changes up to the
//     final revision gives exactly the final linearizable listing, every
//     acknowledged write inside the watched range appears (CAS with its
//     value), and all watchers saw the same changes where they overlap;
//   - resumable: all of the above hold across the restarts of a watch.
func Watch(ws []history.Watcher, ops []history.Op, final map[string]int64, finalRev int64) Result {
	r := Result{Name: "watch", OK: true}
	acked := map[int64]history.Op{}
	for _, op := range ops {
		if op.Outcome == history.OK && (op.Type == history.CAS || op.Type == history.Create || op.Type == history.Delete) {
			acked[op.Rev] = op
		}
	}
	streams := make([]map[int64]change, len(ws))
	starts := make([]int64, len(ws))
	reached := make([]int64, len(ws))
	events, sessions := 0, 0
	for wi, w := range ws {
		sessions += len(w.Sessions)
		state := map[string]int64{}
		changes := map[int64]change{}
		seen := map[string]bool{}
		listing := true
		var start, last, bookmark int64 = -1, 0, 0
		for _, e := range w.Events {
			events++
			if listing {
				switch e.Type {
				case "put":
					state[e.Name] = e.NsRev
				case "bookmark":
					listing, start, last, bookmark = false, e.Rev, e.Rev, e.Rev
				default:
					r.fail("watcher %d: %s event during the initial listing", w.ID, e.Type)
				}
				continue
			}
			switch e.Type {
			case "bookmark":
				if e.Rev < bookmark || e.Rev < last {
					r.fail("watcher %d: bookmark %d after revision %d (bookmark %d)", w.ID, e.Rev, last, bookmark)
				}
				bookmark = max(bookmark, e.Rev)
				continue
			case "reset":
				r.fail("watcher %d: reset at revision %d (no restore was made)", w.ID, e.Rev)
				continue
			}
			id := fmt.Sprintf("%d/%s", e.Rev, e.Name)
			if seen[id] {
				r.fail("watcher %d: duplicate event %s %s at revision %d (session %d)", w.ID, e.Type, e.Name, e.Rev, e.Session)
			}
			seen[id] = true
			if e.Rev <= last {
				r.fail("watcher %d: event %s %s at revision %d after revision %d (session %d)", w.ID, e.Type, e.Name, e.Rev, last, e.Session)
			}
			if e.Rev <= bookmark {
				r.fail("watcher %d: event at revision %d after bookmark %d", w.ID, e.Rev, bookmark)
			}
			if e.Type == "put" && e.NsRev != e.Rev {
				r.fail("watcher %d: put of %s at revision %d carries the object at revision %d", w.ID, e.Name, e.Rev, e.NsRev)
			}
			last = max(last, e.Rev)
			if e.Rev <= finalRev {
				changes[e.Rev] = change{e.Name, e.Type, e.NsRev, e.Val}
				if e.Type == "put" {
					state[e.Name] = e.NsRev
				} else {
					delete(state, e.Name)
				}
			}
		}
		if start < 0 {
			r.fail("watcher %d: never finished its initial listing", w.ID)
			continue
		}
		reach := max(last, bookmark)
		streams[wi], starts[wi], reached[wi] = changes, start, reach
		if reach < finalRev {
			r.fail("watcher %d: reached only revision %d of final %d", w.ID, reach, finalRev)
			continue
		}
		for name, rev := range final {
			if got, ok := state[name]; !ok {
				r.fail("watcher %d: replay lacks %s (final revision %d)", w.ID, name, rev)
			} else if got != rev {
				r.fail("watcher %d: replay has %s at revision %d, final listing at %d", w.ID, name, got, rev)
			}
		}
		for name, rev := range state {
			if _, ok := final[name]; !ok {
				r.fail("watcher %d: replay has %s (revision %d) that the final listing lacks", w.ID, name, rev)
			}
		}
		for rev, op := range acked {
			if rev <= start || rev > finalRev {
				continue
			}
			c, ok := changes[rev]
			switch {
			case !ok:
				r.fail("watcher %d: acknowledged %s of %s at revision %d never delivered", w.ID, op.Type, op.Key, rev)
			case c.name != op.Key:
				r.fail("watcher %d: revision %d delivered as %s, acknowledged as %s of %s", w.ID, rev, c.name, op.Type, op.Key)
			case op.Type == history.CAS && c.val != op.Val:
				r.fail("watcher %d: revision %d of %s delivered value %d, acknowledged write wrote %d", w.ID, rev, op.Key, c.val, op.Val)
			}
		}
	}
	// Cross-check: where two watchers overlap, they saw the same changes.
	for i := range ws {
		for j := i + 1; j < len(ws); j++ {
			if streams[i] == nil || streams[j] == nil {
				continue
			}
			lo, hi := max(starts[i], starts[j]), min(reached[i], reached[j], finalRev)
			for rev, c := range streams[i] {
				if rev > lo && rev <= hi {
					if d, ok := streams[j][rev]; !ok || d != c {
						r.fail("watchers %d and %d differ at revision %d: %+v vs %+v", ws[i].ID, ws[j].ID, rev, c, d)
					}
				}
			}
			for rev := range streams[j] {
				if _, ok := streams[i][rev]; !ok && rev > lo && rev <= hi {
					r.fail("watcher %d lacks revision %d that watcher %d saw", ws[i].ID, rev, ws[j].ID)
				}
			}
		}
	}
	r.Note = fmt.Sprintf("%d watchers, %d sessions, %d events, final revision %d", len(ws), sessions, events, finalRev)
	return r
}
