package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

type agentProc struct {
	cmd  *exec.Cmd
	http string
	log  *bytes.Buffer
}

// startAgent starts prism-shard for shard id; extra flags come last.
func startAgent(t *testing.T, id, controlPlane string, extra ...string) *agentProc {
	t.Helper()
	a := &agentProc{http: fmt.Sprintf("127.0.0.1:%d", freePort(t)), log: &bytes.Buffer{}}
	a.cmd = exec.Command(filepath.Join(binDir, "prism-shard"), append([]string{"--id", id, "--control-plane", controlPlane,
		"--endpoint", "10.0.0.9:8980", "--backends", "postgres,kafka", "--capacity", "read_rps=50000,write_rps=10000,data_gb=1000",
		"--http-addr", a.http, "--heartbeat-interval", "200ms", "--request-timeout", "1s"}, extra...)...)
	a.cmd.Stdout, a.cmd.Stderr = a.log, a.log
	if err := a.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if a.cmd.ProcessState == nil {
			_ = a.cmd.Process.Kill()
			_ = a.cmd.Wait()
		}
		checkNoRace(t, "prism-shard "+id, a.log)
		if t.Failed() {
			t.Logf("--- log of prism-shard %s ---\n%s", id, a.log.String())
		}
	})
	return a
}

type assignmentsJSON struct {
	ShardID    string `json:"shard_id"`
	Revision   int64  `json:"revision"`
	Namespaces []struct {
		Name     string `json:"name"`
		Revision int64  `json:"revision"`
	} `json:"namespaces"`
}

// agentConverged: GET /assignments equals `namespace list --shard`.
func agentConverged(t *testing.T, eps string, a *agentProc, shard string) error {
	var list struct {
		Namespaces []struct {
			Name     string `json:"name"`
			Revision int64  `json:"revision"`
		} `json:"namespaces"`
	}
	if err := opsCtlJSON(t, eps, &list, "namespace", "list", "--shard", shard); err != nil {
		return err
	}
	resp, err := http.Get("http://" + a.http + "/assignments")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var got assignmentsJSON
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		return err
	}
	var want, have []string
	for _, ns := range list.Namespaces {
		want = append(want, fmt.Sprintf("%s@%d", ns.Name, ns.Revision))
	}
	for _, ns := range got.Namespaces {
		have = append(have, fmt.Sprintf("%s@%d", ns.Name, ns.Revision))
	}
	if got.ShardID != shard || !slices.Equal(want, have) {
		return fmt.Errorf("agent serves %v (shard %q, revision %d); the cluster assigns %v", have, got.ShardID, got.Revision, want)
	}
	return nil
}

// prism-shard as a user runs it: it registers, keeps its session, serves
// its assignments, converges again after the node it streams from is
// killed, and its shard goes suspect → down when it stops and up when it
// returns.
func TestShardAgentProcess(t *testing.T) {
	needBinaries(t)
	t.Setenv("PRISMD_SHARD_SUSPECT_AFTER", "1s")
	t.Setenv("PRISMD_SHARD_DOWN_AFTER", "2s")
	c := startCluster(t, 3)
	eps := c.endpoints()
	// The agent prefers its first endpoint: node2, killed below.
	a := startAgent(t, "sh-1", c.nodes[1].grpc+","+c.nodes[0].grpc+","+c.nodes[2].grpc)
	expect := func(state string, d time.Duration) {
		t.Helper()
		opsEventually(t, d, "shard sh-1 "+state, func() error {
			var sh struct {
				State string `json:"state"`
			}
			if err := opsCtlJSON(t, eps, &sh, "shard", "get", "sh-1"); err != nil {
				return err
			}
			if sh.State != state {
				return fmt.Errorf("state %q", sh.State)
			}
			return nil
		})
	}
	expect("up", 15*time.Second)
	mustCtl(t, eps, "namespace", "apply", "-f", "../examples/user-profiles.yaml")
	mustCtl(t, eps, "namespace", "apply", "-f", "../examples/colocated.yaml")
	mustCtl(t, eps, "placement", "assign", "user-profiles", "sh-1")
	opsEventually(t, 15*time.Second, "agent converged", func() error { return agentConverged(t, eps, a, "sh-1") })

	_ = c.nodes[1].cmd.Process.Kill()
	_ = c.nodes[1].cmd.Wait()
	live := c.nodes[0].grpc + "," + c.nodes[2].grpc
	mustCtl(t, live, "placement", "assign", "user-preferences", "sh-1")
	mustCtl(t, live, "placement", "assign", "user-profiles", "")
	opsEventually(t, 20*time.Second, "agent converged after its node died", func() error { return agentConverged(t, live, a, "sh-1") })

	_ = a.cmd.Process.Kill()
	_ = a.cmd.Wait()
	eps = live
	expect("suspect", 10*time.Second)
	expect("down", 10*time.Second)
	a = startAgent(t, "sh-1", live)
	expect("up", 10*time.Second)
	opsEventually(t, 15*time.Second, "restarted agent converged", func() error { return agentConverged(t, live, a, "sh-1") })
}
