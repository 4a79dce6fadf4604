package acl

import (
	"errors"
	"testing"

	"github.com/prism/controlplane/fsm/fsmpb"
)

func spec(owners ...*fsmpb.Owner) *fsmpb.NamespaceSpec {
	return &fsmpb.NamespaceSpec{Name: "orders", Access: &fsmpb.Access{
		Owners:    owners,
		Consumers: []*fsmpb.Consumer{{Service: "billing", Access: "read-only"}},
	}}
}

func TestNamespaceRules(t *testing.T) {
	team := Principal{Kind: KindTeam, Name: "orders"}
	other := Principal{Kind: KindTeam, Name: "payments"}
	billing := Principal{Kind: KindService, Name: "billing"}
	admin := Principal{Kind: KindRole, Name: RoleAdmin}
	viewer := Principal{Kind: KindRole, Name: RoleViewer}
	mine := spec(&fsmpb.Owner{Kind: "team", Name: "orders"})
	cur := &fsmpb.Namespace{Spec: mine, ShardId: "s1"}
	cases := []struct {
		name string
		p    Principal
		cur  *fsmpb.Namespace
		next *fsmpb.NamespaceSpec
		want error
	}{
		{"owner creates", team, nil, mine, nil},
		{"create without being an owner", other, nil, mine, ErrPermissionDenied},
		{"owner updates", team, cur, mine, nil},
		{"another team updates", other, cur, spec(&fsmpb.Owner{Kind: "team", Name: "payments"}), ErrPermissionDenied},
		{"owner removes every owner", team, cur, spec(), ErrPermissionDenied},
		{"owner hands over", team, cur, spec(&fsmpb.Owner{Kind: "team", Name: "payments"}), nil},
		{"owner deletes", team, cur, nil, nil},
		{"consumer deletes", billing, cur, nil, ErrPermissionDenied},
		{"viewer deletes", viewer, cur, nil, ErrPermissionDenied},
		{"admin anything", admin, cur, spec(), nil},
		{"anonymous", Anonymous, nil, mine, ErrUnauthenticated},
	}
	for _, c := range cases {
		err := CheckNamespaceWrite(c.p, "orders", c.cur, c.next)
		if (c.want == nil) != (err == nil) || (c.want != nil && !errors.Is(err, c.want)) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
		}
	}
	for p, want := range map[Principal]bool{team: true, other: false, billing: true, viewer: true,
		{Kind: KindShard, Name: "s1"}: true, {Kind: KindShard, Name: "s2"}: false, Anonymous: false} {
		if got := CanReadNamespace(p, cur); got != want {
			t.Errorf("CanReadNamespace(%s) = %v, want %v", p, got, want)
		}
	}
}

func TestRolesAndShards(t *testing.T) {
	op := Principal{Kind: KindRole, Name: RoleOperator}
	viewer := Principal{Kind: KindRole, Name: RoleViewer}
	node := Principal{Kind: KindNode, Name: "n1"}
	s1 := Principal{Kind: KindShard, Name: "s1"}
	if err := RuleOperator.Check(viewer); !errors.Is(err, ErrPermissionDenied) {
		t.Errorf("viewer as operator: %v", err)
	}
	if err := RuleAdmin.Check(op); !errors.Is(err, ErrPermissionDenied) {
		t.Errorf("operator as admin: %v", err)
	}
	if err := RuleAdmin.Check(node); err != nil {
		t.Errorf("node as admin: %v", err)
	}
	if err := RuleViewer.Check(Anonymous); !errors.Is(err, ErrUnauthenticated) {
		t.Errorf("anonymous viewer: %v", err)
	}
	if err := RuleViewer.Check(s1); !errors.Is(err, ErrPermissionDenied) {
		t.Errorf("shard as viewer: %v", err)
	}
	if err := CheckActAsShard(s1, "s1"); err != nil {
		t.Errorf("shard as itself: %v", err)
	}
	if err := CheckActAsShard(s1, "s2"); !errors.Is(err, ErrPermissionDenied) {
		t.Errorf("shard as another: %v", err)
	}
	if err := CheckActAsShard(op, "s2"); err != nil {
		t.Errorf("operator as shard: %v", err)
	}
}

func TestCheckPrincipalAndSubject(t *testing.T) {
	for _, p := range []Principal{{Kind: "root", Name: "x"}, {Kind: KindRole, Name: "god"}, {Kind: KindTeam, Name: ""}, {Kind: KindTeam, Name: "a/b"}, {Kind: KindTeam, Name: "a", TokenID: "zz"}} {
		if err := CheckPrincipal(p); !errors.Is(err, ErrInvalid) {
			t.Errorf("CheckPrincipal(%+v) = %v", p, err)
		}
	}
	if err := CheckPrincipal(Principal{Kind: KindTeam, Name: "a", TokenID: "0123456789abcdef0123456789abcdef"}); err != nil {
		t.Error(err)
	}
	if err := CheckSubject(KindNode, "n1"); !errors.Is(err, ErrInvalid) {
		t.Errorf("a token for a node: %v", err)
	}
}
