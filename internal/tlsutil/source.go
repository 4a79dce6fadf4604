package tlsutil

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"time"
)

// Files are PEM files: the CA certificates to trust, and a certificate
// (with any intermediates after it) with its private key.
type Files struct {
	CA   string
	Cert string
	Key  string
}

// DefaultCheckInterval is how often, at most, a Source compares its files'
// modification times: a rotated certificate is in use within a second.
const DefaultCheckInterval = time.Second

// SourceConfig configures a Source.
type SourceConfig struct {
	Files Files
	// ClusterName: peers' identities must be of this cluster (and so must
	// the own certificate's, when it carries one). Empty: identities are
	// not checked (a CLI that checks the server by CA and host only).
	ClusterName string
	// Self, when not zero, is the identity the own certificate must carry;
	// files that carry another are refused (at start an error, on reload a
	// warning while the previous certificate stays in use).
	Self Identity
	// CheckInterval bounds how often the files are looked at (stat) for a
	// change; 0 means DefaultCheckInterval.
	CheckInterval time.Duration
}

// Source serves TLS material read from Files, and reads it again when a
// file changes (another modification time, size or file): new handshakes
// use the new certificate and CA; connections already open keep theirs.
// Files that fail to load (a certificate written before its key, say)
// leave the previous material in use and are tried again at the next
// check. Safe for concurrent use.
type Source struct {
	cfg SourceConfig
	log *slog.Logger

	mu      sync.Mutex
	cur     *material
	checked time.Time
	failed  [3]os.FileInfo // the files last seen failing, logged once
}

// material is one loaded set of files.
type material struct {
	cert  *tls.Certificate // nil without Files.Cert
	id    Identity         // cert's identity (zero when not checked or no cert)
	roots *x509.CertPool   // nil without Files.CA: the system's roots
	seen  [3]os.FileInfo   // CA, Cert, Key as loaded (nil: not given)
}

