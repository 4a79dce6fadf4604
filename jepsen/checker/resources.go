package checker

import (
	"fmt"
	"sort"
	"strings"

	"github.com/prism/controlplane/jepsen/history"
)

// ResNamespace is one namespace of the final linearizable listing
// (tombstones included) as the resources checker reads it.
type ResNamespace struct {
	Name           string        `json:"name"`
	Status         string        `json:"status"` // provisioning|active|degraded|deleting|deleted
	Reason         string        `json:"reason,omitempty"`
	Backend        string        `json:"backend"`
	OnDelete       string        `json:"on_delete,omitempty"` // "" is delete
	CreateRevision int64         `json:"create_revision"`
	Resources      []ResResource `json:"resources,omitempty"`
}

// ResResource is one recorded resource of a namespace.
type ResResource struct {
	Backend string `json:"backend"`
	Kind    string `json:"kind"`  // table|topic
	Name    string `json:"name"`  // schema.table, or the topic
	State   string `json:"state"` // pending|ready|missing|failed|released|deleted
	Detail  string `json:"detail,omitempty"`
}

// RegistryRow is one row of Prism's registry table prism.resources.
type RegistryRow struct {
	Schema         string `json:"schema"`
	Table          string `json:"table"`
	ClusterID      string `json:"cluster_id"`
	Namespace      string `json:"namespace"`
	CreateRevision int64  `json:"create_revision"`
	Released       bool   `json:"released,omitempty"`
}

// Backends is what the backend servers hold, read from them directly.
type Backends struct {
	Tables []string      `json:"tables"` // schema.table: every user table outside schema prism
	Rows   []RegistryRow `json:"rows"`
	Topics []string      `json:"topics"` // every topic (internal ones excepted)
}

// ResourcesSnapshot is what the resources checker judged (resources.json).
type ResourcesSnapshot struct {
	ClusterID  string         `json:"cluster_id,omitempty"`
	Namespaces []ResNamespace `json:"namespaces"`
	Backends   Backends       `json:"backends"`
	// Settled: how long after healing the last prv-* namespace left
	// provisioning, deleting and degraded (or the wait gave up).
	SettledSec float64 `json:"settled_sec"`
}

// The physical names the product gives a namespace that names none
// (README, Backends and provisioning): table public.<name with - → _>,
// topic <name>.
func TableOf(name string) string { return "public." + strings.ReplaceAll(name, "-", "_") }
func TopicOf(name string) string { return name }

func kindOf(backend string) string {
	switch backend {
	case "postgres":
		return "table"
	case "kafka":
		return "topic"
	}
	return ""
}

func physOf(backend, name string) string {
	if backend == "postgres" {
		return TableOf(name)
	}
	return TopicOf(name)
}

