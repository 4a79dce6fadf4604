package checker

import (
	"strings"
	"testing"

	"github.com/prism/controlplane/jepsen/history"
)

const cid = "c1"

func create(p int, key, backend, onDelete string, call int64, outcome string) history.Op {
	return history.Op{Process: p, Type: history.Create, Key: key, Backend: backend, OnDelete: onDelete, Call: call, Return: call + 1, Outcome: outcome}
}

func del(p int, key string, call int64, outcome string) history.Op {
	return history.Op{Process: p, Type: history.Delete, Key: key, Call: call, Return: call + 1, Outcome: outcome}
}

func activeTable(name string, rev int64) ResNamespace {
	return ResNamespace{Name: name, Status: "active", Backend: "postgres", CreateRevision: rev,
		Resources: []ResResource{{Backend: "postgres", Kind: "table", Name: TableOf(name), State: "ready"}}}
}

func activeTopic(name string, rev int64) ResNamespace {
	return ResNamespace{Name: name, Status: "active", Backend: "kafka", CreateRevision: rev,
		Resources: []ResResource{{Backend: "kafka", Kind: "topic", Name: name, State: "ready"}}}
}

func row(name string, rev int64, released bool) RegistryRow {
	return RegistryRow{Schema: "public", Table: strings.TrimPrefix(TableOf(name), "public."), ClusterID: cid, Namespace: name, CreateRevision: rev, Released: released}
}

// base is a consistent end state: prv-0 active (table), prv-1 active
// (topic), prv-2 deleted (table dropped), prv-3 gone (topic deleted, then
// purged), prv-4 deleted with on_delete retain (table left, row released),
// prv-5 a create of unknown outcome that never took effect.
func base() ([]history.Op, ResourcesSnapshot) {
	ops := []history.Op{
		create(1, "prv-0", "postgres", "", 10, history.OK),
		create(1, "prv-1", "kafka", "", 20, history.OK),
		create(1, "prv-2", "postgres", "", 30, history.OK),
		del(1, "prv-2", 40, history.OK),
		create(1, "prv-3", "kafka", "", 50, history.OK),
		del(1, "prv-3", 60, history.OK),
		create(1, "prv-4", "postgres", "retain", 70, history.OK),
		del(1, "prv-4", 80, history.OK),
		create(1, "prv-5", "kafka", "", 90, history.Unknown),
	}
	snap := ResourcesSnapshot{
		ClusterID: cid,
		Namespaces: []ResNamespace{
			activeTable("prv-0", 11),
			activeTopic("prv-1", 21),
			{Name: "prv-2", Status: "deleted", Backend: "postgres", CreateRevision: 31,
				Resources: []ResResource{{Backend: "postgres", Kind: "table", Name: "public.prv_2", State: "deleted"}}},
			{Name: "prv-4", Status: "deleted", Backend: "postgres", OnDelete: "retain", CreateRevision: 71,
				Resources: []ResResource{{Backend: "postgres", Kind: "table", Name: "public.prv_4", State: "released"}}},
		},
		Backends: Backends{
			Tables: []string{"public.prv_0", "public.prv_4"},
			Rows:   []RegistryRow{row("prv-0", 11, false), row("prv-4", 71, true)},
			Topics: []string{"prv-1"},
		},
	}
	return ops, snap
}

