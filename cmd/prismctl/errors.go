package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/prism/controlplane/acl"
	"github.com/prism/controlplane/fsm"
	"github.com/prism/controlplane/nsfile"
	"github.com/prism/controlplane/rpc/rpcpb"
)

// class is what kind of failure an error is; each has its exit code, and
// its name is the "code" of a JSON error. The class comes from gRPC codes
// and typed details, never from message text.
type class int

const (
	classError       class = iota // anything else: internal errors, interrupted
	classUsage                    // wrong command, flags or arguments
	classInvalid                  // input the cluster refuses: invalid files or values, unreadable files
	classNotFound                 // the namespace, shard or server does not exist
	classConflict                 // already exists, revision mismatch, or another failed precondition
	classUnavailable              // no node reachable, no leader, busy, or timed out
	classPermission               // not authenticated, or not allowed
)

var classNames = map[class]string{
	classError: "error", classUsage: "usage", classInvalid: "invalid_input", classNotFound: "not_found",
	classConflict: "conflict", classUnavailable: "unavailable", classPermission: "permission_denied",
}

// exitCode is the process exit code of a class: 1 for anything else, 2
// for usage as shells and Go's flag package do, then one each.
func (c class) exitCode() int {
	if c == classError {
		return 1
	}
	return int(c) + 1
}

// exitCodesHelp documents the exit codes (prismctl --help and README).
const exitCodesHelp = `Exit codes:
  0  success
  1  any other error
  2  usage: unknown command or flag, wrong arguments
  3  invalid_input: a file or value the cluster refuses (every problem listed), or a file that cannot be read or written
  4  not_found: the namespace, shard or server does not exist
  5  conflict: already exists, --expect-revision did not match, or another failed precondition
  6  unavailable: no node reachable, no leader, the cluster busy, or --timeout reached
  7  permission_denied: not authenticated or not allowed

Errors are one line on stderr ("Error: ..."); with -o json they are
{"error": {"code": CLASS, "message": ..., "details": [...]}} on stderr.`

// cliError is an error as the user reads it.
type cliError struct {
	class   class
	msg     string
	details []detail
}

func (e *cliError) Error() string { return e.msg }

// detail is one machine-readable fact of a JSON error; Type says which
// fields it has: "field_violation" (file, field, line, description),
// "error_info" (reason, metadata) or "endpoint" (endpoint, error).
type detail struct {
	Type        string            `json:"type"`
	File        string            `json:"file,omitempty"`
	Field       string            `json:"field,omitempty"`
	Line        int               `json:"line,omitempty"`
	Description string            `json:"description,omitempty"`
	Reason      string            `json:"reason,omitempty"`
	Metadata    map[string]string `json:"metadata,omitempty"`
	Endpoint    string            `json:"endpoint,omitempty"`
	Error       string            `json:"error,omitempty"`
}

func usageErr(format string, args ...any) error {
	return &cliError{class: classUsage, msg: fmt.Sprintf(format, args...)}
}

// subjectError names what a failed call was about, so a NotFound or
// AlreadyExists reads `namespace "x" not found`.
type subjectError struct {
	kind, name string
	err        error
}

func (e *subjectError) Error() string { return e.err.Error() }
func (e *subjectError) Unwrap() error { return e.err }

// about wraps err (when not nil) with the kind and name it concerns.
func about(kind, name string, err error) error {
	if err == nil {
		return nil
	}
	return &subjectError{kind: kind, name: name, err: err}
}

// tokenGiven marks the error of a command that sent a token (--token or
// PRISM_TOKEN), so that "not authenticated" says the token was refused
// rather than asking for one.
type tokenGiven struct{ err error }

func (e *tokenGiven) Error() string { return e.err.Error() }
func (e *tokenGiven) Unwrap() error { return e.err }

// grpcStatus is the status of the gRPC error inside err, if any.
func grpcStatus(err error) (*status.Status, bool) {
	var se interface{ GRPCStatus() *status.Status }
	if errors.As(err, &se) {
		return se.GRPCStatus(), true
	}
	return nil, false
}

var codeClasses = map[codes.Code]class{
	codes.InvalidArgument:    classInvalid,
	codes.OutOfRange:         classInvalid,
	codes.NotFound:           classNotFound,
	codes.AlreadyExists:      classConflict,
	codes.FailedPrecondition: classConflict,
	codes.Aborted:            classConflict,
	codes.Unavailable:        classUnavailable,
	codes.DeadlineExceeded:   classUnavailable,
	codes.ResourceExhausted:  classUnavailable,
	codes.PermissionDenied:   classPermission,
	codes.Unauthenticated:    classPermission,
}

