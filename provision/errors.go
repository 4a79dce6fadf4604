package provision

import "errors"

// Errors a provisioner returns, wrapped with detail. The controller
// decides retries from them (Retriable), never from message text.
var (
	// ErrTargetUnknown: the namespace names a server that was not declared
	// to this node, or its backend has no target at all. Retried: the
	// operator may declare it.
	ErrTargetUnknown = errors.New("provision: target not declared")
	// ErrNoProvisioner: no provisioner serves the namespace's backend.
	// Terminal: only a new spec (or binary) changes that.
	ErrNoProvisioner = errors.New("provision: no provisioner for backend")
	// ErrForeign: the resource exists and is not this namespace's. Terminal:
	// waits for a new spec or an explicit reconcile.
	ErrForeign = errors.New("provision: resource exists and was not created by Prism for this namespace")
	// ErrUnreachable: the server could not be reached or timed out. Retried.
	ErrUnreachable = errors.New("provision: backend unreachable")
	// ErrPermission: the server refused Prism's credentials or rights.
	// Terminal until the operator fixes them (or asks to reconcile).
	ErrPermission = errors.New("provision: permission denied by backend")
	// ErrInvalid: the server refused the resource's settings. Terminal.
	ErrInvalid = errors.New("provision: backend refused the settings")
	// ErrTransient: any other failure the server says may pass (Kafka's
	// NOT_CONTROLLER, a serialization failure). Retried.
	ErrTransient = errors.New("provision: transient backend error")
)

// Retriable reports whether a failure is worth retrying on its own
// (with backoff); terminal failures wait for a new spec or a reconcile.
// An error of no known kind is retried.
func Retriable(err error) bool {
	return !errors.Is(err, ErrForeign) && !errors.Is(err, ErrPermission) && !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrNoProvisioner)
}

// Kind names the kind of a failure, stable across messages: the
// controller commits a status again only when the kind changes.
func Kind(err error) string {
	for _, k := range []struct {
		err  error
		name string
	}{
		{ErrTargetUnknown, "target"}, {ErrNoProvisioner, "no-provisioner"}, {ErrForeign, "foreign"},
		{ErrUnreachable, "unreachable"}, {ErrPermission, "permission"}, {ErrInvalid, "invalid"},
		{ErrTransient, "transient"},
	} {
		if errors.Is(err, k.err) {
			return k.name
		}
	}
	if err == nil {
		return ""
	}
	return "failed"
}
