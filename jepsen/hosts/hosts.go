// Package hosts runs the prismd processes of a Jepsen run, one per network
// namespace, and kills, pauses and restarts them. It is used from inside the
// client namespace: the status calls it makes dial test addresses.
package hosts

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/prism/controlplane/jepsen/netns"
	"github.com/prism/controlplane/jepsen/secure"
	"github.com/prism/controlplane/rpc/client"
	"github.com/prism/controlplane/rpc/rpcpb"
)

// Node is one prismd host.
type Node struct {
	I      int    // 1-based
	ID     string // node id, "n1"
	Dir    string // report dir of the node: prismd.log, data/
	mu     sync.Mutex
	cmd    *exec.Cmd
	done   chan struct{}
	paused bool
	fresh  bool // next start joins an existing cluster (no --bootstrap-expect)
	// crashes lists the times this node's process exited without being
	// killed by the harness (a panic, an exit on its own).
	crashes []time.Time
}

// GRPC is the node's gRPC address.
func (n *Node) GRPC() string { return netns.NodeIP(n.I) + ":7400" }

// Cluster is the set of hosts.
type Cluster struct {
	Net    *netns.Net
	Prismd string
	Nodes  []*Node
	Log    func(format string, args ...any)
	// ExtraArgs are added to every prismd command line (the shard liveness
	// timeouts when agents run).
	ExtraArgs []string
	// BackendArgs declare the backend targets prismd provisions on
	// (--backends); none: --provisioning=false, namespaces go active with
	// no resources created.
	BackendArgs []string
	// Sec, with --secure, is the run's TLS material: every prismd gets TLS
	// on every port, --acl and the gossip key, and the harness's calls use
	// TLS (user/jepsen) and, once set, the admin token. Nil: plaintext.
	Sec *secure.Material

	mu     sync.Mutex
	token  string // the admin token's secret (SetToken); never logged
	client *client.Client
	https  *http.Client
}

// New describes n hosts with their directories under dir.
func New(net *netns.Net, prismd, dir string, logf func(string, ...any)) *Cluster {
	c := &Cluster{Net: net, Prismd: prismd, Log: logf}
	for i := 1; i <= net.Nodes; i++ {
		id := "n" + strconv.Itoa(i)
		c.Nodes = append(c.Nodes, &Node{I: i, ID: id, Dir: filepath.Join(dir, id)})
	}
	c.client = c.newClient()
	return c
}

// Secure makes the cluster a --secure one (before any node starts).
func (c *Cluster) Secure(m *secure.Material) { c.renewClient(func() { c.Sec = m }) }

// SetToken makes every later call of the harness's client, and every
// HTTP call, carry the admin token (the secret of AclBootstrap).
func (c *Cluster) SetToken(secret string) { c.renewClient(func() { c.token = secret }) }

// renewClient applies change under the lock and replaces the harness's
// client with one built on the new settings.
func (c *Cluster) renewClient(change func()) {
	c.mu.Lock()
	old := c.client
	change()
	c.client = c.newClient()
	c.mu.Unlock()
	old.Close()
}

// Token is the admin token's secret ("" without --secure or before
// SetToken).
func (c *Cluster) Token() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.token
}

// ClientTLS is the harness's client TLS (nil: plaintext).
func (c *Cluster) ClientTLS() *tls.Config {
	if c.Sec == nil {
		return nil
	}
	return c.Sec.Client
}

// newClient is a client of every node with the current TLS and token;
// c.mu is held or c is not shared yet.
func (c *Cluster) newClient() *client.Client {
	cfg := client.Config{Endpoints: c.Endpoints(), Token: c.token}
	if c.Sec != nil {
		cfg.TLS = c.Sec.Client
	}
	cl, err := client.New(cfg)
	if err != nil {
		panic(fmt.Sprintf("hosts: client: %v", err)) // only a malformed token or no endpoints
	}
	return cl
}

func (c *Cluster) cl() *client.Client {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.client
}

