package client

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/prism/controlplane/rpc/rpcpb"
)

// aclNode is a fake node: an AclService answering err (nil: success),
// a SnapshotService and a WatchService, and a record of the authorization
// metadata every call and stream arrived with.
type aclNode struct {
	rpcpb.UnimplementedAclServiceServer
	rpcpb.UnimplementedSnapshotServiceServer
	rpcpb.UnimplementedWatchServiceServer

	mu    sync.Mutex
	err   error
	calls int               // AclService calls
	auth  map[string]string // full method -> authorization seen ("-" when none)
}

func (n *aclNode) record(ctx context.Context, method string) {
	v := "-"
	if md, ok := metadata.FromIncomingContext(ctx); ok && len(md.Get("authorization")) > 0 {
		v = md.Get("authorization")[0]
	}
	n.mu.Lock()
	n.auth[method] = v
	n.mu.Unlock()
}

func (n *aclNode) seen(method string) string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.auth[method]
}

func (n *aclNode) answer() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.calls++
	return n.err
}

func (n *aclNode) count() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.calls
}

func (n *aclNode) Bootstrap(context.Context, *rpcpb.AclBootstrapRequest) (*rpcpb.TokenSecretResponse, error) {
	if err := n.answer(); err != nil {
		return nil, err
	}
	return &rpcpb.TokenSecretResponse{Token: &rpcpb.TokenInfo{Id: "00112233445566778899aabbccddeeff", Kind: "role", Name: "admin"}, Secret: "s3cret"}, nil
}

func (n *aclNode) CreateToken(_ context.Context, req *rpcpb.CreateTokenRequest) (*rpcpb.TokenSecretResponse, error) {
	if err := n.answer(); err != nil {
		return nil, err
	}
	return &rpcpb.TokenSecretResponse{Token: &rpcpb.TokenInfo{Id: "ffeeddccbbaa99887766554433221100", Kind: req.Kind, Name: req.Name}, Secret: "s3cret2"}, nil
}

func (n *aclNode) ListTokens(context.Context, *rpcpb.ListTokensRequest) (*rpcpb.ListTokensResponse, error) {
	if err := n.answer(); err != nil {
		return nil, err
	}
	return &rpcpb.ListTokensResponse{Tokens: []*rpcpb.TokenInfo{{Id: "00112233445566778899aabbccddeeff"}}}, nil
}

func (n *aclNode) RevokeToken(context.Context, *rpcpb.RevokeTokenRequest) (*rpcpb.RevokeTokenResponse, error) {
	return &rpcpb.RevokeTokenResponse{}, n.answer()
}

func (n *aclNode) WhoAmI(ctx context.Context, _ *rpcpb.WhoAmIRequest) (*rpcpb.WhoAmIResponse, error) {
	if err := n.answer(); err != nil {
		return nil, err
	}
	return &rpcpb.WhoAmIResponse{Principal: "role/admin", Via: "token"}, nil
}

func (n *aclNode) Save(_ *rpcpb.SnapshotSaveRequest, st grpc.ServerStreamingServer[rpcpb.SnapshotChunk]) error {
	return st.Send(&rpcpb.SnapshotChunk{Data: []byte("snap")})
}

// Watches answers the first watch created with one bookmark, then holds
// the stream open.
func (n *aclNode) Watches(st grpc.BidiStreamingServer[rpcpb.WatchesRequest, rpcpb.WatchesResponse]) error {
	req, err := st.Recv()
	if err != nil {
		return err
	}
	id := req.GetCreate().GetWatchId()
	if err := st.Send(&rpcpb.WatchesResponse{WatchIds: []int64{id}, Events: []*rpcpb.WatchEvent{{Type: "bookmark", Revision: 1}}}); err != nil {
		return err
	}
	<-st.Context().Done()
	return nil
}

