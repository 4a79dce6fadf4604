package checker

import (
	"fmt"
	"sort"
	"strings"

	"github.com/prism/controlplane/jepsen/history"
)

// Set checks the set workload against the final linearizable listing
// (name -> revision of every live namespace, deleting ones excluded by the
// caller): every acknowledged create that no delete touched is present,
// no acknowledged delete is present, and nothing present was never created.
// An apply (create, or the shards workload's resize) whose outcome is
// unknown may take effect at any time after it was sent, even after a
// later delete: it excuses a deleted name's presence.
func Set(ops []history.Op, present map[string]bool) Result {
	r := Result{Name: "set", OK: true}
	created := map[string]string{} // name -> outcome of its create
	deleted := map[string]string{}
	pending := map[string]bool{} // an apply of the name has an unknown outcome
	for _, op := range ops {
		switch op.Type {
		case history.Create:
			if op.Outcome != history.Fail {
				created[op.Key] = op.Outcome
			}
		case history.Delete:
			if op.Outcome != history.Fail {
				deleted[op.Key] = op.Outcome
			}
		}
		if (op.Type == history.Create || op.Type == history.Resize) && op.Outcome == history.Unknown {
			pending[op.Key] = true
		}
	}
	var lost, revived, phantom []string
	ok := 0
	for name, out := range created {
		d, del := deleted[name]
		switch {
		case out == history.OK && !del:
			ok++
			if !present[name] {
				lost = append(lost, name)
			}
		case d == history.OK && present[name] && !pending[name]:
			revived = append(revived, name)
		}
	}
	for name := range present {
		if _, ok := created[name]; !ok {
			phantom = append(phantom, name)
		}
	}
	sort.Strings(lost)
	sort.Strings(revived)
	sort.Strings(phantom)
	if len(lost) > 0 {
		r.fail("%d acknowledged creates missing: %v", len(lost), lost)
	}
	if len(revived) > 0 {
		r.fail("%d acknowledged deletes still present: %v", len(revived), revived)
	}
	if len(phantom) > 0 {
		r.fail("%d present but never created: %v", len(phantom), phantom)
	}
	r.Note = fmt.Sprintf("%d creates attempted, %d acknowledged and kept, %d deletes attempted, %d present", len(created), ok, len(deleted), len(present))
	return r
}

// SetOf is Set on the creates and deletes of the names with prefix only,
// reported under name (the set workload's set-*, the shards workload's plc-*).
func SetOf(name, prefix string, ops []history.Op, present map[string]bool) Result {
	var mine []history.Op
	for _, op := range ops {
		if strings.HasPrefix(op.Key, prefix) {
			mine = append(mine, op)
		}
	}
	r := Set(mine, present)
	r.Name = name
	return r
}