// Bootstrap mints the first admin token (AclBootstrap: no identity
// needed), retrying until a leader exists or ctx ends. It returns the
// token's id and secret; an outcome the client cannot know (the token may
// exist, its secret lost) is an error.
func (c *Cluster) Bootstrap(ctx context.Context) (id, secret string, err error) {
	cl := c.cl()
	for {
		actx, cancel := context.WithTimeout(ctx, 10*time.Second)
		resp, err := cl.AclBootstrap(actx)
		cancel()
		if err == nil {
			return resp.GetToken().GetId(), resp.GetSecret(), nil
		}
		// NO_LEADER: no attempt reached a leader, nothing was minted.
		if client.Reason(err) != rpcpb.ReasonNoLeader || ctx.Err() != nil {
			return "", "", fmt.Errorf("acl bootstrap: %w", err)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// DialOptions are what a raw gRPC connection to a node's public port
// (raft false) or raft port needs: with --secure, TLS (the harness's
// client certificate; on the raft port node n1's, which is all that port
// admits) and, on the public port, the admin token on every call.
func (c *Cluster) DialOptions(raft bool) []grpc.DialOption {
	if c.Sec == nil {
		return []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	}
	if raft {
		return []grpc.DialOption{grpc.WithTransportCredentials(credentials.NewTLS(c.Sec.Peer))}
	}
	opts := []grpc.DialOption{grpc.WithTransportCredentials(credentials.NewTLS(c.Sec.Client))}
	if t := c.Token(); t != "" {
		opts = append(opts, grpc.WithPerRPCCredentials(Bearer(t)))
	}
	return opts
}

// Bearer is per-call credentials that send a token secret as
// "authorization: Bearer <secret>" (over TLS only).
type Bearer string

// GetRequestMetadata implements credentials.PerRPCCredentials.
func (b Bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(b)}, nil
}

// RequireTransportSecurity implements credentials.PerRPCCredentials.
func (Bearer) RequireTransportSecurity() bool { return true }

// HTTP calls path on node n's HTTP port: http://, or with --secure
// https:// with the harness's client certificate and the admin token.
func (c *Cluster) HTTP(ctx context.Context, method string, n *Node, path string) (*http.Response, error) {
	scheme, hc := "http", http.DefaultClient
	if c.Sec != nil {
		scheme, hc = "https", c.httpsClient()
	}
	req, err := http.NewRequestWithContext(ctx, method, scheme+"://"+netns.NodeIP(n.I)+":7700"+path, nil)
	if err != nil {
		return nil, err
	}
	if t := c.Token(); t != "" {
		req.Header.Set("Authorization", "Bearer "+t)
	}
	return hc.Do(req)
}

func (c *Cluster) httpsClient() *http.Client {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.https == nil {
		c.https = &http.Client{Transport: &http.Transport{TLSClientConfig: c.Sec.Client.Clone(), IdleConnTimeout: 10 * time.Second}}
	}
	return c.https
}

// Endpoints are the gRPC addresses of every node.
func (c *Cluster) Endpoints() []string {
	var eps []string
	for _, n := range c.Nodes {
		eps = append(eps, n.GRPC())
	}
	return eps
}

func (c *Cluster) args(n *Node) []string {
	var join []string
	for i := 1; i <= len(c.Nodes); i++ {
		join = append(join, netns.NodeIP(i)+":7600")
	}
	ip := netns.NodeIP(n.I)
	args := []string{"netns", "exec", c.Net.Node(n.I), c.Prismd,
		"--node-id", n.ID,
		"--data-dir", filepath.Join(n.Dir, "data"),
		"--grpc-addr", ip + ":7400",
		"--http-addr", ip + ":7700",
		"--raft-addr", ip + ":7500",
		"--gossip-addr", ip + ":7600",
		"--join", strings.Join(join, ","),
		"--log-level", "info",
	}
	if len(c.BackendArgs) > 0 {
		args = append(args, c.BackendArgs...)
	} else {
		args = append(args, "--provisioning=false")
	}
	if v := len(c.Nodes); v == 3 || v == 5 {
		args = append(args, "--voters", strconv.Itoa(v)) // every server a voter
	}
	args = append(args, c.ExtraArgs...)
	if c.Sec != nil {
		args = append(args, c.Sec.NodeArgs(n.ID)...)
	}
	if !n.fresh {
		args = append(args, "--bootstrap-expect", strconv.Itoa(len(c.Nodes)))
	}
	return args
}

// Wipe deletes a stopped node's data dir; its next start joins the running
// cluster as a new server (it enters as a nonvoter, autopilot promotes it).
func (c *Cluster) Wipe(n *Node) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd != nil {
		return fmt.Errorf("%s is running", n.ID)
	}
	n.fresh = true
	return os.RemoveAll(filepath.Join(n.Dir, "data"))
}

// RemovePeer removes node id from raft (refused without a healthy quorum left).
func (c *Cluster) RemovePeer(ctx context.Context, id string) error {
	return c.cl().RemovePeer(ctx, id, false)
}

// Voters returns the voter ids the leader reports.
func (c *Cluster) Voters(ctx context.Context) ([]string, error) {
	l := c.Leader(ctx)
	if l == nil {
		return nil, fmt.Errorf("no leader")
	}
	sctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	st, err := c.cl().StatusOf(sctx, l.GRPC())
	if err != nil {
		return nil, err
	}
	var v []string
	for _, n := range st.Nodes {
		if n.Suffrage == "voter" {
			v = append(v, n.Id)
		}
	}
	return v, nil
}

// Start starts node n (also a restart on its data dir).
func (c *Cluster) Start(n *Node) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd != nil {
		return fmt.Errorf("%s already running", n.ID)
	}
	if err := os.MkdirAll(n.Dir, 0o755); err != nil {
		return err
	}
	// ip netns exec execs: the pid is prismd's own.
	cmd := exec.Command("ip", c.args(n)...)
	if c.Sec != nil {
		cmd.Env = append(os.Environ(), c.Sec.NodeEnv()...)
	}
	done, err := StartLogged(cmd, filepath.Join(n.Dir, "prismd.log"), n.ID)
	if err != nil {
		return err
	}
	n.cmd, n.done, n.paused = cmd, done, false
	go func() {
		<-done
		n.mu.Lock()
		defer n.mu.Unlock()
		if n.cmd == cmd { // not killed by the harness (Kill clears cmd first)
			n.crashes = append(n.crashes, time.Now())
			n.cmd, n.paused = nil, false // ReviveAll starts it again
		}
	}()
	return nil
}

