package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"github.com/prism/controlplane/rpc/rpcpb"
)

// certsDir makes a CA and certificates with prismctl tls, as a user does.
func certsDir(t *testing.T, nodes int, clients ...string) string {
	t.Helper()
	dir := t.TempDir()
	run := func(args ...string) {
		t.Helper()
		out, errs, code := ctl(t, "127.0.0.1:1", append([]string{"tls"}, args...)...)
		if code != 0 {
			t.Fatalf("prismctl tls %v: exit %d: %s%s", args, code, out, errs)
		}
	}
	run("ca", "create", "--dir", dir)
	for i := 1; i <= nodes; i++ {
		run("cert", "create", "--node", fmt.Sprintf("node%d", i), "--dir", dir)
	}
	for _, c := range clients {
		if id, ok := strings.CutPrefix(c, "shard/"); ok {
			run("cert", "create", "--shard", id, "--dir", dir)
		} else {
			run("cert", "create", "--client", c, "--dir", dir)
		}
	}
	return dir
}

// tlsFlags are prismd's TLS flags for the certificates in dir.
func tlsFlags(dir string) []string {
	return []string{"--provisioning=false", "--gossip-key", base64.StdEncoding.EncodeToString([]byte("0123456789abcdef")),
		"--tls-cert", filepath.Join(dir, "node-{id}.pem"), "--tls-key", filepath.Join(dir, "node-{id}-key.pem"),
		"--tls-ca", filepath.Join(dir, "prism-ca.pem")}
}

// clientFlags are prismctl's TLS flags for stem's certificate in dir.
func clientFlags(dir, stem string) []string {
	return []string{"--cacert", filepath.Join(dir, "prism-ca.pem"), "--cert", filepath.Join(dir, stem+".pem"), "--key", filepath.Join(dir, stem+"-key.pem")}
}

// dialRaftPort calls Internal.NodeProgress on a raft port over TLS with
// the certificate in dir/stem: a node certificate reaches the Internal
// service (which then wants the node token: Unauthenticated); any other
// fails in the transport (Unavailable).
func dialRaftPort(t *testing.T, addr, dir, stem string) error {
	t.Helper()
	pair, err := tls.LoadX509KeyPair(filepath.Join(dir, stem+".pem"), filepath.Join(dir, stem+"-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{InsecureSkipVerify: true, Certificates: []tls.Certificate{pair}})))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	ctx, cancel := contextTimeout(3 * time.Second)
	defer cancel()
	_, err = rpcpb.NewInternalClient(cc).NodeProgress(ctx, &rpcpb.NodeProgressRequest{})
	return err
}

// servedSerial is the serial of the certificate addr serves.
func servedSerial(t *testing.T, addr string) *big.Int {
	t.Helper()
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 2 * time.Second}, "tcp", addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].SerialNumber
}

