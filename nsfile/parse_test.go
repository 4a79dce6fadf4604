package nsfile

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/prism/controlplane/fsm"
	"github.com/prism/controlplane/fsm/fsmpb"
)

// sharedExamples is the project's example directory (/work/shared/examples);
// testdata holds copies so the repository is self-contained.
const sharedExamples = "../../shared/examples"

var validExamples = map[string][]string{
	"user-profiles.yaml": {"user-profiles"},
	"video-events.yaml":  {"video-events"},
	"colocated.yaml":     {"user-preferences", "user-settings"},
}

func readExample(t *testing.T, dir, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if errors.Is(err, os.ErrNotExist) && dir == sharedExamples {
		t.Skipf("%s not present", dir)
	}
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// problems parses and returns the field errors, failing unless Parse
// returned a *fsm.ValidationError and no specs.
func problems(t *testing.T, src string) []fsm.FieldError {
	t.Helper()
	specs, err := Parse([]byte(src))
	var ve *fsm.ValidationError
	if !errors.As(err, &ve) || !errors.Is(err, fsm.ErrInvalid) {
		t.Fatalf("want a *fsm.ValidationError, got specs=%v err=%v", specs, err)
	}
	if specs != nil {
		t.Fatalf("specs returned with errors: %v", specs)
	}
	return ve.Fields
}

func mustParse(t *testing.T, src string) []*fsmpb.NamespaceSpec {
	t.Helper()
	specs, err := Parse([]byte(src))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return specs
}

func TestParseValidExamples(t *testing.T) {
	for _, dir := range []string{"testdata", sharedExamples} {
		for file, names := range validExamples {
			t.Run(dir+"/"+file, func(t *testing.T) {
				specs := mustParse(t, string(readExample(t, dir, file)))
				if len(specs) != len(names) {
					t.Fatalf("got %d specs, want %d", len(specs), len(names))
				}
				for i, s := range specs {
					if s.Name != names[i] {
						t.Errorf("spec %d is %q, want %q", i, s.Name, names[i])
					}
					if err := fsm.CheckSpec(s); err != nil {
						t.Errorf("spec %d invalid: %v", i, err)
					}
				}
			})
		}
	}
}

func TestTestdataMatchesSharedExamples(t *testing.T) {
	for _, f := range []string{"bad-namespace.yaml", "colocated.yaml", "user-profiles.yaml", "video-events.yaml"} {
		if !bytes.Equal(readExample(t, sharedExamples, f), readExample(t, "testdata", f)) {
			t.Errorf("testdata/%s differs from %s/%s", f, sharedExamples, f)
		}
	}
}

func TestParseUserProfilesExactly(t *testing.T) {
	specs := mustParse(t, string(readExample(t, "testdata", "user-profiles.yaml")))
	cfg, err := fsm.ConfigJSON(map[string]any{"postgres": map[string]any{
		"connection_string": "postgres://prod-postgres-1/prism", "pool_size": 20, "table_name": "user_profiles"}})
	if err != nil {
		t.Fatal(err)
	}
	on, ttl := true, int64(300)
	want := &fsmpb.NamespaceSpec{
		Name: "user-profiles", Abstraction: "keyvalue", Backend: "postgres",
		Capacity: &fsmpb.Capacity{EstimatedReadRps: 5000, EstimatedWriteRps: 500, EstimatedDataSizeGb: 100},
		Policies: &fsmpb.Policies{Consistency: "strong", CacheEnabled: &on, CacheTtlSeconds: &ttl}, // retention_days: null = unset
		Access: &fsmpb.Access{
			Owners: []*fsmpb.Owner{{Kind: "team", Name: "user-service-team"}},
			Consumers: []*fsmpb.Consumer{
				{Service: "user-api", Access: "read-write"},
				{Service: "analytics-pipeline", Access: "read-only"},
			},
		},
		BackendConfigJson: cfg,
	}
	if !proto.Equal(specs[0], want) {
		t.Fatalf("got  %v\nwant %v", specs[0], want)
	}
}

func TestParseBadNamespace(t *testing.T) {
	for _, dir := range []string{"testdata", sharedExamples} {
		t.Run(dir, func(t *testing.T) {
			got := problems(t, string(readExample(t, dir, "bad-namespace.yaml")))
			want := []struct {
				path string
				line int
				msg  string
			}{
				{"namespace", 2, "User_Profiles!"},
				{"abstraction", 3, "spreadsheet"},
				{"backend", 4, "required"},
				{"capacity.estimated_read_rps", 6, ">= 0"},
				{"capacity.estimated_write_rps", 7, "must be a number"},
				{"access.consumers[0].access", 10, "root"},
				{"unknown_key", 11, "unknown field"},
			}
			if len(got) != len(want) {
				t.Fatalf("got %d problems, want %d: %v", len(got), len(want), got)
			}
			for i, w := range want {
				g := got[i]
				if g.Path != w.path || g.Line != w.line || !strings.Contains(g.Message, w.msg) {
					t.Errorf("problem %d = %v, want %s (line %d): ...%s...", i, g, w.path, w.line, w.msg)
				}
			}
			if s := got[4].String(); s != "capacity.estimated_write_rps (line 7): must be a number" {
				t.Errorf("got %q", s)
			}
		})
	}
}

func TestParseProblems(t *testing.T) {
	const head = "namespace: ns\nabstraction: keyvalue\nbackend: postgres\n" // lines 1-3
	cases := []struct {
		name string
		src  string
		want []string // "path@line: message substring", in order
	}{
		{"unknown top key", head + "colour: blue\n", []string{"colour@4: unknown field"}},
		{"unknown nested keys", head + "capacity:\n  estimated_reads: 1\npolicies:\n  foo: 1\nplacement:\n  zone: z1\naccess:\n  owners:\n    - group: g\n",
			[]string{"capacity.estimated_reads@5: unknown field", "policies.foo@7: unknown field", "placement.zone@9: unknown field",
				"access.owners[0]@12: exactly one of", "access.owners[0].group@12: unknown field"}},
		{"duplicate top key", head + "namespace: other\n", []string{"namespace@4: duplicate key (first at line 1)"}},
		{"duplicate nested key", head + "capacity:\n  estimated_read_rps: 1\n  estimated_read_rps: 2\n",
			[]string{"capacity.estimated_read_rps@6: duplicate key (first at line 5)"}},
		{"duplicate key still validates the first", "namespace: Bad\nnamespace: bad\nabstraction: keyvalue\nbackend: postgres\n",
			[]string{"namespace@1: lowercase", "namespace@2: duplicate key"}},
		{"wrong types", head + "capacity:\n  estimated_read_rps: many\n  estimated_write_rps: 1.5\n  estimated_data_size_gb: [1]\npolicies:\n  cache_enabled: \"yes\"\n  consistency: 3\n",
			[]string{"capacity.estimated_read_rps@5: must be a number", "capacity.estimated_write_rps@6: whole number",
				"capacity.estimated_data_size_gb@7: must be a number", "policies.cache_enabled@9: true or false", "policies.consistency@10: must be a string"}},
		{"out of range", head + "capacity:\n  estimated_read_rps: 99999999999999999999\n", []string{"capacity.estimated_read_rps@5: out of range"}},
		{"section not a mapping", head + "capacity: 5\naccess: [a]\n", []string{"capacity@4: must be a mapping", "access@5: must be a mapping"}},
		{"owners not a list", head + "access:\n  owners: team\n", []string{"access.owners@5: must be a list"}},
		{"owner with two kinds", head + "access:\n  owners:\n    - team: a\n      user: b\n", []string{"access.owners[0]@6: exactly one"}},
		{"owner empty name", head + "access:\n  owners:\n    - team:\n", []string{"access.owners[0].team@6: empty"}},
		{"consumer without suffix", head + "access:\n  consumers:\n    - service: user-api\n", []string{"access.consumers[0].service@6: SERVICE (read-only|read-write)"}},
		{"consumer bad access", head + "access:\n  consumers:\n    - service: ok (read-only)\n    - service: user-api (root)\n",
			[]string{"access.consumers[1].access@7: one of read-only, read-write"}},
		{"consumer no service", head + "access:\n  consumers:\n    - {}\n", []string{"access.consumers[0]@6: must have service"}},
		{"consumer unknown key", head + "access:\n  consumers:\n    - service: a (read-only)\n      access: read-only\n",
			[]string{"access.consumers[0].access@7: unknown field"}},
		{"backend_config mismatch", head + "backend_config:\n  kafka:\n    topic: t\n", []string{`backend_config.kafka@5: backend_config has "kafka" but backend is "postgres"`}},
		{"backend_config not object", head + "backend_config:\n  postgres: 3\n", []string{"backend_config.postgres@5: mapping"}},
		{"backend_config nan", head + "backend_config:\n  postgres:\n    x: .nan\n", []string{"backend_config.postgres.x@6: finite"}},
		{"retention zero", head + "policies:\n  retention_days: 0\n", []string{"policies.retention_days@5: >= 1"}},
		{"labels", head + "placement:\n  isolation: private\n  labels:\n    zone: \"\"\n    rack: 3\n",
			[]string{"placement.isolation@5: one of dedicated, shared", "placement.labels.zone@7: empty", "placement.labels.rack@8: must be a string"}},
		{"missing required fields point at the document", "# comment\ncapacity:\n  estimated_read_rps: 1\n",
			[]string{"abstraction@2: required", "backend@2: required", "namespace@2: required"}},
		{"document not a mapping", "hello\n", []string{"@1: must be a mapping"}},
		{"list items not mappings", "- a\n- b\n", []string{"[0]@1: must be a mapping", "[1]@2: must be a mapping"}},
		{"merge key", head + "<<: {x: 1}\n", []string{"@4: merge keys"}},
		{"syntax error", head + "capacity: [1\n", []string{"@4: invalid YAML"}},
		{"empty file", "", []string{"@0: no namespace"}},
		{"only comments and separators", "# nothing\n---\n---\n", []string{"@0: no namespace"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := problems(t, tc.src)
			if len(got) != len(tc.want) {
				t.Fatalf("got %d problems, want %d: %v", len(got), len(tc.want), got)
			}
			for i, w := range tc.want {
				at, msg, _ := strings.Cut(w, ": ")
				if g := got[i]; fmt.Sprintf("%s@%d", g.Path, g.Line) != at || !strings.Contains(g.Message, msg) {
					t.Errorf("problem %d = %v, want %s: ...%s...", i, g, at, msg)
				}
			}
		})
	}
}

func TestParseValues(t *testing.T) {
	src := `namespace: ns
abstraction: keyvalue
backend: custom
capacity:
  estimated_read_rps: 0x10
  estimated_write_rps: 1_000
  estimated_data_size_gb: 1.5
policies:
  retention_days: ~
  consistency:
  cache_enabled: false
access:
  owners:
    - user: alice
    - service: billing
  consumers:
    - service: "  spaced name   ( read-only )"
backend_config:
  custom:
    base: &base {pool_size: 20, nested: [1, 2.5, true, null, x, 2024-01-02]}
    copy: *base
placement:
  isolation: shared
  labels:
    zone: z1
---
`
	specs := mustParse(t, src)
	if len(specs) != 1 {
		t.Fatalf("trailing empty document not skipped: %d specs", len(specs))
	}
	s := specs[0]
	if c := s.Capacity; c.EstimatedReadRps != 16 || c.EstimatedWriteRps != 1000 || c.EstimatedDataSizeGb != 1.5 {
		t.Errorf("capacity %v", c)
	}
	if s.Policies != nil { // only defaults: canonical is no section at all
		t.Errorf("policies %v", s.Policies)
	}
	if o := s.Access.Owners; len(o) != 2 || o[0].Kind != "user" || o[0].Name != "alice" || o[1].Kind != "service" {
		t.Errorf("owners %v", o)
	}
	if c := s.Access.Consumers[0]; c.Service != "spaced name" || c.Access != "read-only" {
		t.Errorf("consumer %v", c)
	}
	m, err := fsm.ConfigMap(s.BackendConfigJson)
	if err != nil {
		t.Fatal(err)
	}
	pg := m["custom"].(map[string]any)
	want := map[string]any{"pool_size": 20, "nested": []any{1, 2.5, true, nil, "x", "2024-01-02"}}
	if fmt.Sprint(pg["base"]) != fmt.Sprint(want) || fmt.Sprint(pg["copy"]) != fmt.Sprint(want) {
		t.Errorf("backend_config %v", pg)
	}
	if s.Placement.Isolation != "shared" || s.Placement.Labels["zone"] != "z1" {
		t.Errorf("placement %v", s.Placement)
	}
}

func TestParseMultiDocument(t *testing.T) {
	specs := mustParse(t, string(readExample(t, "testdata", "colocated.yaml")))
	if len(specs) != 2 || specs[0].Name != "user-preferences" || specs[1].Name != "user-settings" {
		t.Fatalf("colocated: %v", specs)
	}
	doc := func(name, extra string) string {
		return "namespace: " + name + "\nabstraction: keyvalue\nbackend: postgres\n" + extra
	}
	got := problems(t, "---\n"+doc("a", "")+"---\n"+doc("b", "bogus: 1\n")+"---\n"+doc("a", "")+"---\n"+"namespace: [\n")
	want := []string{"[1].bogus@9", "[2].namespace@11", "[3]@15"}
	if len(got) != len(want) {
		t.Fatalf("got %v", got)
	}
	for i, w := range want {
		if g := fmt.Sprintf("%s@%d", got[i].Path, got[i].Line); g != w {
			t.Errorf("problem %d at %s, want %s (%v)", i, g, w, got[i])
		}
	}
	if !strings.Contains(got[1].Message, "also defined in document [0]") {
		t.Errorf("duplicate namespace message: %q", got[1].Message)
	}
}

func TestParseErrorsAreDeterministic(t *testing.T) {
	src := "namespace: B\nabstraction: x\nbackend: Y\nbackend_config:\n  zz: 1\n  aa: 2\nplacement:\n  labels: {b: \"\", a: \"\", c: \"\"}\n"
	first := fmt.Sprint(problems(t, src))
	for range 20 {
		if again := fmt.Sprint(problems(t, src)); again != first {
			t.Fatalf("order changed:\n%s\n%s", first, again)
		}
	}
}

func TestParseAliasBombsAndCycles(t *testing.T) {
	var b strings.Builder
	b.WriteString("namespace: ns\nabstraction: keyvalue\nbackend: custom\nbackend_config:\n  custom:\n")
	b.WriteString("    a: &a [x, x, x, x, x, x, x, x, x, x]\n")
	prev := "a"
	for _, name := range []string{"b", "c", "d", "e", "f", "g", "h", "i"} {
		fmt.Fprintf(&b, "    %s: &%s [*%s, *%s, *%s, *%s, *%s, *%s, *%s, *%s, *%s, *%s]\n", name, name, prev, prev, prev, prev, prev, prev, prev, prev, prev, prev)
		prev = name
	}
	got := problems(t, b.String())
	if len(got) != 1 || !strings.Contains(got[0].Message, "too large") {
		t.Fatalf("alias bomb: %v", got)
	}
	got = problems(t, "namespace: ns\nabstraction: keyvalue\nbackend: custom\nbackend_config:\n  custom: &p {self: *p}\n")
	if len(got) != 1 || !strings.Contains(got[0].Message, "too deeply nested") {
		t.Fatalf("alias cycle: %v", got)
	}
}

func TestParseSyntaxErrorLines(t *testing.T) {
	cases := []struct {
		src  string
		line int
	}{
		{"a: [1", 1},
		{"\t a: 1\n", 1},
		{"x: 1\na: [1\n", 2},
		{"x: 1\ny: 2\nz: 3\na: [1\nb: 2\n", 4},
		{"x: 1\n  y: 2\n", 2},
		{"x: 1\ny: 'abc\n", 2},
		{"x: 1\n- a\n", 2},
		{"x: 1\ny: 2\nz: 3\na: [1,\n\n\n", 4},
	}
	for _, tc := range cases {
		got := problems(t, tc.src)
		if len(got) != 1 || got[0].Line != tc.line || got[0].Path != "" || !strings.HasPrefix(got[0].Message, "invalid YAML: ") {
			t.Errorf("%q: got %v, want one syntax error on line %d", tc.src, got, tc.line)
		}
	}
}
