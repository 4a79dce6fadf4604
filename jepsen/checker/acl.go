package checker

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/prism/controlplane/jepsen/history"
)

// ACL checks the acl workload's history:
//
//   - revoked: no write sent with a token after that token's revocation
//     was acknowledged (invoked after the earliest acknowledged revoke
//     returned) is acknowledged; PermissionDenied or Unauthenticated are
//     the expected answers, an unknown outcome is allowed;
//   - not an owner: no write by a principal that is not among the owners
//     the namespace is declared with is acknowledged;
//   - final: the value an acl-* namespace holds after healing was written
//     by a write that could be allowed (by an owner, not sent after its
//     token's revocation was acknowledged), so a refused write whose
//     answer was lost did not take effect either.
//
// It also fails when it had nothing to judge: no owner write acknowledged
// before a revocation (the setup cannot tell allowed from refused), or no
// write sent after an acknowledged revocation.
func ACL(ops []history.Op) Result {
	r := Result{Name: "acl", OK: true}
	revokedAt := map[string]int64{} // token id -> earliest return of an acknowledged revoke
	firstCall := map[string]int64{} // token id -> call of its first revoke attempt
	for _, op := range ops {
		if op.Type != history.ACLRevoke {
			continue
		}
		if c, ok := firstCall[op.Token]; !ok || op.Call < c {
			firstCall[op.Token] = op.Call
		}
		if op.Outcome == history.OK {
			if at, ok := revokedAt[op.Token]; !ok || op.Return < at {
				revokedAt[op.Token] = op.Return
			}
		}
	}
	type src struct {
		allowed bool // the write could have been allowed
		op      history.Op
	}
	byVal := map[string]map[int64]src{}
	var allowedOK, after, afterDenied, afterUnknown, afterOther, outsider, outsiderDenied int
	codes := map[string]int{}
	var lateOK, notOwnerOK []string
	for _, op := range ops {
		if op.Type != history.ACLWrite {
			continue
		}
		owner := slices.Contains(op.Owners, op.Principal)
		at, revoked := revokedAt[op.Token]
		late := revoked && op.Call > at
		if byVal[op.Key] == nil {
			byVal[op.Key] = map[int64]src{}
		}
		byVal[op.Key][op.Val] = src{allowed: owner && !late, op: op}
		if !owner {
			outsider++
			if op.Outcome == history.OK {
				notOwnerOK = append(notOwnerOK, fmt.Sprintf("a write of %s by %s, not an owner (owners %v), was acknowledged: process %d via %s at %s (revision %d)",
					op.Key, op.Principal, op.Owners, op.Process, via(op), at2s(op.Call), op.Rev))
			} else if op.Outcome == history.Fail {
				outsiderDenied++
			}
		}
		if late {
			after++
			switch op.Outcome {
			case history.OK:
				lateOK = append(lateOK, fmt.Sprintf("a write of %s with token %s (%s) sent %s after its revocation was acknowledged (at %s) was acknowledged: process %d via %s, revision %d",
					op.Key, op.Token, op.Principal, time.Duration(op.Call-at).Round(time.Millisecond), at2s(at), op.Process, via(op), op.Rev))
			case history.Unknown:
				afterUnknown++
			default:
				if op.Code == "PermissionDenied" || op.Code == "Unauthenticated" {
					afterDenied++
				} else {
					afterOther++
				}
			}
			codes[op.Code]++
		} else if owner && op.Outcome == history.OK {
			allowedOK++
		}
	}
	report(&r, lateOK, "writes sent after their token's revocation was acknowledged were acknowledged")
	report(&r, notOwnerOK, "writes by a principal that is not an owner were acknowledged")
	finals := 0
	for _, op := range ops {
		if op.Type != history.ACLFinal {
			continue
		}
		finals++
		s, ok := byVal[op.Key][op.Val]
		switch {
		case !ok:
			r.fail("%s holds value %d at revision %d after healing, which no write of it sent", op.Key, op.Val, op.Rev)
		case !s.allowed:
			r.fail("%s holds value %d at revision %d after healing, written by a write that had to be refused (%s, token %s, process %d via %s, sent at %s, outcome %s)",
				op.Key, op.Val, op.Rev, s.op.Principal, s.op.Token, s.op.Process, via(s.op), at2s(s.op.Call), s.op.Outcome)
		}
	}
	if allowedOK == 0 {
		r.fail("no write by an owner with a live token was acknowledged: a refusal tells nothing (is the workload's setup broken?)")
	}
	if after == 0 {
		r.fail("no write was sent after a revocation was acknowledged: nothing was checked")
	}
	var lags []time.Duration
	for id, at := range revokedAt {
		lags = append(lags, time.Duration(at-firstCall[id]))
	}
	sort.Slice(lags, func(i, j int) bool { return lags[i] < lags[j] })
	lag := "none"
	if len(lags) > 0 {
		lag = fmt.Sprintf("median %s, max %s", lags[len(lags)/2].Round(time.Millisecond), lags[len(lags)-1].Round(time.Millisecond))
	}
	r.Note = fmt.Sprintf("%d tokens revoked (acknowledged after %s); %d writes after an acknowledged revocation: %d refused, %d other failures, %d unknown (%s); %d writes by a non-owner, %d refused; %d owner writes acknowledged; %d final values",
		len(revokedAt), lag, after, afterDenied, afterOther, afterUnknown, fmtCodes(codes), outsider, outsiderDenied, allowedOK, finals)
	return r
}

// report adds a count of the problems of one kind, then the first few.
func report(r *Result, problems []string, what string) {
	if len(problems) == 0 {
		return
	}
	r.fail("%d %s", len(problems), what)
	for i, p := range problems {
		if i == 10 {
			r.fail("... and %d more", len(problems)-i)
			break
		}
		r.fail("%s", p)
	}
}

func via(op history.Op) string {
	if op.Node == "" {
		return "the client"
	}
	return op.Node
}

func at2s(t int64) string { return fmt.Sprintf("%.3fs", float64(t)/1e9) }

func fmtCodes(m map[string]int) string {
	var ks []string
	for k := range m {
		if k != "" {
			ks = append(ks, k)
		}
	}
	sort.Strings(ks)
	var s []string
	for _, k := range ks {
		s = append(s, fmt.Sprintf("%s=%d", k, m[k]))
	}
	return strings.Join(s, " ")
}
