package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/prism/controlplane/provision"
)

// kind is the provision sentinel for a failure of the driver or the
// server; nil for a context cancellation, which passes through.
func kind(err error) error {
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		return sqlstateKind(pg.Code)
	}
	switch {
	case errors.Is(err, context.Canceled):
		return nil
	case errors.Is(err, context.DeadlineExceeded), pgconn.Timeout(err),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, pgconn.ErrConnClosed),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return provision.ErrUnreachable
	}
	var ce *pgconn.ConnectError
	var ne net.Error
	if errors.As(err, &ce) || errors.As(err, &ne) {
		return provision.ErrUnreachable
	}
	return provision.ErrTransient
}

// sqlstateKind classifies a server error by its SQLSTATE.
func sqlstateKind(code string) error {
	switch code {
	case "57P01", "57P02", "57P03": // admin_shutdown, crash_shutdown, cannot_connect_now
		return provision.ErrUnreachable
	case "42501": // insufficient_privilege
		return provision.ErrPermission
	case "40001", "40P01", "55P03", "57014", // serialization, deadlock, lock_not_available, query_canceled (timeouts)
		"23505", "42P07", "42P06", // a concurrent creator outside Prism's locks raced a catalog insert
		"42P01",          // undefined_table: the registry was dropped under us; it is created again
		"25006", "XX000": // read_only_sql_transaction (a standby during failover), internal_error
		return provision.ErrTransient
	case "3D000", "2BP01": // the target database does not exist; other objects depend on the table
		return provision.ErrInvalid
	}
	switch code[:2] {
	case "08": // connection exception
		return provision.ErrUnreachable
	case "28": // invalid authorization
		return provision.ErrPermission
	case "53", "58": // insufficient resources, system error
		return provision.ErrTransient
	case "42", "22", "0A", "2B", "44": // syntax or access rule, data, unsupported, dependencies, check option
		return provision.ErrInvalid
	}
	return provision.ErrTransient
}

// redacted hides a password that a message happens to repeat. It unwraps
// to its kind alone: the chain below holds the password.
type redacted struct {
	msg  string
	kind error
}

func (r *redacted) Error() string { return r.msg }
func (r *redacted) Unwrap() error { return r.kind }

// wrap gives err its provision kind and context, and never a password.
func (t *target) wrap(what string, err error) error {
	if err == nil {
		return nil
	}
	k := kind(err)
	var out error
	if k != nil {
		out = fmt.Errorf("%w: postgres target %q: %s: %w", k, t.name, what, err)
	} else {
		k = context.Canceled
		out = fmt.Errorf("postgres target %q: %s: %w", t.name, what, err)
	}
	if t.password != "" && strings.Contains(out.Error(), t.password) {
		return &redacted{msg: strings.ReplaceAll(out.Error(), t.password, "********"), kind: k}
	}
	return out
}