// explain turns any error of a command into a cliError.
func explain(err error) *cliError {
	var ce *cliError
	if errors.As(err, &ce) {
		return ce
	}
	var subj *subjectError
	errors.As(err, &subj)
	var tg *tokenGiven
	if st, ok := grpcStatus(err); ok {
		return explainStatus(st, subj, errors.As(err, &tg))
	}
	var fe *nsfile.FilesError
	if errors.As(err, &fe) {
		var ce *cliError
		errors.As(inputError(nil, fe), &ce)
		return ce
	}
	var pe *fs.PathError
	switch {
	case errors.As(err, &pe):
		return &cliError{class: classInvalid, msg: fmt.Sprintf("%s %s: %v", pe.Op, pe.Path, pe.Err)}
	case errors.Is(err, fsm.ErrBadSnapshotFile):
		return &cliError{class: classInvalid, msg: err.Error()}
	case errors.Is(err, context.DeadlineExceeded):
		return &cliError{class: classUnavailable, msg: err.Error()}
	}
	return &cliError{class: classError, msg: err.Error()}
}

// explainStatus words a server's error; withToken: the call carried a
// token.
func explainStatus(st *status.Status, subj *subjectError, withToken bool) *cliError {
	e := &cliError{class: codeClasses[st.Code()], msg: st.Message()}
	var info *errdetails.ErrorInfo
	var res *errdetails.ResourceInfo
	for _, d := range st.Details() {
		switch t := d.(type) {
		case *errdetails.ErrorInfo:
			info = t
			e.details = append(e.details, detail{Type: "error_info", Reason: t.Reason, Metadata: t.Metadata})
		case *errdetails.BadRequest:
			for _, v := range t.FieldViolations {
				e.details = append(e.details, detail{Type: "field_violation", Field: v.Field, Description: v.Description})
			}
		case *errdetails.ResourceInfo:
			res = t
		}
	}
	kind, name := "", ""
	switch {
	case res != nil:
		kind, name = res.ResourceType, res.ResourceName
	case subj != nil:
		kind, name = subj.kind, subj.name
	}
	reason := info.GetReason()
	switch {
	case st.Code() == codes.NotFound && kind != "":
		e.msg = fmt.Sprintf("%s %q not found", kind, name)
	case st.Code() == codes.AlreadyExists && kind != "":
		e.msg = fmt.Sprintf("%s %q already exists", kind, name)
	case reason == rpcpb.ReasonRevisionMismatch:
		if n := info.Metadata["name"]; n != "" {
			kind, name = "namespace", n
		}
		e.msg = fmt.Sprintf("%s %q has changed: current revision %s does not match --expect-revision", kind, name, info.Metadata["current_revision"])
		if info.Metadata["current_revision"] == "0" {
			e.msg = fmt.Sprintf("%s %q does not exist (current revision 0), so --expect-revision does not match", kind, name)
		}
	case st.Code() == codes.InvalidArgument && len(e.details) > 0 && e.details[0].Type == "field_violation":
		var parts []string
		for _, d := range e.details {
			if d.Type == "field_violation" {
				parts = append(parts, d.Field+": "+d.Description)
			}
		}
		what := "invalid input"
		if kind != "" {
			what = fmt.Sprintf("invalid %s %q", kind, name)
		}
		e.msg = fmt.Sprintf("%s: %s", what, strings.Join(parts, "; "))
	case reason == rpcpb.ReasonNoLeader:
		e.msg = "the cluster has no leader right now (a majority of its nodes must be up and connected): nothing was changed; try again"
	case reason == rpcpb.ReasonUncertain:
		e.msg = "a node failed while committing the change: it may or may not have been applied; check with get, and apply again if needed"
	case st.Code() == codes.PermissionDenied:
		// The server's words start with its sentinel's; say it once.
		e.msg = "permission denied: " + strings.TrimPrefix(st.Message(), acl.ErrPermissionDenied.Error()+": ")
	case st.Code() == codes.Unauthenticated && reason == rpcpb.ReasonTLS:
		e.msg = "not authenticated: " + st.Message() // says which TLS flag to fix
	case st.Code() == codes.Unauthenticated && withToken:
		e.msg = "not authenticated: the token (--token or PRISM_TOKEN) was refused: it is unknown, revoked or expired; " + strings.TrimPrefix(st.Message(), acl.ErrUnauthenticated.Error()+": ")
	case st.Code() == codes.Unauthenticated:
		e.msg = "not authenticated: pass a token (--token or PRISM_TOKEN) or a client certificate (--cert/--key); " + strings.TrimPrefix(st.Message(), acl.ErrUnauthenticated.Error()+": ")
	}
	return e
}

// jsonError is the shape of an error with -o json.
type jsonError struct {
	Error struct {
		Code    string   `json:"code"`
		Message string   `json:"message"`
		Details []detail `json:"details"`
	} `json:"error"`
}

// report writes err to w (one line, or one JSON object) and returns the
// exit code.
func report(w io.Writer, err error, asJSON bool) int {
	e := explain(err)
	msg := strings.ReplaceAll(e.msg, "\n", "; ")
	if asJSON {
		var je jsonError
		je.Error.Code, je.Error.Message, je.Error.Details = classNames[e.class], msg, e.details
		if je.Error.Details == nil {
			je.Error.Details = []detail{}
		}
		b, _ := json.Marshal(je)
		fmt.Fprintln(w, string(b))
	} else {
		fmt.Fprintln(w, "Error:", msg)
	}
	return e.class.exitCode()
}
