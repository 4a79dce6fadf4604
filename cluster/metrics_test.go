package cluster_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prism/controlplane/internal/testcluster"
)

func scrape(addr string) (string, error) {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET /metrics: %s: %s", resp.Status, b)
	}
	return string(b), nil
}

// hasMetric reports whether the exposition text has a sample named name.
func hasMetric(body, name string) bool {
	for _, line := range strings.Split(body, "\n") {
		if rest, ok := strings.CutPrefix(line, name); ok && (strings.HasPrefix(rest, "{") || strings.HasPrefix(rest, " ")) {
			return true
		}
	}
	return false
}

// raft's, raft-boltdb's and memberlist's own metrics reach every node's /metrics, also
// when several clusters (one registry per node) share the process.
func TestLibraryMetricsExported(t *testing.T) {
	first := testcluster.Start(t, 1)
	first.WaitLeader(10 * time.Second)
	c := testcluster.Start(t, 3)
	cl := c.Client()
	defer cl.Close()
	mustApply(t, cl, spec("metered", 1))
	want := []string{
		"raft_commitTime",                    // leader: an entry committed
		"raft_fsm_applyBatch",                // every node: entries applied to the FSM
		"raft_apply",                         // leader: raft.Apply calls
		"raft_replication_appendEntries_rpc", // leader: replication to followers
		"raft_boltdb_storeLogs",              // raft-boltdb, through armon/go-metrics
		"memberlist_probeNode",               // memberlist's failure detector
		"prism_raft_term",                    // ours, still there
		"go_goroutines",                      // the Go collector
	}
	for i, s := range append(first.Servers, c.Servers...) {
		testcluster.Eventually(t, 10*time.Second, func() error {
			body, err := scrape(s.HTTPAddr)
			if err != nil {
				return err
			}
			for _, name := range want {
				if !hasMetric(body, name) {
					return fmt.Errorf("server %d: /metrics has no %s", i, name)
				}
			}
			return nil
		})
	}
}
