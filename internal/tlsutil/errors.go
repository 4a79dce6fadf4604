package tlsutil

import "errors"

var (
	// ErrNoIdentity: a certificate has no URI SAN.
	ErrNoIdentity = errors.New("tlsutil: certificate has no identity (URI SAN)")
	// ErrSeveralIdentities: a certificate has more than one URI SAN.
	ErrSeveralIdentities = errors.New("tlsutil: certificate has several identities (URI SANs)")
	// ErrBadIdentity: an identity is not spiffe://<cluster>/<kind>/<name>.
	ErrBadIdentity = errors.New("tlsutil: malformed identity")
	// ErrUnknownKind: an identity's kind is not node, shard, service, team or user.
	ErrUnknownKind = errors.New("tlsutil: unknown identity kind")
	// ErrOtherCluster: an identity belongs to another cluster.
	ErrOtherCluster = errors.New("tlsutil: identity of another cluster")
	// ErrKindNotAccepted: a peer's identity is of a kind this endpoint
	// does not accept (a client certificate on the raft port).
	ErrKindNotAccepted = errors.New("tlsutil: identity kind not accepted here")
	// ErrNoCertificate: a peer presented no certificate where one is required.
	ErrNoCertificate = errors.New("tlsutil: no certificate presented")
	// ErrUntrusted: a peer's certificate does not chain to the CA.
	ErrUntrusted = errors.New("tlsutil: certificate not signed by the cluster's CA")
	// ErrFiles: the certificate, key or CA files cannot be used.
	ErrFiles = errors.New("tlsutil: unusable certificate files")
	// ErrExists: a file to be written already exists.
	ErrExists = errors.New("tlsutil: file already exists")
	// ErrNotCA: the CA files do not hold a Prism CA.
	ErrNotCA = errors.New("tlsutil: not a Prism CA")
)

var (
	// ErrWrongHost: a server's certificate is not valid for the address
	// the client dialled.
	ErrWrongHost = errors.New("tlsutil: server certificate not valid for the address dialled")
	// ErrRejected: a peer's certificate failed verification (expired, not
	// for this use, ...).
	ErrRejected = errors.New("tlsutil: certificate rejected")
)

// ErrNoClientCert: the server asked for a client certificate and this
// client has none (ClientOptions.RefuseCertRequest).
var ErrNoClientCert = errors.New("tlsutil: the server requires a client certificate and none is configured")
