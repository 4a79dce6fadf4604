package cluster_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/prism/controlplane/cluster"
	"github.com/prism/controlplane/fsm/fsmpb"
	"github.com/prism/controlplane/internal/server"
	"github.com/prism/controlplane/internal/testcluster"
	"github.com/prism/controlplane/internal/tlsutil"
	"github.com/prism/controlplane/rpc/client"
	"github.com/prism/controlplane/rpc/rpcpb"
)

var tlsGossipKey = []byte("0123456789abcdef")

// pki is a CA in a directory and the certificates made from it.
type pki struct {
	t   *testing.T
	ca  *tlsutil.CA
	dir string
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	ca, p, err := tlsutil.NewCA("prism", 0, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cert, key := tlsutil.CAPaths(dir)
	if err := tlsutil.WritePair(cert, key, p); err != nil {
		t.Fatal(err)
	}
	return &pki{t: t, ca: ca, dir: dir}
}

// files signs kind/name (once) and returns its files with the CA's.
func (p *pki) files(kind tlsutil.Kind, name string) tlsutil.Files {
	p.t.Helper()
	id := tlsutil.Identity{Kind: kind, Name: name}
	cert, key := tlsutil.LeafPaths(p.dir, id)
	if _, err := os.Stat(cert); err != nil {
		pem, _, err := p.ca.Sign(tlsutil.LeafRequest{Identity: id}, time.Now())
		if err != nil {
			p.t.Fatal(err)
		}
		if err := tlsutil.WritePair(cert, key, pem); err != nil {
			p.t.Fatal(err)
		}
	}
	caCert, _ := tlsutil.CAPaths(p.dir)
	return tlsutil.Files{CA: caCert, Cert: cert, Key: key}
}

// rotate replaces kind/name's files with a new certificate (key first,
// each through a rename) and returns its serial.
func (p *pki) rotate(kind tlsutil.Kind, name string) *big.Int {
	p.t.Helper()
	f := p.files(kind, name)
	pem, cert, err := p.ca.Sign(tlsutil.LeafRequest{Identity: tlsutil.Identity{Kind: kind, Name: name}}, time.Now())
	if err != nil {
		p.t.Fatal(err)
	}
	for path, b := range map[string][]byte{f.Key: pem.Key} {
		replaceFile(p.t, path, b)
	}
	replaceFile(p.t, f.Cert, pem.Cert)
	return cert.SerialNumber
}

func replaceFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path+".new", b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".new", path); err != nil {
		t.Fatal(err)
	}
}

// startTLS starts n nodes with TLS and the gossip key.
func startTLS(t *testing.T, p *pki, n int) *testcluster.Cluster {
	return testcluster.StartServers(t, n, func(i int, cfg *server.Config) {
		cfg.Cluster.GossipKey = tlsGossipKey
		cfg.TLS = p.files(tlsutil.KindNode, cfg.Cluster.NodeID)
	}, nil)
}

