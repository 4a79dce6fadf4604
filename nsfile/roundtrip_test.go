package nsfile

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
	"google.golang.org/protobuf/proto"

	"github.com/prism/controlplane/fsm"
	"github.com/prism/controlplane/fsm/fsmpb"
)

// stored is a namespace as the cluster keeps it after applying spec.
func stored(spec *fsmpb.NamespaceSpec) *fsmpb.Namespace {
	return &fsmpb.Namespace{Spec: spec, Status: fsmpb.NamespaceStatus_NAMESPACE_STATUS_ACTIVE, ShardId: "pg-1",
		Revision: 9, CreateRevision: 4, StatusReason: "ready", CreatedUnixNano: 1_700_000_000_000_000_000, UpdatedUnixNano: 1_700_000_001_000_000_000,
		Move: &fsmpb.NamespaceMove{From: "pg-1", To: "pg-2"}}
}

// TestViewRoundTrip: what -o yaml and -o json print parses back to the
// spec that was stored, so applying it again is unchanged.
func TestViewRoundTrip(t *testing.T) {
	for _, name := range []string{"user-profiles.yaml", "video-events.yaml", "colocated.yaml"} {
		for _, spec := range mustParse(t, string(readExample(t, "testdata", name))) {
			ns := stored(spec)
			y, err := yaml.Marshal(ToView(ns))
			if err != nil {
				t.Fatal(err)
			}
			j, err := json.Marshal(ToView(ns))
			if err != nil {
				t.Fatal(err)
			}
			for form, out := range map[string][]byte{"yaml": y, "json": j} {
				got, err := Parse(out)
				if err != nil {
					t.Fatalf("%s: -o %s output does not parse: %v\n%s", spec.Name, form, err, out)
				}
				if len(got) != 1 || !proto.Equal(got[0], spec) {
					t.Errorf("%s: -o %s round trip changed the spec:\n got %v\nwant %v\n%s", spec.Name, form, got, spec, out)
				}
			}
		}
	}
}

func TestViewYAMLNumbersAreNumbers(t *testing.T) {
	spec := mustParse(t, "namespace: a\nabstraction: keyvalue\nbackend: custom\nbackend_config:\n  custom:\n    pool_size: 20\n    ratio: 0.25\n    big: 1e+21\n    text: \"20\"\n    list: [1, 2.5]\n")[0]
	y, err := yaml.Marshal(ToView(stored(spec)))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"pool_size: 20\n", "ratio: 0.25\n", "big: 1e+21\n", `text: "20"` + "\n", "- 1\n", "- 2.5\n"} {
		if !strings.Contains(string(y), want) {
			t.Errorf("YAML lacks %q:\n%s", want, y)
		}
	}
	var back map[string]any
	if err := yaml.Unmarshal(y, &back); err != nil {
		t.Fatal(err)
	}
	pg := back["backend_config"].(map[string]any)["custom"].(map[string]any)
	if pg["pool_size"] != 20 || pg["ratio"] != 0.25 || pg["text"] != "20" {
		t.Errorf("YAML types: %#v", pg)
	}
}

// TestCanonicalSpec: a section written with its defaults, or left out,
// gives the same spec.
func TestCanonicalSpec(t *testing.T) {
	head := "namespace: a\nabstraction: keyvalue\nbackend: postgres\n"
	bare := mustParse(t, head)[0]
	full := mustParse(t, head+"capacity: {estimated_read_rps: 0}\npolicies: {retention_days: null, consistency: \"\", cache_enabled: false}\n"+
		"access: {owners: [], consumers: []}\nbackend_config: {}\nplacement: {labels: {}}\n")[0]
	if !proto.Equal(bare, full) {
		t.Errorf("defaults written out changed the spec:\n%v\n%v", bare, full)
	}
	if bare.Capacity != nil || bare.Policies != nil || bare.Access != nil || bare.Placement != nil || bare.BackendConfigJson != nil {
		t.Errorf("bare spec has sections: %v", bare)
	}
}

func TestParseViewForm(t *testing.T) {
	src := `name: a
abstraction: keyvalue
backend: postgres
status: active
shard_id: pg-1
revision: 7
access:
  owners:
    - {kind: team, name: t1}
  consumers:
    - {service: api, access: read-write}
`
	s := mustParse(t, src)[0]
	want := &fsmpb.NamespaceSpec{Name: "a", Abstraction: "keyvalue", Backend: "postgres", Access: &fsmpb.Access{
		Owners: []*fsmpb.Owner{{Kind: "team", Name: "t1"}}, Consumers: []*fsmpb.Consumer{{Service: "api", Access: "read-write"}}}}
	if !proto.Equal(s, want) {
		t.Errorf("got %v, want %v", s, want)
	}
	got := problems(t, "namespace: a\nname: b\nabstraction: keyvalue\nbackend: postgres\naccess:\n  owners:\n    - {kind: robot, name: r}\n")
	if len(got) != 2 || got[0].Path != "name" || got[0].Line != 2 || !strings.Contains(got[1].Message, `got kind "robot"`) {
		t.Errorf("problems %v", got)
	}
	if got := problems(t, "name: Bad!\nabstraction: keyvalue\nbackend: postgres\n"); len(got) != 1 || got[0].Path != "namespace" || got[0].Line != 1 {
		t.Errorf("invalid name: %v", got)
	}
}

