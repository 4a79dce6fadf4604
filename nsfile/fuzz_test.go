package nsfile

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/prism/controlplane/fsm"
)

// FuzzParse: Parse never panics, and returns either valid specs or a
// non-empty *fsm.ValidationError, never both.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.yaml")
	for _, file := range files {
		if b, err := os.ReadFile(file); err == nil {
			f.Add(b)
		}
	}
	for _, s := range []string{"", "---", "a: &a [*a]", "namespace: [", "backend_config: {x: *y}", "? [a]\n: 1",
		"<<: {a: 1}", "namespace: a\n---\nnamespace: a\n", "access: {owners: [{team: [x]}], consumers: [{service: 'a (read-only)'}]}"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		specs, err := Parse(data)
		if err != nil {
			var ve *fsm.ValidationError
			if !errors.As(err, &ve) || len(ve.Fields) == 0 || specs != nil {
				t.Fatalf("bad error result: specs=%v err=%v", specs, err)
			}
			return
		}
		if len(specs) == 0 {
			t.Fatal("no specs and no error")
		}
		for _, s := range specs {
			if err := fsm.CheckSpec(s); err != nil {
				t.Fatalf("Parse returned an invalid spec: %v", err)
			}
		}
	})
}