func TestResources(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*[]history.Op, *ResourcesSnapshot)
		want   string // "" passes; else a problem contains it
	}{
		{"consistent", func(*[]history.Op, *ResourcesSnapshot) {}, ""},
		{"active namespace's table missing", func(_ *[]history.Op, s *ResourcesSnapshot) {
			s.Backends.Tables = []string{"public.prv_4"}
		}, "prv-0 is active but its table public.prv_0 does not exist"},
		{"active namespace's registry row missing", func(_ *[]history.Op, s *ResourcesSnapshot) {
			s.Backends.Rows = s.Backends.Rows[1:]
		}, "prism.resources has no row for public.prv_0"},
		{"registry row of another incarnation", func(_ *[]history.Op, s *ResourcesSnapshot) {
			s.Backends.Rows[0].CreateRevision = 5
		}, "create revision 5"},
		{"registry row of another cluster", func(_ *[]history.Op, s *ResourcesSnapshot) {
			s.Backends.Rows[0].ClusterID = "other"
		}, "names cluster \"other\""},
		{"active namespace's topic missing", func(_ *[]history.Op, s *ResourcesSnapshot) {
			s.Backends.Topics = nil
		}, "prv-1 is active but its topic prv-1 does not exist"},
		{"active with its resource still pending", func(_ *[]history.Op, s *ResourcesSnapshot) {
			s.Namespaces[1].Resources[0].State = "pending"
		}, "is active but its topic prv-1 is pending"},
		{"deleted namespace's table left behind", func(_ *[]history.Op, s *ResourcesSnapshot) {
			s.Backends.Tables = append(s.Backends.Tables, "public.prv_2")
		}, "prv-2 is deleted (on_delete delete), but its table public.prv_2 exists"},
		{"deleted namespace's row left behind", func(_ *[]history.Op, s *ResourcesSnapshot) {
			s.Backends.Rows = append(s.Backends.Rows, row("prv-2", 31, false))
		}, "prism.resources still has a row for public.prv_2"},
		{"purged namespace's topic left behind", func(_ *[]history.Op, s *ResourcesSnapshot) {
			s.Backends.Topics = append(s.Backends.Topics, "prv-3")
		}, "prv-3 is gone (purged, or its create never took effect), but its topic prv-3 exists"},
		{"unknown create that never landed left a topic", func(_ *[]history.Op, s *ResourcesSnapshot) {
			s.Backends.Topics = append(s.Backends.Topics, "prv-5")
		}, "prv-5 is gone"},
		{"unknown create that landed is consistent", func(_ *[]history.Op, s *ResourcesSnapshot) {
			s.Namespaces = append(s.Namespaces, activeTopic("prv-5", 91))
			s.Backends.Topics = append(s.Backends.Topics, "prv-5")
		}, ""},
		{"orphan topic nobody asked for", func(_ *[]history.Op, s *ResourcesSnapshot) {
			s.Backends.Topics = append(s.Backends.Topics, "prv-99")
		}, "topic prv-99 exists, but no prv-* namespace was ever meant to have it"},
		{"orphan table in another schema", func(_ *[]history.Op, s *ResourcesSnapshot) {
			s.Backends.Tables = append(s.Backends.Tables, "other.prv_0")
		}, "table other.prv_0 exists"},
		{"orphan registry row", func(_ *[]history.Op, s *ResourcesSnapshot) {
			s.Backends.Rows = append(s.Backends.Rows, RegistryRow{Schema: "public", Table: "x", ClusterID: cid, Namespace: "x", CreateRevision: 3})
		}, "prism.resources has a row for public.x"},
		{"two resources of one kind", func(_ *[]history.Op, s *ResourcesSnapshot) {
			s.Namespaces[0].Resources = append(s.Namespaces[0].Resources, s.Namespaces[0].Resources[0])
		}, "prv-0 has 2 resources of kind table"},
		{"a resource its plan does not name", func(_ *[]history.Op, s *ResourcesSnapshot) {
			s.Namespaces[0].Resources = append(s.Namespaces[0].Resources, ResResource{Backend: "kafka", Kind: "topic", Name: "prv-0", State: "ready"})
		}, "has a topic resource"},
		{"stuck provisioning", func(_ *[]history.Op, s *ResourcesSnapshot) {
			s.Namespaces[1].Status, s.Namespaces[1].Reason = "provisioning", "waiting for provisioning"
		}, "prv-1 is still provisioning after settling: waiting for provisioning"},
		{"stuck deleting", func(_ *[]history.Op, s *ResourcesSnapshot) {
			s.Namespaces[2].Status, s.Namespaces[2].Reason = "deleting", "deleting: unreachable"
		}, "prv-2 is still deleting"},
		{"retained table without its released row", func(_ *[]history.Op, s *ResourcesSnapshot) {
			s.Backends.Rows = s.Backends.Rows[:1]
		}, "prv-4 is deleted (on_delete retain), but its table public.prv_4 exists"},
		{"retained table whose row is not released", func(_ *[]history.Op, s *ResourcesSnapshot) {
			s.Backends.Rows[1].Released = false
		}, "prism.resources still has a row for public.prv_4"},
		{"retained and purged: the released table may stay", func(_ *[]history.Op, s *ResourcesSnapshot) {
			s.Namespaces = s.Namespaces[:3]
		}, ""},
		{"deleted but recorded ready", func(_ *[]history.Op, s *ResourcesSnapshot) {
			s.Namespaces[2].Resources[0].State = "ready"
		}, "is recorded ready, not deleted"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ops, snap := base()
			tc.mutate(&ops, &snap)
			r := Resources("prv-", ops, snap)
			if tc.want == "" {
				if !r.OK {
					t.Fatalf("want pass, got %v", r.Problems)
				}
				return
			}
			if r.OK {
				t.Fatalf("want a problem containing %q, passed: %s", tc.want, r.Note)
			}
			for _, p := range r.Problems {
				if strings.Contains(p, tc.want) {
					return
				}
			}
			t.Fatalf("want a problem containing %q, got %v", tc.want, r.Problems)
		})
	}
}