// apiClient is a client of the nodes' gRPC ports with f's certificate.
func apiClient(t *testing.T, f tlsutil.Files, eps ...string) *client.Client {
	t.Helper()
	tc, err := tlsutil.APIClientConfig(f, nil)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := client.New(client.Config{Endpoints: eps, TLS: tc, AttemptTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl
}

// peerTLS is how something holding f dials the raft port: a node's
// client config (presenting f's certificate, accepting node certificates).
func peerTLS(t *testing.T, f tlsutil.Files) *tls.Config {
	t.Helper()
	src, err := tlsutil.NewSource(tlsutil.SourceConfig{Files: f, ClusterName: "prism"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return src.ClientConfig(tlsutil.ClientOptions{Accept: []tlsutil.Kind{tlsutil.KindNode}})
}

// tlsStream is a raft StreamLayer that dials over TLS; it listens on a
// port nobody dials.
type tlsStream struct {
	net.Listener
	cfg *tls.Config
}

func (s tlsStream) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	return tls.DialWithDialer(&net.Dialer{Timeout: timeout}, "tcp", string(addr), s.cfg)
}

// raftProbe sends one harmless raft RPC (AppendEntries of term 0, which
// any node rejects for its stale term) to addr and returns the term the
// node answered with.
func raftProbe(t *testing.T, cfg *tls.Config, addr string) (uint64, error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var stream raft.StreamLayer = tlsStream{Listener: ln, cfg: cfg}
	if cfg == nil {
		stream = plainStream{ln}
	}
	tr := raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{Stream: stream, MaxPool: 1, Timeout: 3 * time.Second,
		Logger: hclog.New(&hclog.LoggerOptions{Output: io.Discard})})
	defer tr.Close()
	var resp raft.AppendEntriesResponse
	err = tr.AppendEntries("probe", raft.ServerAddress(addr), &raft.AppendEntriesRequest{
		RPCHeader: raft.RPCHeader{ProtocolVersion: raft.ProtocolVersionMax, ID: []byte("probe"), Addr: []byte(ln.Addr().String())},
		Term:      0,
	}, &resp)
	return resp.Term, err
}

type plainStream struct{ net.Listener }

func (s plainStream) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	return net.DialTimeout("tcp", string(addr), timeout)
}

// internalCall calls Internal.NodeProgress on the raft port at addr over
// TLS with cfg, with the cluster's node token when withToken.
func internalCall(t *testing.T, cfg *tls.Config, addr string, withToken bool) error {
	t.Helper()
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	ctx := testcluster.Ctx(t, 3*time.Second)
	if withToken {
		m := hmac.New(sha256.New, tlsGossipKey)
		m.Write([]byte("prism internal v1/prism"))
		ctx = metadata.AppendToOutgoingContext(ctx, cluster.InternalTokenHeader, hex.EncodeToString(m.Sum(nil)))
	}
	_, err = rpcpb.NewInternalClient(cc).NodeProgress(ctx, &rpcpb.NodeProgressRequest{})
	return err
}

// TestTLSClusterServesOverTLS: three nodes with TLS elect a leader (raft
// over TLS), a follower forwards a write (Internal over TLS), and every
// node reads it linearizably (read index over TLS).
func TestTLSClusterServesOverTLS(t *testing.T) {
	p := newPKI(t)
	c := startTLS(t, p, 3)
	f := c.Follower()
	ctx := testcluster.Ctx(t, 20*time.Second)
	user := p.files(tlsutil.KindUser, "alice")
	spec := &fsmpb.NamespaceSpec{Name: "over-tls", Abstraction: "keyvalue", Backend: "postgres",
		Capacity: &fsmpb.Capacity{EstimatedReadRps: 10, EstimatedWriteRps: 1, EstimatedDataSizeGb: 1},
		Access:   &fsmpb.Access{Owners: []*fsmpb.Owner{{Kind: "team", Name: "team-a"}}}}
	if _, err := apiClient(t, user, c.Servers[f].GRPCAddr).Apply(ctx, &rpcpb.ApplyRequest{Spec: spec}); err != nil {
		t.Fatalf("apply through a follower: %v", err)
	}
	for i, s := range c.Servers {
		got, err := apiClient(t, user, s.GRPCAddr).Get(ctx, &rpcpb.GetRequest{Name: "over-tls"})
		if err != nil || got.Namespace.Spec.Name != "over-tls" {
			t.Fatalf("node %d: %v", i+1, err)
		}
	}
	// The public port refuses a client without a certificate, saying so,
	// at once (a write too: it was never sent).
	noCert := apiClient(t, tlsutil.Files{CA: user.CA}, c.Servers[0].GRPCAddr, c.Servers[1].GRPCAddr)
	start := time.Now()
	_, err := noCert.Get(ctx, &rpcpb.GetRequest{Name: "over-tls"})
	if status.Code(err) != codes.Unauthenticated || client.Reason(err) != rpcpb.ReasonTLS || !strings.Contains(err.Error(), "--cert and --key") {
		t.Fatalf("no client certificate: %v", err)
	}
	spec.Name = "never-sent"
	_, err = noCert.Apply(ctx, &rpcpb.ApplyRequest{Spec: spec})
	if status.Code(err) != codes.Unauthenticated || client.Reason(err) != rpcpb.ReasonTLS {
		t.Fatalf("apply without a client certificate: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the TLS failures took %v", d)
	}
	// HTTP: health without a certificate, discovery only with one.
	if code := httpsGet(t, user.CA, tlsutil.Files{}, c.Servers[0].HTTPAddr, "/readyz"); code != 200 {
		t.Fatalf("/readyz without a certificate: %d", code)
	}
	if code := httpsGet(t, user.CA, tlsutil.Files{}, c.Servers[0].HTTPAddr, "/v1/namespaces/over-tls"); code != 401 {
		t.Fatalf("discovery without a certificate: %d", code)
	}
	if code := httpsGet(t, user.CA, user, c.Servers[0].HTTPAddr, "/v1/namespaces/over-tls"); code != 200 {
		t.Fatalf("discovery with a certificate: %d", code)
	}
}

func httpsGet(t *testing.T, ca string, f tlsutil.Files, addr, path string) int {
	t.Helper()
	b, err := os.ReadFile(ca)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(b)
	cfg := &tls.Config{RootCAs: pool}
	if f.Cert != "" {
		pair, err := tls.LoadX509KeyPair(f.Cert, f.Key)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}, Timeout: 5 * time.Second}
	resp, err := hc.Get("https://" + addr + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestRaftPortTakesOnlyNodeCertificates: a certificate signed by the
// cluster's CA for a user or a shard can neither speak raft nor call
// Internal on the raft port (Consul CVE-2021-37219); nor can another CA's
// node certificate or a plaintext peer. A node certificate can.
func TestRaftPortTakesOnlyNodeCertificates(t *testing.T) {
	p := newPKI(t)
	c := startTLS(t, p, 3)
	target := c.Servers[c.Follower()].Node.RaftAddr()
	other := newPKI(t)

	node := peerTLS(t, p.files(tlsutil.KindNode, "n9"))
	term, err := raftProbe(t, node, target)
	if err != nil || term == 0 {
		t.Fatalf("a node certificate's raft RPC: term %d, %v", term, err)
	}
	if err := internalCall(t, node, target, true); err != nil {
		t.Fatalf("a node certificate's Internal call: %v", err)
	}
	// TLS passed; the node token is still checked.
	if err := internalCall(t, node, target, false); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("a node certificate without the node token: %v", err)
	}
	refused := map[string]*tls.Config{
		"user":              peerTLS(t, p.files(tlsutil.KindUser, "mallory")),
		"shard":             peerTLS(t, p.files(tlsutil.KindShard, "s1")),
		"service":           peerTLS(t, p.files(tlsutil.KindService, "billing")),
		"another CA's node": peerTLS(t, other.files(tlsutil.KindNode, "n1")),
	}
	// Another CA's node, trusting our CA to get past its own check of the server.
	foreign, err := tls.LoadX509KeyPair(other.files(tlsutil.KindNode, "n1").Cert, other.files(tlsutil.KindNode, "n1").Key)
	if err != nil {
		t.Fatal(err)
	}
	refused["another CA's node, any server"] = &tls.Config{InsecureSkipVerify: true, Certificates: []tls.Certificate{foreign}}
	for name, cfg := range refused {
		if _, err := raftProbe(t, cfg, target); err == nil {
			t.Errorf("%s certificate spoke raft", name)
		}
		// With the node token even: the certificate alone decides.
		if err := internalCall(t, cfg, target, true); status.Code(err) != codes.Unavailable {
			t.Errorf("%s certificate called Internal: %v", name, err)
		}
	}
	if _, err := raftProbe(t, nil, target); err == nil {
		t.Error("a plaintext peer spoke raft")
	}
	// The public port takes no certificate of another CA either.
	_, err = apiClient(t, tlsutil.Files{CA: p.files(tlsutil.KindUser, "x").CA}, c.Servers[0].GRPCAddr).Status(testcluster.Ctx(t, 5*time.Second), false)
	if err == nil {
		t.Error("no certificate: served")
	}
	if _, err := apiClient(t, other.files(tlsutil.KindUser, "alice"), c.Servers[0].GRPCAddr).Status(testcluster.Ctx(t, 5*time.Second), false); err == nil {
		t.Error("another CA's client: served")
	}
	// The cluster is unharmed.
	if _, err := apiClient(t, p.files(tlsutil.KindUser, "alice"), c.Servers[0].GRPCAddr).Status(testcluster.Ctx(t, 5*time.Second), false); err != nil {
		t.Fatal(err)
	}
}

// servedSerial is the serial of the certificate addr presents to cfg.
func servedSerial(cfg *tls.Config, addr string) (*big.Int, error) {
	cfg = cfg.Clone()
	var got *big.Int
	cfg.VerifyPeerCertificate = func(raw [][]byte, _ [][]*x509.Certificate) error {
		c, err := x509.ParseCertificate(raw[0])
		if err == nil {
			got = c.SerialNumber
		}
		return err
	}
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 2 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		return nil, err
	}
	conn.Close()
	return got, nil
}

