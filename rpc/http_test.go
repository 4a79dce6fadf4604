package rpc_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prism/controlplane/fsm/fsmpb"
	"github.com/prism/controlplane/internal/testcluster"
	"github.com/prism/controlplane/rpc/rpcpb"
)

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestHTTPEndpoints(t *testing.T) {
	c := testcluster.Start(t, 3)
	cl := c.Client()
	_, err := cl.Apply(testcluster.Ctx(t, 10*time.Second), &rpcpb.ApplyRequest{Spec: &fsmpb.NamespaceSpec{
		Name: "user-profiles", Abstraction: "keyvalue", Backend: "postgres",
		Capacity: &fsmpb.Capacity{EstimatedReadRps: 5},
	}})
	if err != nil {
		t.Fatal(err)
	}
	var all string
	for _, s := range c.Servers {
		base := "http://" + s.HTTPAddr
		if code, _ := httpGet(t, base+"/healthz"); code != 200 {
			t.Fatalf("healthz %d", code)
		}
		testcluster.Eventually(t, 5*time.Second, func() error {
			if code, body := httpGet(t, base+"/readyz"); code != 200 {
				return &httpErr{code, body}
			}
			return nil
		})
		code, body := httpGet(t, base+"/v1/namespaces/user-profiles")
		var v map[string]any
		if code != 200 || json.Unmarshal([]byte(body), &v) != nil || v["name"] != "user-profiles" || v["create_revision"] == nil {
			t.Fatalf("discovery: %d %s", code, body)
		}
		code, body = httpGet(t, base+"/v1/namespaces/nope")
		if code != 404 || !strings.Contains(body, `"error"`) {
			t.Fatalf("absent namespace: %d %s", code, body)
		}
		_, metrics := httpGet(t, base+"/metrics")
		all += metrics
		for _, m := range []string{"prism_raft_term", "prism_raft_commit_index", "prism_raft_applied_index", "prism_raft_state", "prism_raft_apply_seconds"} {
			if !strings.Contains(metrics, m) {
				t.Errorf("metrics lack %s", m)
			}
		}
	}
	// Requests by method and code, on the node that served the apply.
	if !strings.Contains(all, `prism_grpc_requests_total{code="OK",method="/prism.v1.NamespaceService/Apply"}`) {
		t.Error("no request counter for NamespaceService/Apply")
	}
	// Every node reports the same cluster id.
	ids := map[string]bool{}
	for _, s := range c.Servers {
		testcluster.Eventually(t, 5*time.Second, func() error {
			if s.Node.Status().ClusterID == "" {
				return &httpErr{0, "no cluster id yet"}
			}
			return nil
		})
		ids[s.Node.Status().ClusterID] = true
	}
	if len(ids) != 1 {
		t.Fatalf("nodes disagree on the cluster id: %v", ids)
	}
}

type httpErr struct {
	code int
	body string
}

func (e *httpErr) Error() string { return e.body }