func TestTLSJourney(t *testing.T) {
	needBinaries(t)
	dir := certsDir(t, 3, "alice", "shard/s1")
	otherDir := certsDir(t, 1, "mallory")
	c := startClusterWith(t, 3, tlsFlags(dir)...)
	all := c.endpoints()
	alice := clientFlags(dir, "user-alice")

	// With a client certificate: apply through one node, list through all.
	mustCtl(t, c.nodes[0].grpc, append(alice, "namespace", "apply", "-f", "../examples/user-profiles.yaml")...)
	out := mustCtl(t, all, append(alice, "namespace", "list", "-o", "json")...)
	if !strings.Contains(out, `"user-profiles"`) {
		t.Fatalf("list: %s", out)
	}
	// The same from the environment.
	cmd := exec.Command(filepath.Join(binDir, "prismctl"), "--endpoints", all, "cluster", "status", "-o", "json")
	cmd.Env = append(os.Environ(), "PRISM_CACERT="+alice[1], "PRISM_CERT="+alice[3], "PRISM_KEY="+alice[5])
	if b, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(b), `"leader_id"`) {
		t.Fatalf("prismctl with PRISM_CACERT/CERT/KEY: %v\n%s", err, b)
	}

	// Each way of getting it wrong says what to do, at once.
	for _, tc := range []struct {
		name  string
		flags []string
		code  int
		want  string
	}{
		{"no TLS flags", nil, 7, "the nodes serve TLS: pass --cacert"},
		{"no client certificate", alice[:2], 7, "requires a client certificate: pass --cert and --key"},
		{"no CA", alice[2:], 7, "pass --cacert with the cluster's CA"},
		{"another CA's client", clientFlags(otherDir, "user-mallory"), 7, "pass --cacert with the cluster's CA"},
		{"a certificate not of the CA given", append([]string{"--cacert", alice[1]}, clientFlags(otherDir, "user-mallory")[2:]...), 3, "signed by the CA"},
	} {
		start := time.Now()
		_, errs, code := ctl(t, all, append(slices.Clone(tc.flags), "namespace", "get", "user-profiles")...)
		if code != tc.code || !strings.Contains(errs, tc.want) {
			t.Errorf("%s: exit %d, stderr %q; want exit %d saying %q", tc.name, code, errs, tc.code, tc.want)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("%s: took %v (--timeout is 10s): the error should come at once", tc.name, d)
		}
	}

	// The raft port: a node certificate reaches Internal; a client
	// certificate of the same CA, or another CA's, does not.
	raft := c.nodes[1].raft
	if err := dialRaftPort(t, raft, dir, "node-node3"); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("node certificate on the raft port: %v (want Unauthenticated: past TLS, no node token)", err)
	}
	for _, cert := range []struct{ dir, stem string }{{dir, "user-alice"}, {dir, "shard-s1"}, {otherDir, "user-mallory"}, {otherDir, "node-node1"}} {
		if err := dialRaftPort(t, raft, cert.dir, cert.stem); status.Code(err) != codes.Unavailable {
			t.Errorf("%s on the raft port: %v (want Unavailable: refused in the handshake)", cert.stem, err)
		}
	}

	// HTTP: health without a certificate, discovery only with one.
	pool := x509.NewCertPool()
	caPEM, _ := os.ReadFile(alice[1])
	pool.AppendCertsFromPEM(caPEM)
	pair, err := tls.LoadX509KeyPair(alice[3], alice[5])
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path  string
		cert  bool
		wantC int
	}{{"/healthz", false, 200}, {"/readyz", false, 200}, {"/v1/namespaces/user-profiles", false, 401}, {"/metrics", false, 401}, {"/v1/namespaces/user-profiles", true, 200}} {
		cfg := &tls.Config{RootCAs: pool}
		if tc.cert {
			cfg.Certificates = []tls.Certificate{pair}
		}
		hc := httpsClient(cfg)
		resp, err := hc.Get("https://" + c.nodes[2].http + tc.path)
		if err != nil {
			t.Fatalf("GET %s: %v", tc.path, err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.wantC {
			t.Errorf("GET %s (client certificate %v): %d, want %d", tc.path, tc.cert, resp.StatusCode, tc.wantC)
		}
	}
	// Another CA's client certificate fails the HTTPS handshake, even for health.
	mallory, err := tls.LoadX509KeyPair(filepath.Join(otherDir, "user-mallory.pem"), filepath.Join(otherDir, "user-mallory-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if resp, err := httpsClient(&tls.Config{RootCAs: pool, Certificates: []tls.Certificate{mallory}}).Get("https://" + c.nodes[2].http + "/healthz"); err == nil {
		resp.Body.Close()
		t.Errorf("another CA's client certificate got HTTP %d", resp.StatusCode)
	}

	// prism-shard with its certificate registers and keeps its session.
	startAgent(t, "s1", all, clientFlags(dir, "shard-s1")...)
	waitShardUp(t, all, alice, "s1")

	// Rotation: node1's files replaced with a new certificate; new
	// handshakes on its gRPC and raft ports get it within seconds, and
	// clients keep working.
	before := servedSerial(t, c.nodes[0].grpc)
	fresh := t.TempDir()
	for _, f := range []string{"prism-ca.pem", "prism-ca-key.pem"} {
		b, _ := os.ReadFile(filepath.Join(dir, f))
		if err := os.WriteFile(filepath.Join(fresh, f), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if _, errs, code := ctl(t, "127.0.0.1:1", "tls", "cert", "create", "--node", "node1", "--dir", fresh); code != 0 {
		t.Fatal(errs)
	}
	for _, f := range []string{"node-node1-key.pem", "node-node1.pem"} {
		if err := os.Rename(filepath.Join(fresh, f), filepath.Join(dir, f)); err != nil {
			t.Fatal(err)
		}
	}
	want := mustSerial(t, filepath.Join(dir, "node-node1.pem"))
	if want.Cmp(before) == 0 {
		t.Fatal("the new certificate has the old serial")
	}
	for _, addr := range []string{c.nodes[0].grpc, c.nodes[0].raft} {
		deadline := time.Now().Add(10 * time.Second)
		for servedSerial(t, addr).Cmp(want) != 0 {
			if time.Now().After(deadline) {
				t.Fatalf("%s still serves the old certificate", addr)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	mustCtl(t, c.nodes[0].grpc, append(alice, "namespace", "apply", "-f", "../examples/video-events.yaml")...)
	out = mustCtl(t, c.nodes[2].grpc, append(alice, "namespace", "get", "video-events", "-o", "json")...)
	if !strings.Contains(out, `"video-events"`) {
		t.Fatalf("after rotation: %s", out)
	}
}

func mustSerial(t *testing.T, path string) *big.Int {
	t.Helper()
	pair, err := tls.LoadX509KeyPair(path, strings.TrimSuffix(path, ".pem")+"-key.pem")
	if err != nil {
		t.Fatal(err)
	}
	return pair.Leaf.SerialNumber
}

// TestTLSFlagsChecked: prismd refuses half a TLS setup, and TLS without
// the gossip key, before it listens.
func TestTLSFlagsChecked(t *testing.T) {
	needBinaries(t)
	dir := certsDir(t, 1)
	flags := tlsFlags(dir)
	noKey := []string{flags[3], strings.ReplaceAll(flags[4], "{id}", "node1"), flags[5], strings.ReplaceAll(flags[6], "{id}", "node1"), flags[7], flags[8]}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--tls-cert", filepath.Join(dir, "node-node1.pem")}, "--tls-key, --tls-ca missing"},
		{noKey, "TLS needs --gossip-key"},
		{append([]string{"--node-id", "node2", "--gossip-key", flags[2]}, noKey...), "spiffe://prism/node/node2"},
	} {
		var out bytes.Buffer
		cmd := exec.Command(filepath.Join(binDir, "prismd"), append([]string{"--node-id", "node1", "--data-dir", t.TempDir(),
			"--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--raft-addr", "127.0.0.1:0", "--gossip-addr", "127.0.0.1:0"}, tc.args...)...)
		cmd.Stdout, cmd.Stderr = &out, &out
		done := make(chan error, 1)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(out.String(), tc.want) {
				t.Errorf("prismd %v: %v, output %q; want an error saying %q", tc.args, err, out.String(), tc.want)
			}
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
			t.Errorf("prismd %v started; want an error saying %q", tc.args, tc.want)
		}
	}
}

// waitShardUp waits until prismctl (with flags) shows shard id up.
func waitShardUp(t *testing.T, endpoints string, flags []string, id string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		out, _, code := ctl(t, endpoints, append(slices.Clone(flags), "shard", "get", id, "-o", "json")...)
		var sh struct{ State string }
		if code == 0 && json.Unmarshal([]byte(out), &sh) == nil && sh.State == "up" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("shard %s not up: %s", id, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func contextTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}

func httpsClient(cfg *tls.Config) *http.Client {
	return &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}, Timeout: 5 * time.Second}
}
