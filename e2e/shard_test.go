package e2e

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

func TestShardAdministration(t *testing.T) {
	needBinaries(t)
	c := startCluster(t, 3)
	eps := c.endpoints()
	mustCtl(t, eps, "shard", "register", "--id", "pg-1", "--endpoint", "10.0.0.1:8980", "--backends", "postgres",
		"--capacity", "read_rps=50000,write_rps=10000,data_gb=1000", "--labels", "zone=z1")
	_, errs, code := ctl(t, eps, "shard", "register", "--id", "Bad!", "--endpoint", "nope", "--backends", "postgres")
	if code == 0 || !strings.Contains(errs, "id") || !strings.Contains(errs, "endpoints[0]") {
		t.Fatalf("invalid shard: exit %d: %s", code, errs)
	}
	mustCtl(t, eps, "namespace", "apply", "-f", "../examples/user-profiles.yaml")
	mustCtl(t, eps, "placement", "assign", "user-profiles", "pg-1")
	var sh struct {
		ID          string             `json:"id"`
		State       string             `json:"state"`
		Namespaces  []string           `json:"namespaces"`
		Utilization map[string]float64 `json:"utilization"`
	}
	out := mustCtl(t, c.nodes[2].grpc, "shard", "get", "pg-1", "-o", "json")
	if err := json.Unmarshal([]byte(out), &sh); err != nil {
		t.Fatal(err)
	}
	if sh.State != "up" || len(sh.Namespaces) != 1 || sh.Utilization["read"] != 0.1 {
		t.Fatalf("shard: %s", out)
	}
	out = mustCtl(t, eps, "namespace", "list", "--shard", "pg-1", "-o", "json")
	if !strings.Contains(out, `"shard_id": "pg-1"`) {
		t.Fatalf("list --shard: %s", out)
	}
	out = mustCtl(t, eps, "resolve", "user-profiles", "-o", "json")
	if !strings.Contains(out, `"shard_id": "pg-1"`) || !strings.Contains(out, "10.0.0.1:8980") {
		t.Fatalf("resolve: %s", out)
	}
	resp, err := http.Get("http://" + c.nodes[1].http + "/v1/namespaces/user-profiles")
	if err != nil {
		t.Fatal(err)
	}
	var disc struct {
		Name  string `json:"name"`
		Shard struct {
			ID        string   `json:"id"`
			Endpoints []string `json:"endpoints"`
		} `json:"shard"`
	}
	err = json.NewDecoder(resp.Body).Decode(&disc)
	resp.Body.Close()
	if err != nil || disc.Name != "user-profiles" || disc.Shard.ID != "pg-1" || len(disc.Shard.Endpoints) != 1 {
		t.Fatalf("discovery: %+v %v", disc, err)
	}
	mustCtl(t, eps, "shard", "drain", "pg-1")
	if _, errs, code := ctl(t, eps, "shard", "remove", "pg-1"); code == 0 || !strings.Contains(errs, "still serves") {
		t.Fatalf("removing a shard in use: exit %d: %s", code, errs)
	}
	mustCtl(t, eps, "placement", "assign", "user-profiles", "")
	mustCtl(t, eps, "shard", "remove", "pg-1")
	if _, _, code := ctl(t, eps, "shard", "get", "pg-1"); code == 0 {
		t.Fatal("removed shard still readable")
	}
}

func TestWatchLines(t *testing.T) {
	needBinaries(t)
	c := startCluster(t, 3)
	eps := c.endpoints()
	mustCtl(t, eps, "namespace", "apply", "-f", "../examples/user-profiles.yaml")
	out := mustCtl(t, c.nodes[1].grpc, "watch", "-o", "json", "--timeout", "2s", "--kind", "namespace")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var first, last struct {
		Type     string         `json:"type"`
		Revision int64          `json:"revision"`
		Kind     string         `json:"kind"`
		Name     string         `json:"name"`
		Object   map[string]any `json:"object"`
	}
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil || first.Type != "put" || first.Name != "user-profiles" || first.Object["backend"] != "postgres" {
		t.Fatalf("first line: %s (%v)", lines[0], err)
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &last); err != nil || last.Type != "bookmark" || last.Revision < first.Revision {
		t.Fatalf("last line: %s (%v)", lines[len(lines)-1], err)
	}
}
