package client

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"sync"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"github.com/prism/controlplane/internal/tlsutil"
	"github.com/prism/controlplane/rpc/rpcpb"
)

// handshakes remembers the outcome of the last TLS handshake with one
// node, so a call that failed for want of a connection can say why in
// words (grpc reports only "connection error" text).
type handshakes struct {
	mu   sync.Mutex
	last error // nil after a successful handshake
}

func (h *handshakes) set(err error) {
	h.mu.Lock()
	h.last = err
	h.mu.Unlock()
}

func (h *handshakes) get() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.last
}

// recordingCreds are TLS transport credentials that record each
// handshake's outcome in h.
type recordingCreds struct {
	credentials.TransportCredentials
	h *handshakes
}

func (r recordingCreds) ClientHandshake(ctx context.Context, authority string, conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	c, info, err := r.TransportCredentials.ClientHandshake(ctx, authority, conn)
	r.h.set(err)
	return c, info, err
}

func (r recordingCreds) Clone() credentials.TransportCredentials {
	return recordingCreds{TransportCredentials: r.TransportCredentials.Clone(), h: r.h}
}

// tlsFailure is the error a call to addr ends with when its connection
// failed in the TLS handshake for a reason a user can fix (not a network
// failure): Unauthenticated with ReasonTLS and a message saying what to
// change. Nil otherwise.
func (c *Client) tlsFailure(addr string) error {
	c.mu.Lock()
	h := c.handshakes[addr]
	c.mu.Unlock()
	if h == nil {
		return nil
	}
	err := h.get()
	hint := tlsHint(err)
	if hint == "" {
		return nil
	}
	st, derr := status.New(codes.Unauthenticated, hint+" ("+addr+": "+err.Error()+")").
		WithDetails(&errdetails.ErrorInfo{Domain: rpcpb.ErrorDomain, Reason: rpcpb.ReasonTLS})
	if derr != nil {
		return status.Error(codes.Unauthenticated, hint)
	}
	return st.Err()
}

// tlsHint says what to change after a failed handshake, or "" when err
// is not a TLS problem (a lost connection, a timeout).
func tlsHint(err error) string {
	var rh tls.RecordHeaderError
	var alert tls.AlertError
	switch {
	case err == nil:
		return ""
	case errors.Is(err, tlsutil.ErrNoClientCert):
		return "the server requires a client certificate: pass --cert and --key (prismctl tls cert create --client KIND/NAME, or --shard ID, makes one)"
	case errors.Is(err, tlsutil.ErrUntrusted):
		return "the node's certificate is not signed by a CA this client trusts: pass --cacert with the cluster's CA (prism-ca.pem)"
	case errors.Is(err, tlsutil.ErrWrongHost):
		return "the node's certificate is not valid for the address dialled: dial an address it names, or give the node a certificate made with --host ADDR"
	case errors.Is(err, tlsutil.ErrNoCertificate), errors.Is(err, tlsutil.ErrRejected), errors.Is(err, tlsutil.ErrKindNotAccepted):
		return "the node's certificate was refused"
	case errors.As(err, &rh):
		return "the node does not serve TLS: drop --cacert, --cert and --key"
	case errors.As(err, &alert):
		return "the node refused this client's certificate: it must be signed by the cluster's CA and name an identity of the cluster (prismctl tls cert create --client KIND/NAME)"
	}
	return ""
}