// TestTLSCertificateRotation: a node's certificate files replaced while it
// runs are used by new handshakes on the raft and gRPC ports within
// seconds, and the cluster keeps working.
func TestTLSCertificateRotation(t *testing.T) {
	p := newPKI(t)
	c := startTLS(t, p, 3)
	s := c.Servers[0]
	node := peerTLS(t, p.files(tlsutil.KindNode, "n9"))
	api, err := tlsutil.APIClientConfig(p.files(tlsutil.KindUser, "alice"), nil)
	if err != nil {
		t.Fatal(err)
	}
	api.ServerName = "127.0.0.1"
	before, err := servedSerial(node, s.Node.RaftAddr())
	if err != nil {
		t.Fatal(err)
	}
	next := p.rotate(tlsutil.KindNode, s.Node.ID())
	if next.Cmp(before) == 0 {
		t.Fatal("the rotation made the same serial")
	}
	for name, addr := range map[string]string{"raft": s.Node.RaftAddr(), "grpc": s.GRPCAddr} {
		cfg := node
		if name == "grpc" {
			cfg = api
		}
		testcluster.Eventually(t, 5*time.Second, func() error {
			got, err := servedSerial(cfg, addr)
			if err != nil {
				return err
			}
			if got.Cmp(next) != 0 {
				return fmt.Errorf("%s port serves serial %v, want %v", name, got, next)
			}
			return nil
		})
	}
	// Peers reconnecting to it accept the new certificate: a write through it commits.
	ctx := testcluster.Ctx(t, 20*time.Second)
	c.Stop(1, false)
	c.Restart(1)
	c.WaitLeader(15 * time.Second)
	spec := &fsmpb.NamespaceSpec{Name: "after-rotation", Abstraction: "keyvalue", Backend: "postgres",
		Capacity: &fsmpb.Capacity{EstimatedReadRps: 10, EstimatedWriteRps: 1, EstimatedDataSizeGb: 1},
		Access:   &fsmpb.Access{Owners: []*fsmpb.Owner{{Kind: "team", Name: "team-a"}}}}
	if _, err := apiClient(t, p.files(tlsutil.KindUser, "alice"), s.GRPCAddr).Apply(ctx, &rpcpb.ApplyRequest{Spec: spec}); err != nil {
		t.Fatal(err)
	}
}

