package nsfile

import (
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/prism/controlplane/fsm"
	"github.com/prism/controlplane/fsm/fsmpb"
)

func sampleNamespace(t *testing.T) *fsmpb.Namespace {
	t.Helper()
	cfg, err := fsm.ConfigJSON(map[string]any{"postgres": map[string]any{
		"connection_string": "postgres://app:hunter2@db-1:5432/prism?sslmode=require",
		"password":          "hunter2",
		"pool_size":         20,
	}})
	if err != nil {
		t.Fatal(err)
	}
	days := int64(30)
	return &fsmpb.Namespace{
		Spec: &fsmpb.NamespaceSpec{
			Name: "user-profiles", Abstraction: "keyvalue", Backend: "postgres",
			Capacity: &fsmpb.Capacity{EstimatedReadRps: 5000, EstimatedWriteRps: 500, EstimatedDataSizeGb: 100},
			Policies: &fsmpb.Policies{RetentionDays: &days, Consistency: "strong"},
			Access: &fsmpb.Access{
				Owners:    []*fsmpb.Owner{{Kind: "team", Name: "user-service-team"}},
				Consumers: []*fsmpb.Consumer{{Service: "user-api", Access: "read-write"}},
			},
			BackendConfigJson: cfg,
		},
		Status:          fsmpb.NamespaceStatus_NAMESPACE_STATUS_ACTIVE,
		ShardId:         "shard-1",
		Revision:        7,
		CreateRevision:  3,
		CreatedUnixNano: 1_700_000_000_123_456_789,
		UpdatedUnixNano: 1_700_000_001_000_000_000,
	}
}

func keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func TestViewJSONShape(t *testing.T) {
	b, err := json.Marshal(ToView(sampleNamespace(t)))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	want := []string{"abstraction", "access", "backend", "backend_config", "capacity", "create_revision", "created_at",
		"name", "policies", "resources", "revision", "shard_id", "status", "status_reason", "updated_at"}
	if got := keys(m); !slices.Equal(got, want) {
		t.Fatalf("keys %v, want %v", got, want)
	}
	if m["status"] != "active" || m["shard_id"] != "shard-1" || m["revision"] != 7.0 || m["create_revision"] != 3.0 {
		t.Errorf("header fields: %s", b)
	}
	if m["created_at"] != "2023-11-14T22:13:20.123456789Z" || m["updated_at"] != "2023-11-14T22:13:21Z" {
		t.Errorf("times: %v %v", m["created_at"], m["updated_at"])
	}
	if got := keys(m["capacity"].(map[string]any)); !slices.Equal(got, []string{"estimated_data_size_gb", "estimated_read_rps", "estimated_write_rps"}) {
		t.Errorf("capacity keys %v", got)
	}
	pol := m["policies"].(map[string]any)
	if got := keys(pol); !slices.Equal(got, []string{"cache_enabled", "consistency", "on_delete", "retention_days"}) {
		t.Errorf("policies keys %v (cache_ttl_seconds must be omitted when unset)", got)
	}
	acc := m["access"].(map[string]any)
	if o := acc["owners"].([]any)[0].(map[string]any); o["kind"] != "team" || o["name"] != "user-service-team" {
		t.Errorf("owner %v", o)
	}
	if c := acc["consumers"].([]any)[0].(map[string]any); c["service"] != "user-api" || c["access"] != "read-write" {
		t.Errorf("consumer %v", c)
	}
	pg := m["backend_config"].(map[string]any)["postgres"].(map[string]any)
	if pg["password"] != Redacted || pg["connection_string"] != "postgres://app:REDACTED@db-1:5432/prism?sslmode=require" || pg["pool_size"] != 20.0 {
		t.Errorf("backend_config not redacted: %v", pg)
	}
	if strings.Contains(string(b), "hunter2") {
		t.Errorf("secret leaked: %s", b)
	}
}

