package rpc

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"fmt"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/prism/controlplane/acl"
	"github.com/prism/controlplane/cluster"
	"github.com/prism/controlplane/fsm"
	"github.com/prism/controlplane/fsm/fsmpb"
	"github.com/prism/controlplane/internal/audit"
	"github.com/prism/controlplane/internal/tlsutil"
)

// Who a call is from: a bearer token (metadata "authorization: Bearer
// SECRET") when it carries one, else its verified client certificate's
// identity, else no one.
const (
	ViaToken       = "token"
	ViaCertificate = "certificate"
	ViaNone        = "none"
)

// caller is who a call acts as, and whether this node enforces ACLs on it.
type caller struct {
	p       acl.Principal
	via     string
	expires int64 // the token's expiry (0: none)
	enforce bool
}

type callerKey struct{}

func withCaller(ctx context.Context, c caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

// callerOf is the caller the auth interceptor found (anonymous, not
// enforced, for a call that did not pass it).
func callerOf(ctx context.Context) caller {
	if c, ok := ctx.Value(callerKey{}).(caller); ok {
		return c
	}
	return caller{p: acl.Anonymous, via: ViaNone}
}

// stamp puts the caller into a client's command, for the FSM's check
// inside apply and for the archive's record of who changed what.
func stamp(ctx context.Context, cmd *fsmpb.Command) {
	c := callerOf(ctx)
	cmd.Principal = c.p.ToProto(c.enforce)
}

// HashSecret is what the cluster keeps of a token's secret.
func HashSecret(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// parseBearer reads the authorization header values of a gRPC call or an
// HTTP request: none, or one "Bearer <token>".
func parseBearer(vals []string) (string, error) {
	switch len(vals) {
	case 0:
		return "", nil
	case 1:
	default:
		return "", fmt.Errorf("%w: %d authorization headers; send one", acl.ErrUnauthenticated, len(vals))
	}
	scheme, tok, ok := strings.Cut(vals[0], " ")
	if !ok || !strings.EqualFold(scheme, "bearer") || tok == "" {
		return "", fmt.Errorf("%w: the authorization header must be \"Bearer <token>\"", acl.ErrUnauthenticated)
	}
	return tok, nil
}

// authorizer authenticates every public call and, with ACLs on, checks
// its method's rule (the handler checks the object a call names). It
// puts the caller in the context and writes denials and reads to the
// audit log.
type authorizer struct {
	node    *cluster.Node
	enabled bool
	audit   *audit.Log
}

// byToken is the caller of a token secret, or ErrUnauthenticated.
func (a *authorizer) byToken(secret string, now time.Time) (caller, error) {
	h := HashSecret(secret)
	t, ok := a.node.FSM().TokenByHash(h)
	if !ok || subtle.ConstantTimeCompare(t.SecretHash, h) != 1 {
		return caller{}, fmt.Errorf("%w: this node does not know the token (revoked, expired, mistyped or another cluster's)", acl.ErrUnauthenticated)
	}
	if fsm.Expired(t, now.UnixNano()) {
		return caller{}, fmt.Errorf("%w: token %s expired at %s", acl.ErrUnauthenticated, t.Id, time.Unix(0, t.ExpiresUnixNano).UTC().Format(time.RFC3339))
	}
	return caller{p: acl.OfToken(t), via: ViaToken, expires: t.ExpiresUnixNano}, nil
}

// ofVerifiedChains is the identity of a verified certificate chain's
// leaf: its one URI SAN (the TLS listener refused any other).
func ofVerifiedChains(chains [][]*x509.Certificate) (acl.Principal, bool) {
	if len(chains) == 0 || len(chains[0]) == 0 || len(chains[0][0].URIs) != 1 {
		return acl.Principal{}, false
	}
	id, err := tlsutil.ParseIdentity(chains[0][0].URIs[0].String())
	if err != nil {
		return acl.Principal{}, false
	}
	return acl.Principal{Kind: string(id.Kind), Name: id.Name}, true
}

// authenticate is who a gRPC call is from.
func (a *authorizer) authenticate(ctx context.Context) (caller, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	var chains [][]*x509.Certificate
	if p, ok := peer.FromContext(ctx); ok {
		if ti, ok := p.AuthInfo.(credentials.TLSInfo); ok {
			chains = ti.State.VerifiedChains
		}
	}
	return a.identify(md.Get("authorization"), chains)
}

// identify is who a call (gRPC or HTTP) is from, given its authorization
// header values and its verified certificate chains: the token's identity
// when it carries one, else the certificate's, else anonymous. With ACLs
// off a bad token is ignored.
func (a *authorizer) identify(authorization []string, chains [][]*x509.Certificate) (caller, error) {
	secret, err := parseBearer(authorization)
	if err == nil && secret != "" {
		var c caller
		if c, err = a.byToken(secret, time.Now()); err == nil {
			return c, nil
		}
	}
	if err != nil && a.enabled {
		return caller{p: acl.Anonymous, via: ViaNone}, err
	}
	if p, ok := ofVerifiedChains(chains); ok {
		return caller{p: p, via: ViaCertificate}, nil
	}
	return caller{p: acl.Anonymous, via: ViaNone}, nil
}

// admit authenticates a call of method and checks its rule.
func (a *authorizer) admit(ctx context.Context, method string) (context.Context, caller, error) {
	rule, known := RuleOf(method)
	if known && rule == acl.RuleOpen {
		return ctx, caller{p: acl.Anonymous, via: ViaNone}, nil
	}
	c, err := a.authenticate(ctx)
	if err != nil {
		return ctx, caller{p: acl.Anonymous, via: ViaNone}, err
	}
	c.enforce = a.enabled
	if a.enabled {
		if !known {
			return ctx, c, fmt.Errorf("%w: %s has no ACL rule (denied by default)", acl.ErrPermissionDenied, method)
		}
		if err := rule.Check(c.p); err != nil {
			return ctx, c, err
		}
	}
	return withCaller(ctx, c), c, nil
}

// record writes the call to the audit log: every denial, every read, and
// every ACL change (token changes are not in the archive).
func (a *authorizer) record(ctx context.Context, method string, req any, c caller, err error) {
	if a.audit == nil {
		return
	}
	code := status.Code(err)
	deny := code == codes.PermissionDenied || code == codes.Unauthenticated
	class, _ := ClassOf(method)
	if !deny && class != ClassRead && class != ClassWatch && !strings.HasPrefix(method, "/prism.v1.AclService/") {
		return
	}
	e := audit.Event{Node: a.node.ID(), Principal: c.p.String(), TokenID: c.p.TokenID, Method: method,
		Resource: resourceOf(req), Decision: "allow", Code: code.String()}
	if deny {
		e.Decision = "deny"
		if st, ok := status.FromError(err); ok {
			e.Reason = st.Message()
		}
	}
	if p, ok := peer.FromContext(ctx); ok {
		e.Peer = p.Addr.String()
	}
	a.audit.Log(e)
}

// resourceOf names the object a request is about, for the audit log.
func resourceOf(req any) string {
	switch r := req.(type) {
	case interface{ GetName() string }:
		return r.GetName()
	case interface{ GetId() string }:
		return r.GetId()
	case interface{ GetShardId() string }:
		return r.GetShardId()
	}
	return ""
}

func (a *authorizer) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	ctx, c, err := a.admit(ctx, info.FullMethod)
	if err != nil {
		err = toStatus(err)
		a.record(ctx, info.FullMethod, req, c, err)
		return nil, err
	}
	resp, err := h(ctx, req)
	a.record(ctx, info.FullMethod, req, c, err)
	return resp, err
}

// callerStream carries the caller's context into a stream's handler.
type callerStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s callerStream) Context() context.Context { return s.ctx }

func (a *authorizer) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	ctx, c, err := a.admit(ss.Context(), info.FullMethod)
	if err != nil {
		err = toStatus(err)
		a.record(ctx, info.FullMethod, nil, c, err)
		return err
	}
	a.record(ctx, info.FullMethod, nil, c, nil)
	return h(srv, callerStream{ServerStream: ss, ctx: ctx})
}

// tokenGone says why a stream opened with a token must end: the token
// was revoked (this node applied the revocation) or expired. nil while
// it is good, and for callers without a token.
func (a *authorizer) tokenGone(c caller, now time.Time) error {
	if c.p.TokenID == "" || !c.enforce {
		return nil
	}
	if !a.node.FSM().TokenExists(c.p.TokenID) {
		return fmt.Errorf("%w: token %s was revoked", acl.ErrPermissionDenied, c.p.TokenID)
	}
	if c.expires != 0 && c.expires <= now.UnixNano() {
		return fmt.Errorf("%w: token %s expired", acl.ErrPermissionDenied, c.p.TokenID)
	}
	return nil
}
