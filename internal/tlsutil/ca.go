package tlsutil

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"slices"
	"time"
)

// Validity defaults: a CA lives ten years, a leaf certificate one.
const (
	DefaultCAValidity   = 10 * 365 * 24 * time.Hour
	DefaultLeafValidity = 365 * 24 * time.Hour
)

// clockSkew backdates NotBefore so a peer whose clock is a little behind
// accepts a certificate made just now.
const clockSkew = time.Minute

// CA is a certificate authority that signs a cluster's certificates.
type CA struct {
	Cert *x509.Certificate
	Key  crypto.Signer
	// ClusterName is the cluster the CA signs for: its certificate's URI
	// SAN is spiffe://<ClusterName>.
	ClusterName string
	// CertPEM is Cert encoded. (x509.CreateCertificate gives a CA a
	// subject key id and its leaves the matching authority key id.)
	CertPEM []byte
}

// PEM is an encoded certificate and its private key.
type PEM struct {
	Cert []byte
	Key  []byte
}

// NewCA makes a CA for cluster with a new P-256 key, valid from now for
// validity (DefaultCAValidity when 0). Its certificate carries the trust
// domain spiffe://<cluster> as URI SAN, so leaf certificates made from it
// need not be told the cluster name again.
func NewCA(cluster string, validity time.Duration, now time.Time) (*CA, PEM, error) {
	if err := ValidateClusterName(cluster); err != nil {
		return nil, PEM{}, err
	}
	if validity <= 0 {
		validity = DefaultCAValidity
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, PEM{}, err
	}
	serial, err := newSerial()
	if err != nil {
		return nil, PEM{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "Prism CA " + cluster, Organization: []string{"Prism"}},
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              now.Add(validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
		URIs:                  []*url.URL{{Scheme: "spiffe", Host: cluster}},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, PEM{}, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, PEM{}, err
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return nil, PEM{}, err
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	return &CA{Cert: cert, Key: key, ClusterName: cluster, CertPEM: certPEM}, PEM{Cert: certPEM, Key: keyPEM}, nil
}

// ParseCA reads a CA made by NewCA from its PEM files' contents.
func ParseCA(certPEM, keyPEM []byte) (*CA, error) {
	certs, err := parseCerts(certPEM)
	if err != nil {
		return nil, err
	}
	cert := certs[0]
	if !cert.IsCA {
		return nil, fmt.Errorf("%w: %s is not a CA certificate", ErrNotCA, describe(cert))
	}
	if len(cert.URIs) != 1 || cert.URIs[0].Scheme != "spiffe" || cert.URIs[0].Path != "" {
		return nil, fmt.Errorf("%w: %s does not name its cluster (URI SAN spiffe://<cluster>)", ErrNotCA, describe(cert))
	}
	cluster := cert.URIs[0].Host
	if err := ValidateClusterName(cluster); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNotCA, err)
	}
	block, _ := pem.Decode(keyPEM)
	if block == nil {
		return nil, fmt.Errorf("%w: the CA key file holds no PEM block", ErrFiles)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: CA key: %w", ErrFiles, err)
	}
	key, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%w: CA key of type %T cannot sign", ErrFiles, k)
	}
	if pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool }); !ok || !pub.Equal(cert.PublicKey) {
		return nil, fmt.Errorf("%w: the CA key does not match the CA certificate", ErrFiles)
	}
	return &CA{Cert: cert, Key: key, ClusterName: cluster, CertPEM: certPEM}, nil
}

// LeafRequest describes a certificate to sign.
type LeafRequest struct {
	// Identity is the certificate's one URI SAN; its Cluster must be the
	// CA's (empty: the CA's).
	Identity Identity
	// Hosts are the DNS names and IP addresses a node is dialled at; only
	// node certificates carry them (127.0.0.1, ::1 and localhost are
	// always added for nodes).
	Hosts []string
	// Validity is how long the certificate is valid (DefaultLeafValidity
	// when 0); never past the CA's own expiry.
	Validity time.Duration
}

// Sign makes a new P-256 key and a certificate for it. A node certificate
// serves and dials (server and client auth) and names its hosts; every
// other kind is a client certificate (client auth only), so it cannot pose
// as a node to a client that checks the server's certificate.
func (ca *CA) Sign(req LeafRequest, now time.Time) (PEM, *x509.Certificate, error) {
	id := req.Identity
	if id.Cluster == "" {
		id.Cluster = ca.ClusterName
	}
	if id.Cluster != ca.ClusterName {
		return PEM{}, nil, fmt.Errorf("%w: %s, but the CA signs for %q", ErrOtherCluster, id, ca.ClusterName)
	}
	if err := id.Validate(); err != nil {
		return PEM{}, nil, err
	}
	if len(req.Hosts) > 0 && id.Kind != KindNode {
		return PEM{}, nil, errors.New("tlsutil: hosts are for node certificates only")
	}
	validity := req.Validity
	if validity <= 0 {
		validity = DefaultLeafValidity
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return PEM{}, nil, err
	}
	serial, err := newSerial()
	if err != nil {
		return PEM{}, nil, err
	}
	notAfter := now.Add(validity)
	if notAfter.After(ca.Cert.NotAfter) {
		notAfter = ca.Cert.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: id.FileStem(), Organization: []string{"Prism"}},
		NotBefore:    now.Add(-clockSkew),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		URIs:         []*url.URL{id.URI()},
	}
	if id.Kind == KindNode {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
		for _, h := range append([]string{"127.0.0.1", "::1", "localhost"}, req.Hosts...) {
			if ip := net.ParseIP(h); ip != nil {
				if !slices.ContainsFunc(tmpl.IPAddresses, ip.Equal) {
					tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
				}
			} else if h != "" && !slices.Contains(tmpl.DNSNames, h) {
				tmpl.DNSNames = append(tmpl.DNSNames, h)
			}
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.Key)
	if err != nil {
		return PEM{}, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return PEM{}, nil, err
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return PEM{}, nil, err
	}
	return PEM{Cert: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), Key: keyPEM}, cert, nil
}

func newSerial() (*big.Int, error) {
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
}

func encodeKey(key *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// parseCerts reads every CERTIFICATE block of a PEM file; at least one.
func parseCerts(b []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for {
		var block *pem.Block
		block, b = pem.Decode(b)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrFiles, err)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: no certificate in the PEM data", ErrFiles)
	}
	return out, nil
}
