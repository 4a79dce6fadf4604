package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/prism/controlplane/rpc/rpcpb"
)

// ordersFile is a namespace owned by team orders and consumed by service
// billing.
const ordersFile = `namespace: orders
abstraction: keyvalue
backend: postgres
capacity:
  estimated_read_rps: 100
access:
  owners:
    - team: orders
  consumers:
    - service: billing (read-only)
`

// grpcAs dials addr over TLS with the certificate stem in dir.
func grpcAs(t *testing.T, addr, dir, stem string) *grpc.ClientConn {
	t.Helper()
	pair, err := tls.LoadX509KeyPair(filepath.Join(dir, stem+".pem"), filepath.Join(dir, stem+"-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pem, err := os.ReadFile(filepath.Join(dir, "prism-ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: pool, Certificates: []tls.Certificate{pair}})))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}

func bearer(ctx context.Context, token string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
}

// TestACLJourney: a secured 3-node cluster (TLS and --acl) of the built
// binaries, driven with prismctl as its users would.
func TestACLJourney(t *testing.T) {
	needBinaries(t)
	dir := certsDir(t, 3, "alice", "shard/s1")
	c := startClusterWith(t, 3, append(tlsFlags(dir), "--acl", "--rate-read", "200")...)
	all := c.endpoints()
	alice := clientFlags(dir, "user-alice") // a certificate only: an identity without rights

	// Bootstrap once; the second attempt is refused.
	var boot struct{ ID, Token string }
	if err := json.Unmarshal([]byte(mustCtl(t, all, append(alice, "acl", "bootstrap", "-o", "json")...)), &boot); err != nil || boot.Token == "" || boot.ID == "" {
		t.Fatalf("bootstrap: %+v %v", boot, err)
	}
	if _, errs, code := ctl(t, all, append(alice, "acl", "bootstrap")...); code != 5 {
		t.Fatalf("second bootstrap: exit %d: %s", code, errs)
	}
	admin := append(slices.Clone(alice), "--token", boot.Token)
	token := func(subject ...string) (id, secret string) {
		t.Helper()
		var tok struct{ ID, Token string }
		out := mustCtl(t, all, append(append(slices.Clone(admin), "acl", "token", "create", "-o", "json"), subject...)...)
		if err := json.Unmarshal([]byte(out), &tok); err != nil {
			t.Fatalf("token create %v: %v: %s", subject, err, out)
		}
		return tok.ID, tok.Token
	}
	_, orders := token("--team", "orders")
	paymentsID, payments := token("--team", "payments")
	_, billing := token("--service", "billing")
	as := func(tok string) []string { return append(slices.Clone(alice), "--token", tok) }
	file := filepath.Join(t.TempDir(), "orders.yaml")
	if err := os.WriteFile(file, []byte(ordersFile), 0o600); err != nil {
		t.Fatal(err)
	}

	// No token and a certificate without rights: denied, in words.
	if _, errs, code := ctl(t, all, append(alice, "namespace", "apply", "-f", file)...); code != 7 || !strings.Contains(errs, "permission denied") {
		t.Fatalf("alice applies: exit %d: %s", code, errs)
	}
	// Another team may not create a namespace that it does not own.
	if _, errs, code := ctl(t, all, append(as(payments), "namespace", "apply", "-f", file)...); code != 7 || !strings.Contains(errs, "owners") {
		t.Fatalf("team payments creates orders: exit %d: %s", code, errs)
	}
	// Its owner may, through any node.
	mustCtl(t, c.nodes[2].grpc, append(as(orders), "namespace", "apply", "-f", file)...)
	// The consumer resolves it, by prismctl and over HTTP, and cannot change it.
	if out := mustCtl(t, all, append(as(billing), "resolve", "orders", "-o", "json")...); !strings.Contains(out, `"namespace": "orders"`) && !strings.Contains(out, `"namespace":"orders"`) {
		t.Fatalf("consumer resolves: %s", out)
	}
	if _, errs, code := ctl(t, all, append(as(billing), "namespace", "delete", "orders")...); code != 7 {
		t.Fatalf("consumer deletes: exit %d: %s", code, errs)
	}
	pem, _ := os.ReadFile(filepath.Join(dir, "prism-ca.pem"))
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	hc := httpsClient(&tls.Config{RootCAs: pool})
	for _, tc := range []struct {
		token string
		want  int
	}{{billing, 200}, {payments, 403}, {"", 401}} {
		req, _ := http.NewRequest(http.MethodGet, "https://"+c.nodes[1].http+"/v1/namespaces/orders", nil)
		if tc.token != "" {
			req.Header.Set("Authorization", "Bearer "+tc.token)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("discovery with token %v: %d, want %d", tc.token != "", resp.StatusCode, tc.want)
		}
	}
	// Lists are filtered per identity: the owner sees orders, another team does not.
	out := mustCtl(t, all, append(as(orders), "namespace", "list", "-o", "json")...)
	if !strings.Contains(out, `"orders"`) {
		t.Fatalf("owner lists: %s", out)
	}
	if out := mustCtl(t, all, append(as(payments), "namespace", "list", "-o", "json")...); strings.Contains(out, `"orders"`) {
		t.Fatalf("team payments sees orders: %s", out)
	}

	// A shard registers and heartbeats only as itself: its certificate
	// (shard/s1) may not register s2; as s1 it keeps its session.
	s1 := clientFlags(dir, "shard-s1")
	if _, errs, code := ctl(t, all, append(s1, "shard", "register", "--id", "s2", "--endpoint", "10.0.0.9:1", "--backends", "postgres")...); code != 7 {
		t.Fatalf("s1 registers s2: exit %d: %s", code, errs)
	}
	startAgent(t, "s1", all, s1...)
	waitShardUp(t, all, admin, "s1")
	cc := grpcAs(t, c.nodes[0].grpc, dir, "shard-s1")
	ctx, cancel := contextTimeout(10 * time.Second)
	defer cancel()
	if _, err := rpcpb.NewShardServiceClient(cc).Heartbeat(ctx, &rpcpb.HeartbeatRequest{ShardId: "s2"}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("s1 heartbeats as s2: %v", err)
	}
	// A client certificate of the same CA never reaches raft or Internal.
	if err := dialRaftPort(t, c.nodes[1].raft, dir, "user-alice"); status.Code(err) != codes.Unavailable {
		t.Fatalf("alice on the raft port: %v", err)
	}

	// A revoked token fails on every node within a second.
	conns := make([]*grpc.ClientConn, len(c.nodes))
	for i, nd := range c.nodes {
		conns[i] = grpcAs(t, nd.grpc, dir, "user-alice")
		if _, err := rpcpb.NewNamespaceServiceClient(conns[i]).List(bearer(ctx, payments), &rpcpb.ListRequest{}); err != nil {
			t.Fatalf("%s before the revocation: %v", nd.id, err)
		}
	}
	mustCtl(t, all, append(admin, "acl", "token", "revoke", paymentsID)...)
	revoked := time.Now()
	for i, nd := range c.nodes {
		for {
			_, err := rpcpb.NewNamespaceServiceClient(conns[i]).List(bearer(ctx, payments), &rpcpb.ListRequest{Consistency: rpcpb.Consistency_CONSISTENCY_STALE})
			if status.Code(err) == codes.Unauthenticated {
				break
			}
			if time.Since(revoked) > time.Second {
				t.Fatalf("%s still takes the revoked token %v after the revocation: %v", nd.id, time.Since(revoked), err)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}

	// A flood from one token is limited (--rate-read 200) while another
	// token is served.
	limited := 0
	for i := 0; i < 1000 && limited == 0; i++ {
		_, err := rpcpb.NewNamespaceServiceClient(conns[0]).List(bearer(ctx, orders), &rpcpb.ListRequest{Consistency: rpcpb.Consistency_CONSISTENCY_STALE})
		if status.Code(err) == codes.ResourceExhausted {
			limited++
		}
	}
	if limited == 0 {
		t.Fatal("1,000 reads from one token were never limited")
	}
	if _, err := rpcpb.NewNamespaceServiceClient(conns[0]).Get(bearer(ctx, billing), &rpcpb.GetRequest{Name: "orders", Consistency: rpcpb.Consistency_CONSISTENCY_STALE}); err != nil {
		t.Fatalf("another token during the flood: %v", err)
	}
	// whoami says who a call is.
	var me struct{ Principal, Via string }
	if err := json.Unmarshal([]byte(mustCtl(t, all, append(as(billing), "acl", "whoami", "-o", "json")...)), &me); err != nil || me.Principal != "service/billing" || me.Via != "token" {
		t.Fatalf("whoami: %+v %v", me, err)
	}
}