// NewSource loads the files now and fails when they cannot be used: a
// missing or unreadable file, a key that does not match its certificate,
// a certificate not signed by the CA, or one without the expected identity.
func NewSource(cfg SourceConfig, log *slog.Logger) (*Source, error) {
	if (cfg.Files.Cert == "") != (cfg.Files.Key == "") {
		return nil, fmt.Errorf("%w: a certificate needs its key and a key its certificate", ErrFiles)
	}
	if cfg.Files.CA == "" && cfg.Files.Cert == "" {
		return nil, fmt.Errorf("%w: no CA and no certificate given", ErrFiles)
	}
	if cfg.CheckInterval <= 0 {
		cfg.CheckInterval = DefaultCheckInterval
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Source{cfg: cfg, log: log.With("component", "tls")}
	seen, err := s.stat()
	if err != nil {
		return nil, err
	}
	m, err := s.load(seen)
	if err != nil {
		return nil, err
	}
	s.cur, s.checked = m, time.Now()
	return s, nil
}

// Identity is the own certificate's identity (zero without a certificate
// or without ClusterName).
func (s *Source) Identity() Identity { return s.current().id }

// HasCert reports whether the source presents a certificate of its own.
func (s *Source) HasCert() bool { return s.cfg.Files.Cert != "" }

// Certificate is the certificate in use (nil without one).
func (s *Source) Certificate() *x509.Certificate {
	if m := s.current(); m.cert != nil {
		return m.cert.Leaf
	}
	return nil
}

// current is the material in use, reloaded first when a file changed
// (looked at no more than once per CheckInterval).
func (s *Source) current() *material {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	if now.Sub(s.checked) < s.cfg.CheckInterval {
		return s.cur
	}
	s.checked = now
	seen, err := s.stat()
	if err == nil && sameFiles(seen, s.cur.seen) {
		return s.cur
	}
	var m *material
	if err == nil {
		m, err = s.load(seen)
	}
	if err != nil {
		if !sameFiles(seen, s.failed) {
			s.failed = seen
			s.log.Warn("certificate files changed but cannot be used; keeping the previous ones", "err", err)
		}
		return s.cur
	}
	s.cur, s.failed = m, [3]os.FileInfo{}
	s.log.Info("certificate files reloaded", "identity", m.id.nonZero(), "not_after", notAfter(m))
	return s.cur
}

func (id Identity) nonZero() string {
	if id == (Identity{}) {
		return ""
	}
	return id.String()
}

func notAfter(m *material) string {
	if m.cert == nil {
		return ""
	}
	return m.cert.Leaf.NotAfter.UTC().Format(time.RFC3339)
}

func (s *Source) stat() ([3]os.FileInfo, error) {
	var out [3]os.FileInfo
	for i, f := range []string{s.cfg.Files.CA, s.cfg.Files.Cert, s.cfg.Files.Key} {
		if f == "" {
			continue
		}
		fi, err := os.Stat(f)
		if err != nil {
			return out, fmt.Errorf("%w: %w", ErrFiles, err)
		}
		out[i] = fi
	}
	return out, nil
}

// sameFiles: every file is the one seen before, unchanged.
func sameFiles(a, b [3]os.FileInfo) bool {
	for i := range a {
		switch {
		case a[i] == nil && b[i] == nil:
		case a[i] == nil || b[i] == nil:
			return false
		case !os.SameFile(a[i], b[i]) || !a[i].ModTime().Equal(b[i].ModTime()) || a[i].Size() != b[i].Size():
			return false
		}
	}
	return true
}

func (s *Source) load(seen [3]os.FileInfo) (*material, error) {
	f := s.cfg.Files
	m := &material{seen: seen}
	if f.CA != "" {
		b, err := os.ReadFile(f.CA)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrFiles, err)
		}
		if _, err := parseCerts(b); err != nil {
			return nil, fmt.Errorf("%s: %w", f.CA, err)
		}
		m.roots = x509.NewCertPool()
		m.roots.AppendCertsFromPEM(b)
	}
	if f.Cert == "" {
		return m, nil
	}
	c, err := tls.LoadX509KeyPair(f.Cert, f.Key)
	if err != nil {
		return nil, fmt.Errorf("%w: %s and %s: %w", ErrFiles, f.Cert, f.Key, err)
	}
	m.cert = &c
	if m.roots != nil {
		var rest []*x509.Certificate
		for _, der := range c.Certificate[1:] {
			ic, err := x509.ParseCertificate(der)
			if err != nil {
				return nil, fmt.Errorf("%w: %s: %w", ErrFiles, f.Cert, err)
			}
			rest = append(rest, ic)
		}
		if _, err := verifyChain(c.Leaf, rest, m.roots, "", x509.ExtKeyUsageAny); err != nil {
			return nil, fmt.Errorf("%s: %w (is it signed by the CA in %s?)", f.Cert, err, f.CA)
		}
	}
	if s.cfg.ClusterName != "" {
		id, err := IdentityOf(c.Leaf, s.cfg.ClusterName)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.Cert, err)
		}
		if s.cfg.Self != (Identity{}) && id != s.cfg.Self {
			return nil, fmt.Errorf("%w: %s holds %s, want %s", ErrRejected, f.Cert, id, s.cfg.Self)
		}
		m.id = id
	}
	return m, nil
}

// ServerOptions say which clients a server config accepts.
type ServerOptions struct {
	// ClientAuth: tls.RequireAndVerifyClientCert, or
	// tls.VerifyClientCertIfGiven where some routes stay open.
	ClientAuth tls.ClientAuthType
	// Accept lists the identity kinds a client certificate may carry;
	// empty: any identity of the cluster.
	Accept []Kind
	// NextProtos are the ALPN protocols served ("h2" for gRPC).
	NextProtos []string
}

// ServerConfig is a server's tls.Config: each handshake uses the current
// certificate and CA, and a client certificate must chain to that CA and
// carry an identity of the cluster of an accepted kind, or the handshake
// fails.
func (s *Source) ServerConfig(o ServerOptions) *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			m := s.current()
			if m.cert == nil {
				return nil, fmt.Errorf("%w: a server needs a certificate", ErrFiles)
			}
			if m.roots == nil && o.ClientAuth >= tls.VerifyClientCertIfGiven {
				// Go would verify clients against the system's roots.
				return nil, fmt.Errorf("%w: a server that verifies clients needs a CA", ErrFiles)
			}
			return &tls.Config{
				MinVersion:   tls.VersionTLS12,
				Certificates: []tls.Certificate{*m.cert},
				ClientCAs:    m.roots,
				ClientAuth:   o.ClientAuth,
				NextProtos:   o.NextProtos,
				VerifyConnection: func(cs tls.ConnectionState) error {
					if len(cs.PeerCertificates) == 0 {
						return nil // allowed by ClientAuth (Go refuses it otherwise)
					}
					return s.accept(cs.PeerCertificates[0], o.Accept)
				},
			}, nil
		},
	}
}

