// Package tlsutil owns Prism's certificates and the identities they carry:
// a local certificate authority (ECDSA P-256), leaf certificates whose one
// URI SAN is a SPIFFE-style identity spiffe://<cluster>/<kind>/<name>,
// parsing that identity back from a verified peer certificate, and
// tls.Config values whose certificate, key and CA are re-read from their
// files when those change, so certificates rotate without a restart.
//
// It decides who a peer is, never what the peer may do: authorization is
// the caller's (the raft port accepts node identities only; the public
// API accepts any identity of the cluster). It does not listen or dial.
package tlsutil
