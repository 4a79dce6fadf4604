package fsm

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImportBoundary: fsm stays pure. It may not import (even indirectly)
// anything that reaches the network, a database, raft or the clock-driven
// runtime of other packages.
func TestImportBoundary(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Skipf("go list unavailable: %v", err)
	}
	forbidden := []string{"net", "net/http", "database/sql", "os/exec", "math/rand", "math/rand/v2",
		"github.com/hashicorp/raft", "github.com/hashicorp/memberlist", "google.golang.org/grpc", "github.com/jackc/pgx/v5"}
	deps := map[string]bool{}
	for _, d := range strings.Fields(string(out)) {
		deps[d] = true
	}
	for _, f := range forbidden {
		if deps[f] {
			t.Errorf("fsm depends on %s", f)
		}
	}
}
