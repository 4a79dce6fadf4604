// Command jepsen is Prism's fault-injection harness: it runs N real prismd
// processes in their own network namespaces, drives traffic at them from a
// client namespace while a nemesis partitions, kills and pauses them, then
// checks the history (porcupine linearizability per register key, no lost
// acknowledged writes, the set, the watch guarantees). With --secure the
// cluster runs with TLS, gossip encryption and ACLs, and the acl workload
// checks that a revoked token writes nothing. See README.md.
//
// Two roles: the controller (default) runs in the root namespace, builds and
// tears down the network and never dials a test address; it re-executes
// itself as the runner inside the client namespace, which starts the nodes,
// the workloads and the nemesis, and checks.
package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/prism/controlplane/jepsen/backends"
	"github.com/prism/controlplane/jepsen/nemesis"
	"github.com/prism/controlplane/jepsen/netns"
)

// Exit codes.
const (
	exitOK        = 0
	exitViolation = 1
	exitError     = 2 // the harness could not run (setup, teardown)
)

type config struct {
	role            string
	nodes           int
	dur             time.Duration
	nemeses         []string
	workloads       []string
	seed            int64
	reportDir       string
	prismd          string
	prefix          string
	expectViolation bool
	keys            int
	regWorkers      int
	setWorkers      int
	watchers        int
	keepData        bool
	shards          int
	prismShard      string
	shardWorkers    int
	shardDedicated  bool
	backends        bool
	prismDevbroker  string
	provWorkers     int
	provCheck       time.Duration
	archive         bool
	archiveEvery    int64
	archiveJournal  int
	secure          bool
	aclWriters      int
}

func parse() (*config, []string) {
	c := &config{}
	var nem, wl string
	flag.StringVar(&c.role, "role", "controller", "controller|runner (internal)")
	flag.IntVar(&c.nodes, "nodes", 3, "number of prismd nodes (3 or 5)")
	flag.DurationVar(&c.dur, "time", 30*time.Second, "how long to run traffic and faults")
	flag.StringVar(&nem, "nemesis", "partition,kill,pause", "faults: "+strings.Join(nemesis.Kinds, ",")+" (or none)")
	flag.StringVar(&wl, "workload", "register,set,watch", "workloads: register,set,watch,shards,provision,acl")
	flag.Int64Var(&c.seed, "seed", 0, "random seed (0: from the clock)")
	flag.StringVar(&c.reportDir, "report-dir", "", "report directory (default /tmp/prism-jepsen/<run>)")
	flag.StringVar(&c.prismd, "prismd", "./bin/prismd", "prismd binary")
	flag.StringVar(&c.prefix, "prefix", "", "network namespace prefix (internal)")
	flag.BoolVar(&c.expectViolation, "expect-violation", false, "self-test: succeed only if a violation is found")
	flag.IntVar(&c.keys, "keys", 3, "register keys")
	flag.IntVar(&c.regWorkers, "register-workers", 6, "register workers")
	flag.IntVar(&c.setWorkers, "set-workers", 2, "set workers")
	flag.IntVar(&c.watchers, "watchers", 3, "watchers")
	flag.BoolVar(&c.keepData, "keep-data", false, "keep node data dirs even on success")
	flag.IntVar(&c.shards, "shards", 0, "prism-shard agents to run (in the client namespace); prismd then gets --shard-suspect-after 1s --shard-down-after 2s")
	flag.StringVar(&c.prismShard, "prism-shard", "./bin/prism-shard", "prism-shard binary (with --shards)")
	flag.IntVar(&c.shardWorkers, "shard-workers", 2, "workers of the shards workload")
	flag.BoolVar(&c.shardDedicated, "shard-dedicated", true, "with --shards 3 or more, the shards workload first creates a dedicated namespace (with 2, one shared shard would be left: no moves)")
	flag.BoolVar(&c.backends, "backends", false, "run a backends host (Postgres and prism-devbroker at "+netns.BackendsIP+") and let prismd provision on it")
	flag.StringVar(&c.prismDevbroker, "prism-devbroker", "./bin/prism-devbroker", "prism-devbroker binary (with --backends)")
	flag.IntVar(&c.provWorkers, "provision-workers", 3, "workers of the provision workload")
	flag.DurationVar(&c.provCheck, "provision-check-interval", 2*time.Second, "prismd's --provision-check-interval (drift checks of active namespaces) with --backends")
	flag.BoolVar(&c.archive, "archive", false, "with --backends: every prismd archives to database "+backends.ArchiveDatabase+" of the backends host (--archive-url), and the archive checkers run")
	flag.Int64Var(&c.archiveEvery, "archive-checkpoint-every", 1000, "prismd's --archive-checkpoint-every with --archive (small, so a run writes periodic checkpoints)")
	flag.IntVar(&c.archiveJournal, "archive-journal", 0, "prismd's --archive-journal with --archive (0: prismd's default); a small one makes an archive outage open a new epoch")
	flag.BoolVar(&c.secure, "secure", false, "TLS on every port (a CA and certificates in <report>/tls), gossip encryption and --acl on every prismd; the harness bootstraps ACLs and acts with the admin token, the agents with their shard certificates")
	flag.IntVar(&c.aclWriters, "acl-writers", 2, "workers of the acl workload that write with live, revoked and non-owner tokens")
	flag.Parse()
	c.nemeses = split(nem)
	c.workloads = split(wl)
	if c.seed == 0 {
		c.seed = time.Now().UnixNano() % 1_000_000_007
	}
	return c, os.Args[1:]
}