// Crashes lists when node n's process exited on its own.
func (n *Node) Crashes() []time.Time {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]time.Time(nil), n.crashes...)
}

// Kill sends SIGKILL to node n and waits until it is gone.
func (c *Cluster) Kill(n *Node) error {
	n.mu.Lock()
	cmd, done := n.cmd, n.done
	n.cmd, n.paused = nil, false
	n.mu.Unlock()
	return KillWait(cmd, done, n.ID)
}

// Pause sends SIGSTOP; Resume SIGCONT.
func (c *Cluster) Pause(n *Node) error  { return c.signal(n, syscall.SIGSTOP, true) }
func (c *Cluster) Resume(n *Node) error { return c.signal(n, syscall.SIGCONT, false) }

func (c *Cluster) signal(n *Node, sig syscall.Signal, paused bool) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil {
		return fmt.Errorf("%s is not running", n.ID)
	}
	n.paused = paused
	return n.cmd.Process.Signal(sig)
}

// Running reports whether node n is started (paused or not), and paused.
func (n *Node) Running() (running, paused bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.cmd != nil, n.paused
}

// Pid is node n's process id (0 when down).
func (n *Node) Pid() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil {
		return 0
	}
	return n.cmd.Process.Pid
}

// ReviveAll resumes paused nodes and restarts dead ones.
func (c *Cluster) ReviveAll() error {
	var errs []string
	for _, n := range c.Nodes {
		running, paused := n.Running()
		switch {
		case paused:
			if err := c.Resume(n); err != nil {
				errs = append(errs, err.Error())
			}
		case !running:
			if err := c.Start(n); err != nil {
				errs = append(errs, err.Error())
			}
		}
	}
	if errs != nil {
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return nil
}

// StopAll kills every node.
func (c *Cluster) StopAll() {
	for _, n := range c.Nodes {
		if _, paused := n.Running(); paused {
			_ = c.Resume(n)
		}
		_ = c.Kill(n)
	}
	c.cl().Close()
}

// Leader asks every running, unpaused node for its status and returns the
// node that says it leads (the highest term wins), or nil.
func (c *Cluster) Leader(ctx context.Context) *Node {
	var best *Node
	var bestTerm uint64
	for _, n := range c.Nodes {
		if running, paused := n.Running(); !running || paused {
			continue
		}
		sctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		st, err := c.cl().StatusOf(sctx, n.GRPC())
		cancel()
		if err != nil || st.LeaderId != st.NodeId || st.LeaderId == "" {
			continue
		}
		if best == nil || st.Term > bestTerm {
			best, bestTerm = n, st.Term
		}
	}
	return best
}

// WaitHealthy waits until a leader exists and every node answers with the
// same leader and has applied up to the leader's commit index of the first
// look (all caught up), or ctx ends.
func (c *Cluster) WaitHealthy(ctx context.Context) error {
	var last string
	for ctx.Err() == nil {
		last = c.healthy(ctx)
		if last == "" {
			return nil
		}
		time.Sleep(300 * time.Millisecond)
	}
	return fmt.Errorf("cluster not healthy: %s", last)
}

func (c *Cluster) healthy(ctx context.Context) string {
	leaders := map[string]bool{}
	var commit uint64
	applied := map[string]uint64{}
	for _, n := range c.Nodes {
		sctx, cancel := context.WithTimeout(ctx, time.Second)
		st, err := c.cl().StatusOf(sctx, n.GRPC())
		cancel()
		if err != nil {
			return fmt.Sprintf("%s: %v", n.ID, err)
		}
		if st.LeaderId == "" {
			return n.ID + " knows no leader"
		}
		leaders[st.LeaderId] = true
		if st.NodeId == st.LeaderId {
			commit = st.CommitIndex
		}
		applied[n.ID] = st.AppliedIndex
	}
	if len(leaders) != 1 {
		return fmt.Sprintf("nodes disagree on the leader: %v", leaders)
	}
	for id, a := range applied {
		if a < commit {
			return fmt.Sprintf("%s applied %d < commit %d", id, a, commit)
		}
	}
	return ""
}
