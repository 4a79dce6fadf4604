package main

import (
	"context"
	"encoding/json"
	"net"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/prism/controlplane/rpc/rpcpb"
)

const (
	fakeAdmin    = "admin-secret"  // a token the fake takes as role/admin
	fakeViewer   = "viewer-secret" // a token the fake takes as role/viewer
	fakeID       = "00112233445566778899aabbccddeeff"
	fakeOtherID  = "ffeeddccbbaa99887766554433221100"
	fakeCreated  = int64(1700000000) * int64(time.Second)
	fakeBootSecr = "boot-secret-1"
)

// fakeACL is an AclService that answers as a node with --acl would, by
// the authorization metadata of each call.
type fakeACL struct {
	rpcpb.UnimplementedAclServiceServer
	mu           sync.Mutex
	bootstrapped bool
	created      *rpcpb.CreateTokenRequest // the last one
}

func caller(ctx context.Context) string {
	md, _ := metadata.FromIncomingContext(ctx)
	if v := md.Get("authorization"); len(v) > 0 {
		return strings.TrimPrefix(v[0], "Bearer ")
	}
	return ""
}

// need answers as the server does: Unauthenticated without an identity
// or with an unknown token, PermissionDenied for too little a role.
func need(ctx context.Context, admin bool) error {
	switch caller(ctx) {
	case "":
		return status.Error(codes.Unauthenticated, "acl: unauthenticated: this call needs a client certificate or a token (--token, PRISM_TOKEN)")
	case fakeAdmin:
		return nil
	case fakeViewer:
		if !admin {
			return nil
		}
		return status.Error(codes.PermissionDenied, "acl: permission denied: role/viewer does not have the admin role")
	}
	return status.Error(codes.Unauthenticated, "acl: unauthenticated: unknown, revoked or expired token")
}

func (f *fakeACL) Bootstrap(context.Context, *rpcpb.AclBootstrapRequest) (*rpcpb.TokenSecretResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.bootstrapped {
		return nil, status.Error(codes.FailedPrecondition, "acl: bootstrap done already")
	}
	f.bootstrapped = true
	return &rpcpb.TokenSecretResponse{Secret: fakeBootSecr, Token: &rpcpb.TokenInfo{
		Id: fakeID, Kind: "role", Name: "admin", Description: "bootstrap", CreatedUnixNano: fakeCreated, CreatedBy: "bootstrap"}}, nil
}

func (f *fakeACL) CreateToken(ctx context.Context, req *rpcpb.CreateTokenRequest) (*rpcpb.TokenSecretResponse, error) {
	if err := need(ctx, true); err != nil {
		return nil, err
	}
	f.mu.Lock()
	f.created = req
	f.mu.Unlock()
	info := &rpcpb.TokenInfo{Id: fakeOtherID, Kind: req.Kind, Name: req.Name, Description: req.Description,
		CreatedUnixNano: fakeCreated, CreatedBy: "role/admin"}
	if req.TtlSeconds > 0 {
		info.ExpiresUnixNano = fakeCreated + req.TtlSeconds*int64(time.Second)
	}
	return &rpcpb.TokenSecretResponse{Token: info, Secret: "created-secret"}, nil
}

func (f *fakeACL) ListTokens(ctx context.Context, _ *rpcpb.ListTokensRequest) (*rpcpb.ListTokensResponse, error) {
	if err := need(ctx, true); err != nil {
		return nil, err
	}
	return &rpcpb.ListTokensResponse{Tokens: []*rpcpb.TokenInfo{
		{Id: fakeID, Kind: "role", Name: "admin", CreatedUnixNano: fakeCreated, CreatedBy: "bootstrap"},
		{Id: fakeOtherID, Kind: "team", Name: "payments", CreatedUnixNano: fakeCreated, ExpiresUnixNano: fakeCreated + int64(time.Hour), CreatedBy: "role/admin"},
	}}, nil
}

func (f *fakeACL) RevokeToken(ctx context.Context, req *rpcpb.RevokeTokenRequest) (*rpcpb.RevokeTokenResponse, error) {
	if err := need(ctx, true); err != nil {
		return nil, err
	}
	if req.Id != fakeID {
		return nil, status.Error(codes.NotFound, "acl: token not found")
	}
	return &rpcpb.RevokeTokenResponse{}, nil
}

func (f *fakeACL) WhoAmI(ctx context.Context, _ *rpcpb.WhoAmIRequest) (*rpcpb.WhoAmIResponse, error) {
	if err := need(ctx, false); err != nil {
		return nil, err
	}
	r := &rpcpb.WhoAmIResponse{Principal: "role/admin", Kind: "role", Name: "admin", Via: "token", TokenId: fakeID, AclEnabled: true, NodeId: "node1"}
	if caller(ctx) == fakeViewer {
		r.Principal, r.Name, r.TokenId, r.ExpiresUnixNano = "role/viewer", "viewer", fakeOtherID, fakeCreated+int64(time.Hour)
	}
	return r, nil
}

