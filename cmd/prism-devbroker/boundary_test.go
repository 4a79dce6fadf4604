package main

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"
)

// The fake broker stays out of the production binaries: only this command
// (and tests) may link kfake.
func TestProductionBinariesDoNotLinkKfake(t *testing.T) {
	const kfake = "github.com/twmb/franz-go/pkg/kfake"
	for _, pkg := range []string{"../prismd", "../prismctl", "../prism-shard"} {
		cmd := exec.Command("go", "list", "-deps", pkg)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v\n%s", pkg, err, stderr.String())
		}
		for _, dep := range strings.Fields(string(out)) {
			if dep == kfake || strings.HasPrefix(dep, kfake+"/") {
				t.Errorf("%s depends on %s, which is for make run and tests only", pkg, dep)
			}
		}
	}
}