// Resources checks the backends against the cluster once everything has
// settled, for the namespaces named with prefix (those the provision
// workload created, its history in ops; clusterID "" skips the registry
// rows' cluster check):
//   - no namespace has two resources of one kind, or one its plan does not
//     name (a postgres namespace has at most its table, a kafka one its
//     topic, under the default physical name);
//   - none is left provisioning, deleting or degraded (its reason is
//     reported);
//   - an active namespace's resource is recorded ready and exists: its
//     table with exactly one registry row naming it and its create
//     revision, not released, or its topic;
//   - a deleted namespace (a tombstone) or one that is gone (purged, or a
//     create that never took effect) has no table, registry row or topic,
//     unless its policy is on_delete: retain, whose table may stay with its
//     row marked released (and a topic may stay: Kafka keeps no record);
//   - nothing else exists: every table, registry row and topic is one of
//     the above (no orphans, nothing of a name nobody asked for).
//
// A create whose outcome is unknown may have taken effect or not; either
// way the end must be consistent (active with its resource, or absent
// with none).
func Resources(prefix string, ops []history.Op, snap ResourcesSnapshot) Result {
	r := Result{Name: "resources", OK: true}
	backendOf := map[string]string{}
	retainEver := map[string]bool{}
	for _, op := range ops {
		if op.Type != history.Create || !strings.HasPrefix(op.Key, prefix) {
			continue
		}
		if op.Backend != "" {
			backendOf[op.Key] = op.Backend
		}
		if op.OnDelete == "retain" && op.Outcome != history.Fail {
			retainEver[op.Key] = true
		}
	}
	byName := map[string]ResNamespace{}
	for _, ns := range snap.Namespaces {
		if !strings.HasPrefix(ns.Name, prefix) {
			continue
		}
		byName[ns.Name] = ns
		if ns.Backend != "" {
			backendOf[ns.Name] = ns.Backend
		}
		if ns.OnDelete == "retain" {
			retainEver[ns.Name] = true
		}
	}
	names := make([]string, 0, len(backendOf))
	for n := range backendOf {
		names = append(names, n)
	}
	sort.Strings(names)

	tables := map[string]bool{}
	for _, t := range snap.Backends.Tables {
		tables[t] = true
	}
	rows := map[string]RegistryRow{}
	for _, row := range snap.Backends.Rows {
		rows[row.Schema+"."+row.Table] = row
		if snap.ClusterID != "" && row.ClusterID != snap.ClusterID {
			r.fail("registry row of %s.%s names cluster %q, not this cluster %q", row.Schema, row.Table, row.ClusterID, snap.ClusterID)
		}
	}
	topics := map[string]bool{}
	for _, t := range snap.Backends.Topics {
		topics[t] = true
	}
	exists := func(backend, phys string) bool {
		if backend == "postgres" {
			return tables[phys]
		}
		return topics[phys]
	}
	what := func(backend string) string {
		if backend == "postgres" {
			return "table"
		}
		return "topic"
	}
	accounted := map[string]bool{} // "table:X", "row:X", "topic:X"
	account := func(backend, phys string) {
		if backend == "postgres" {
			accounted["table:"+phys], accounted["row:"+phys] = true, true
		} else {
			accounted["topic:"+phys] = true
		}
	}
	// mustBeAbsent: nothing of the name exists (a released table of a
	// retained namespace excepted).
	mustBeAbsent := func(name, backend, phys, why string, retain bool) {
		row, hasRow := rows[phys]
		if retain && (backend == "kafka" || hasRow && row.Released && row.Namespace == name) {
			return // released: it may stay (a kafka topic keeps no record)
		}
		if exists(backend, phys) {
			r.fail("%s is %s, but its %s %s exists", name, why, what(backend), phys)
		}
		if backend == "postgres" && hasRow {
			r.fail("%s is %s, but prism.resources still has a row for %s (namespace %q, create revision %d, released %v)",
				name, why, phys, row.Namespace, row.CreateRevision, row.Released)
		}
	}
	var active, tombstones, gone, stuck, tableCount, topicCount int
	for _, name := range names {
		backend := backendOf[name]
		kind, phys := kindOf(backend), physOf(backend, name)
		account(backend, phys)
		ns, present := byName[name]
		if !present {
			gone++
			mustBeAbsent(name, backend, phys, "gone (purged, or its create never took effect)", retainEver[name])
			continue
		}
		var mine *ResResource
		perKind := map[string]int{}
		for i, res := range ns.Resources {
			perKind[res.Kind]++
			switch {
			case res.Kind != kind || res.Backend != backend:
				r.fail("%s (backend %s) has a %s resource %s on %s; its plan has only a %s", name, backend, res.Kind, res.Name, res.Backend, kind)
			case res.Name != phys:
				r.fail("%s records %s %s; the default name is %s", name, res.Kind, res.Name, phys)
			default:
				mine = &ns.Resources[i]
			}
		}
		for k, n := range perKind {
			if n > 1 {
				r.fail("%s has %d resources of kind %s", name, n, k)
			}
		}
		switch ns.Status {
		case "active":
			active++
			switch {
			case mine == nil:
				r.fail("%s is active with no %s recorded", name, kind)
			case mine.State != "ready":
				r.fail("%s is active but its %s %s is %s (%s)", name, kind, phys, mine.State, mine.Detail)
			}
			if !exists(backend, phys) {
				r.fail("%s is active but its %s %s does not exist", name, what(backend), phys)
			} else if backend == "postgres" {
				tableCount++
			} else {
				topicCount++
			}
			if backend == "postgres" {
				row, ok := rows[phys]
				switch {
				case !ok:
					r.fail("%s is active but prism.resources has no row for %s", name, phys)
				case row.Namespace != name || row.CreateRevision != ns.CreateRevision || row.Released:
					r.fail("%s is active (create revision %d) but the row of %s names namespace %q, create revision %d, released %v",
						name, ns.CreateRevision, phys, row.Namespace, row.CreateRevision, row.Released)
				}
			}
		case "deleted":
			tombstones++
			retain := ns.OnDelete == "retain"
			if mine != nil {
				want := "deleted"
				if retain {
					want = "released"
				}
				if mine.State != want {
					r.fail("%s is deleted (on_delete %s) but its %s %s is recorded %s, not %s", name, orDelete(ns.OnDelete), kind, phys, mine.State, want)
				}
			}
			mustBeAbsent(name, backend, phys, "deleted (on_delete "+orDelete(ns.OnDelete)+")", retain)
		default:
			stuck++
			r.fail("%s is still %s after settling: %s", name, ns.Status, ns.Reason)
		}
	}
	for _, t := range snap.Backends.Tables {
		if !accounted["table:"+t] {
			r.fail("table %s exists, but no %s* namespace was ever meant to have it", t, prefix)
		}
	}
	for _, row := range snap.Backends.Rows {
		if k := row.Schema + "." + row.Table; !accounted["row:"+k] {
			r.fail("prism.resources has a row for %s (namespace %q, create revision %d), but no %s* namespace was ever meant to have it",
				k, row.Namespace, row.CreateRevision, prefix)
		}
	}
	for _, t := range snap.Backends.Topics {
		if !accounted["topic:"+t] {
			r.fail("topic %s exists, but no %s* namespace was ever meant to have it", t, prefix)
		}
	}
	r.Note = fmt.Sprintf("%d names: %d active (%d tables, %d topics verified), %d deleted, %d gone, %d not settled; backends hold %d tables, %d registry rows, %d topics",
		len(names), active, tableCount, topicCount, tombstones, gone, stuck, len(snap.Backends.Tables), len(snap.Backends.Rows), len(snap.Backends.Topics))
	return r
}