func split(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" && f != "none" {
			out = append(out, f)
		}
	}
	return out
}

func (c *config) has(w string) bool {
	for _, x := range c.workloads {
		if x == w {
			return true
		}
	}
	return false
}

func main() {
	c, args := parse()
	if c.role == "runner" {
		os.Exit(runner(c))
	}
	code := controller(c, args)
	if c.expectViolation {
		switch code {
		case exitViolation:
			fmt.Println("jepsen: self-test passed: the harness found the violation it was expected to find")
			code = exitOK
		case exitOK:
			fmt.Println("jepsen: self-test FAILED: no violation found, but one was expected")
			code = exitViolation
		}
	}
	os.Exit(code)
}

var prefixRE = regexp.MustCompile(`^jp[0-9a-f]{4}-`)

const stateDir = "/run/prism-jepsen"

// cleanStale deletes the namespaces of earlier runs whose controller is
// gone (a crashed or killed run).
func cleanStale() {
	seen := map[string]bool{}
	for _, ns := range netns.List("jp") {
		if !prefixRE.MatchString(ns) {
			continue
		}
		p := ns[:6]
		if seen[p] {
			continue
		}
		seen[p] = true
		if b, err := os.ReadFile(filepath.Join(stateDir, p+".pid")); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && syscall.Kill(pid, 0) == nil && pid != os.Getpid() {
				continue // a live run
			}
		}
		fmt.Fprintf(os.Stderr, "jepsen: deleting stale namespaces of run %s\n", p)
		if err := netns.DestroyPrefix(p, netns.List(p+"-")); err != nil {
			fmt.Fprintln(os.Stderr, "jepsen:", err)
		}
		_ = os.Remove(filepath.Join(stateDir, p+".pid"))
	}
}

