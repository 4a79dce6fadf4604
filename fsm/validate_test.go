package fsm

import (
	"errors"
	"math"
	"slices"
	"sort"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/prism/controlplane/fsm/fsmpb"
)

// validFullSpec uses every field of the spec, all valid.
func validFullSpec(t *testing.T) *fsmpb.NamespaceSpec {
	t.Helper()
	cfg, err := ConfigJSON(map[string]any{"postgres": map[string]any{"pool_size": 20, "table_name": "t"}})
	if err != nil {
		t.Fatal(err)
	}
	days, ttl, on := int64(7), int64(300), true
	return &fsmpb.NamespaceSpec{
		Name: "user-profiles", Abstraction: "keyvalue", Backend: "postgres",
		Capacity: &fsmpb.Capacity{EstimatedReadRps: 5000, EstimatedWriteRps: 500, EstimatedDataSizeGb: 100},
		Policies: &fsmpb.Policies{RetentionDays: &days, Consistency: "strong", CacheEnabled: &on, CacheTtlSeconds: &ttl},
		Access: &fsmpb.Access{
			Owners:    []*fsmpb.Owner{{Kind: "team", Name: "user-service-team"}},
			Consumers: []*fsmpb.Consumer{{Service: "user-api", Access: "read-write"}},
		},
		BackendConfigJson: cfg,
		Placement:         &fsmpb.Placement{Isolation: "dedicated", Labels: map[string]string{"zone": "z1"}},
	}
}

func fieldPaths(fs []FieldError) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.Path
	}
	sort.Strings(out)
	return out
}

func TestValidateSpecRules(t *testing.T) {
	cfg := func(m map[string]any) []byte {
		b, err := ConfigJSON(m)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	i64p := func(v int64) *int64 { return &v }
	cases := []struct {
		name string
		mod  func(s *fsmpb.NamespaceSpec)
		want []string // sorted paths; nil = valid
		msg  string   // substring of the first message, when set
	}{
		{"valid", func(*fsmpb.NamespaceSpec) {}, nil, ""},
		{"minimal", func(s *fsmpb.NamespaceSpec) {
			*s = fsmpb.NamespaceSpec{Name: "a", Abstraction: "queue", Backend: "kafka"}
		}, nil, ""},
		{"name missing", func(s *fsmpb.NamespaceSpec) { s.Name = "" }, []string{"namespace"}, "required"},
		{"name charset", func(s *fsmpb.NamespaceSpec) { s.Name = "User_Profiles!" }, []string{"namespace"}, `"User_Profiles!"`},
		{"name starts with digit", func(s *fsmpb.NamespaceSpec) { s.Name = "1abc" }, []string{"namespace"}, ""},
		{"name ends with dash", func(s *fsmpb.NamespaceSpec) { s.Name = "abc-" }, []string{"namespace"}, ""},
		{"name 63 ok", func(s *fsmpb.NamespaceSpec) { s.Name = "a" + strings.Repeat("b", 62) }, nil, ""},
		{"name 64", func(s *fsmpb.NamespaceSpec) { s.Name = "a" + strings.Repeat("b", 63) }, []string{"namespace"}, "at most 63"},
		{"abstraction missing", func(s *fsmpb.NamespaceSpec) { s.Abstraction = "" }, []string{"abstraction"}, "required"},
		{"abstraction unknown", func(s *fsmpb.NamespaceSpec) { s.Abstraction = "spreadsheet" }, []string{"abstraction"}, "one of document, graph"},
		{"backend missing", func(s *fsmpb.NamespaceSpec) { s.Backend = ""; s.BackendConfigJson = nil }, []string{"backend"}, "required"},
		{"backend uppercase", func(s *fsmpb.NamespaceSpec) { s.Backend = "Postgres"; s.BackendConfigJson = nil }, []string{"backend"}, ""},
		{"backend too long", func(s *fsmpb.NamespaceSpec) { s.Backend = "p" + strings.Repeat("g", 32); s.BackendConfigJson = nil }, []string{"backend"}, ""},
		{"backend 32 ok", func(s *fsmpb.NamespaceSpec) { s.Backend = "p" + strings.Repeat("_", 31); s.BackendConfigJson = nil }, nil, ""},
		{"capacity negative", func(s *fsmpb.NamespaceSpec) {
			s.Capacity = &fsmpb.Capacity{EstimatedReadRps: -5, EstimatedWriteRps: -1, EstimatedDataSizeGb: -0.5}
		}, []string{"capacity.estimated_data_size_gb", "capacity.estimated_read_rps", "capacity.estimated_write_rps"}, ""},
		{"capacity NaN", func(s *fsmpb.NamespaceSpec) { s.Capacity.EstimatedDataSizeGb = math.NaN() }, []string{"capacity.estimated_data_size_gb"}, "finite"},
		{"capacity Inf", func(s *fsmpb.NamespaceSpec) { s.Capacity.EstimatedDataSizeGb = math.Inf(1) }, []string{"capacity.estimated_data_size_gb"}, "finite"},
		{"consistency", func(s *fsmpb.NamespaceSpec) { s.Policies.Consistency = "weak" }, []string{"policies.consistency"}, "eventual, strong"},
		{"consistency empty ok", func(s *fsmpb.NamespaceSpec) { s.Policies.Consistency = "" }, nil, ""},
		{"retention zero", func(s *fsmpb.NamespaceSpec) { s.Policies.RetentionDays = i64p(0) }, []string{"policies.retention_days"}, ">= 1"},
		{"retention unset ok", func(s *fsmpb.NamespaceSpec) { s.Policies.RetentionDays = nil }, nil, ""},
		{"cache ttl negative", func(s *fsmpb.NamespaceSpec) { s.Policies.CacheTtlSeconds = i64p(-1) }, []string{"policies.cache_ttl_seconds"}, ""},
		{"cache ttl zero ok", func(s *fsmpb.NamespaceSpec) { s.Policies.CacheTtlSeconds = i64p(0) }, nil, ""},
		{"owner kind", func(s *fsmpb.NamespaceSpec) {
			s.Access.Owners = append(s.Access.Owners, &fsmpb.Owner{Kind: "group", Name: "x"})
		}, []string{"access.owners[1]"}, "team"},
		{"owner name", func(s *fsmpb.NamespaceSpec) { s.Access.Owners[0].Name = "" }, []string{"access.owners[0].team"}, "empty"},
		{"owner nil", func(s *fsmpb.NamespaceSpec) { s.Access.Owners[0] = nil }, []string{"access.owners[0]"}, "null"},
		{"consumer", func(s *fsmpb.NamespaceSpec) {
			s.Access.Consumers = append(s.Access.Consumers, &fsmpb.Consumer{Service: "", Access: "root"})
		}, []string{"access.consumers[1].access", "access.consumers[1].service"}, ""},
		{"consumer access missing", func(s *fsmpb.NamespaceSpec) { s.Access.Consumers[0].Access = "" }, []string{"access.consumers[0].access"}, "required"},
		{"backend_config mismatch", func(s *fsmpb.NamespaceSpec) {
			s.BackendConfigJson = cfg(map[string]any{"kafka": map[string]any{}})
		}, []string{"backend_config.kafka"}, `backend_config has "kafka" but backend is "postgres"`},
		{"backend_config two keys", func(s *fsmpb.NamespaceSpec) {
			s.BackendConfigJson = cfg(map[string]any{"kafka": map[string]any{}, "postgres": map[string]any{}})
		}, []string{"backend_config", "backend_config.kafka"}, ""},
		{"backend_config not object", func(s *fsmpb.NamespaceSpec) {
			s.BackendConfigJson = cfg(map[string]any{"postgres": 3})
		}, []string{"backend_config.postgres"}, "mapping"},
		{"isolation", func(s *fsmpb.NamespaceSpec) { s.Placement.Isolation = "private" }, []string{"placement.isolation"}, "dedicated, shared"},
		{"label value empty", func(s *fsmpb.NamespaceSpec) { s.Placement.Labels["zone"] = "" }, []string{"placement.labels.zone"}, ""},
		{"label key empty", func(s *fsmpb.NamespaceSpec) { s.Placement.Labels[""] = "x" }, []string{"placement.labels"}, ""},
		{"label odd key", func(s *fsmpb.NamespaceSpec) { s.Placement.Labels["topology.io/zone"] = "" }, []string{`placement.labels["topology.io/zone"]`}, ""},
		{"everything wrong", func(s *fsmpb.NamespaceSpec) {
			s.Name, s.Abstraction, s.Backend = "Bad!", "x", "Y"
			s.Capacity.EstimatedReadRps = -1
			s.Policies.Consistency = "z"
			s.Placement.Isolation = "z"
		}, []string{"abstraction", "backend", "backend_config.postgres", "capacity.estimated_read_rps", "namespace", "placement.isolation", "policies.consistency"}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := validFullSpec(t)
			tc.mod(s)
			got := ValidateSpec(s)
			if paths := fieldPaths(got); !slices.Equal(paths, tc.want) {
				t.Fatalf("paths = %q, want %q (%v)", paths, tc.want, got)
			}
			if tc.msg != "" && !strings.Contains(got[0].Message, tc.msg) {
				t.Fatalf("message %q does not contain %q", got[0].Message, tc.msg)
			}
			for _, f := range got {
				if f.Line != 0 {
					t.Fatalf("ValidateSpec set a line: %v", f)
				}
			}
		})
	}
}

