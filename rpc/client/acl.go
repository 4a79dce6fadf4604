package client

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/prism/controlplane/rpc/rpcpb"
)

// bearer is the per-call credential of Config.Token: the metadata
// "authorization: Bearer <token>" on every call and stream.
type bearer struct {
	header string // "Bearer " + the token
}

var _ credentials.PerRPCCredentials = bearer{}

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": b.header}, nil
}

// RequireTransportSecurity is false so that a token works against a
// plaintext (--dev) cluster too; there it crosses the network in clear
// (Config.Token).
func (bearer) RequireTransportSecurity() bool { return false }

// validToken: t can be sent as a header value (printable ASCII, no space).
func validToken(t string) bool {
	for i := 0; i < len(t); i++ {
		if t[i] <= ' ' || t[i] > '~' {
			return false
		}
	}
	return true
}

// AclBootstrap mints the cluster's first management token (role admin);
// it needs no identity and succeeds once in a cluster's life
// (FailedPrecondition after that). Every attempt would mint another
// secret, so it is resent only when it certainly reached no node: a lost
// answer ends OUTCOME_UNKNOWN (Reason), and the secret, if one was minted,
// is lost.
func (c *Client) AclBootstrap(ctx context.Context) (resp *rpcpb.TokenSecretResponse, err error) {
	err = c.do(ctx, write, func(ctx context.Context, cc *grpc.ClientConn) (e error) {
		resp, e = rpcpb.NewAclServiceClient(cc).Bootstrap(ctx, &rpcpb.AclBootstrapRequest{})
		return e
	})
	return resp, err
}

// CreateToken mints a token (its secret is in the answer only). Like
// AclBootstrap it is not resent once it may have reached a node: after
// OUTCOME_UNKNOWN a token may exist whose secret nobody holds (ListTokens
// shows it; revoke it).
func (c *Client) CreateToken(ctx context.Context, req *rpcpb.CreateTokenRequest) (resp *rpcpb.TokenSecretResponse, err error) {
	err = c.do(ctx, write, func(ctx context.Context, cc *grpc.ClientConn) (e error) {
		resp, e = rpcpb.NewAclServiceClient(cc).CreateToken(ctx, req)
		return e
	})
	return resp, err
}

// ListTokens lists every token (never their secrets).
func (c *Client) ListTokens(ctx context.Context) ([]*rpcpb.TokenInfo, error) {
	var resp *rpcpb.ListTokensResponse
	err := c.do(ctx, read, func(ctx context.Context, cc *grpc.ClientConn) (e error) {
		resp, e = rpcpb.NewAclServiceClient(cc).ListTokens(ctx, &rpcpb.ListTokensRequest{})
		return e
	})
	return resp.GetTokens(), err
}

// RevokeToken revokes a token by id. Revoking twice changes nothing, so
// it is resent through failovers; an attempt that took effect before its
// answer was lost makes the resend answer NotFound.
func (c *Client) RevokeToken(ctx context.Context, id string) error {
	return c.do(ctx, idempotent, func(ctx context.Context, cc *grpc.ClientConn) error {
		_, e := rpcpb.NewAclServiceClient(cc).RevokeToken(ctx, &rpcpb.RevokeTokenRequest{Id: id})
		return e
	})
}

// WhoAmI is the identity calls of this client act as, according to the
// node that answers (its id is in the answer).
func (c *Client) WhoAmI(ctx context.Context) (resp *rpcpb.WhoAmIResponse, err error) {
	err = c.do(ctx, read, func(ctx context.Context, cc *grpc.ClientConn) (e error) {
		resp, e = rpcpb.NewAclServiceClient(cc).WhoAmI(ctx, &rpcpb.WhoAmIRequest{})
		return e
	})
	return resp, err
}
