package tlsutil

import (
	"crypto/x509"
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// Kind is what an identity names.
type Kind string

// The kinds of identity. Nodes are the cluster's own servers, the only
// kind the raft port (raft and Internal) accepts; the others are clients.
const (
	KindNode    Kind = "node"
	KindShard   Kind = "shard"
	KindService Kind = "service"
	KindTeam    Kind = "team"
	KindUser    Kind = "user"
)

// Kinds lists every kind, nodes first.
var Kinds = []Kind{KindNode, KindShard, KindService, KindTeam, KindUser}

// DefaultClusterName is the cluster name of identities when none is given
// (prismd's --cluster-name default).
const DefaultClusterName = "prism"

// maxNameLen bounds a cluster name (as cluster.Config does) and an
// identity's name.
const maxNameLen = 64

// Identity is who a certificate says its holder is:
// spiffe://<Cluster>/<Kind>/<Name>.
type Identity struct {
	Cluster string
	Kind    Kind
	Name    string
}

// URI is the identity as its certificate carries it.
func (id Identity) URI() *url.URL {
	return &url.URL{Scheme: "spiffe", Host: id.Cluster, Path: "/" + string(id.Kind) + "/" + id.Name}
}

// String is URI().String().
func (id Identity) String() string { return id.URI().String() }

// FileStem is the base name of the identity's certificate files:
// <kind>-<name>.
func (id Identity) FileStem() string { return string(id.Kind) + "-" + id.Name }

// Validate checks each part: the cluster name is a SPIFFE trust domain
// (lower-case letters, digits, '.', '-', '_'), the kind is known, the name
// is 1..64 letters, digits, '.', '-' or '_'.
func (id Identity) Validate() error {
	if err := ValidateClusterName(id.Cluster); err != nil {
		return err
	}
	if !slices.Contains(Kinds, id.Kind) {
		return fmt.Errorf("%w %q: want one of node, shard, service, team, user", ErrUnknownKind, id.Kind)
	}
	if !validName(id.Name, false) {
		return fmt.Errorf("%w: name %q: want 1..%d letters, digits, '.', '-' or '_'", ErrBadIdentity, id.Name, maxNameLen)
	}
	return nil
}

// ValidateClusterName checks that name can be the cluster part of an
// identity (a SPIFFE trust domain): 1..64 lower-case letters, digits, '.',
// '-' or '_'.
func ValidateClusterName(name string) error {
	if !validName(name, true) {
		return fmt.Errorf("%w: cluster name %q: want 1..%d lower-case letters, digits, '.', '-' or '_'", ErrBadIdentity, name, maxNameLen)
	}
	return nil
}

func validName(s string, lower bool) bool {
	if s == "" || len(s) > maxNameLen || s == "." || s == ".." {
		return false
	}
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '.', r == '-', r == '_':
		case r >= 'A' && r <= 'Z' && !lower:
		default:
			return false
		}
	}
	return true
}

// ParseIdentity reads spiffe://<cluster>/<kind>/<name>.
func ParseIdentity(s string) (Identity, error) {
	u, err := url.Parse(s)
	if err != nil {
		return Identity{}, fmt.Errorf("%w %q: %w", ErrBadIdentity, s, err)
	}
	return identityOfURI(u)
}

func identityOfURI(u *url.URL) (Identity, error) {
	if u.Scheme != "spiffe" || u.Opaque != "" || u.User != nil || u.Port() != "" || u.RawQuery != "" || u.Fragment != "" || u.RawPath != "" {
		return Identity{}, fmt.Errorf("%w %q: want spiffe://<cluster>/<kind>/<name>", ErrBadIdentity, u.String())
	}
	kind, name, ok := strings.Cut(strings.TrimPrefix(u.Path, "/"), "/")
	if !ok || !strings.HasPrefix(u.Path, "/") || strings.Contains(name, "/") {
		return Identity{}, fmt.Errorf("%w %q: want spiffe://<cluster>/<kind>/<name>", ErrBadIdentity, u.String())
	}
	id := Identity{Cluster: u.Host, Kind: Kind(kind), Name: name}
	if err := id.Validate(); err != nil {
		return Identity{}, fmt.Errorf("%q: %w", u.String(), err)
	}
	return id, nil
}

// IdentityOf is the identity of cert, which must carry exactly one URI
// SAN naming an identity of cluster. It does not verify the certificate:
// callers pass a certificate whose chain was verified.
func IdentityOf(cert *x509.Certificate, cluster string) (Identity, error) {
	switch len(cert.URIs) {
	case 0:
		return Identity{}, fmt.Errorf("%w: %s", ErrNoIdentity, describe(cert))
	case 1:
	default:
		uris := make([]string, len(cert.URIs))
		for i, u := range cert.URIs {
			uris[i] = u.String()
		}
		return Identity{}, fmt.Errorf("%w: %s has %s", ErrSeveralIdentities, describe(cert), strings.Join(uris, ", "))
	}
	id, err := identityOfURI(cert.URIs[0])
	if err != nil {
		return Identity{}, err
	}
	if id.Cluster != cluster {
		return Identity{}, fmt.Errorf("%w: %s is of cluster %q, this is %q", ErrOtherCluster, id, id.Cluster, cluster)
	}
	return id, nil
}

// describe names a certificate in an error.
func describe(cert *x509.Certificate) string {
	if cert.Subject.CommonName != "" {
		return fmt.Sprintf("certificate %q", cert.Subject.CommonName)
	}
	return fmt.Sprintf("certificate with serial %s", cert.SerialNumber)
}
