package tlsutil

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"net"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"
)

func mustCA(t *testing.T, cluster string) (*CA, string) {
	t.Helper()
	ca, p, err := NewCA(cluster, 0, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cert, key := CAPaths(dir)
	if err := WritePair(cert, key, p); err != nil {
		t.Fatal(err)
	}
	return ca, dir
}

// mustLeaf signs id and writes it to dir; it returns its files (with the CA's).
func mustLeaf(t *testing.T, ca *CA, caDir, dir string, id Identity, hosts ...string) Files {
	t.Helper()
	p, _, err := ca.Sign(LeafRequest{Identity: id, Hosts: hosts}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cert, key := LeafPaths(dir, id)
	if err := WritePair(cert, key, p); err != nil {
		t.Fatal(err)
	}
	caCert, _ := CAPaths(caDir)
	return Files{CA: caCert, Cert: cert, Key: key}
}

func TestCAAndLeaf(t *testing.T) {
	now := time.Now()
	ca, _, err := NewCA("prism", 0, now)
	if err != nil {
		t.Fatal(err)
	}
	if !ca.Cert.IsCA || ca.ClusterName != "prism" || ca.Cert.URIs[0].String() != "spiffe://prism" {
		t.Fatalf("CA: %+v", ca.Cert)
	}
	if d := ca.Cert.NotAfter.Sub(now); d < DefaultCAValidity-time.Minute || d > DefaultCAValidity+time.Minute {
		t.Fatalf("CA valid for %v", d)
	}
	p, node, err := ca.Sign(LeafRequest{Identity: Identity{Kind: KindNode, Name: "node1"}, Hosts: []string{"10.0.0.5", "prism-1.internal", "localhost"}}, now)
	if err != nil {
		t.Fatal(err)
	}
	if d := node.NotAfter.Sub(now); d < DefaultLeafValidity-time.Minute || d > DefaultLeafValidity+time.Minute {
		t.Fatalf("leaf valid for %v", d)
	}
	if got := node.URIs; len(got) != 1 || got[0].String() != "spiffe://prism/node/node1" {
		t.Fatalf("URIs %v", got)
	}
	if strings.Join(node.DNSNames, ",") != "localhost,prism-1.internal" || len(node.IPAddresses) != 3 {
		t.Fatalf("SANs: dns %v ip %v", node.DNSNames, node.IPAddresses)
	}
	if len(node.ExtKeyUsage) != 2 {
		t.Fatalf("node EKU %v", node.ExtKeyUsage)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	if _, err := node.Verify(x509.VerifyOptions{Roots: roots, DNSName: "10.0.0.5"}); err != nil {
		t.Fatalf("node cert for its host: %v", err)
	}
	if _, err := tls.X509KeyPair(p.Cert, p.Key); err != nil {
		t.Fatal(err)
	}
	_, user, err := ca.Sign(LeafRequest{Identity: Identity{Kind: KindUser, Name: "alice"}}, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(user.ExtKeyUsage) != 1 || user.ExtKeyUsage[0] != x509.ExtKeyUsageClientAuth || len(user.IPAddresses)+len(user.DNSNames) != 0 {
		t.Fatalf("client cert: EKU %v, SANs %v %v", user.ExtKeyUsage, user.IPAddresses, user.DNSNames)
	}
	// A client certificate cannot serve: its EKU says client only.
	if _, err := user.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err == nil {
		t.Fatal("a user certificate verified for server auth")
	}
	for _, bad := range []LeafRequest{
		{Identity: Identity{Kind: KindUser, Name: "bob"}, Hosts: []string{"x"}},
		{Identity: Identity{Cluster: "other", Kind: KindNode, Name: "n"}},
		{Identity: Identity{Kind: "admin", Name: "n"}},
		{Identity: Identity{Kind: KindNode, Name: "a/b"}},
		{Identity: Identity{Kind: KindNode, Name: ""}},
	} {
		if _, _, err := ca.Sign(bad, now); err == nil {
			t.Errorf("signed %+v", bad)
		}
	}
	if _, _, err := NewCA("Not A Domain", 0, now); err == nil {
		t.Error("a CA for an invalid cluster name")
	}
}

func TestCAFilesRoundTripAndRefuseOverwrite(t *testing.T) {
	ca, dir := mustCA(t, "west")
	got, err := LoadCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got.ClusterName != "west" || !got.Cert.Equal(ca.Cert) {
		t.Fatalf("loaded %q", got.ClusterName)
	}
	cert, key := CAPaths(dir)
	for f, want := range map[string]os.FileMode{cert: 0o644, key: 0o600} {
		fi, err := os.Stat(f)
		if err != nil || fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v (%v)", f, fi.Mode().Perm(), want, err)
		}
	}
	_, p, _ := NewCA("west", 0, time.Now())
	before, _ := os.ReadFile(key)
	if err := WritePair(cert, key, p); !errors.Is(err, ErrExists) {
		t.Fatalf("overwrite: %v", err)
	}
	if after, _ := os.ReadFile(key); string(after) != string(before) {
		t.Fatal("the key was replaced")
	}
	// Only the key exists: still nothing is written.
	d2 := t.TempDir()
	c2, k2 := CAPaths(d2)
	if err := os.WriteFile(k2, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := WritePair(c2, k2, p); !errors.Is(err, ErrExists) {
		t.Fatalf("half-present pair: %v", err)
	}
	if _, err := os.Stat(c2); err == nil {
		t.Fatal("the certificate was written next to an existing key")
	}
	if _, err := LoadCA(t.TempDir()); !errors.Is(err, ErrFiles) {
		t.Fatalf("no CA: %v", err)
	}
}

// certWithURIs signs a client certificate with any URIs.
func certWithURIs(t *testing.T, ca *CA, uris ...string) *x509.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: big1(), Subject: pkix.Name{CommonName: "odd"}, NotBefore: time.Now().Add(-time.Minute),
		NotAfter: time.Now().Add(time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	for _, u := range uris {
		pu, err := url.Parse(u)
		if err != nil {
			t.Fatal(err)
		}
		tmpl.URIs = append(tmpl.URIs, pu)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, ca.Key.Public(), ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestIdentityOf(t *testing.T) {
	ca, _, err := NewCA("prism", 0, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range Kinds {
		c := certWithURIs(t, ca, "spiffe://prism/"+string(k)+"/x-1")
		id, err := IdentityOf(c, "prism")
		if err != nil || id != (Identity{Cluster: "prism", Kind: k, Name: "x-1"}) {
			t.Errorf("%s: %v %v", k, id, err)
		}
	}
	for name, tc := range map[string]struct {
		uris []string
		want error
	}{
		"no URI":        {nil, ErrNoIdentity},
		"two URIs":      {[]string{"spiffe://prism/node/a", "spiffe://prism/node/b"}, ErrSeveralIdentities},
		"other cluster": {[]string{"spiffe://other/node/a"}, ErrOtherCluster},
		"unknown kind":  {[]string{"spiffe://prism/admin/a"}, ErrUnknownKind},
		"not spiffe":    {[]string{"https://prism/node/a"}, ErrBadIdentity},
		"no name":       {[]string{"spiffe://prism/node"}, ErrBadIdentity},
		"deeper path":   {[]string{"spiffe://prism/node/a/b"}, ErrBadIdentity},
		"trust domain":  {[]string{"spiffe://prism"}, ErrBadIdentity},
		"query":         {[]string{"spiffe://prism/node/a?x=1"}, ErrBadIdentity},
		"bad name":      {[]string{"spiffe://prism/user/a%20b"}, ErrBadIdentity},
	} {
		_, err := IdentityOf(certWithURIs(t, ca, tc.uris...), "prism")
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: got %v, want %v", name, err, tc.want)
		}
	}
	if id, err := ParseIdentity("spiffe://prism/team/payments"); err != nil || id.Kind != KindTeam || id.FileStem() != "team-payments" {
		t.Fatalf("%v %v", id, err)
	}
}

// handshake runs a real TLS handshake over TCP and one byte each way,
// so a refusal the server sends after the client's handshake (TLS 1.3)
// shows too. It returns the client's error and the server's.
func handshake(t *testing.T, server, client *tls.Config) (error, error) {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", server)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	srvErr := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			srvErr <- err
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		var b [1]byte
		if _, err := io.ReadFull(c, b[:]); err != nil {
			srvErr <- err
			return
		}
		_, err = c.Write(b[:])
		srvErr <- err
	}()
	client = client.Clone()
	client.ServerName = "127.0.0.1"
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", ln.Addr().String(), client)
	if err == nil {
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err = c.Write([]byte{1}); err == nil {
			var b [1]byte
			_, err = io.ReadFull(c, b[:])
		}
		c.Close()
	}
	return err, <-srvErr
}

func mustSource(t *testing.T, f Files, cluster string, self Identity) *Source {
	t.Helper()
	s, err := NewSource(SourceConfig{Files: f, ClusterName: cluster, Self: self, CheckInterval: time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestHandshakesAcceptOnlyWhatTheyShould(t *testing.T) {
	ca, caDir := mustCA(t, "prism")
	other, otherDir := mustCA(t, "prism")
	dir := t.TempDir()
	n1 := mustLeaf(t, ca, caDir, dir, Identity{Kind: KindNode, Name: "n1"})
	n2 := mustLeaf(t, ca, caDir, dir, Identity{Kind: KindNode, Name: "n2"})
	user := mustLeaf(t, ca, caDir, dir, Identity{Kind: KindUser, Name: "alice"})
	shard := mustLeaf(t, ca, caDir, dir, Identity{Kind: KindShard, Name: "s1"})
	foreign := mustLeaf(t, other, otherDir, t.TempDir(), Identity{Kind: KindNode, Name: "n2"})
	caOnly := Files{CA: n1.CA}

	raftServer := mustSource(t, n1, "prism", Identity{Cluster: "prism", Kind: KindNode, Name: "n1"}).
		ServerConfig(ServerOptions{ClientAuth: tls.RequireAndVerifyClientCert, Accept: []Kind{KindNode}})
	apiServer := mustSource(t, n1, "prism", Identity{}).ServerConfig(ServerOptions{ClientAuth: tls.RequireAndVerifyClientCert})
	nodeClient := func(f Files) *tls.Config {
		return mustSource(t, f, "prism", Identity{}).ClientConfig(ClientOptions{Accept: []Kind{KindNode}})
	}
	cliClient := func(f Files) *tls.Config {
		return mustSource(t, f, "", Identity{}).ClientConfig(ClientOptions{VerifyHostname: true})
	}
	// A client that trusts any server, presenting another CA's node certificate.
	foreignPair, err := tls.LoadX509KeyPair(foreign.Cert, foreign.Key)
	if err != nil {
		t.Fatal(err)
	}
	impostor := &tls.Config{InsecureSkipVerify: true, Certificates: []tls.Certificate{foreignPair}}
	for _, tc := range []struct {
		name   string
		server *tls.Config
		client *tls.Config
		ok     bool
	}{
		{"node to raft port", raftServer, nodeClient(n2), true},
		{"user cert to raft port", raftServer, nodeClient(user), false},
		{"shard cert to raft port", raftServer, nodeClient(shard), false},
		{"other CA to raft port", raftServer, nodeClient(foreign), false},
		{"no cert to raft port", raftServer, nodeClient(caOnly), false},
		{"other CA's node cert to raft port", raftServer, impostor, false},
		{"other CA's node cert to API", apiServer, impostor, false},
		{"user to API", apiServer, cliClient(user), true},
		{"shard to API", apiServer, cliClient(shard), true},
		{"no cert to API", apiServer, cliClient(caOnly), false},
		{"other CA to API", apiServer, cliClient(foreign), false},
		{"client without the CA", apiServer, cliClient(Files{Cert: user.Cert, Key: user.Key}), false},
	} {
		cerr, serr := handshake(t, tc.server, tc.client)
		if ok := cerr == nil && serr == nil; ok != tc.ok {
			t.Errorf("%s: client %v, server %v; want ok=%v", tc.name, cerr, serr, tc.ok)
		}
	}
	// A node dialling a server that presents a client certificate refuses it.
	userServer := mustSource(t, user, "prism", Identity{}).ServerConfig(ServerOptions{ClientAuth: tls.RequireAndVerifyClientCert})
	if cerr, _ := handshake(t, userServer, nodeClient(n2)); cerr == nil {
		t.Error("a node accepted a user certificate as a server")
	}
	// A node certificate for another identity than the node's own is refused at start.
	if _, err := NewSource(SourceConfig{Files: n2, ClusterName: "prism", Self: Identity{Cluster: "prism", Kind: KindNode, Name: "n1"}}, nil); !errors.Is(err, ErrRejected) {
		t.Errorf("own identity mismatch: %v", err)
	}
	// A certificate not signed by the CA given is refused at start.
	if _, err := NewSource(SourceConfig{Files: Files{CA: n1.CA, Cert: foreign.Cert, Key: foreign.Key}}, nil); !errors.Is(err, ErrUntrusted) {
		t.Errorf("foreign cert with our CA: %v", err)
	}
	if _, err := NewSource(SourceConfig{Files: Files{CA: n1.CA, Cert: n1.Cert, Key: n2.Key}}, nil); !errors.Is(err, ErrFiles) {
		t.Errorf("key of another cert: %v", err)
	}
}

// replace writes b to path through a rename, as a rotation tool does.
func replace(t *testing.T, path string, b []byte) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func TestReloadPicksUpANewCertificate(t *testing.T) {
	ca, caDir := mustCA(t, "prism")
	dir := t.TempDir()
	id := Identity{Cluster: "prism", Kind: KindNode, Name: "n1"}
	f := mustLeaf(t, ca, caDir, dir, id)
	src := mustSource(t, f, "prism", id)
	first := src.Certificate().SerialNumber
	srv := src.ServerConfig(ServerOptions{ClientAuth: tls.RequireAndVerifyClientCert, Accept: []Kind{KindNode}})
	peer := mustLeaf(t, ca, caDir, t.TempDir(), Identity{Kind: KindNode, Name: "n2"})
	var served *x509.Certificate
	client := mustSource(t, peer, "prism", Identity{}).ClientConfig(ClientOptions{Accept: []Kind{KindNode}})
	client.VerifyPeerCertificate = func(raw [][]byte, _ [][]*x509.Certificate) error {
		served, _ = x509.ParseCertificate(raw[0])
		return nil
	}
	if cerr, serr := handshake(t, srv, client); cerr != nil || serr != nil || served.SerialNumber.Cmp(first) != 0 {
		t.Fatalf("first handshake: %v %v", cerr, serr)
	}

	// Half a rotation (the new certificate, the old key) is not used.
	p, next, err := ca.Sign(LeafRequest{Identity: id}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	replace(t, f.Cert, p.Cert)
	time.Sleep(5 * time.Millisecond) // past CheckInterval (1 ms)
	if got := src.Certificate().SerialNumber; got.Cmp(first) != 0 {
		t.Fatal("a certificate without its key was taken")
	}
	replace(t, f.Key, p.Key)
	deadline := time.Now().Add(5 * time.Second)
	for src.Certificate().SerialNumber.Cmp(next.SerialNumber) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the new certificate was not picked up")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if cerr, serr := handshake(t, srv, client); cerr != nil || serr != nil || served.SerialNumber.Cmp(next.SerialNumber) != 0 {
		t.Fatalf("handshake after rotation: %v %v, served serial %v want %v", cerr, serr, served.SerialNumber, next.SerialNumber)
	}
	// A rotation to another identity is refused; the current one stays.
	p2, _, _ := ca.Sign(LeafRequest{Identity: Identity{Kind: KindNode, Name: "n9"}}, time.Now())
	replace(t, f.Key, p2.Key)
	replace(t, f.Cert, p2.Cert)
	time.Sleep(5 * time.Millisecond)
	if src.Certificate().SerialNumber.Cmp(next.SerialNumber) != 0 || src.Identity() != id {
		t.Fatal("a certificate for another node was taken")
	}
}

func big1() *big.Int { n, _ := rand.Int(rand.Reader, big.NewInt(1<<62)); return n }