func TestValidateSpecNil(t *testing.T) {
	got := ValidateSpec(nil)
	if len(got) != 1 || got[0].Path != "" {
		t.Fatalf("nil spec: %v", got)
	}
}

func TestValidateSpecDoesNotModify(t *testing.T) {
	s := validFullSpec(t)
	s.Name = "Bad"
	before := proto.Clone(s)
	ValidateSpec(s)
	if !proto.Equal(before, s) {
		t.Fatal("ValidateSpec modified its input")
	}
}

func TestCheckSpec(t *testing.T) {
	if err := CheckSpec(validFullSpec(t)); err != nil {
		t.Fatalf("valid spec: %v", err)
	}
	err := CheckSpec(&fsmpb.NamespaceSpec{Name: "Bad_Name"})
	var ve *ValidationError
	if !errors.Is(err, ErrInvalid) || !errors.As(err, &ve) || len(ve.Fields) != 3 {
		t.Fatalf("want 3 field errors matching ErrInvalid, got %v", err)
	}
	if err := CheckSpec(nil); !errors.Is(err, ErrInvalid) {
		t.Fatalf("nil spec: %v", err)
	}
}

func TestAllowedValuesSorted(t *testing.T) {
	for _, l := range [][]string{Abstractions, Consistencies, OwnerKinds, AccessModes, Isolations} {
		if !slices.IsSorted(l) {
			t.Errorf("not sorted: %v", l)
		}
	}
}

func TestJoinPath(t *testing.T) {
	cases := []struct{ prefix, key, want string }{
		{"", "namespace", "namespace"},
		{"placement.labels", "zone", "placement.labels.zone"},
		{"placement.labels", "a.b/c", `placement.labels["a.b/c"]`},
		{"x", "", `x[""]`},
	}
	for _, c := range cases {
		if got := JoinPath(c.prefix, c.key); got != c.want {
			t.Errorf("JoinPath(%q, %q) = %q, want %q", c.prefix, c.key, got, c.want)
		}
	}
}
