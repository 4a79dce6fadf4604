// Package testcluster starts in-process control-plane clusters for tests:
// real raft on disk (t.TempDir), real gossip and gRPC over TCP on ephemeral
// loopback ports, the same assembly prismd runs.
package testcluster

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prism/controlplane/cluster"
	"github.com/prism/controlplane/internal/server"
	"github.com/prism/controlplane/rpc/client"
	"github.com/prism/controlplane/rpc/rpcpb"
)

// Cluster is a set of in-process nodes.
type Cluster struct {
	t        testing.TB
	Servers  []*server.Server // nil where a node is stopped
	cfgs     []server.Config
	backends *server.Backends // every node's (nil: provisioning disabled)
}

// tlogWriter sends slog output to t.Log until the test ends. Some
// goroutines (memberlist's) may log after Shutdown returns; those lines are
// dropped instead of failing the test.
type tlogWriter struct {
	t    testing.TB
	mu   sync.Mutex
	done bool
}

func (w *tlogWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

// Logger logs to t.Log at warn level and above (info with PRISM_TEST_LOG=info).
func Logger(t testing.TB) *slog.Logger {
	w := &tlogWriter{t: t}
	t.Cleanup(func() {
		w.mu.Lock()
		w.done = true
		w.mu.Unlock()
	})
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: testLogLevel()}))
}

// Start starts n nodes that bootstrap together, and waits for a leader.
func Start(t testing.TB, n int) *Cluster { return StartWith(t, n, nil) }

// StartWith is Start with a hook that adjusts each node's config.
func StartWith(t testing.TB, n int, tweak func(*cluster.Config)) *Cluster {
	t.Helper()
	return StartWithBackends(t, n, tweak, nil)
}

// StartWithBackends is StartWith whose nodes (and nodes restarted or added
// later) provision with b; nil disables provisioning, as in Start.
func StartWithBackends(t testing.TB, n int, tweak func(*cluster.Config), b *server.Backends) *Cluster {
	t.Helper()
	var st func(int, *server.Config)
	if tweak != nil {
		st = func(_ int, cfg *server.Config) { tweak(&cfg.Cluster) }
	}
	return StartServers(t, n, st, b)
}

