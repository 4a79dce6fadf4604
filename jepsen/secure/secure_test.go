package secure

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/prism/controlplane/internal/tlsutil"
)

func TestMake(t *testing.T) {
	dir := t.TempDir() + "/tls"
	m, err := Make(dir, 3, 2)
	if err != nil {
		t.Fatal(err)
	}
	for _, stem := range []string{"node-n1", "node-n3", "user-jepsen", "shard-s1", "shard-s2"} {
		for _, f := range []string{stem + ".pem", stem + "-key.pem"} {
			if _, err := os.Stat(dir + "/" + f); err != nil {
				t.Fatal(err)
			}
		}
	}
	b, err := os.ReadFile(dir + "/node-n2.pem")
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(cert.IPAddresses, net.ParseIP("10.77.0.2").Equal) || cert.URIs[0].String() != "spiffe://prism/node/n2" {
		t.Fatalf("node-n2: IPs %v, URIs %v", cert.IPAddresses, cert.URIs)
	}
	args := strings.Join(m.NodeArgs("n2"), " ")
	if !strings.Contains(args, dir+"/node-n2.pem") || !strings.Contains(args, "--acl") || strings.Contains(args, m.GossipKey) {
		t.Fatalf("node args %s", args)
	}
	if !strings.Contains(strings.Join(m.ShardArgs("s2"), " "), dir+"/shard-s2.pem") {
		t.Fatalf("shard args %v", m.ShardArgs("s2"))
	}
	if _, err := Make(dir, 3, 2); err == nil {
		t.Fatal("a second Make in the same dir replaced files")
	}

	// The client config accepts node n2 served at its test address, and
	// presents user/jepsen.
	src, err := tlsutil.NewSource(tlsutil.SourceConfig{Files: tlsutil.Files{CA: m.CAFile, Cert: dir + "/node-n2.pem", Key: dir + "/node-n2-key.pem"}, ClusterName: "prism"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	cc, sc := net.Pipe()
	srv := tls.Server(sc, src.ServerConfig(tlsutil.ServerOptions{ClientAuth: tls.RequireAndVerifyClientCert}))
	done := make(chan error, 1)
	go func() { done <- srv.Handshake() }()
	cfg := m.Client.Clone()
	cfg.ServerName = "10.77.0.2"
	cli := tls.Client(cc, cfg)
	if err := cli.Handshake(); err != nil {
		t.Fatalf("client handshake: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("server handshake: %v", err)
	}
	if got := srv.ConnectionState().PeerCertificates[0].URIs[0].String(); got != "spiffe://prism/user/jepsen" {
		t.Fatalf("client presented %s", got)
	}
	cli.Close()
	srv.Close()
}