func serveFakeACL(t *testing.T, f *fakeACL) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	rpcpb.RegisterAclServiceServer(srv, f)
	go srv.Serve(ln)
	t.Cleanup(srv.Stop)
	return ln.Addr().String()
}

// keys are the keys of a JSON object, sorted.
func keys(t *testing.T, b []byte) []string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("not a JSON object: %v\n%s", err, b)
	}
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func sorted(s ...string) []string {
	sort.Strings(s)
	return s
}

// The acl verbs against a fake AclService: JSON shapes, the secret
// printed once and only on stdout, the token sent from --token or
// PRISM_TOKEN, and errors a user can act on that never repeat a token.
func TestACLVerbs(t *testing.T) {
	if testing.Short() {
		t.Skip("builds prismctl")
	}
	f := &fakeACL{}
	x := ctl{t: t, bin: buildCtl(t), endpoints: serveFakeACL(t, f)}
	t.Setenv("PRISM_TOKEN", "")

	t.Run("bootstrap prints the secret once, on stdout", func(t *testing.T) {
		r := x.run("", "acl", "bootstrap")
		if r.code != 0 || r.stderr != "" {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
		if strings.Count(r.stdout, fakeBootSecr) != 1 || !strings.Contains(r.stdout, "export PRISM_TOKEN="+fakeBootSecr+"\n") ||
			!strings.Contains(r.stdout, "shown only this once") {
			t.Errorf("stdout:\n%s", r.stdout)
		}
		r = x.fails(5, "acl", "bootstrap")
		if !strings.Contains(r.stderr, "bootstrapped already") || !strings.Contains(r.stderr, "acl: bootstrap done already") {
			t.Errorf("second bootstrap: %s", r.stderr)
		}
	})

	t.Run("bootstrap -o json", func(t *testing.T) {
		f.mu.Lock()
		f.bootstrapped = false
		f.mu.Unlock()
		out := x.ok("-o", "json", "acl", "bootstrap")
		if got, want := keys(t, []byte(out)), sorted("id", "token", "kind", "name", "description", "created", "created_by"); !reflect.DeepEqual(got, want) {
			t.Errorf("keys %v, want %v (expires absent: never)", got, want)
		}
		var v tokenView
		_ = json.Unmarshal([]byte(out), &v)
		want := tokenView{ID: fakeID, Token: fakeBootSecr, Kind: "role", Name: "admin", Description: "bootstrap", Created: "2023-11-14T22:13:20Z", CreatedBy: "bootstrap"}
		if v != want {
			t.Errorf("got %+v, want %+v", v, want)
		}
	})

	t.Run("create -o json, with --ttl", func(t *testing.T) {
		out := x.ok("--token", fakeAdmin, "-o", "json", "acl", "token", "create", "--team", "payments", "--ttl", "24h", "--description", "ci deploys")
		if got, want := keys(t, []byte(out)), sorted("id", "token", "kind", "name", "description", "created", "expires", "created_by"); !reflect.DeepEqual(got, want) {
			t.Errorf("keys %v, want %v", got, want)
		}
		var v tokenView
		_ = json.Unmarshal([]byte(out), &v)
		if v.Token != "created-secret" || v.Kind != "team" || v.Name != "payments" || v.Expires != "2023-11-15T22:13:20Z" {
			t.Errorf("got %+v", v)
		}
		f.mu.Lock()
		req := f.created
		f.mu.Unlock()
		if req.Kind != "team" || req.Name != "payments" || req.TtlSeconds != 86400 || req.Description != "ci deploys" {
			t.Errorf("request %v", req)
		}
	})

	t.Run("list -o json has no secrets", func(t *testing.T) {
		t.Setenv("PRISM_TOKEN", fakeAdmin)
		out := x.ok("-o", "json", "acl", "token", "list")
		var vs []map[string]any
		if err := json.Unmarshal([]byte(out), &vs); err != nil || len(vs) != 2 {
			t.Fatalf("%v: %s", err, out)
		}
		for _, v := range vs {
			if _, ok := v["token"]; ok {
				t.Errorf("a listed token has a secret: %v", v)
			}
		}
		if vs[1]["expires"] != "2023-11-14T23:13:20Z" || vs[0]["expires"] != nil {
			t.Errorf("expires: %v", vs)
		}
		if table := x.ok("acl", "token", "list"); !strings.Contains(table, "payments") || !strings.Contains(table, "never") {
			t.Errorf("table:\n%s", table)
		}
	})

	t.Run("revoke", func(t *testing.T) {
		t.Setenv("PRISM_TOKEN", fakeAdmin)
		if out := x.ok("-o", "json", "acl", "token", "revoke", fakeID); strings.TrimSpace(out) != `{`+"\n"+`  "revoked": "`+fakeID+`"`+"\n}" {
			t.Errorf("revoke: %q", out)
		}
		if r := x.fails(4, "acl", "token", "revoke", fakeOtherID); !strings.Contains(r.stderr, `token "`+fakeOtherID+`" not found`) {
			t.Errorf("unknown id: %s", r.stderr)
		}
		// A secret passed by mistake is refused and not repeated.
		if r := x.fails(2, "acl", "token", "revoke", fakeAdmin); strings.Contains(r.stderr, fakeAdmin) {
			t.Errorf("the argument was echoed: %s", r.stderr)
		}
	})

	t.Run("whoami -o json, the flag over the environment", func(t *testing.T) {
		t.Setenv("PRISM_TOKEN", fakeAdmin)
		out := x.ok("--token", fakeViewer, "-o", "json", "acl", "whoami")
		if got, want := keys(t, []byte(out)), sorted("principal", "kind", "name", "via", "token_id", "expires", "acl_enabled", "node"); !reflect.DeepEqual(got, want) {
			t.Errorf("keys %v, want %v", got, want)
		}
		var v whoAmIView
		_ = json.Unmarshal([]byte(out), &v)
		want := whoAmIView{Principal: "role/viewer", Kind: "role", Name: "viewer", Via: "token", TokenID: fakeOtherID, Expires: "2023-11-14T23:13:20Z", ACLEnabled: true, Node: "node1"}
		if v != want {
			t.Errorf("got %+v, want %+v", v, want)
		}
		if out := x.ok("acl", "whoami"); !strings.Contains(out, "role/admin") {
			t.Errorf("PRISM_TOKEN not used:\n%s", out)
		}
	})

	t.Run("errors say what to do and never show a token", func(t *testing.T) {
		r := x.fails(7, "acl", "whoami")
		if !strings.Contains(r.stderr, "Error: not authenticated: pass a token (--token or PRISM_TOKEN) or a client certificate (--cert/--key); this call needs") {
			t.Errorf("no token: %s", r.stderr)
		}
		r = x.fails(7, "-o", "json", "--token", "wrong-secret", "acl", "token", "list")
		code, msg, _ := jsonErr(t, r.stderr)
		if code != "permission_denied" || !strings.Contains(msg, "the token (--token or PRISM_TOKEN) was refused") || strings.Contains(r.stderr, "wrong-secret") {
			t.Errorf("unknown token: %s", r.stderr)
		}
		t.Setenv("PRISM_TOKEN", fakeViewer)
		r = x.fails(7, "acl", "token", "create", "--role", "operator")
		if strings.TrimSpace(r.stderr) != "Error: permission denied: role/viewer does not have the admin role" {
			t.Errorf("viewer: %s", r.stderr)
		}
		if strings.Contains(r.stderr, fakeViewer) {
			t.Errorf("the token was shown: %s", r.stderr)
		}
	})
}

// acl token create takes exactly one subject, a known role and a
// positive whole-second --ttl; nothing is sent otherwise.
func TestTokenCreateFlags(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"--team", "a", "--user", "b"},
		{"--role", "admin", "--shard", "s1"},
		{"--team", ""},
		{"--role", "root"},
		{"--team", "a", "--ttl", "0s"},
		{"--team", "a", "--ttl", "-1h"},
		{"--team", "a", "--ttl", "1500ms"},
		{"--team", "a", "extra"},
	} {
		full := append([]string{"--endpoints", "127.0.0.1:1", "acl", "token", "create"}, args...)
		if got := run(full); got != classUsage.exitCode() {
			t.Errorf("acl token create %v: exit %d, want %d", args, got, classUsage.exitCode())
		}
	}
	for _, arg := range []string{"short", strings.Repeat("A", 32), strings.Repeat("0", 33)} {
		if got := run([]string{"--endpoints", "127.0.0.1:1", "acl", "token", "revoke", arg}); got != classUsage.exitCode() {
			t.Errorf("acl token revoke %q: exit %d, want usage", arg, got)
		}
	}
}

func TestShellQuote(t *testing.T) {
	for in, want := range map[string]string{"abc-123_x.Y": "abc-123_x.Y", "a b": "'a b'", "it's": `'it'\''s'`, "": "''"} {
		if got := shellQuote(in); got != want {
			t.Errorf("shellQuote(%q) = %q, want %q", in, got, want)
		}
	}
}
