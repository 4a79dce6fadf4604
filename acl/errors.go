package acl

import "errors"

var (
	// ErrPermissionDenied: the principal may not do this.
	ErrPermissionDenied = errors.New("acl: permission denied")
	// ErrUnauthenticated: the call carries no identity, or a token that
	// is unknown, revoked or expired.
	ErrUnauthenticated = errors.New("acl: unauthenticated")
	// ErrInvalid: a principal or token subject is malformed.
	ErrInvalid = errors.New("acl: invalid")
)