func TestParseRejectsTombstones(t *testing.T) {
	got := problems(t, "- {name: a, abstraction: keyvalue, backend: postgres, status: active}\n- {name: b, abstraction: keyvalue, backend: postgres, status: deleted}\n")
	if len(got) != 1 || got[0].Path != "[1].status" || !strings.Contains(got[0].Message, "tombstone") {
		t.Errorf("problems %v", got)
	}
}

func TestParseLists(t *testing.T) {
	doc := func(name string) string {
		return `{"name": "` + name + `", "abstraction": "keyvalue", "backend": "postgres"}`
	}
	for _, src := range []string{
		"- " + doc("a") + "\n- " + doc("b") + "\n",
		`{"namespaces": [` + doc("a") + ", " + doc("b") + `], "revision": 12}`,
	} {
		specs := mustParse(t, src)
		if len(specs) != 2 || specs[0].Name != "a" || specs[1].Name != "b" {
			t.Errorf("%s: %v", src, specs)
		}
	}
	// Items aliasing one anchor would multiply it: refused.
	bomb := "- &a {name: a, abstraction: keyvalue, backend: postgres, access: {owners: [{team: t}]}}\n" + strings.Repeat("- *a\n", 5)
	if got := problems(t, bomb); len(got) != 1 || got[0].Line != 2 || !strings.Contains(got[0].Message, "aliases (*a) are not allowed") {
		t.Errorf("aliases in a list: %v", got)
	}
	got := problems(t, "namespaces:\n  - "+doc("a")+"\n  - "+doc("a")+"\n")
	if len(got) != 1 || got[0].Path != "[1].namespace" || got[0].Line != 3 {
		t.Errorf("duplicate in a list: %v", got)
	}
}

func TestParseRejectsRedactedSecrets(t *testing.T) {
	head := "namespace: a\nabstraction: keyvalue\nbackend: custom\nbackend_config:\n  custom:\n"
	got := problems(t, head+"    password: \"[REDACTED]\"\n    dsn: postgres://app:REDACTED@db/x\n    note: REDACTED is a word\n")
	if len(got) != 2 || got[0].Path != "backend_config.custom.password" || got[1].Path != "backend_config.custom.dsn" {
		t.Fatalf("problems %v", got)
	}
	if !strings.Contains(got[0].Message, "write the secret itself") {
		t.Errorf("message %q", got[0].Message)
	}
}

func TestParseFiles(t *testing.T) {
	good := "namespace: a\nabstraction: keyvalue\nbackend: postgres\n"
	docs, err := ParseFiles([]File{{"one.yaml", []byte(good)}, {"two.yaml", []byte(strings.ReplaceAll(good, ": a", ": b"))}})
	if err != nil || len(docs) != 2 || docs[0].File != "one.yaml" || docs[1].Spec.Name != "b" {
		t.Fatalf("docs %v, err %v", docs, err)
	}
	_, err = ParseFiles([]File{
		{"one.yaml", []byte(good)},
		{"bad.yaml", []byte("namespace: B\nabstraction: x\nbackend: postgres\n")},
		{"again.yaml", []byte(good)},
		{"worse.yaml", []byte("bogus: 1\n")},
	})
	var fe *FilesError
	if !errors.As(err, &fe) || !errors.Is(err, fsm.ErrInvalid) {
		t.Fatalf("want a *FilesError, got %v", err)
	}
	var got []string
	for _, p := range fe.Problems {
		got = append(got, p.String())
	}
	want := []string{
		"bad.yaml: namespace (line 1)", "bad.yaml: abstraction (line 2)",
		`again.yaml: namespace (line 1): namespace "a" is also defined in one.yaml`,
		"worse.yaml: abstraction (line 1)", "worse.yaml: backend (line 1)", "worse.yaml: bogus (line 1): unknown field", "worse.yaml: namespace (line 1)",
	}
	if len(got) != len(want) {
		t.Fatalf("problems:\n%s", strings.Join(got, "\n"))
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("problem %d: %q, want %q...", i, got[i], want[i])
		}
	}
}
