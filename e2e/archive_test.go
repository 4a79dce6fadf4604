package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prism/controlplane/internal/testpg"
)

// archiveStatus is `prismctl archive status -o json` (PRODUCT.md).
type archiveStatus struct {
	ClusterID        string  `json:"cluster_id"`
	ArchivedRevision int64   `json:"archived_revision"`
	ClusterRevision  int64   `json:"cluster_revision"`
	LagRevisions     int64   `json:"lag_revisions"`
	LagSeconds       float64 `json:"lag_seconds"`
	Epoch            int64   `json:"epoch"`
	LastError        string  `json:"last_error"`
}

func archiveCaughtUp(t *testing.T, eps string) archiveStatus {
	t.Helper()
	var st archiveStatus
	opsEventually(t, 60*time.Second, "the archive to catch up", func() error {
		if err := opsCtlJSON(t, eps, &st, "archive", "status"); err != nil {
			return err
		}
		if st.LagRevisions != 0 || st.ArchivedRevision == 0 || st.ArchivedRevision != st.ClusterRevision {
			return fmt.Errorf("%+v", st)
		}
		return nil
	})
	return st
}

// TestArchiveJourney drives the archive through the built binaries: every
// change is archived and listed by `history`, Postgres crashing does not
// stop writes or readiness and the archive catches up after it, and a
// cluster that lost every node is rebuilt from the archive with the same
// namespaces and shards.
func TestArchiveJourney(t *testing.T) {
	needBinaries(t)
	pg := testpg.StartPrivate(t)
	url := pg.URL("postgres")
	c := startClusterWith(t, 3, "--provisioning=false", "--archive-url", url)
	eps := c.endpoints()

	mustCtl(t, eps, "namespace", "apply", "-f", "../examples/user-profiles.yaml", "-f", "../examples/colocated.yaml")
	mustCtl(t, eps, "shard", "register", "--id", "pg-1", "--endpoint", "127.0.0.1:8980", "--backends", "postgres",
		"--capacity", "read_rps=50000,write_rps=10000,data_gb=1000")
	st := archiveCaughtUp(t, eps)
	if st.Epoch != 1 || st.LastError != "" || st.ClusterID == "" {
		t.Fatalf("archive status %+v", st)
	}

	var hist struct {
		ClusterID string `json:"cluster_id"`
		Changes   []struct {
			Revision int64           `json:"revision"`
			Command  string          `json:"command"`
			Op       string          `json:"op"`
			Object   json.RawMessage `json:"object"`
		} `json:"changes"`
	}
	opsMustCtlJSON(t, eps, &hist, "history", "user-profiles")
	if hist.ClusterID != st.ClusterID || len(hist.Changes) < 2 {
		t.Fatalf("history: %+v", hist)
	}
	last := hist.Changes[len(hist.Changes)-1]
	var obj struct{ Name, Status string }
	if err := json.Unmarshal(last.Object, &obj); err != nil || last.Command != "apply_namespace" || last.Op != "put" || obj.Name != "user-profiles" || obj.Status != "provisioning" {
		t.Fatalf("the first change of user-profiles: %+v %+v %v", last, obj, err)
	}
	for i := 1; i < len(hist.Changes); i++ {
		if hist.Changes[i].Revision >= hist.Changes[i-1].Revision {
			t.Fatalf("history not newest first: %+v", hist.Changes)
		}
	}
	if out := mustCtl(t, eps, "cluster", "status"); !strings.Contains(out, "archive: revision") {
		t.Fatalf("cluster status does not show the archive:\n%s", out)
	}

	// Postgres crashes: writes go on, every node stays ready, the status
	// says what is wrong; once it is back the archive catches up.
	pg.Stop(t)
	for i := 0; i < 20; i++ {
		mustCtl(t, eps, "namespace", "apply", "-f", writeFile(t, fmt.Sprintf("n%d.yaml", i),
			fmt.Sprintf("namespace: during-outage-%d\nabstraction: keyvalue\nbackend: postgres\n", i)))
	}
	for _, nd := range c.nodes {
		resp, err := http.Get("http://" + nd.http + "/readyz")
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("%s not ready while the archive is down: %v %v", nd.id, err, resp)
		}
		resp.Body.Close()
	}
	opsEventually(t, 30*time.Second, "the status to show the outage", func() error {
		var s archiveStatus
		if err := opsCtlJSON(t, eps, &s, "archive", "status"); err != nil {
			return err
		}
		if s.LagRevisions < 20 || s.LastError == "" {
			return fmt.Errorf("%+v", s)
		}
		return nil
	})
	pg.Restart(t)
	st = archiveCaughtUp(t, eps)

	// Every node and disk is lost; the archive rebuilds the state at the
	// revision listed (the leader's controllers may change more meanwhile).
	var before, shardsBefore map[string]any
	var rev int64
	opsEventually(t, 30*time.Second, "two listings at one revision", func() error {
		opsMustCtlJSON(t, eps, &before, "namespace", "list")
		opsMustCtlJSON(t, eps, &shardsBefore, "shard", "list")
		rev = int64(before["revision"].(float64))
		if r := int64(shardsBefore["revision"].(float64)); r != rev {
			return fmt.Errorf("namespaces listed at %d, shards at %d", rev, r)
		}
		return nil
	})
	archiveCaughtUp(t, eps)
	for _, nd := range c.nodes {
		_ = nd.cmd.Process.Kill()
		_ = nd.cmd.Wait()
	}
	snap := filepath.Join(t.TempDir(), "rebuilt.snap")
	out, errs, code := ctl(t, eps, "snapshot", "from-archive", "--archive-url", url, "--revision", fmt.Sprint(rev), snap, "-o", "json")
	if code != 0 {
		t.Fatalf("from-archive: exit %d: %s", code, errs)
	}
	var info struct {
		Revision int64          `json:"revision"`
		Counts   map[string]int `json:"counts"`
	}
	if err := json.Unmarshal([]byte(out), &info); err != nil || info.Revision != rev {
		t.Fatalf("from-archive: %v %s", err, out)
	}

	fresh := startCluster(t, 3)
	feps := fresh.endpoints()
	mustCtl(t, feps, "snapshot", "restore", snap)
	var after, shardsAfter map[string]any
	opsMustCtlJSON(t, feps, &after, "namespace", "list")
	opsMustCtlJSON(t, feps, &shardsAfter, "shard", "list")
	for what, pair := range map[string][2]map[string]any{"namespace list": {before, after}, "shard list": {shardsBefore, shardsAfter}} {
		b, _ := json.Marshal(pair[0])
		a, _ := json.Marshal(pair[1])
		if string(a) != string(b) {
			t.Fatalf("%s -o json differs after the rebuild:\nbefore %s\nafter  %s", what, b, a)
		}
	}
}
