package rpc

import (
	"context"
	"errors"
	"strconv"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/protoadapt"

	"github.com/prism/controlplane/acl"
	"github.com/prism/controlplane/archive"
	"github.com/prism/controlplane/cluster"
	"github.com/prism/controlplane/fsm"
	"github.com/prism/controlplane/placement"
	"github.com/prism/controlplane/rpc/rpcpb"
)

// Errors of the API layer itself.
var (
	// ErrInvalidConfig: a Config field is invalid.
	ErrInvalidConfig = errors.New("rpc: invalid config")
	// ErrTooManyWatches: a Watches stream already has MaxWatchesPerStream watches.
	ErrTooManyWatches = errors.New("rpc: too many watches on this stream")
	// ErrTooManyListings: this node is busy listing the state for other
	// watches (MaxConcurrentListings, and its wait queue, are full).
	ErrTooManyListings = errors.New("rpc: too many listings in progress on this node")
	// ErrStopping: the node is stopping; watch streams end with it
	// (Unavailable: resume on another node).
	ErrStopping = errors.New("rpc: node stopping")
	// ErrACLOff: a token operation on a node without --acl.
	ErrACLOff = errors.New("rpc: ACLs are off on this node: start prismd with --acl to use tokens")
)

// codeTable is the one mapping from error sentinels to gRPC codes.
// The first match wins.
var codeTable = []struct {
	err    error
	code   codes.Code
	reason string
}{
	{fsm.ErrInvalid, codes.InvalidArgument, ""},
	{fsm.ErrNotFound, codes.NotFound, ""},
	{fsm.ErrShardNotFound, codes.NotFound, ""},
	{fsm.ErrAlreadyExists, codes.AlreadyExists, ""},
	{fsm.ErrRevisionMismatch, codes.FailedPrecondition, rpcpb.ReasonRevisionMismatch},
	{fsm.ErrFailedPrecondition, codes.FailedPrecondition, ""},
	{fsm.ErrTokenNotFound, codes.NotFound, ""},
	{acl.ErrPermissionDenied, codes.PermissionDenied, ""},
	{acl.ErrUnauthenticated, codes.Unauthenticated, ""},
	{acl.ErrInvalid, codes.InvalidArgument, ""},
	{cluster.ErrServerNotFound, codes.NotFound, ""},
	{placement.ErrUnknownNamespace, codes.NotFound, ""},
	{cluster.ErrWouldBreakQuorum, codes.FailedPrecondition, ""},
	{cluster.ErrServerRunning, codes.FailedPrecondition, ""},
	{cluster.ErrAdminFailed, codes.FailedPrecondition, ""},
	{cluster.ErrUnauthenticated, codes.Unauthenticated, ""},
	{cluster.ErrNoLeader, codes.Unavailable, rpcpb.ReasonNoLeader},
	{cluster.ErrNotLeader, codes.Unavailable, rpcpb.ReasonNoLeader},
	{cluster.ErrShutdown, codes.Unavailable, rpcpb.ReasonNoLeader},
	{cluster.ErrUncertain, codes.Unavailable, rpcpb.ReasonUncertain},
	{cluster.ErrRestoreInProgress, codes.ResourceExhausted, ""},
	{cluster.ErrSnapshotTooLarge, codes.ResourceExhausted, ""},
	{ErrTooManyWatches, codes.ResourceExhausted, ""},
	{ErrTooManyListings, codes.ResourceExhausted, ""},
	{ErrStopping, codes.Unavailable, ""},
	{ErrACLOff, codes.FailedPrecondition, ""},
	{archive.ErrNotConfigured, codes.FailedPrecondition, ""},
	{archive.ErrNoArchive, codes.NotFound, ""},
	{archive.ErrUnreachable, codes.Unavailable, ""},
	{context.DeadlineExceeded, codes.DeadlineExceeded, ""},
	{context.Canceled, codes.Canceled, ""},
}

// toStatus turns an error into a gRPC status error with details: every
// field violation for invalid input, the current revision for a mismatch.
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	code, reason := codes.Internal, ""
	for _, row := range codeTable {
		if errors.Is(err, row.err) {
			code, reason = row.code, row.reason
			break
		}
	}
	st := status.New(code, err.Error())
	var details []protoadapt.MessageV1
	var ve *fsm.ValidationError
	if errors.As(err, &ve) {
		br := &errdetails.BadRequest{}
		for _, f := range ve.Fields {
			br.FieldViolations = append(br.FieldViolations, &errdetails.BadRequest_FieldViolation{Field: f.Path, Description: f.Message})
		}
		details = append(details, br)
	}
	if reason != "" {
		info := &errdetails.ErrorInfo{Domain: rpcpb.ErrorDomain, Reason: reason}
		var re *fsm.RevisionError
		if errors.As(err, &re) {
			info.Metadata = map[string]string{"current_revision": strconv.FormatInt(re.Current, 10), "name": re.Name}
		}
		details = append(details, info)
	}
	if len(details) > 0 {
		if withDetails, derr := st.WithDetails(details...); derr == nil {
			st = withDetails
		}
	}
	return st.Err()
}
