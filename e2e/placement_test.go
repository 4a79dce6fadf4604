package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

type planJSON struct {
	Revision  int64             `json:"revision"`
	Applied   int               `json:"applied"`
	Decisions []json.RawMessage `json:"decisions"`
}

// Placement as an operator sees it: the engine places the examples on its
// own, plan is empty once settled, explain names every shard, and a
// rebalance dry run shows exactly what the real run then does.
func TestPlacementCLI(t *testing.T) {
	needBinaries(t)
	c := startCluster(t, 3)
	eps := c.endpoints()
	for i := 1; i <= 3; i++ {
		mustCtl(t, eps, "shard", "register", "--id", fmt.Sprintf("s%d", i), "--endpoint", fmt.Sprintf("10.0.0.%d:8980", i),
			"--backends", "postgres,kafka", "--capacity", "read_rps=50000,write_rps=50000,data_gb=1000")
	}
	for _, f := range []string{"user-profiles", "colocated", "video-events"} {
		mustCtl(t, eps, "namespace", "apply", "-f", "../examples/"+f+".yaml")
	}
	opsEventually(t, 15*time.Second, "small namespaces placed on one shard", func() error {
		var list struct {
			Namespaces []struct {
				Name, ShardID, Status, StatusReason string
			} `json:"namespaces"`
		}
		out := mustCtl(t, eps, "namespace", "list", "-o", "json")
		if err := json.Unmarshal([]byte(strings.ReplaceAll(strings.ReplaceAll(out, "shard_id", "shardid"), "status_reason", "statusreason")), &list); err != nil {
			return err
		}
		shards := map[string]bool{}
		for _, ns := range list.Namespaces {
			if ns.Name == "video-events" {
				if ns.ShardID != "" || ns.Status != "provisioning" || !strings.Contains(ns.StatusReason, "dedicated") {
					return fmt.Errorf("video-events: %+v", ns)
				}
				continue
			}
			if ns.ShardID == "" || ns.Status != "active" {
				return fmt.Errorf("%s: %+v", ns.Name, ns)
			}
			shards[ns.ShardID] = true
		}
		if len(shards) != 1 {
			return fmt.Errorf("small namespaces on %v", shards)
		}
		return nil
	})
	// A dry run shows the shard a new namespace would get, or why none.
	f := filepath.Join(t.TempDir(), "new.yaml")
	if err := os.WriteFile(f, []byte("namespace: user-sessions\nabstraction: keyvalue\nbackend: postgres\n"+
		"capacity:\n  estimated_read_rps: 100\n  estimated_write_rps: 10\n  estimated_data_size_gb: 1\n"+
		"access:\n  owners:\n    - team: identity\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var preview, profiles struct {
		ShardID      string `json:"shard_id"`
		StatusReason string `json:"status_reason"`
	}
	opsMustCtlJSON(t, eps, &preview, "namespace", "apply", "--dry-run", "-f", f)
	opsMustCtlJSON(t, eps, &profiles, "namespace", "get", "user-profiles")
	if preview.ShardID == "" || preview.ShardID != profiles.ShardID {
		t.Fatalf("dry run places user-sessions on %q; the small namespaces share %q", preview.ShardID, profiles.ShardID)
	}
	opsMustCtlJSON(t, eps, &preview, "namespace", "apply", "--dry-run", "-f", "../examples/video-events.yaml")
	if preview.ShardID != "" || !strings.Contains(preview.StatusReason, "unschedulable") {
		t.Fatalf("dry run of video-events: %+v", preview)
	}
	var plan planJSON
	opsMustCtlJSON(t, eps, &plan, "placement", "plan")
	for _, d := range plan.Decisions {
		if !strings.Contains(string(d), `"unschedulable"`) {
			t.Fatalf("settled plan still changes something: %s", d)
		}
	}
	out := mustCtl(t, c.nodes[2].grpc, "placement", "explain", "video-events", "-o", "json")
	var ex struct {
		Class      string `json:"class"`
		Candidates []struct {
			Shard      string `json:"shard"`
			Accepted   bool   `json:"accepted"`
			Constraint string `json:"constraint"`
		} `json:"candidates"`
	}
	if err := json.Unmarshal([]byte(out), &ex); err != nil {
		t.Fatal(err)
	}
	if ex.Class != "unschedulable" || len(ex.Candidates) != 3 {
		t.Fatalf("explain video-events: %s", out)
	}
	for _, cand := range ex.Candidates {
		if cand.Accepted || cand.Constraint == "" {
			t.Fatalf("explain video-events: %s", out)
		}
	}
	var dry, real planJSON
	opsMustCtlJSON(t, eps, &dry, "placement", "rebalance", "--dry-run", "--max-moves", "2")
	opsMustCtlJSON(t, eps, &real, "placement", "rebalance", "--max-moves", "2")
	if dry.Revision == real.Revision && !reflect.DeepEqual(dry.Decisions, real.Decisions) {
		t.Fatalf("dry run %v differs from the real run %v on the same state", dry.Decisions, real.Decisions)
	}
	// A shard big enough for video-events becomes dedicated to it.
	mustCtl(t, eps, "shard", "register", "--id", "big", "--endpoint", "10.0.0.9:8980",
		"--backends", "kafka", "--capacity", "read_rps=250000,write_rps=250000,data_gb=5000")
	opsEventually(t, 15*time.Second, "video-events on a dedicated shard", func() error {
		var sh struct {
			DedicatedTo string   `json:"dedicated_to"`
			Namespaces  []string `json:"namespaces"`
		}
		if err := opsCtlJSON(t, eps, &sh, "shard", "get", "big"); err != nil {
			return err
		}
		if sh.DedicatedTo != "video-events" || len(sh.Namespaces) != 1 {
			return fmt.Errorf("shard big: %+v", sh)
		}
		return nil
	})
	if _, errs, code := ctl(t, eps, "placement", "explain", "nope"); code == 0 || !strings.Contains(errs, "nope") {
		t.Fatalf("explain of an unknown namespace: exit %d: %s", code, errs)
	}
}