func TestProvisionSet(t *testing.T) {
	live := func(name string) ResNamespace { return ResNamespace{Name: name, Status: "active"} }
	dead := func(name string) ResNamespace { return ResNamespace{Name: name, Status: "deleted"} }
	cases := []struct {
		name string
		ops  []history.Op
		nss  []ResNamespace
		want string
	}{
		{"create kept", []history.Op{create(1, "prv-0", "postgres", "", 1, history.OK)}, []ResNamespace{live("prv-0")}, ""},
		{"create lost", []history.Op{create(1, "prv-0", "postgres", "", 1, history.OK)}, nil, "acknowledged creates not live"},
		{"delete kept", []history.Op{create(1, "prv-0", "postgres", "", 1, history.OK), del(1, "prv-0", 2, history.OK)}, []ResNamespace{dead("prv-0")}, ""},
		{"delete undone", []history.Op{create(1, "prv-0", "postgres", "", 1, history.OK), del(1, "prv-0", 2, history.OK)}, []ResNamespace{live("prv-0")}, "acknowledged deletes live"},
		{"delete undone by a late unknown create", []history.Op{create(1, "prv-0", "postgres", "", 1, history.Unknown), del(1, "prv-0", 2, history.OK)}, []ResNamespace{live("prv-0")}, ""},
		{"re-created after delete", []history.Op{
			create(1, "prv-0", "postgres", "", 1, history.OK), del(1, "prv-0", 2, history.OK),
			create(1, "prv-0", "postgres", "", 3, history.Fail), create(1, "prv-0", "postgres", "", 4, history.OK)}, []ResNamespace{live("prv-0")}, ""},
		{"re-create lost", []history.Op{
			create(1, "prv-0", "postgres", "", 1, history.OK), del(1, "prv-0", 2, history.OK),
			create(1, "prv-0", "postgres", "", 4, history.OK)}, []ResNamespace{dead("prv-0")}, "acknowledged creates not live"},
		{"failed create present", []history.Op{create(1, "prv-0", "postgres", "", 1, history.Fail)}, []ResNamespace{dead("prv-0")}, "never (successfully) created"},
		{"never created", nil, []ResNamespace{live("prv-9")}, "never (successfully) created"},
		{"unknown either way", []history.Op{create(1, "prv-0", "postgres", "", 1, history.Unknown)}, nil, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := ProvisionSet("prv-", tc.ops, tc.nss)
			if tc.want == "" {
				if !r.OK {
					t.Fatalf("want pass, got %v", r.Problems)
				}
				return
			}
			if r.OK || !strings.Contains(strings.Join(r.Problems, "\n"), tc.want) {
				t.Fatalf("want a problem containing %q, got ok=%v %v", tc.want, r.OK, r.Problems)
			}
		})
	}
}