func controller(c *config, args []string) int {
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "jepsen: must run as root (network namespaces)")
		return exitError
	}
	for _, tool := range []string{"ip", "nft"} {
		if _, err := exec.LookPath(tool); err != nil {
			fmt.Fprintf(os.Stderr, "jepsen: %s not found (apt-get install -y iproute2 nftables)\n", tool)
			return exitError
		}
	}
	if c.nodes < 1 || c.nodes > 9 {
		fmt.Fprintln(os.Stderr, "jepsen: --nodes must be 1..9")
		return exitError
	}
	for _, k := range c.nemeses {
		if !contains(nemesis.Kinds, k) {
			fmt.Fprintf(os.Stderr, "jepsen: unknown nemesis %q (have %s)\n", k, strings.Join(nemesis.Kinds, ","))
			return exitError
		}
	}
	for _, w := range c.workloads {
		if !contains([]string{"register", "set", "watch", "shards", "provision", "acl"}, w) {
			fmt.Fprintf(os.Stderr, "jepsen: unknown workload %q\n", w)
			return exitError
		}
	}
	if c.has("shards") && c.shards < 1 {
		fmt.Fprintln(os.Stderr, "jepsen: the shards workload needs --shards 1 or more")
		return exitError
	}
	if c.backends && c.shards > 0 && c.has("register") {
		// With provisioning on, reg-* stay provisioning (no provisioner
		// serves their backend), and placement writes its unschedulable
		// reason on provisioning namespaces once shards exist: a system
		// write the register model does not allow.
		fmt.Fprintln(os.Stderr, "jepsen: --backends with --shards cannot run the register workload (placement would write the provisioning reg-* namespaces)")
		return exitError
	}
	if c.has("provision") && !c.backends {
		fmt.Fprintln(os.Stderr, "jepsen: the provision workload needs --backends")
		return exitError
	}
	if c.has("acl") && !c.secure {
		fmt.Fprintln(os.Stderr, "jepsen: the acl workload needs --secure (ACLs are off without it)")
		return exitError
	}
	if c.aclWriters < 1 {
		fmt.Fprintln(os.Stderr, "jepsen: --acl-writers must be at least 1")
		return exitError
	}
	if c.archive && !c.backends {
		fmt.Fprintln(os.Stderr, "jepsen: --archive needs --backends (the archive is a database of the backends host)")
		return exitError
	}
	if c.archiveEvery < 1 || c.archiveJournal < 0 {
		fmt.Fprintln(os.Stderr, "jepsen: --archive-checkpoint-every must be at least 1 and --archive-journal at least 0")
		return exitError
	}
	for _, k := range c.nemeses {
		if contains(nemesis.NeedBackends, k) && !c.backends {
			fmt.Fprintf(os.Stderr, "jepsen: nemesis %s needs --backends\n", k)
			return exitError
		}
	}
	if c.shards < 0 || c.shards > 9 {
		fmt.Fprintln(os.Stderr, "jepsen: --shards must be 0..9")
		return exitError
	}
	prismd, err := filepath.Abs(c.prismd)
	if err == nil {
		_, err = os.Stat(prismd)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "jepsen: prismd binary: %v (go build -o bin/ ./cmd/prismd)\n", err)
		return exitError
	}
	prismShard := ""
	if c.shards > 0 {
		prismShard, err = filepath.Abs(c.prismShard)
		if err == nil {
			_, err = os.Stat(prismShard)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "jepsen: prism-shard binary: %v (go build -o bin/ ./cmd/prism-shard)\n", err)
			return exitError
		}
	}
	devbroker := ""
	if c.backends {
		devbroker, err = filepath.Abs(c.prismDevbroker)
		if err == nil {
			_, err = os.Stat(devbroker)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "jepsen: prism-devbroker binary: %v (go build -o bin/ ./cmd/prism-devbroker)\n", err)
			return exitError
		}
		if _, err := backends.PostgresBin(); err != nil {
			fmt.Fprintln(os.Stderr, "jepsen:", err)
			return exitError
		}
	}
	cleanStale()
	var b [2]byte
	_, _ = rand.Read(b[:])
	prefix := "jp" + hex.EncodeToString(b[:])
	dir := c.reportDir
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "prism-jepsen", time.Now().Format("20060102-150405")+"-"+prefix)
	}
	if dir, err = filepath.Abs(dir); err == nil {
		err = os.MkdirAll(dir, 0o755)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "jepsen: report dir:", err)
		return exitError
	}
	_ = os.MkdirAll(stateDir, 0o755)
	pidFile := filepath.Join(stateDir, prefix+".pid")
	_ = os.WriteFile(pidFile, []byte(strconv.Itoa(os.Getpid())), 0o644)

	net := &netns.Net{Prefix: prefix, Nodes: c.nodes, Backends: c.backends}
	teardown := func() int {
		code := exitOK
		if err := net.Destroy(); err != nil {
			fmt.Fprintln(os.Stderr, "jepsen:", err)
			code = exitError
		}
		_ = os.Remove(pidFile)
		return code
	}
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)

	withBackends := ""
	if c.backends {
		withBackends = ", backends host"
	}
	if c.archive {
		withBackends += ", archive"
	}
	if c.secure {
		withBackends += ", secure (TLS, ACLs)"
	}
	fmt.Printf("jepsen: run %s: %d nodes, %d shard agents%s, %s, nemesis %s, workload %s, seed %d\njepsen: report dir %s\n",
		prefix, c.nodes, c.shards, withBackends, c.dur, strings.Join(c.nemeses, ","), strings.Join(c.workloads, ","), c.seed, dir)
	if err := net.Create(); err != nil {
		fmt.Fprintln(os.Stderr, "jepsen: network:", err)
		teardown()
		return exitError
	}

	self, err := os.Executable()
	if err != nil {
		teardown()
		return exitError
	}
	rargs := []string{"netns", "exec", net.Client(), self}
	rargs = append(rargs, stripFlags(args, "role", "prefix", "report-dir", "prismd", "prism-shard", "prism-devbroker", "seed", "expect-violation")...)
	rargs = append(rargs, "--role", "runner", "--prefix", prefix, "--report-dir", dir, "--prismd", prismd,
		"--seed", strconv.FormatInt(c.seed, 10))
	if prismShard != "" {
		rargs = append(rargs, "--prism-shard", prismShard)
	}
	if devbroker != "" {
		rargs = append(rargs, "--prism-devbroker", devbroker)
	}
	cmd := exec.Command("ip", rargs...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "jepsen: runner:", err)
		teardown()
		return exitError
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	// The runner bounds itself; this is the backstop.
	backstop := c.dur + 4*time.Minute
	if c.backends {
		backstop += 2 * time.Minute // the backends' start and the resources checker's wait
	}
	if c.archive {
		backstop += 2 * time.Minute // the archive's catch-up wait and its reads
	}
	hard := time.NewTimer(backstop)
	defer hard.Stop()
	var werr error
	interrupted := false
