package fsm

import (
	"errors"
	"fmt"
	"strings"

	"github.com/prism/controlplane/acl"
	"github.com/prism/controlplane/fsm/fsmpb"
)

// Sentinel business errors. Apply returns them as values inside a Result;
// they never panic and never stop the state machine.
var (
	ErrNotFound           = errors.New("fsm: namespace not found")
	ErrShardNotFound      = errors.New("fsm: shard not found")
	ErrAlreadyExists      = errors.New("fsm: namespace already exists")
	ErrRevisionMismatch   = errors.New("fsm: revision mismatch")
	ErrInvalid            = errors.New("fsm: invalid request") // a namespace, shard, command or snapshot
	ErrFailedPrecondition = errors.New("fsm: failed precondition")
	ErrTokenNotFound      = errors.New("fsm: token not found")
	// ErrUnknownCommand is returned (not panicked) only for ignorable bodies.
	ErrUnknownCommand = errors.New("fsm: unknown command")
	ErrBadEntry       = errors.New("fsm: malformed log entry")
)

// FieldError is one problem with one field, named by its path
// (e.g. "capacity.estimated_read_rps" or "access.consumers[0].service").
type FieldError struct {
	Path    string
	Message string
	Line    int // line in the source file, 0 when unknown
}

func (e FieldError) String() string {
	if e.Path == "" {
		if e.Line > 0 {
			return fmt.Sprintf("line %d: %s", e.Line, e.Message)
		}
		return e.Message
	}
	if e.Line > 0 {
		return fmt.Sprintf("%s (line %d): %s", e.Path, e.Line, e.Message)
	}
	return fmt.Sprintf("%s: %s", e.Path, e.Message)
}

// ValidationError lists every problem found; it matches ErrInvalid.
type ValidationError struct {
	Fields []FieldError
}

func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		parts[i] = f.String()
	}
	return fmt.Sprintf("%v: %d problem(s): %s", ErrInvalid, len(e.Fields), strings.Join(parts, "; "))
}

func (e *ValidationError) Is(target error) bool { return target == ErrInvalid }

// RevisionError says the namespace was not at the expected revision; it
// matches ErrRevisionMismatch and carries the current revision (0 = absent).
type RevisionError struct {
	Name     string
	Expected int64
	Current  int64
}

func (e *RevisionError) Error() string {
	return fmt.Sprintf("%v: namespace %q is at revision %d, expected %d", ErrRevisionMismatch, e.Name, e.Current, e.Expected)
}

func (e *RevisionError) Is(target error) bool { return target == ErrRevisionMismatch }

// ErrorToProto encodes a business error so it can cross a node boundary.
func ErrorToProto(err error) *fsmpb.Error {
	if err == nil {
		return nil
	}
	pe := &fsmpb.Error{Message: err.Error()}
	var ve *ValidationError
	var re *RevisionError
	switch {
	case errors.As(err, &ve):
		pe.Kind = fsmpb.Error_KIND_INVALID
		for _, f := range ve.Fields {
			pe.Fields = append(pe.Fields, &fsmpb.FieldError{Path: f.Path, Message: f.Message, Line: int32(f.Line)})
		}
	case errors.As(err, &re):
		pe.Kind = fsmpb.Error_KIND_REVISION_MISMATCH
		pe.CurrentRevision = re.Current
		pe.Name = re.Name
		pe.ExpectedRevision = re.Expected
	case errors.Is(err, ErrNotFound):
		pe.Kind = fsmpb.Error_KIND_NOT_FOUND
	case errors.Is(err, ErrShardNotFound):
		pe.Kind = fsmpb.Error_KIND_SHARD_NOT_FOUND
	case errors.Is(err, ErrAlreadyExists):
		pe.Kind = fsmpb.Error_KIND_ALREADY_EXISTS
	case errors.Is(err, ErrFailedPrecondition):
		pe.Kind = fsmpb.Error_KIND_FAILED_PRECONDITION
	case errors.Is(err, acl.ErrPermissionDenied):
		pe.Kind = fsmpb.Error_KIND_PERMISSION_DENIED
	case errors.Is(err, ErrTokenNotFound):
		pe.Kind = fsmpb.Error_KIND_TOKEN_NOT_FOUND
	}
	return pe
}

// ErrorFromProto is the inverse of ErrorToProto.
func ErrorFromProto(pe *fsmpb.Error) error {
	if pe == nil {
		return nil
	}
	switch pe.Kind {
	case fsmpb.Error_KIND_INVALID:
		ve := &ValidationError{}
		for _, f := range pe.Fields {
			ve.Fields = append(ve.Fields, FieldError{Path: f.Path, Message: f.Message, Line: int(f.Line)})
		}
		return ve
	case fsmpb.Error_KIND_REVISION_MISMATCH:
		return &RevisionError{Name: pe.Name, Expected: pe.ExpectedRevision, Current: pe.CurrentRevision}
	case fsmpb.Error_KIND_NOT_FOUND:
		return wrapMsg(ErrNotFound, pe.Message)
	case fsmpb.Error_KIND_SHARD_NOT_FOUND:
		return wrapMsg(ErrShardNotFound, pe.Message)
	case fsmpb.Error_KIND_ALREADY_EXISTS:
		return wrapMsg(ErrAlreadyExists, pe.Message)
	case fsmpb.Error_KIND_FAILED_PRECONDITION:
		return wrapMsg(ErrFailedPrecondition, pe.Message)
	case fsmpb.Error_KIND_PERMISSION_DENIED:
		return wrapMsg(acl.ErrPermissionDenied, pe.Message)
	case fsmpb.Error_KIND_TOKEN_NOT_FOUND:
		return wrapMsg(ErrTokenNotFound, pe.Message)
	}
	return errors.New(pe.Message)
}

// wrapMsg rebuilds "sentinel: detail" from a message that already starts
// with the sentinel's text, so the text survives a round trip unchanged.
func wrapMsg(sentinel error, msg string) error {
	detail := strings.TrimPrefix(strings.TrimPrefix(msg, sentinel.Error()), ": ")
	if detail == "" {
		return sentinel
	}
	return fmt.Errorf("%w: %s", sentinel, detail)
}

// ErrBadSnapshot: a snapshot stream decodes but its records are not a
// state this binary would have written (a duplicate, a missing spec, a
// revision out of range).
var ErrBadSnapshot = errors.New("fsm: invalid snapshot")
