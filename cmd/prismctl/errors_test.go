package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/protoadapt"

	"github.com/prism/controlplane/rpc/rpcpb"
)

func withDetails(t *testing.T, c codes.Code, msg string, details ...protoadapt.MessageV1) error {
	t.Helper()
	st, err := status.New(c, msg).WithDetails(details...)
	if err != nil {
		t.Fatal(err)
	}
	return st.Err()
}

func info(reason string, md map[string]string) *errdetails.ErrorInfo {
	return &errdetails.ErrorInfo{Domain: rpcpb.ErrorDomain, Reason: reason, Metadata: md}
}

// TestExplain: the class comes from the code and the typed details; the
// message names the subject, not the server's wording.
func TestExplain(t *testing.T) {
	for _, tc := range []struct {
		name  string
		err   error
		class class
		msg   string
	}{
		{"not found with subject", about("namespace", "nope", status.Error(codes.NotFound, "fsm: namespace not found: \"nope\"")),
			classNotFound, `namespace "nope" not found`},
		{"not found, resource info wins", about("namespace", "a", withDetails(t, codes.NotFound, "x", &errdetails.ResourceInfo{ResourceType: "shard", ResourceName: "pg-9"})),
			classNotFound, `shard "pg-9" not found`},
		{"not found without subject keeps the server's message", status.Error(codes.NotFound, "server words"), classNotFound, "server words"},
		{"already exists", about("shard", "pg-1", status.Error(codes.AlreadyExists, "x")), classConflict, `shard "pg-1" already exists`},
		{"revision mismatch", withDetails(t, codes.FailedPrecondition, "x", info(rpcpb.ReasonRevisionMismatch, map[string]string{"current_revision": "7", "name": "a"})),
			classConflict, `namespace "a" has changed: current revision 7 does not match --expect-revision`},
		{"absent for --expect-revision", withDetails(t, codes.FailedPrecondition, "x", info(rpcpb.ReasonRevisionMismatch, map[string]string{"current_revision": "0", "name": "a"})),
			classConflict, `namespace "a" does not exist (current revision 0), so --expect-revision does not match`},
		{"other precondition", status.Error(codes.FailedPrecondition, "still serves"), classConflict, "still serves"},
		{"field violations", about("namespace", "a", withDetails(t, codes.InvalidArgument, "x", &errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{
			{Field: "backend", Description: "is required"}, {Field: "capacity.estimated_read_rps", Description: "must be >= 0"}}})),
			classInvalid, `invalid namespace "a": backend: is required; capacity.estimated_read_rps: must be >= 0`},
		{"no leader", withDetails(t, codes.Unavailable, "cluster: no leader", info(rpcpb.ReasonNoLeader, nil)), classUnavailable, "the cluster has no leader right now"},
		{"outcome unknown", withDetails(t, codes.Unavailable, "x", info(rpcpb.ReasonUncertain, nil)), classUnavailable, "may or may not have been applied"},
		{"busy", status.Error(codes.ResourceExhausted, "too many watches"), classUnavailable, "too many watches"},
		{"deadline", status.Error(codes.DeadlineExceeded, "x"), classUnavailable, "x"},
		{"permission", status.Error(codes.PermissionDenied, "needs admin"), classPermission, "permission denied: needs admin"},
		{"unauthenticated", status.Error(codes.Unauthenticated, "no token"), classPermission,
			"not authenticated: pass a token (--token or PRISM_TOKEN) or a client certificate (--cert/--key); no token"},
		{"unauthenticated with a token", &tokenGiven{about("token", "x", status.Error(codes.Unauthenticated, "unknown token"))}, classPermission,
			"not authenticated: the token (--token or PRISM_TOKEN) was refused: it is unknown, revoked or expired; unknown token"},
		{"TLS handshake", withDetails(t, codes.Unauthenticated, "pass --cacert", info(rpcpb.ReasonTLS, nil)), classPermission, "not authenticated: pass --cacert"},
		{"compacted", withDetails(t, codes.OutOfRange, "compacted", info(rpcpb.ReasonCompacted, nil)), classInvalid, "compacted"},
		{"internal", status.Error(codes.Internal, "boom"), classError, "boom"},
		{"usage", usageErr("-o %q: want table, json or yaml", "xml"), classUsage, `-o "xml": want table, json or yaml`},
		{"local timeout", fmt.Errorf("waiting: %w", context.DeadlineExceeded), classUnavailable, "waiting"},
		{"plain error", fmt.Errorf("something"), classError, "something"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := explain(tc.err)
			if e.class != tc.class || !strings.Contains(e.msg, tc.msg) {
				t.Errorf("got %s %q, want %s containing %q", classNames[e.class], e.msg, classNames[tc.class], tc.msg)
			}
		})
	}
}

func TestExitCodes(t *testing.T) {
	want := map[class]int{classError: 1, classUsage: 2, classInvalid: 3, classNotFound: 4, classConflict: 5, classUnavailable: 6, classPermission: 7}
	for c, code := range want {
		if c.exitCode() != code {
			t.Errorf("%s: exit %d, want %d", classNames[c], c.exitCode(), code)
		}
		if !strings.Contains(exitCodesHelp, fmt.Sprintf("%d  %s", code, classNames[c])) && c != classError {
			t.Errorf("help does not document %d %s", code, classNames[c])
		}
	}
}

func TestReportJSON(t *testing.T) {
	var b bytes.Buffer
	code := report(&b, withDetails(t, codes.FailedPrecondition, "x", info(rpcpb.ReasonRevisionMismatch, map[string]string{"current_revision": "3", "name": "a"})), true)
	var je jsonError
	if err := json.Unmarshal(b.Bytes(), &je); err != nil || code != 5 {
		t.Fatalf("exit %d, %v: %s", code, err, b.String())
	}
	if je.Error.Code != "conflict" || len(je.Error.Details) != 1 || je.Error.Details[0].Reason != rpcpb.ReasonRevisionMismatch ||
		je.Error.Details[0].Metadata["current_revision"] != "3" {
		t.Errorf("json: %s", b.String())
	}
	b.Reset()
	report(&b, fmt.Errorf("two\nlines"), false)
	if b.String() != "Error: two; lines\n" {
		t.Errorf("text: %q", b.String())
	}
}