func orDelete(s string) string {
	if s == "" {
		return "delete"
	}
	return s
}

// ProvisionSet checks the provision workload's creates and deletes against
// the final listing. Each name belongs to one worker, whose operations on
// it are sequential, so they have an order: after an acknowledged create
// (the last operation of the name that surely or maybe took effect) the
// name must be live; after an acknowledged delete it must be deleted or
// gone, unless some create of it had an unknown outcome (a late copy may
// take effect after the delete); a name whose every create failed must not
// exist at all; nothing with the prefix exists that was never created. A
// last operation of unknown outcome allows either.
func ProvisionSet(prefix string, ops []history.Op, nss []ResNamespace) Result {
	r := Result{Name: "provision-set", OK: true}
	type st struct {
		state   string // "", live, dead, maybe
		pending bool   // a create of unknown outcome
		tried   bool
	}
	byName := map[string]*st{}
	var mine []history.Op
	for _, op := range ops {
		if strings.HasPrefix(op.Key, prefix) && (op.Type == history.Create || op.Type == history.Delete) {
			mine = append(mine, op)
		}
	}
	sort.SliceStable(mine, func(i, j int) bool { return mine[i].Call < mine[j].Call })
	creates, deletes := 0, 0
	for _, op := range mine {
		s := byName[op.Key]
		if s == nil {
			s = &st{}
			byName[op.Key] = s
		}
		if op.Type == history.Create {
			creates++
			s.tried = true
		} else {
			deletes++
		}
		switch {
		case op.Outcome == history.Fail:
		case op.Outcome == history.Unknown:
			s.state = "maybe"
			if op.Type == history.Create {
				s.pending = true
			}
		case op.Type == history.Create:
			s.state = "live"
		default:
			s.state = "dead"
		}
	}
	listed := map[string]ResNamespace{}
	for _, ns := range nss {
		if strings.HasPrefix(ns.Name, prefix) {
			listed[ns.Name] = ns
		}
	}
	var lost, revived, phantom []string
	for name, s := range byName {
		ns, ok := listed[name]
		live := ok && ns.Status != "deleting" && ns.Status != "deleted"
		switch {
		case s.state == "live" && !live:
			lost = append(lost, name)
		case s.state == "dead" && live && !s.pending:
			revived = append(revived, name)
		case s.state == "" && s.tried && ok:
			phantom = append(phantom, name) // every create failed
		}
	}
	for name := range listed {
		if s := byName[name]; s == nil || !s.tried {
			phantom = append(phantom, name)
		}
	}
	sort.Strings(lost)
	sort.Strings(revived)
	sort.Strings(phantom)
	if len(lost) > 0 {
		r.fail("%d acknowledged creates not live at the end: %v", len(lost), lost)
	}
	if len(revived) > 0 {
		r.fail("%d acknowledged deletes live at the end: %v", len(revived), revived)
	}
	if len(phantom) > 0 {
		r.fail("%d present but never (successfully) created: %v", len(phantom), phantom)
	}
	r.Note = fmt.Sprintf("%d names, %d creates, %d deletes attempted, %d listed", len(byName), creates, deletes, len(listed))
	return r
}