wait:
	for {
		select {
		case werr = <-done:
			break wait
		case s := <-sigs:
			fmt.Fprintf(os.Stderr, "jepsen: %v: stopping the run\n", s)
			interrupted = true
			_ = cmd.Process.Signal(syscall.SIGTERM)
			go func() {
				time.Sleep(20 * time.Second)
				_ = cmd.Process.Kill()
			}()
		case <-hard.C:
			fmt.Fprintln(os.Stderr, "jepsen: the runner overran its deadline: killing it")
			_ = cmd.Process.Kill()
		}
	}
	code := exitError
	var ee *exec.ExitError
	switch {
	case werr == nil:
		code = exitOK
	case errors.As(werr, &ee) && ee.ExitCode() == exitViolation:
		code = exitViolation
	}
	if tc := teardown(); tc != exitOK && code == exitOK {
		code = tc
	}
	if interrupted && code == exitOK {
		code = exitError
	}
	if code == exitOK && !c.keepData {
		for i := 1; i <= c.nodes; i++ {
			_ = os.RemoveAll(filepath.Join(dir, fmt.Sprintf("n%d", i), "data"))
		}
		_ = os.RemoveAll(filepath.Join(dir, "b", "pg", "data"))
	}
	if code != exitOK {
		fmt.Printf("jepsen: report kept in %s\n", dir)
	}
	return code
}

func contains(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

// stripFlags drops the named flags (with their values) from args.
func stripFlags(args []string, names ...string) []string {
	var out []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		name := strings.TrimLeft(a, "-")
		val := strings.Contains(name, "=")
		if j := strings.IndexByte(name, '='); j >= 0 {
			name = name[:j]
		}
		if strings.HasPrefix(a, "-") && contains(names, name) {
			if !val && name != "expect-violation" && i+1 < len(args) {
				i++
			}
			continue
		}
		out = append(out, a)
	}
	return out
}
