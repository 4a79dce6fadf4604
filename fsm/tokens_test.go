package fsm

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"

	"github.com/prism/controlplane/acl"
	"github.com/prism/controlplane/fsm/fsmpb"
)

func token(id, kind, name string) *fsmpb.Token {
	h := sha256.Sum256([]byte("secret-" + id))
	return &fsmpb.Token{Id: id, SecretHash: h[:], Kind: kind, Name: name}
}

func tokenID(c byte) string { return strings.Repeat(string(c), acl.TokenIDLen) }

func as(c *fsmpb.Command, kind, name, tokenID string) *fsmpb.Command {
	c.Principal = &fsmpb.Principal{Kind: kind, Name: name, TokenId: tokenID, Enforce: true}
	return c
}

func owned(name, team string) *fsmpb.NamespaceSpec {
	s := spec(name)
	s.Access = &fsmpb.Access{Owners: []*fsmpb.Owner{{Kind: "team", Name: team}}}
	return s
}

// TestApplyRechecksThePrincipal: the FSM refuses, inside apply, a change
// its stamped principal may not make on the state it lands on: a token
// revoked or expired after the edge checked it, an owner removed between
// the edge's check and the commit.
func TestApplyRechecksThePrincipal(t *testing.T) {
	h := newHarness(t)
	admin := token(tokenID('a'), acl.KindRole, acl.RoleAdmin)
	if r := h.apply(&fsmpb.Command{Body: &fsmpb.Command_BootstrapAcl{BootstrapAcl: &fsmpb.BootstrapACL{Token: admin}}}); r.Err != nil || r.Token.GetSecretHash() != nil {
		t.Fatalf("bootstrap: %+v", r)
	}
	if r := h.apply(&fsmpb.Command{Body: &fsmpb.Command_BootstrapAcl{BootstrapAcl: &fsmpb.BootstrapACL{Token: token(tokenID('b'), acl.KindRole, acl.RoleAdmin)}}}); !errors.Is(r.Err, ErrFailedPrecondition) {
		t.Fatalf("second bootstrap: %v", r.Err)
	}
	orders := token(tokenID('c'), acl.KindTeam, "orders")
	create := func(tok *fsmpb.Token, ttl int64) Result {
		return h.apply(as(&fsmpb.Command{Body: &fsmpb.Command_CreateToken{CreateToken: &fsmpb.CreateToken{Token: tok, TtlSeconds: ttl}}}, acl.KindRole, acl.RoleAdmin, admin.Id))
	}
	if r := create(orders, 0); r.Err != nil {
		t.Fatal(r.Err)
	}
	// A team creates its namespace; another team cannot change it.
	if r := h.apply(as(put(owned("orders", "orders"), nil), acl.KindTeam, "orders", orders.Id)); r.Err != nil {
		t.Fatal(r.Err)
	}
	if r := h.apply(as(put(owned("orders", "payments"), nil), acl.KindTeam, "payments", "")); !errors.Is(r.Err, acl.ErrPermissionDenied) {
		t.Fatalf("another team's update: %v", r.Err)
	}
	// The owner hands it over; its own next change is refused at apply
	// even though an edge that checked before the handover let it through.
	if r := h.apply(as(put(owned("orders", "payments"), nil), acl.KindTeam, "orders", orders.Id)); r.Err != nil {
		t.Fatal(r.Err)
	}
	if r := h.apply(as(del("orders"), acl.KindTeam, "orders", orders.Id)); !errors.Is(r.Err, acl.ErrPermissionDenied) {
		t.Fatalf("former owner's delete: %v", r.Err)
	}
	// A revoked token's command changes nothing.
	if r := h.apply(as(&fsmpb.Command{Body: &fsmpb.Command_RevokeToken{RevokeToken: &fsmpb.RevokeToken{Id: orders.Id}}}, acl.KindRole, acl.RoleAdmin, admin.Id)); r.Err != nil || !r.Deleted {
		t.Fatalf("revoke: %+v", r)
	}
	if r := h.apply(as(put(owned("fresh", "orders"), nil), acl.KindTeam, "orders", orders.Id)); !errors.Is(r.Err, acl.ErrPermissionDenied) {
		t.Fatalf("revoked token's create: %v", r.Err)
	}
	// An expired one neither (the harness clock moves 1 µs per command).
	short := token(tokenID('d'), acl.KindTeam, "short")
	if r := create(short, 1); r.Err != nil {
		t.Fatal(r.Err)
	}
	h.index += 2_000_000 // > 1 s later
	if r := h.apply(as(put(owned("late", "short"), nil), acl.KindTeam, "short", short.Id)); !errors.Is(r.Err, acl.ErrPermissionDenied) {
		t.Fatalf("expired token's create: %v", r.Err)
	}
	// Only admins make tokens; a principal unlike its token is refused.
	if r := h.apply(as(&fsmpb.Command{Body: &fsmpb.Command_CreateToken{CreateToken: &fsmpb.CreateToken{Token: token(tokenID('e'), acl.KindRole, acl.RoleAdmin)}}}, acl.KindRole, acl.RoleOperator, "")); !errors.Is(r.Err, acl.ErrPermissionDenied) {
		t.Fatalf("operator mints a token: %v", r.Err)
	}
	if r := h.apply(as(del("orders"), acl.KindRole, acl.RoleAdmin, short.Id)); !errors.Is(r.Err, acl.ErrPermissionDenied) {
		t.Fatalf("principal unlike its token: %v", r.Err)
	}
	// Without enforce (a node with ACLs off) nothing is checked.
	c := del("orders")
	c.Principal = &fsmpb.Principal{Kind: acl.KindTeam, Name: "nobody"}
	if r := h.apply(c); r.Err != nil || r.Principal != "team/nobody" {
		t.Fatalf("unenforced delete: %+v", r)
	}

	// Tokens survive a snapshot (hashes, never secrets), with the bootstrap flag.
	g, buf := h.roundTrip()
	if !g.ACLBootstrapped() || len(g.Tokens()) != 2 {
		t.Fatalf("restored: bootstrapped %v, %d tokens", g.ACLBootstrapped(), len(g.Tokens()))
	}
	if _, ok := g.TokenByHash(admin.SecretHash); !ok {
		t.Fatal("admin token lost in the snapshot")
	}
	if bytes.Contains(buf.Bytes(), []byte("secret-")) {
		t.Fatal("a secret in the snapshot")
	}
	for _, tk := range g.Tokens() {
		if tk.SecretHash != nil {
			t.Fatal("Tokens shows a secret hash")
		}
	}
}

func TestTokenCommandsValidated(t *testing.T) {
	bad := &fsmpb.Command{Body: &fsmpb.Command_CreateToken{CreateToken: &fsmpb.CreateToken{
		Token: &fsmpb.Token{Id: "x", SecretHash: []byte("short"), Kind: "god", Name: "", CreatedBy: "me"}, TtlSeconds: -1}},
		Principal: &fsmpb.Principal{Kind: "root"}}
	err := ValidateCommand(bad, FromClient)
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("got %v", err)
	}
	want := []string{"command.principal", "command.create_token.token.id", "command.create_token.token.secret_hash", "command.create_token.token", "command.create_token.ttl_seconds"}
	for _, w := range want {
		found := false
		for _, f := range ve.Fields {
			found = found || f.Path == w
		}
		if !found {
			t.Errorf("no error for %s in %v", w, err)
		}
	}
}