func serveACL(t *testing.T, n *aclNode) string {
	t.Helper()
	n.auth = map[string]string{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(
		grpc.UnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			n.record(ctx, info.FullMethod)
			return h(ctx, req)
		}),
		grpc.StreamInterceptor(func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			n.record(ss.Context(), info.FullMethod)
			return h(srv, ss)
		}))
	rpcpb.RegisterAclServiceServer(srv, n)
	rpcpb.RegisterSnapshotServiceServer(srv, n)
	rpcpb.RegisterWatchServiceServer(srv, n)
	go srv.Serve(ln)
	t.Cleanup(srv.Stop)
	return ln.Addr().String()
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// Config.Token goes with every unary call and every stream (the watch
// stream and the snapshot stream included), over plaintext too; without
// one no authorization is sent.
func TestTokenSentOnEveryCall(t *testing.T) {
	for _, tc := range []struct{ token, want string }{{" tok-123 \n", "Bearer tok-123"}, {"", "-"}} {
		n := &aclNode{}
		c, err := New(Config{Endpoints: []string{serveACL(t, n)}, Token: tc.token})
		if err != nil {
			t.Fatal(err)
		}
		ctx := testCtx(t)
		if _, err := c.WhoAmI(ctx); err != nil {
			t.Fatalf("WhoAmI: %v", err)
		}
		if _, err := c.SaveSnapshot(ctx); err != nil {
			t.Fatalf("SaveSnapshot: %v", err)
		}
		stop := errors.New("got the bookmark")
		if err := c.Watch(ctx, &rpcpb.WatchRequest{FromRevision: 1}, func(*rpcpb.WatchEvent) error { return stop }); !errors.Is(err, stop) {
			t.Fatalf("Watch: %v", err)
		}
		c.Close()
		for _, m := range []string{
			rpcpb.AclService_WhoAmI_FullMethodName,
			rpcpb.SnapshotService_Save_FullMethodName,
			rpcpb.WatchService_Watches_FullMethodName,
		} {
			if got := n.seen(m); got != tc.want {
				t.Errorf("token %q: %s carried authorization %q, want %q", tc.token, m, got, tc.want)
			}
		}
	}
}

// A token a header cannot carry is refused by New, and the error does
// not repeat it.
func TestBadTokenRefused(t *testing.T) {
	for _, tok := range []string{"two words", "tab\there", "é-secret", "nl\ninside"} {
		_, err := New(Config{Endpoints: []string{"127.0.0.1:1"}, Token: tok})
		if !errors.Is(err, ErrBadToken) {
			t.Errorf("token %q: %v, want ErrBadToken", tok, err)
		}
	}
}

// A refused identity is final: whatever the kind of call (read,
// idempotent or not), it is sent to one node only and its code comes
// back as it is.
func TestIdentityRefusalsNotRetried(t *testing.T) {
	calls := map[string]func(context.Context, *Client) error{
		"WhoAmI (read)":     func(ctx context.Context, c *Client) error { _, err := c.WhoAmI(ctx); return err },
		"ListTokens (read)": func(ctx context.Context, c *Client) error { _, err := c.ListTokens(ctx); return err },
		"RevokeToken (idempot.)": func(ctx context.Context, c *Client) error {
			return c.RevokeToken(ctx, "00112233445566778899aabbccddeeff")
		},
		"CreateToken (write)": func(ctx context.Context, c *Client) error {
			_, err := c.CreateToken(ctx, &rpcpb.CreateTokenRequest{Kind: "team", Name: "t"})
			return err
		},
		"AclBootstrap (write)": func(ctx context.Context, c *Client) error { _, err := c.AclBootstrap(ctx); return err },
	}
	for _, code := range []codes.Code{codes.Unauthenticated, codes.PermissionDenied} {
		for name, call := range calls {
			a, b := &aclNode{err: status.Error(code, "no")}, &aclNode{err: status.Error(code, "no")}
			c, err := New(Config{Endpoints: []string{serveACL(t, a), serveACL(t, b)}})
			if err != nil {
				t.Fatal(err)
			}
			err = call(testCtx(t), c)
			c.Close()
			if status.Code(err) != code || Reason(err) != "" {
				t.Errorf("%s, %s: got %v", name, code, err)
			}
			if n := a.count() + b.count(); n != 1 {
				t.Errorf("%s, %s: sent %d times, want once", name, code, n)
			}
		}
	}
}

// Minting a token is not resent once an attempt may have reached a node
// (each attempt would mint another secret): the caller learns the outcome
// is unknown. Revoking is resent.
func TestMintNotResentRevokeIs(t *testing.T) {
	lost := status.Error(codes.Unavailable, "transport is closing")
	a, b := &aclNode{err: lost}, &aclNode{}
	c, err := New(Config{Endpoints: []string{serveACL(t, a), serveACL(t, b)}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.CreateToken(testCtx(t), &rpcpb.CreateTokenRequest{Kind: "team", Name: "t"}); Reason(err) != rpcpb.ReasonUncertain {
		t.Fatalf("CreateToken after a lost attempt: %v, want OUTCOME_UNKNOWN", err)
	}
	if _, err := c.AclBootstrap(testCtx(t)); Reason(err) != rpcpb.ReasonUncertain {
		t.Fatalf("AclBootstrap after a lost attempt: %v, want OUTCOME_UNKNOWN", err)
	}
	if a.count() != 2 || b.count() != 0 {
		t.Fatalf("mints: first node %d, second %d; want 2 and 0", a.count(), b.count())
	}
	if err := c.RevokeToken(testCtx(t), "00112233445566778899aabbccddeeff"); err != nil {
		t.Fatalf("RevokeToken: %v", err)
	}
	if b.count() != 1 {
		t.Fatalf("revoke reached the second node %d times, want 1", b.count())
	}
}