// TestTLSNeedsGossipKeyAndItsOwnCertificate: a node with TLS refuses to
// start without the gossip key, or with another node's certificate.
func TestTLSNeedsGossipKeyAndItsOwnCertificate(t *testing.T) {
	p := newPKI(t)
	for name, tc := range map[string]struct {
		key  []byte
		cert string
		want string
	}{
		"no gossip key":      {nil, "n1", "gossip key"},
		"another node's":     {tlsGossipKey, "n2", "spiffe://prism/node/n1"},
		"a user certificate": {tlsGossipKey, "user", "spiffe://prism/node/n1"},
	} {
		cc := cluster.DefaultConfig()
		cc.NodeID, cc.DataDir, cc.RaftAddr, cc.GossipAddr = "n1", t.TempDir(), "127.0.0.1:0", "127.0.0.1:0"
		cc.GossipKey = tc.key
		files := p.files(tlsutil.KindNode, tc.cert)
		if tc.cert == "user" {
			files = p.files(tlsutil.KindUser, "bob")
		}
		s, err := server.Start(server.Config{Cluster: cc, GRPCAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", TLS: files},
			slog.New(slog.DiscardHandler), nil)
		if err == nil {
			s.Stop(false)
			t.Errorf("%s: started", name)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want it to name %q", name, err, tc.want)
		}
		if tc.key == nil && !errors.Is(err, cluster.ErrInvalidConfig) {
			t.Errorf("%s: %v is not ErrInvalidConfig", name, err)
		}
	}
}