// ClientOptions say which servers a client config accepts.
type ClientOptions struct {
	// Accept lists the identity kinds the server's certificate must carry
	// (the raft port's peers: nodes only); empty: identity not checked.
	Accept []Kind
	// VerifyHostname: the server's certificate must be valid for the
	// host dialled (tls.Config.ServerName). Nodes dial each other by
	// address and check the identity instead.
	VerifyHostname bool
	// RefuseCertRequest: a client without a certificate of its own fails
	// the handshake with ErrNoClientCert when the server asks for one,
	// for a server that requires one (Prism's gRPC port). Otherwise the
	// server's refusal comes after the handshake (TLS 1.3) and often
	// arrives as a bare connection reset.
	RefuseCertRequest bool
	NextProtos        []string
}

// ClientConfig is a client's tls.Config: each handshake presents the
// current certificate (if any) and checks the server's against the
// current CA (or the system's roots without one).
func (s *Source) ClientConfig(o ClientOptions) *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		NextProtos: o.NextProtos,
		// The chain is verified in VerifyConnection, against the CA in use
		// at the time of the handshake (tls.Config.RootCAs cannot follow a
		// rotation).
		InsecureSkipVerify: true,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			if m := s.current(); m.cert != nil {
				return m.cert, nil
			}
			if o.RefuseCertRequest {
				return nil, ErrNoClientCert
			}
			return &tls.Certificate{}, nil // none: the server decides
		},
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return fmt.Errorf("%w by the server", ErrNoCertificate)
			}
			host := ""
			if o.VerifyHostname {
				host = cs.ServerName
			}
			m := s.current()
			leaf := cs.PeerCertificates[0]
			if _, err := verifyChain(leaf, cs.PeerCertificates[1:], m.roots, host, x509.ExtKeyUsageServerAuth); err != nil {
				return err
			}
			if len(o.Accept) == 0 {
				return nil
			}
			return s.accept(leaf, o.Accept)
		},
	}
}

// accept checks a verified peer certificate's identity.
func (s *Source) accept(cert *x509.Certificate, kinds []Kind) error {
	id, err := IdentityOf(cert, s.cfg.ClusterName)
	if err != nil {
		return err
	}
	if len(kinds) > 0 && !slices.Contains(kinds, id.Kind) {
		return fmt.Errorf("%w: %s", ErrKindNotAccepted, id)
	}
	return nil
}

// verifyChain checks leaf against roots (nil: the system's) for usage,
// and for host when not empty.
func verifyChain(leaf *x509.Certificate, rest []*x509.Certificate, roots *x509.CertPool, host string, usage x509.ExtKeyUsage) ([][]*x509.Certificate, error) {
	inter := x509.NewCertPool()
	for _, c := range rest {
		inter.AddCert(c)
	}
	chains, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, DNSName: host, KeyUsages: []x509.ExtKeyUsage{usage}})
	if err == nil {
		return chains, nil
	}
	var ua x509.UnknownAuthorityError
	var he x509.HostnameError
	switch {
	case errors.As(err, &ua):
		return nil, fmt.Errorf("%w: %w", ErrUntrusted, err)
	case errors.As(err, &he):
		return nil, fmt.Errorf("%w: %w", ErrWrongHost, err)
	}
	return nil, fmt.Errorf("%w: %w", ErrRejected, err)
}

// APIClientConfig is the tls.Config of a client of a node's gRPC port
// (prismctl, prism-shard) from its files: the node's certificate is
// checked against f.CA (the system's roots without one) and the address
// dialled, f.Cert is presented, and without one the handshake fails with
// ErrNoClientCert (the port requires a certificate). The files are
// re-read when they change.
func APIClientConfig(f Files, log *slog.Logger) (*tls.Config, error) {
	src, err := NewSource(SourceConfig{Files: f}, log)
	if err != nil {
		return nil, err
	}
	return src.ClientConfig(ClientOptions{VerifyHostname: true, RefuseCertRequest: true}), nil
}
