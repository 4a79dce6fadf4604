package rpcpb

// ErrorDomain names this API in google.rpc.ErrorInfo details.
const ErrorDomain = "prism.control-plane"

// Reasons carried in google.rpc.ErrorInfo, so clients tell errors apart
// without parsing messages.
const (
	ReasonRevisionMismatch = "REVISION_MISMATCH" // metadata: current_revision, name
	ReasonNoLeader         = "NO_LEADER"         // not applied; safe to retry elsewhere
	ReasonUncertain        = "OUTCOME_UNKNOWN"   // may have been applied
	ReasonCompacted        = "COMPACTED"         // metadata: oldest_revision
	ReasonWatcherTooSlow   = "WATCHER_TOO_SLOW"  // resume from your last revision
	ReasonReset            = "RESET"             // the state was replaced: list again
	// ReasonTLS is made by the client (code Unauthenticated): its TLS
	// handshake with the node failed, so nothing was sent; the message
	// says what to change.
	ReasonTLS = "TLS_FAILED"
)
