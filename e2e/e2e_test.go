package e2e

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// binDir holds prismd, prismctl and prism-shard, built by TestMain (empty
// under -short, where nothing is built).
var binDir string

// needBinaries comes first in every test: under -short the binaries are not
// built and the test says it skips.
func needBinaries(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: e2e tests build and run the prismd, prismctl and prism-shard binaries")
	}
}

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "prism-e2e-bin")
	if err != nil {
		panic(err)
	}
	args := []string{"build", "-o", dir + "/"}
	if raceEnabled {
		// The suite runs with -race: so do the processes it starts.
		args = append(args, "-race")
	}
	cmd := exec.Command("go", append(args, "../cmd/prismd", "../cmd/prismctl", "../cmd/prism-shard", "../cmd/prism-devbroker")...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build:", err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// nextPort hands out ports below the kernel's ephemeral range (32768 and
// up), where the in-process tests' port-0 listeners live: a port checked
// free here is not taken by another test before prismd binds it.
var nextPort atomic.Int32

func init() { nextPort.Store(int32(21000 + os.Getpid()%4000)) }

func freePort(t *testing.T) int {
	t.Helper()
	for i := 0; i < 2000; i++ {
		p := int(nextPort.Add(1))
		if p >= 30000 {
			nextPort.Store(21000)
			continue
		}
		// Both TCP and UDP: gossip binds the port for each.
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			continue
		}
		u, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", p))
		l.Close()
		if err != nil {
			continue
		}
		u.Close()
		return p
	}
	t.Fatal("no free port")
	return 0
}

type node struct {
	id                       string
	grpc, http, raft, gossip string
	dataDir                  string
	cmd                      *exec.Cmd
	log                      *bytes.Buffer
}

type procCluster struct {
	t     *testing.T
	nodes []*node
	join  string
	// flags every node gets besides its addresses: by default
	// --provisioning=false (these tests are about the metadata cluster;
	// TestProvisioningJourney runs real backends). "{id}" in a flag is
	// replaced with the node's id (per-node certificate files).
	flags []string
	// hc reads /readyz: over HTTPS, trusting the --tls-ca of flags, when
	// the nodes serve TLS.
	hc     *http.Client
	scheme string
}

func startCluster(t *testing.T, n int) *procCluster {
	return startClusterWith(t, n, "--provisioning=false")
}

func startClusterWith(t *testing.T, n int, flags ...string) *procCluster {
	c := &procCluster{t: t, flags: flags, hc: http.DefaultClient, scheme: "http"}
	if i := slices.Index(flags, "--tls-ca"); i >= 0 && i+1 < len(flags) {
		pem, err := os.ReadFile(flags[i+1])
		if err != nil {
			t.Fatal(err)
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(pem)
		c.hc = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 5 * time.Second}
		c.scheme = "https"
	}
	var gossips []string
	for i := 0; i < n; i++ {
		nd := &node{
			id:      fmt.Sprintf("node%d", i+1),
			grpc:    fmt.Sprintf("127.0.0.1:%d", freePort(t)),
			http:    fmt.Sprintf("127.0.0.1:%d", freePort(t)),
			raft:    fmt.Sprintf("127.0.0.1:%d", freePort(t)),
			gossip:  fmt.Sprintf("127.0.0.1:%d", freePort(t)),
			dataDir: t.TempDir(),
		}
		gossips = append(gossips, nd.gossip)
		c.nodes = append(c.nodes, nd)
	}
	c.join = strings.Join(gossips, ",")
	for _, nd := range c.nodes {
		c.start(nd)
	}
	t.Cleanup(func() {
		for _, nd := range c.nodes {
			if nd.cmd != nil && nd.cmd.ProcessState == nil {
				_ = nd.cmd.Process.Kill()
				_ = nd.cmd.Wait()
			}
			checkNoRace(t, nd.id, nd.log)
			if t.Failed() {
				t.Logf("--- log of %s ---\n%s", nd.id, nd.log.String())
			}
		}
	})
	c.waitReady(20 * time.Second)
	return c
}

// checkNoRace fails t if the log of a (stopped) process has a race
// detector report; only -race builds write one.
func checkNoRace(t *testing.T, name string, log *bytes.Buffer) {
	t.Helper()
	if log != nil && strings.Contains(log.String(), "WARNING: DATA RACE") {
		t.Errorf("%s: the race detector reported a data race (see its log)", name)
	}
}

func (c *procCluster) start(nd *node) {
	c.t.Helper()
	nd.log = &bytes.Buffer{}
	args := []string{"--node-id", nd.id, "--data-dir", nd.dataDir,
		"--grpc-addr", nd.grpc, "--http-addr", nd.http, "--raft-addr", nd.raft, "--gossip-addr", nd.gossip,
		"--bootstrap-expect", fmt.Sprint(len(c.nodes)), "--join", c.join}
	for _, f := range c.flags {
		args = append(args, strings.ReplaceAll(f, "{id}", nd.id))
	}
	nd.cmd = exec.Command(filepath.Join(binDir, "prismd"), args...)
	nd.cmd.Stdout, nd.cmd.Stderr = nd.log, nd.log
	if err := nd.cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
}

func (c *procCluster) endpoints() string {
	var eps []string
	for _, nd := range c.nodes {
		eps = append(eps, nd.grpc)
	}
	return strings.Join(eps, ",")
}

