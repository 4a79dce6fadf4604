package checker

import (
	"strings"
	"testing"

	"github.com/prism/controlplane/jepsen/history"
)

func aclWrite(tok, principal, owner, key string, call, ret int64, outcome, code string, val int64) history.Op {
	return history.Op{Process: 501, Type: history.ACLWrite, Key: key, Token: tok, Principal: principal, Owners: []string{owner},
		Call: call, Return: ret, Outcome: outcome, Code: code, Val: val, Node: "n2"}
}

func TestACL(t *testing.T) {
	const tok, out = "aaaa", "bbbb"
	revoke := history.Op{Process: 500, Type: history.ACLRevoke, Key: "acl-1", Token: tok, Call: 100, Return: 110, Outcome: history.OK}
	base := []history.Op{
		aclWrite(tok, "team/t1", "team/t1", "acl-1", 10, 20, history.OK, "", 1),
		{Process: 500, Type: history.ACLRevoke, Key: "acl-1", Token: tok, Call: 90, Return: 95, Outcome: history.Unknown},
		revoke,
		// In flight across the acknowledgement: either answer is fine.
		aclWrite(tok, "team/t1", "team/t1", "acl-1", 105, 120, history.OK, "", 2),
		aclWrite(tok, "team/t1", "team/t1", "acl-1", 111, 115, history.Fail, "PermissionDenied", 3),
		aclWrite(tok, "team/t1", "team/t1", "acl-1", 112, 118, history.Fail, "Unauthenticated", 4),
		aclWrite(tok, "team/t1", "team/t1", "acl-1", 113, 300, history.Unknown, "DeadlineExceeded", 5),
		aclWrite(out, "team/outsider", "team/t1", "acl-1", 30, 40, history.Fail, "PermissionDenied", 6),
	}
	final := func(val int64) history.Op {
		return history.Op{Process: 998, Type: history.ACLFinal, Key: "acl-1", Call: 400, Return: 410, Outcome: history.OK, Val: val, Rev: 9, Final: true}
	}
	cases := []struct {
		name string
		ops  []history.Op
		want string // "" passes
	}{
		{"consistent", append(append([]history.Op{}, base...), final(2)), ""},
		{"final value of an early write", append(append([]history.Op{}, base...), final(1)), ""},
		{"acknowledged after revocation", append(append([]history.Op{}, base...),
			aclWrite(tok, "team/t1", "team/t1", "acl-1", 111, 119, history.OK, "", 7)), "after its revocation was acknowledged"},
		{"the earliest acknowledgement counts", append(append([]history.Op{}, base...),
			history.Op{Process: 500, Type: history.ACLRevoke, Key: "acl-1", Token: tok, Call: 200, Return: 210, Outcome: history.OK},
			aclWrite(tok, "team/t1", "team/t1", "acl-1", 150, 160, history.OK, "", 7)), "after its revocation was acknowledged"},
		{"outsider acknowledged", append(append([]history.Op{}, base...),
			aclWrite(out, "team/outsider", "team/t1", "acl-1", 50, 60, history.OK, "", 7)), "not an owner"},
		{"a refused write took effect", append(append([]history.Op{}, base...), final(5)), "had to be refused"},
		{"an outsider's write took effect", append(append([]history.Op{}, base...), final(6)), "had to be refused"},
		{"a value nobody wrote", append(append([]history.Op{}, base...), final(99)), "no write of it sent"},
		{"nothing after a revocation", []history.Op{base[0], revoke}, "nothing was checked"},
		{"no owner write allowed", []history.Op{revoke, base[4], base[7]}, "a refusal tells nothing"},
	}
	for _, tc := range cases {
		r := ACL(tc.ops)
		if tc.want == "" {
			if !r.OK {
				t.Errorf("%s: want ok, got %v", tc.name, r.Problems)
			}
			continue
		}
		if r.OK || !strings.Contains(strings.Join(r.Problems, "\n"), tc.want) {
			t.Errorf("%s: want a problem saying %q, got ok=%v %v", tc.name, tc.want, r.OK, r.Problems)
		}
	}
	r := ACL(append(append([]history.Op{}, base...), final(2)))
	if !strings.Contains(r.Note, "3 writes after an acknowledged revocation: 2 refused") {
		t.Errorf("note: %s", r.Note)
	}
}