func TestViewEmptyAndOptional(t *testing.T) {
	ns := sampleNamespace(t)
	ns.Spec.Policies = nil
	ns.Spec.Access = nil
	ns.Spec.BackendConfigJson = nil
	ns.Status = fsmpb.NamespaceStatus_NAMESPACE_STATUS_DELETED
	ns.DeletedUnixNano = 1_700_000_002_000_000_000
	ns.Spec.Placement = &fsmpb.Placement{Isolation: "dedicated", Labels: map[string]string{"zone": "z1"}}
	b, err := json.Marshal(ToView(ns))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"retention_days":null`, `"owners":[]`, `"consumers":[]`, `"backend_config":{}`,
		`"placement":{"isolation":"dedicated","labels":{"zone":"z1"}}`, `"status":"deleted"`, `"deleted_at":"2023-11-14T22:13:22Z"`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("missing %s in %s", want, b)
		}
	}
	if v := ToView(nil); v.Name != "" || v.Status != "" || v.Placement != nil || v.Access.Owners == nil {
		t.Errorf("nil namespace: %+v", v)
	}
	if _, err := json.Marshal(ToView(nil)); err != nil {
		t.Error(err)
	}
	if _, err := yaml.Marshal(ToView(ns)); err != nil {
		t.Error(err)
	}
}

func TestViewYAMLKeysMatchJSON(t *testing.T) {
	v := ToView(sampleNamespace(t))
	jb, _ := json.Marshal(v)
	yb, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var jm, ym map[string]any
	if err := json.Unmarshal(jb, &jm); err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(yb, &ym); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(keys(jm), keys(ym)) {
		t.Fatalf("json keys %v, yaml keys %v", keys(jm), keys(ym))
	}
}

func TestStatusStrings(t *testing.T) {
	want := []string{"provisioning", "active", "degraded", "deleting", "deleted"}
	if got := StatusNames(); !slices.Equal(got, want) {
		t.Fatalf("StatusNames %v", got)
	}
	for i, name := range want {
		st, err := ParseStatus(name)
		if err != nil || int(st) != i+1 || StatusString(st) != name {
			t.Errorf("%s: %v %v", name, st, err)
		}
	}
	for _, in := range []string{"ACTIVE", " Active ", "NAMESPACE_STATUS_ACTIVE"} {
		if st, err := ParseStatus(in); err != nil || st != fsmpb.NamespaceStatus_NAMESPACE_STATUS_ACTIVE {
			t.Errorf("ParseStatus(%q) = %v, %v", in, st, err)
		}
	}
	for _, in := range []string{"", "unspecified", "NAMESPACE_STATUS_UNSPECIFIED", "gone"} {
		if _, err := ParseStatus(in); !errors.Is(err, ErrUnknownStatus) {
			t.Errorf("ParseStatus(%q) err = %v", in, err)
		}
	}
	if s := StatusString(fsmpb.NamespaceStatus_NAMESPACE_STATUS_UNSPECIFIED); s != "" {
		t.Errorf("unspecified = %q", s)
	}
	if s := StatusString(fsmpb.NamespaceStatus(42)); s != "status(42)" {
		t.Errorf("unknown = %q", s)
	}
}

func TestRedactConfig(t *testing.T) {
	cases := []struct {
		name    string
		in, out any
	}{
		{"secret keys", map[string]any{"Password": "p", "db_secret": 1, "authToken": "t", "APIKey": "k", "api_key": "k",
			"credentials": map[string]any{"a": "b"}, "tls_private_key": "pem", "host": "h"},
			map[string]any{"Password": Redacted, "db_secret": Redacted, "authToken": Redacted, "APIKey": Redacted, "api_key": Redacted,
				"credentials": Redacted, "tls_private_key": Redacted, "host": "h"}},
		{"url password", map[string]any{"dsn": "postgres://u:pw@host/db"}, map[string]any{"dsn": "postgres://u:REDACTED@host/db"}},
		{"url without password kept", map[string]any{"dsn": "postgres://u@host/db", "s": "postgres://prod-postgres-1/prism"},
			map[string]any{"dsn": "postgres://u@host/db", "s": "postgres://prod-postgres-1/prism"}},
		{"unparsable url password", map[string]any{"dsn": "redis://u:p/w#x@host:6379"}, map[string]any{"dsn": "redis://u:REDACTED@host:6379"}},
		{"key=value password", map[string]any{"conn": "host=db user=u password=s3cret dbname=x"},
			map[string]any{"conn": "host=db user=u password=REDACTED dbname=x"}},
		{"query password", map[string]any{"conn": "mysql://host/db?user=u&password=s3cret&tls=1"},
			map[string]any{"conn": "mysql://host/db?user=u&password=REDACTED&tls=1"}},
		{"nested lists and maps", map[string]any{"brokers": []any{map[string]any{"url": "kafka://a:b@k1", "token": "x"}, 3.0, true, nil}},
			map[string]any{"brokers": []any{map[string]any{"url": "kafka://a:REDACTED@k1", "token": Redacted}, 3.0, true, nil}}},
		{"nil", map[string]any(nil), map[string]any{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.in.(map[string]any)
			if got := RedactConfig(in); !reflect.DeepEqual(got, tc.out) {
				t.Fatalf("got %v, want %v", got, tc.out)
			}
		})
	}
}

func TestRedactConfigDeepCopies(t *testing.T) {
	inner := map[string]any{"host": "h"}
	list := []any{"a"}
	in := map[string]any{"pg": inner, "l": list}
	out := RedactConfig(in)
	out["pg"].(map[string]any)["host"] = "changed"
	out["l"].([]any)[0] = "changed"
	if inner["host"] != "h" || list[0] != "a" {
		t.Fatal("RedactConfig shares memory with its input")
	}
}
