package rpc

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"

	"github.com/prism/controlplane/acl"
	"github.com/prism/controlplane/cluster"
	"github.com/prism/controlplane/fsm"
	"github.com/prism/controlplane/fsm/fsmpb"
	"github.com/prism/controlplane/rpc/rpcpb"
)

// aclService implements rpcpb.AclServiceServer. A token's secret is made
// here, on the node that takes the call, and leaves it only in the
// answer: the command carries its SHA-256.
type aclService struct {
	rpcpb.UnimplementedAclServiceServer
	node    *cluster.Node
	enabled bool
}

// SecretPrefix starts every token secret, so a leaked one is easy to
// recognise (and to scan for).
const SecretPrefix = "prism_"

// newToken makes a token's id and secret: 128 and 256 random bits.
func newToken() (id, secret string, err error) {
	b := make([]byte, 16+32)
	if _, err := rand.Read(b); err != nil {
		return "", "", fmt.Errorf("rpc: token randomness: %w", err)
	}
	return hex.EncodeToString(b[:16]), SecretPrefix + base64.RawURLEncoding.EncodeToString(b[16:]), nil
}

func (s *aclService) off() error {
	if s.enabled {
		return nil
	}
	return toStatus(ErrACLOff)
}

func tokenInfo(t *fsmpb.Token) *rpcpb.TokenInfo {
	return &rpcpb.TokenInfo{Id: t.GetId(), Kind: t.GetKind(), Name: t.GetName(), Description: t.GetDescription(),
		CreatedUnixNano: t.GetCreatedUnixNano(), ExpiresUnixNano: t.GetExpiresUnixNano(), CreatedBy: t.GetCreatedBy()}
}

// mint commits a new token made of t (id and secret filled in here).
func (s *aclService) mint(ctx context.Context, t *fsmpb.Token, cmd func(*fsmpb.Token) *fsmpb.Command) (*rpcpb.TokenSecretResponse, error) {
	id, secret, err := newToken()
	if err != nil {
		return nil, toStatus(err)
	}
	t.Id, t.SecretHash = id, HashSecret(secret)
	res, err := apply(ctx, s.node, cmd(t))
	if err != nil {
		return nil, toStatus(err)
	}
	out := res.Token
	if out == nil { // a resent command that had applied: its token is ours
		out = fsm.Public(t)
	}
	return &rpcpb.TokenSecretResponse{Token: tokenInfo(out), Secret: secret}, nil
}

func (s *aclService) Bootstrap(ctx context.Context, _ *rpcpb.AclBootstrapRequest) (*rpcpb.TokenSecretResponse, error) {
	if err := s.off(); err != nil {
		return nil, err
	}
	t := &fsmpb.Token{Kind: acl.KindRole, Name: acl.RoleAdmin, Description: "bootstrap token"}
	return s.mint(ctx, t, func(t *fsmpb.Token) *fsmpb.Command {
		return &fsmpb.Command{Body: &fsmpb.Command_BootstrapAcl{BootstrapAcl: &fsmpb.BootstrapACL{Token: t}}}
	})
}

func (s *aclService) CreateToken(ctx context.Context, req *rpcpb.CreateTokenRequest) (*rpcpb.TokenSecretResponse, error) {
	if err := s.off(); err != nil {
		return nil, err
	}
	var bad []fsm.FieldError
	if err := acl.CheckSubject(req.Kind, req.Name); err != nil {
		bad = append(bad, fsm.FieldError{Path: "kind/name", Message: err.Error()})
	}
	if len(req.Description) > fsm.MaxTokenDescriptionBytes {
		bad = append(bad, fsm.FieldError{Path: "description", Message: fmt.Sprintf("%d bytes, at most %d", len(req.Description), fsm.MaxTokenDescriptionBytes)})
	}
	if req.TtlSeconds < 0 {
		bad = append(bad, fsm.FieldError{Path: "ttl_seconds", Message: "must not be negative (0: never expires)"})
	}
	if len(bad) > 0 {
		return nil, toStatus(&fsm.ValidationError{Fields: bad})
	}
	t := &fsmpb.Token{Kind: req.Kind, Name: req.Name, Description: req.Description}
	return s.mint(ctx, t, func(t *fsmpb.Token) *fsmpb.Command {
		return &fsmpb.Command{Body: &fsmpb.Command_CreateToken{CreateToken: &fsmpb.CreateToken{Token: t, TtlSeconds: req.TtlSeconds}}}
	})
}

func (s *aclService) ListTokens(ctx context.Context, _ *rpcpb.ListTokensRequest) (*rpcpb.ListTokensResponse, error) {
	if err := s.node.LinearizableBarrier(ctx); err != nil {
		return nil, toStatus(err)
	}
	resp := &rpcpb.ListTokensResponse{}
	for _, t := range s.node.FSM().Tokens() {
		resp.Tokens = append(resp.Tokens, tokenInfo(t))
	}
	return resp, nil
}

func (s *aclService) RevokeToken(ctx context.Context, req *rpcpb.RevokeTokenRequest) (*rpcpb.RevokeTokenResponse, error) {
	if !acl.ValidTokenID(req.Id) {
		return nil, toStatus(&fsm.ValidationError{Fields: []fsm.FieldError{{Path: "id", Message: fmt.Sprintf("must be a token id (%d lower-case hex digits), got %q", acl.TokenIDLen, req.Id)}}})
	}
	if _, err := apply(ctx, s.node, &fsmpb.Command{Body: &fsmpb.Command_RevokeToken{RevokeToken: &fsmpb.RevokeToken{Id: req.Id}}}); err != nil {
		return nil, toStatus(err)
	}
	return &rpcpb.RevokeTokenResponse{}, nil
}

func (s *aclService) WhoAmI(ctx context.Context, _ *rpcpb.WhoAmIRequest) (*rpcpb.WhoAmIResponse, error) {
	c := callerOf(ctx)
	return &rpcpb.WhoAmIResponse{Principal: c.p.String(), Kind: c.p.Kind, Name: c.p.Name, Via: c.via,
		TokenId: c.p.TokenID, ExpiresUnixNano: c.expires, AclEnabled: s.enabled, NodeId: s.node.ID()}, nil
}