func (c *procCluster) waitReady(d time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(d)
	for _, nd := range c.nodes {
		if nd.cmd.ProcessState != nil {
			continue
		}
		for {
			resp, err := c.hc.Get(c.scheme + "://" + nd.http + "/readyz")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					break
				}
			}
			if time.Now().After(deadline) {
				c.t.Fatalf("%s not ready within %v", nd.id, d)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// ctl runs prismctl and returns stdout, stderr and the exit code.
func ctl(t *testing.T, endpoints string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "prismctl"), append([]string{"--endpoints", endpoints}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

func mustCtl(t *testing.T, endpoints string, args ...string) string {
	t.Helper()
	out, errs, code := ctl(t, endpoints, args...)
	if code != 0 {
		t.Fatalf("prismctl %v: exit %d: %s", args, code, errs)
	}
	return out
}

func TestUserJourney(t *testing.T) {
	needBinaries(t)
	c := startCluster(t, 3)
	all := c.endpoints()

	// Apply through one node, read the same from every node.
	mustCtl(t, c.nodes[0].grpc, "namespace", "apply", "-f", "../examples/user-profiles.yaml")
	mustCtl(t, all, "namespace", "apply", "-f", "../examples/colocated.yaml")
	mustCtl(t, all, "namespace", "apply", "-f", "../examples/video-events.yaml")
	var first map[string]any
	for _, nd := range c.nodes {
		out := mustCtl(t, nd.grpc, "namespace", "get", "user-profiles", "-o", "json")
		var v map[string]any
		if err := json.Unmarshal([]byte(out), &v); err != nil {
			t.Fatalf("get -o json: %v\n%s", err, out)
		}
		if v["name"] != "user-profiles" || v["backend"] != "postgres" {
			t.Fatalf("unexpected namespace JSON: %s", out)
		}
		delete(v, "status") // may move from provisioning to active between reads
		delete(v, "revision")
		delete(v, "status_reason")
		delete(v, "updated_at")
		if first == nil {
			first = v
		} else if fmt.Sprint(first) != fmt.Sprint(v) {
			t.Fatalf("nodes disagree:\n%v\n%v", first, v)
		}
	}
	// Secrets never leave the cluster in the clear; the discovery endpoint serves the same JSON.
	resp, err := http.Get("http://" + c.nodes[2].http + "/v1/namespaces/user-profiles")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("discovery: %v %v", resp, err)
	}
	resp.Body.Close()
	resp, _ = http.Get("http://" + c.nodes[1].http + "/v1/namespaces/absent")
	if resp.StatusCode != 404 {
		t.Fatalf("discovery of an absent namespace: %d", resp.StatusCode)
	}
	resp.Body.Close()

	// A file wrong in every way is rejected as a whole; nothing is written.
	before := mustCtl(t, all, "namespace", "list", "-o", "json")
	_, errs, code := ctl(t, all, "namespace", "apply", "-f", "../examples/bad-namespace.yaml")
	if code == 0 {
		t.Fatal("bad-namespace.yaml was accepted")
	}
	for _, want := range []string{"namespace (line 2)", "abstraction (line 3)", "backend (line 4)", "capacity.estimated_read_rps", "capacity.estimated_write_rps", "access.consumers[0]", "unknown_key"} {
		if !strings.Contains(errs, want) {
			t.Errorf("error output lacks %q:\n%s", want, errs)
		}
	}
	if strings.Count(strings.TrimSpace(errs), "\n") != 0 {
		t.Errorf("error is not one line:\n%s", errs)
	}
	after := mustCtl(t, all, "namespace", "list", "-o", "json")
	if revisionOf(t, before) != revisionOf(t, after) {
		t.Fatalf("a rejected file changed the cluster: revision %d → %d", revisionOf(t, before), revisionOf(t, after))
	}

	// --expect-revision: a mismatch fails and names the current revision.
	_, errs, code = ctl(t, all, "namespace", "apply", "-f", "../examples/user-profiles.yaml", "--expect-revision", "999")
	if code == 0 || !strings.Contains(errs, "current revision") {
		t.Fatalf("expect-revision mismatch: exit %d: %s", code, errs)
	}

	// kill -9 the leader: reads and writes carry on through the others.
	st := mustCtl(t, all, "cluster", "status", "-o", "json")
	var status struct {
		LeaderID string `json:"leader_id"`
		Nodes    []struct {
			ID    string `json:"id"`
			State string `json:"state"`
		} `json:"nodes"`
	}
	if err := json.Unmarshal([]byte(st), &status); err != nil || len(status.Nodes) != 3 {
		t.Fatalf("cluster status: %v\n%s", err, st)
	}
	var leader *node
	for _, nd := range c.nodes {
		if nd.id == status.LeaderID {
			leader = nd
		}
	}
	if leader == nil {
		t.Fatalf("no leader in %s", st)
	}
	if err := leader.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = leader.cmd.Wait()
	start := time.Now()
	mustCtl(t, all, "namespace", "delete", "user-settings", "--wait")
	t.Logf("delete --wait right after kill -9 of the leader took %v", time.Since(start))
	out := mustCtl(t, all, "namespace", "get", "user-profiles", "-o", "json")
	if !strings.Contains(out, `"user-profiles"`) {
		t.Fatalf("lost user-profiles: %s", out)
	}
	out = mustCtl(t, all, "namespace", "list", "-o", "json")
	if strings.Contains(out, "user-settings") || !strings.Contains(out, "video-events") {
		t.Fatalf("list after failover: %s", out)
	}
	// The killed node comes back from its data dir with everything.
	c.start(leader)
	c.waitReady(20 * time.Second)
	out = mustCtl(t, leader.grpc, "namespace", "get", "user-settings", "-o", "json", "--consistency", "linearizable")
	if !strings.Contains(out, `"deleted"`) {
		t.Fatalf("restarted node: %s", out)
	}
}

func revisionOf(t *testing.T, listJSON string) int64 {
	t.Helper()
	var v struct {
		Revision int64 `json:"revision"`
	}
	if err := json.Unmarshal([]byte(listJSON), &v); err != nil {
		t.Fatalf("list JSON: %v", err)
	}
	return v.Revision
}