// StartServers is StartWithBackends with a hook that adjusts node i's
// whole process config (its TLS files, say) after the defaults are set.
func StartServers(t testing.TB, n int, tweak func(i int, cfg *server.Config), b *server.Backends) *Cluster {
	t.Helper()
	c := &Cluster{t: t, backends: b}
	var seed string
	for i := 0; i < n; i++ {
		cc := cluster.DefaultConfig()
		cc.NodeID = fmt.Sprintf("n%d", i+1)
		cc.DataDir = t.TempDir()
		cc.RaftAddr = "127.0.0.1:0"
		cc.GossipAddr = "127.0.0.1:0"
		cc.BootstrapExpect = n
		cc.ReconcileInterval = 200 * time.Millisecond
		cc.JoinRetryInterval = 200 * time.Millisecond
		if seed != "" {
			cc.Join = []string{seed}
		}
		cfg := server.Config{Cluster: cc, GRPCAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0"}
		if tweak != nil {
			tweak(i, &cfg)
		}
		s, err := server.Start(cfg, Logger(t).With("node", cfg.Cluster.NodeID), b)
		if err != nil {
			t.Fatalf("start node %d: %v", i+1, err)
		}
		if seed == "" {
			seed = s.Node.GossipAddr()
		}
		// Pin the ports it got, so a restart comes back on the same addresses.
		cfg.GRPCAddr, cfg.HTTPAddr = s.GRPCAddr, s.HTTPAddr
		cfg.Cluster.RaftAddr, cfg.Cluster.GossipAddr = s.Node.RaftAddr(), s.Node.GossipAddr()
		c.Servers = append(c.Servers, s)
		c.cfgs = append(c.cfgs, cfg)
	}
	t.Cleanup(c.StopAll)
	c.WaitLeader(10 * time.Second)
	return c
}

// Add starts one more node that joins the cluster by gossip (no bootstrap);
// it returns its index.
func (c *Cluster) Add(tweak func(*cluster.Config)) int {
	c.t.Helper()
	i := len(c.Servers)
	cc := cluster.DefaultConfig()
	cc.NodeID = fmt.Sprintf("n%d", i+1)
	cc.DataDir = c.t.TempDir()
	cc.RaftAddr, cc.GossipAddr = "127.0.0.1:0", "127.0.0.1:0"
	cc.ReconcileInterval = 200 * time.Millisecond
	cc.JoinRetryInterval = 200 * time.Millisecond
	for _, s := range c.Servers {
		if s != nil {
			cc.Join = append(cc.Join, s.Node.GossipAddr())
		}
	}
	if tweak != nil {
		tweak(&cc)
	}
	cfg := server.Config{Cluster: cc, GRPCAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0"}
	s, err := server.Start(cfg, Logger(c.t).With("node", cc.NodeID), c.backends)
	if err != nil {
		c.t.Fatalf("add node %d: %v", i+1, err)
	}
	cfg.GRPCAddr, cfg.HTTPAddr = s.GRPCAddr, s.HTTPAddr
	cfg.Cluster.RaftAddr, cfg.Cluster.GossipAddr = s.Node.RaftAddr(), s.Node.GossipAddr()
	c.Servers = append(c.Servers, s)
	c.cfgs = append(c.cfgs, cfg)
	return i
}

// StopAll stops every running node.
func (c *Cluster) StopAll() {
	for i := range c.Servers {
		c.Stop(i, false)
	}
}

// Stop stops node i (graceful: leadership handover and gossip leave).
func (c *Cluster) Stop(i int, graceful bool) {
	if c.Servers[i] == nil {
		return
	}
	_ = c.Servers[i].Stop(graceful)
	c.Servers[i] = nil
}

// Restart starts node i again on its data dir and addresses.
func (c *Cluster) Restart(i int) {
	c.t.Helper()
	cfg := c.cfgs[i]
	var seeds []string
	for j, s := range c.Servers {
		if s != nil && j != i {
			seeds = append(seeds, s.Node.GossipAddr())
		}
	}
	cfg.Cluster.Join = seeds
	var s *server.Server
	var err error
	// The old sockets may linger for a moment.
	deadline := time.Now().Add(5 * time.Second)
	for {
		s, err = server.Start(cfg, Logger(c.t).With("node", cfg.Cluster.NodeID), c.backends)
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		c.t.Fatalf("restart node %d: %v", i+1, err)
	}
	c.Servers[i] = s
}

// Leader returns the index of the node that leads, or -1.
func (c *Cluster) Leader() int {
	for i, s := range c.Servers {
		if s != nil && s.Node.IsLeader() {
			return i
		}
	}
	return -1
}

// WaitLeader waits until a running node leads and every running node knows it.
func (c *Cluster) WaitLeader(d time.Duration) int {
	c.t.Helper()
	var l int
	Eventually(c.t, d, func() error {
		l = c.Leader()
		if l < 0 {
			return fmt.Errorf("no leader")
		}
		want := c.Servers[l].Node.ID()
		for i, s := range c.Servers {
			if s != nil && s.Node.LeaderID() != want {
				return fmt.Errorf("node %d sees leader %q, want %q", i+1, s.Node.LeaderID(), want)
			}
		}
		return nil
	})
	return l
}

// Follower returns the index of a running node that does not lead.
func (c *Cluster) Follower(except ...int) int {
	for i, s := range c.Servers {
		if s == nil || s.Node.IsLeader() || contains(except, i) {
			continue
		}
		return i
	}
	return -1
}

func contains(xs []int, x int) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// Client returns a client of the given nodes (all running nodes when none).
func (c *Cluster) Client(nodes ...int) *client.Client {
	c.t.Helper()
	var eps []string
	for i, s := range c.Servers {
		if s != nil && (len(nodes) == 0 || contains(nodes, i)) {
			eps = append(eps, s.GRPCAddr)
		}
	}
	cl, err := client.New(client.Config{Endpoints: eps})
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { cl.Close() })
	return cl
}

// Config is node i's configuration (addresses pinned to what it got).
func (c *Cluster) Config(i int) server.Config { return c.cfgs[i] }

// Endpoint is node i's gRPC address (also after it stopped).
func (c *Cluster) Endpoint(i int) string { return c.cfgs[i].GRPCAddr }

// Eventually polls f until it returns nil or d passes.
func Eventually(t testing.TB, d time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	var err error
	for {
		if err = f(); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %v", d, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// WaitRounds waits (up to d) until rounds, a counter of some loop's rounds
// such as Node.AutopilotRounds, has advanced by n from its value now. A
// negative check ("nothing happens") waits for enough rounds of the loop
// that would do it, rather than for wall time the loop may not have used.
func WaitRounds(t testing.TB, d time.Duration, n uint64, rounds func() uint64) {
	t.Helper()
	start := rounds()
	Eventually(t, d, func() error {
		if got := rounds() - start; got < n {
			return fmt.Errorf("%d of %d rounds", got, n)
		}
		return nil
	})
}

// Ctx is a context with a timeout, cancelled at test end.
func Ctx(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func testLogLevel() slog.Level {
	switch os.Getenv("PRISM_TEST_LOG") {
	case "info":
		return slog.LevelInfo
	case "debug":
		return slog.LevelDebug
	}
	return slog.LevelWarn
}

// WaitNamespace waits until node i has applied namespace name (a stale,
// local read finds it): an acknowledged write is on a quorum, not
// necessarily on every follower yet.
func (c *Cluster) WaitNamespace(i int, name string, d time.Duration) {
	c.t.Helper()
	cl := c.Client(i)
	defer cl.Close()
	Eventually(c.t, d, func() error {
		_, err := cl.Get(Ctx(c.t, time.Second), &rpcpb.GetRequest{Name: name, Consistency: rpcpb.Consistency_CONSISTENCY_STALE})
		return err
	})
}
