package acl

import (
	"fmt"
	"slices"

	"github.com/prism/controlplane/fsm/fsmpb"
)

// Kinds of principal. Node, shard, service, team and user come from a
// certificate's identity or a token; role only from a token.
const (
	KindNode      = "node"
	KindShard     = "shard"
	KindService   = "service"
	KindTeam      = "team"
	KindUser      = "user"
	KindRole      = "role"
	KindAnonymous = "anonymous"
)

// Roles a role token can have.
const (
	RoleAdmin    = "admin"
	RoleOperator = "operator"
	RoleViewer   = "viewer"
)

// TokenKinds are the subjects a token can be minted for.
var TokenKinds = []string{KindRole, KindTeam, KindService, KindUser, KindShard}

// Roles lists the roles, most powerful first.
var Roles = []string{RoleAdmin, RoleOperator, RoleViewer}

// MaxNameLen bounds a principal's name (as certificate identities do).
const MaxNameLen = 64

// Principal is who a call acts as.
type Principal struct {
	Kind, Name string
	// TokenID is the public id of the token the call carried ("" for a
	// certificate or no identity).
	TokenID string
}

// Anonymous is a call with no identity.
var Anonymous = Principal{Kind: KindAnonymous}

// String is kind/name ("anonymous" for no identity).
func (p Principal) String() string {
	if p.Kind == KindAnonymous || p.Kind == "" {
		return KindAnonymous
	}
	return p.Kind + "/" + p.Name
}

// Authenticated: the call has an identity.
func (p Principal) Authenticated() bool { return p.Kind != "" && p.Kind != KindAnonymous }

// level orders the roles: admin 3, operator 2, viewer 1, other 0. The
// cluster's own nodes are admins (their key can already speak raft).
func (p Principal) level() int {
	switch {
	case p.Kind == KindNode:
		return 3
	case p.Kind != KindRole:
		return 0
	}
	switch p.Name {
	case RoleAdmin:
		return 3
	case RoleOperator:
		return 2
	case RoleViewer:
		return 1
	}
	return 0
}

// Has says whether p holds role or a more powerful one.
func (p Principal) Has(role string) bool {
	return p.level() >= (Principal{Kind: KindRole, Name: role}).level() && p.level() > 0
}

// ToProto is the principal as a command carries it.
func (p Principal) ToProto(enforce bool) *fsmpb.Principal {
	return &fsmpb.Principal{Kind: p.Kind, Name: p.Name, TokenId: p.TokenID, Enforce: enforce}
}

// FromProto is the inverse of ToProto (Anonymous for nil).
func FromProto(pp *fsmpb.Principal) Principal {
	if pp == nil || pp.Kind == "" {
		return Anonymous
	}
	return Principal{Kind: pp.Kind, Name: pp.Name, TokenID: pp.TokenId}
}

// ValidName: 1..MaxNameLen letters, digits, '.', '-', '_' or '@'.
func ValidName(n string) bool {
	if n == "" || len(n) > MaxNameLen {
		return false
	}
	for _, r := range n {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '-', r == '_', r == '@':
		default:
			return false
		}
	}
	return true
}

// CheckSubject checks what a token is minted for: a known kind, a role
// among Roles, a valid name.
func CheckSubject(kind, name string) error {
	switch {
	case !slices.Contains(TokenKinds, kind):
		return fmt.Errorf("%w: token kind %q: want one of role, team, service, user, shard", ErrInvalid, kind)
	case kind == KindRole && !slices.Contains(Roles, name):
		return fmt.Errorf("%w: role %q: want admin, operator or viewer", ErrInvalid, name)
	case !ValidName(name):
		return fmt.Errorf("%w: name %q: want 1..%d letters, digits, '.', '-', '_' or '@'", ErrInvalid, name, MaxNameLen)
	}
	return nil
}

// CheckPrincipal checks a principal a command carries.
func CheckPrincipal(p Principal) error {
	switch p.Kind {
	case KindAnonymous:
		if p.Name != "" || p.TokenID != "" {
			return fmt.Errorf("%w: an anonymous principal has no name or token", ErrInvalid)
		}
		return nil
	case KindNode, KindShard, KindService, KindTeam, KindUser, KindRole:
	default:
		return fmt.Errorf("%w: principal kind %q", ErrInvalid, p.Kind)
	}
	if p.Kind == KindRole {
		if !slices.Contains(Roles, p.Name) {
			return fmt.Errorf("%w: role %q", ErrInvalid, p.Name)
		}
	} else if !ValidName(p.Name) {
		return fmt.Errorf("%w: principal name %q", ErrInvalid, p.Name)
	}
	if p.TokenID != "" && !ValidTokenID(p.TokenID) {
		return fmt.Errorf("%w: token id %q", ErrInvalid, p.TokenID)
	}
	return nil
}

// TokenIDLen is the length of a token's public id (hex of 16 bytes).
const TokenIDLen = 32

// ValidTokenID: TokenIDLen lower-case hex digits.
func ValidTokenID(id string) bool {
	if len(id) != TokenIDLen {
		return false
	}
	for _, r := range id {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f') {
			return false
		}
	}
	return true
}

// OfToken is the principal a token acts as.
func OfToken(t *fsmpb.Token) Principal {
	return Principal{Kind: t.Kind, Name: t.Name, TokenID: t.Id}
}
