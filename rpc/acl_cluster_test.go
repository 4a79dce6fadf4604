package rpc_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/prism/controlplane/fsm/fsmpb"
	"github.com/prism/controlplane/internal/server"
	"github.com/prism/controlplane/internal/testcluster"
	"github.com/prism/controlplane/rpc"
	"github.com/prism/controlplane/rpc/rpcpb"
)

// TestRevokedTokenFailsOnEveryNode: a revoked token is refused by every
// node of a 3-node cluster within a second of the revocation's commit,
// and a watch stream it opened on a follower ends with PermissionDenied.
func TestRevokedTokenFailsOnEveryNode(t *testing.T) {
	a := startACLCluster(t, 3)
	ctx := testcluster.Ctx(t, 30*time.Second)
	follower := dial(t, a.c.Endpoint(a.c.Follower()))
	// Every node knows the token before the revocation.
	for i := range a.c.Servers {
		cc := dial(t, a.c.Endpoint(i))
		testcluster.Eventually(t, 5*time.Second, func() error {
			_, err := rpcpb.NewNamespaceServiceClient(cc).Get(a.as(ctx, "owner"), &rpcpb.GetRequest{Name: "orders"})
			return err
		})
	}
	wctx, cancel := context.WithCancel(a.as(ctx, "owner"))
	defer cancel()
	w, err := rpcpb.NewWatchServiceClient(follower).Watch(wctx, &rpcpb.WatchRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Recv(); err != nil {
		t.Fatalf("watch before the revocation: %v", err)
	}
	me, err := rpcpb.NewAclServiceClient(a.cc).WhoAmI(a.as(ctx, "owner"), &rpcpb.WhoAmIRequest{})
	if err != nil || me.Principal != "team/orders" || me.Via != rpc.ViaToken {
		t.Fatalf("whoami: %+v, %v", me, err)
	}
	if _, err := rpcpb.NewAclServiceClient(a.cc).RevokeToken(a.as(ctx, "admin"), &rpcpb.RevokeTokenRequest{Id: me.TokenId}); err != nil {
		t.Fatal(err)
	}
	revoked := time.Now()
	for i := range a.c.Servers {
		cc := dial(t, a.c.Endpoint(i))
		testcluster.Eventually(t, time.Second, func() error {
			_, err := rpcpb.NewNamespaceServiceClient(cc).Get(a.as(ctx, "owner"), &rpcpb.GetRequest{Name: "orders", Consistency: rpcpb.Consistency_CONSISTENCY_STALE})
			if status.Code(err) != codes.Unauthenticated {
				return fmt.Errorf("node %d still answers the revoked token: %v", i, err)
			}
			return nil
		})
	}
	for {
		_, err := w.Recv()
		if err == nil {
			continue
		}
		if status.Code(err) != codes.PermissionDenied {
			t.Fatalf("watch ended with %v, want PermissionDenied", err)
		}
		break
	}
	if d := time.Since(revoked); d > 2*time.Second {
		t.Fatalf("the watch ended %v after the revocation", d)
	}
}

// TestShardWatchesOnlyItself: a shard's watch sees its own assignments
// and itself only, and asking for another shard's is denied; a team's
// watch sees only the namespaces it owns or consumes.
func TestShardWatchesOnlyItself(t *testing.T) {
	a := startACLCluster(t, 1)
	ctx := testcluster.Ctx(t, 20*time.Second)
	other := nsSpec("ledger")
	other.Access = &fsmpb.Access{Owners: []*fsmpb.Owner{{Kind: "team", Name: "payments"}}}
	if _, err := rpcpb.NewNamespaceServiceClient(a.cc).Apply(a.as(ctx, "other-team"), &rpcpb.ApplyRequest{Spec: other}); err != nil {
		t.Fatal(err)
	}
	if _, err := rpcpb.NewNamespaceServiceClient(a.cc).Apply(a.as(ctx, "owner"), &rpcpb.ApplyRequest{Spec: other}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("team/orders changes team/payments' namespace: %v", err)
	}
	seen := func(identity string, req *rpcpb.WatchRequest) (map[string]bool, error) {
		w, err := rpcpb.NewWatchServiceClient(a.cc).Watch(a.as(ctx, identity), req)
		if err != nil {
			return nil, err
		}
		names := map[string]bool{}
		for {
			r, err := w.Recv()
			if err != nil {
				return nil, err
			}
			for _, e := range r.Events {
				if e.Type == "bookmark" {
					return names, nil
				}
				names[e.Kind+"/"+e.Name] = true
			}
		}
	}
	got, err := seen("shard-s1", &rpcpb.WatchRequest{})
	if err != nil || len(got) != 2 || !got["namespace/orders"] || !got["shard/s1"] {
		t.Fatalf("shard s1 sees %v (%v), want namespace/orders and shard/s1", got, err)
	}
	if _, err := seen("shard-s1", &rpcpb.WatchRequest{ShardId: "s2"}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("s1 watching s2: %v", err)
	}
	if got, err := seen("other-team", &rpcpb.WatchRequest{}); err != nil || len(got) != 1 || !got["namespace/ledger"] {
		t.Fatalf("team/payments sees %v (%v)", got, err)
	}
	if got, err := seen("consumer", &rpcpb.WatchRequest{}); err != nil || len(got) != 1 || !got["namespace/orders"] {
		t.Fatalf("service/billing sees %v (%v)", got, err)
	}
	if got, err := seen("viewer", &rpcpb.WatchRequest{}); err != nil || len(got) != 3 {
		t.Fatalf("viewer sees %v (%v)", got, err)
	}
	list, err := rpcpb.NewNamespaceServiceClient(a.cc).List(a.as(ctx, "other-team"), &rpcpb.ListRequest{})
	if err != nil || len(list.Namespaces) != 1 || list.Namespaces[0].Spec.Name != "ledger" {
		t.Fatalf("team/payments lists %v (%v)", list.GetNamespaces(), err)
	}
	if _, err := rpcpb.NewShardServiceClient(a.cc).Heartbeat(a.as(ctx, "shard-s1"), &rpcpb.HeartbeatRequest{ShardId: "s2"}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("s1 heartbeats for s2: %v", err)
	}
}

// TestHTTPDiscoveryTakesTokens: GET /v1/namespaces/{name} answers a
// consumer's token, refuses another team's (403) and no token (401);
// /healthz stays open and /metrics needs an operator.
func TestHTTPDiscoveryTakesTokens(t *testing.T) {
	a := startACLCluster(t, 1)
	base := "http://" + a.c.Servers[0].HTTPAddr
	get := func(path, identity string) int {
		req, _ := http.NewRequest(http.MethodGet, base+path, nil)
		if tok := a.tokens[identity]; tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode >= 400 {
			var body map[string]any
			_ = json.NewDecoder(resp.Body).Decode(&body)
			t.Logf("%s as %s: %d %v", path, identity, resp.StatusCode, body)
		}
		return resp.StatusCode
	}
	for _, c := range []struct {
		path, identity string
		want           int
	}{
		{"/v1/namespaces/orders", "consumer", 200},
		{"/v1/namespaces/orders", "owner", 200},
		{"/v1/namespaces/orders", "other-team", 403},
		{"/v1/namespaces/orders", "anonymous", 401},
		{"/healthz", "anonymous", 200},
		{"/readyz", "anonymous", 200},
		{"/metrics", "anonymous", 401},
		{"/metrics", "viewer", 403},
		{"/metrics", "operator", 200},
	} {
		if got := get(c.path, c.identity); got != c.want {
			t.Errorf("GET %s as %s: %d, want %d", c.path, c.identity, got, c.want)
		}
	}
}

// TestRateLimitIsPerToken: a flood from one token is limited while
// another token's calls are served.
func TestRateLimitIsPerToken(t *testing.T) {
	c := testcluster.StartServers(t, 1, func(_ int, cfg *server.Config) {
		cfg.RPC = rpc.DefaultConfig()
		cfg.RPC.ACL = true
		cfg.RPC.RateLimits.Read = 5
	}, nil)
	a := &aclCluster{c: c, cc: dial(t, c.Endpoint(0)), tokens: map[string]string{}}
	ctx := testcluster.Ctx(t, 20*time.Second)
	boot, err := rpcpb.NewAclServiceClient(a.cc).Bootstrap(ctx, &rpcpb.AclBootstrapRequest{})
	if err != nil {
		t.Fatal(err)
	}
	a.tokens["admin"] = boot.Secret
	for _, name := range []string{"noisy", "quiet"} {
		r, err := rpcpb.NewAclServiceClient(a.cc).CreateToken(a.as(ctx, "admin"), &rpcpb.CreateTokenRequest{Kind: "role", Name: "viewer"})
		if err != nil {
			t.Fatal(err)
		}
		a.tokens[name] = r.Secret
	}
	// Two tokens of one role are one principal (role/viewer): limits are
	// per identity. Give the quiet one a different identity.
	r, err := rpcpb.NewAclServiceClient(a.cc).CreateToken(a.as(ctx, "admin"), &rpcpb.CreateTokenRequest{Kind: "team", Name: "quiet"})
	if err != nil {
		t.Fatal(err)
	}
	a.tokens["quiet"] = r.Secret
	limited := 0
	for i := 0; i < 50; i++ {
		_, err := rpcpb.NewClusterServiceClient(a.cc).Status(a.as(ctx, "noisy"), &rpcpb.StatusRequest{})
		if status.Code(err) == codes.ResourceExhausted {
			limited++
		}
	}
	if limited == 0 {
		t.Fatal("50 reads at once from one token were not limited")
	}
	if _, err := rpcpb.NewNamespaceServiceClient(a.cc).List(a.as(ctx, "quiet"), &rpcpb.ListRequest{}); err != nil {
		t.Fatalf("another token during the flood: %v", err)
	}
}

// TestAuditLog: denials, reads and token changes are written to the
// audit log as JSON lines naming the principal; no secret ever is.
func TestAuditLog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	c := testcluster.StartServers(t, 1, func(_ int, cfg *server.Config) {
		cfg.RPC = rpc.DefaultConfig()
		cfg.RPC.ACL = true
		cfg.AuditLog = path
	}, nil)
	a := &aclCluster{c: c, cc: dial(t, c.Endpoint(0)), tokens: map[string]string{}}
	ctx := testcluster.Ctx(t, 20*time.Second)
	boot, err := rpcpb.NewAclServiceClient(a.cc).Bootstrap(ctx, &rpcpb.AclBootstrapRequest{})
	if err != nil {
		t.Fatal(err)
	}
	a.tokens["admin"] = boot.Secret
	team, err := rpcpb.NewAclServiceClient(a.cc).CreateToken(a.as(ctx, "admin"), &rpcpb.CreateTokenRequest{Kind: "team", Name: "orders"})
	if err != nil {
		t.Fatal(err)
	}
	a.tokens["team"] = team.Secret
	if _, err := rpcpb.NewClusterServiceClient(a.cc).Status(a.as(ctx, "team"), &rpcpb.StatusRequest{}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("team reads cluster status: %v", err)
	}
	if _, err := rpcpb.NewNamespaceServiceClient(a.cc).List(a.as(ctx, "team"), &rpcpb.ListRequest{}); err != nil {
		t.Fatal(err)
	}
	type line struct {
		Principal, TokenID, Method, Decision, Code string
	}
	var lines []line
	testcluster.Eventually(t, 5*time.Second, func() error {
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, s := range []string{boot.Secret, team.Secret} {
			if strings.Contains(string(b), s) {
				t.Fatal("a token secret in the audit log")
			}
		}
		lines = nil
		for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			var e struct {
				Principal string `json:"principal"`
				TokenID   string `json:"token_id"`
				Method    string `json:"method"`
				Decision  string `json:"decision"`
				Code      string `json:"code"`
			}
			if err := json.Unmarshal([]byte(l), &e); err != nil {
				return fmt.Errorf("line %q: %v", l, err)
			}
			lines = append(lines, line{e.Principal, e.TokenID, e.Method, e.Decision, e.Code})
		}
		want := []line{
			{"anonymous", "", "/prism.v1.AclService/Bootstrap", "allow", "OK"},
			{"role/admin", boot.Token.Id, "/prism.v1.AclService/CreateToken", "allow", "OK"},
			{"team/orders", team.Token.Id, "/prism.v1.ClusterService/Status", "deny", "PermissionDenied"},
			{"team/orders", team.Token.Id, "/prism.v1.NamespaceService/List", "allow", "OK"},
		}
		for _, w := range want {
			if !slices.Contains(lines, w) {
				return fmt.Errorf("no %+v in %+v", w, lines)
			}
		}
		return nil
	})
}
