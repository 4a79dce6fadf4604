package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prism/controlplane/jepsen/backends"
	"github.com/prism/controlplane/jepsen/checker"
	"github.com/prism/controlplane/jepsen/history"
	"github.com/prism/controlplane/jepsen/hosts"
	"github.com/prism/controlplane/jepsen/nemesis"
	"github.com/prism/controlplane/jepsen/netns"
	"github.com/prism/controlplane/jepsen/secure"
	"github.com/prism/controlplane/jepsen/shards"
	"github.com/prism/controlplane/jepsen/workload"
	"github.com/prism/controlplane/rpc/rpcpb"
)

// runner runs inside the client namespace: every dial from here stays in
// the test network.
func runner(c *config) int {
	start := time.Now()
	logf := func(format string, args ...any) {
		fmt.Printf("[%6.1fs] %s\n", time.Since(start).Seconds(), fmt.Sprintf(format, args...))
	}
	if c.prefix == "" || c.reportDir == "" {
		fmt.Fprintln(os.Stderr, "jepsen: the runner role is internal")
		return exitError
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	interrupted := false
	go func() {
		<-sigs
		interrupted = true
		logf("interrupted: winding down")
		cancel()
	}()

	net := &netns.Net{Prefix: c.prefix, Nodes: c.nodes, Backends: c.backends}
	cl := hosts.New(net, c.prismd, c.reportDir, logf)
	if c.shards > 0 {
		cl.ExtraArgs = []string{"--shard-suspect-after", "1s", "--shard-down-after", "2s"}
	}
	defer cl.StopAll()
	var bh *backends.Host
	if c.backends {
		// Before the nodes, so the first leader finds its targets up.
		bh = backends.New(net, c.reportDir, c.prismDevbroker, logf)
		defer bh.Stop()
		bctx, bcancel := context.WithTimeout(ctx, 90*time.Second)
		err := bh.Start(bctx)
		bcancel()
		if err != nil {
			logf("backends host: %v", err)
			return exitError
		}
		cl.BackendArgs = []string{"--postgres-url", backends.PostgresURL(), "--kafka-brokers", backends.KafkaBrokers(),
			"--provision-check-interval", c.provCheck.String(), "--tombstone-retention", provTombstones.String(),
			"--pprof"} // goroutine dumps when a provision check fails
	}
	if c.archive {
		// Independent of provisioning, which --backends turns on either way.
		cl.ExtraArgs = append(cl.ExtraArgs, "--archive-url", backends.ArchiveURL(),
			"--archive-checkpoint-every", strconv.FormatInt(c.archiveEvery, 10))
		if c.archiveJournal > 0 {
			cl.ExtraArgs = append(cl.ExtraArgs, "--archive-journal", strconv.Itoa(c.archiveJournal))
		}
	}
	rec := history.NewRecorder()
	env := &workload.Env{Endpoints: cl.Endpoints(), Rec: rec, OpTimeout: 2 * time.Second}
	var sec *secure.Material
	if c.secure {
		var err error
		if sec, err = secure.Make(filepath.Join(c.reportDir, "tls"), c.nodes, c.shards); err != nil {
			logf("certificates: %v", err)
			return exitError
		}
		cl.Secure(sec)
		env.TLS = sec.Client
		logf("secure: CA and certificates in %s; prismd with TLS, gossip encryption and --acl", sec.Dir)
	}

	for _, n := range cl.Nodes {
		if err := cl.Start(n); err != nil {
			logf("start %s: %v", n.ID, err)
			return exitError
		}
	}
	sctx, scancel := context.WithTimeout(ctx, 60*time.Second)
	var err error
	if sec != nil {
		// Status needs a role with ACLs on: the bootstrap (which needs
		// none) waits for the first leader, then everything acts as admin.
		var id, secret string
		id, secret, err = cl.Bootstrap(sctx)
		if err == nil {
			cl.SetToken(secret)
			env.Token = secret
			logf("ACLs bootstrapped: admin token %s", id)
		}
	}
	if err == nil {
		err = cl.WaitHealthy(sctx)
	}
	scancel()
	if err != nil {
		logf("cluster did not form: %v", err)
		return exitError
	}
	logf("cluster formed: leader %s", leaderID(ctx, cl))

	keys := workload.RegisterKeys(c.keys)
	if c.has("register") {
		sctx, scancel := context.WithTimeout(ctx, 30*time.Second)
		err := workload.SetupRegisters(sctx, env, keys)
		scancel()
		if err != nil {
			logf("setup: %v", err)
			return exitError
		}
	}

	// Shard agents start after the registers are active: from then on the
	// placement engine runs, and it must find nothing of reg-* to change.
	var agents *shards.Agents
	var budget *workload.Budget
	if c.shards > 0 {
		agents = shards.New(c.shards, c.prismShard, c.reportDir, cl.Endpoints(), logf)
		if sec != nil {
			agents.ExtraArgs = sec.ShardArgs
		}
		defer agents.StopAll()
		for _, a := range agents.List {
			if err := agents.Start(a); err != nil {
				logf("start agent %s: %v", a.ID, err)
				return exitError
			}
		}
		sctx, scancel := context.WithTimeout(ctx, 30*time.Second)
		err := waitShardsUp(sctx, env, agents)
		scancel()
		if err != nil {
			logf("shard agents: %v", err)
			return exitError
		}
		logf("%d shard agents registered and up", c.shards)
		if c.has("shards") {
			shared := c.shards
			if c.shardDedicated && c.shards >= 3 {
				sctx, scancel := context.WithTimeout(ctx, 30*time.Second)
				on, err := workload.SetupDedicated(sctx, env)
				scancel()
				if err != nil {
					logf("setup: %v", err)
					return exitError
				}
				logf("%s placed on %s", workload.DedicatedName, on)
				shared--
			}
			budget = workload.NewBudget(int64(shared) * shards.CapReadRPS * 6 / 10)
		}
	}

	var aclTokens *workload.ACLTokens
	if c.has("acl") {
		sctx, scancel := context.WithTimeout(ctx, 30*time.Second)
		aclTokens, err = workload.ACLSetup(sctx, env)
		scancel()
		if err != nil {
			logf("setup: %v", err)
			return exitError
		}
	}

	rng := rand.New(rand.NewSource(c.seed))
	// Watchers first, so they see everything the traffic does.
	wctx, wcancel := context.WithCancel(ctx)
	defer wcancel()
	var wwg sync.WaitGroup
	var watchers []*history.Watcher
	var reached []*atomic.Int64
	if c.has("watch") {
		for i := 0; i < c.watchers; i++ {
			pref := i % c.nodes
			w := &history.Watcher{ID: i, Node: cl.Nodes[pref].ID}
			watchers = append(watchers, w)
			r := new(atomic.Int64)
			reached = append(reached, r)
			every := time.Duration(5+rng.Intn(6)) * time.Second
			wwg.Add(1)
			go func() { defer wwg.Done(); workload.Watcher(wctx, env, w, pref, every, r) }()
		}
		time.Sleep(500 * time.Millisecond)
	}

	tctx, tcancel := context.WithTimeout(ctx, c.dur)
	defer tcancel()
	var twg sync.WaitGroup
	if c.has("register") {
		for i := 0; i < c.regWorkers; i++ {
			proc, seed := i+1, rng.Int63()
			twg.Add(1)
			go func() { defer twg.Done(); workload.Register(tctx, env, proc, proc%c.nodes, keys, seed) }()
		}
	}
	if c.has("set") {
		for i := 0; i < c.setWorkers; i++ {
			proc, seed := 100+i, rng.Int63()
			twg.Add(1)
			go func() { defer twg.Done(); workload.Set(tctx, env, proc, proc%c.nodes, seed) }()
		}
	}
	if c.has("shards") {
		for i := 0; i < c.shardWorkers; i++ {
			proc, seed := 300+i, rng.Int63()
			twg.Add(1)
			go func() {
				defer twg.Done()
				workload.Shards(tctx, env, proc, proc%c.nodes, seed, budget, proc == 300)
			}()
		}
	}
	if c.has("provision") {
		next := new(atomic.Int64)
		for i := 0; i < c.provWorkers; i++ {
			proc, seed := 400+i, rng.Int63()
			twg.Add(1)
			go func() { defer twg.Done(); workload.Provision(tctx, env, proc, proc%c.nodes, seed, next) }()
		}
	}
	if c.has("acl") {
		seed := rng.Int63()
		twg.Add(1)
		go func() { defer twg.Done(); workload.ACLAdmin(tctx, env, 500, 500%c.nodes, seed, aclTokens) }()
		for i := 0; i < c.aclWriters; i++ {
			proc, seed := 501+i, rng.Int63()
			twg.Add(1)
			go func() { defer twg.Done(); workload.ACLWriter(tctx, env, proc, seed, aclTokens) }()
		}
	}
	nem := &nemesis.Nemesis{C: cl, Agents: agents, Backends: bh, Rng: rand.New(rand.NewSource(rng.Int63())), Kinds: c.nemeses, Now: rec.Now, Log: logf}
	nemDone := make(chan struct{})
	go func() { defer close(nemDone); nem.Run(tctx) }()
	logf("traffic and faults for %s", c.dur)
	<-tctx.Done()
	<-nemDone
	twg.Wait()
	logf("traffic stopped, everything healed; waiting for the cluster to settle")

	// After healing: the cluster must recover, then the final reads.
	hctx, hcancel := context.WithTimeout(ctx, 45*time.Second)
	healthErr := cl.WaitHealthy(hctx)
	hcancel()
	if healthErr == nil && (c.nodes == 3 || c.nodes == 5) {
		// Every server is a voter again (a re-added one is promoted by
		// autopilot after its stabilization time).
		vctx, vcancel := context.WithTimeout(ctx, 30*time.Second)
		for {
			v, err := cl.Voters(vctx)
			if err == nil && len(v) == c.nodes {
				break
			}
			if vctx.Err() != nil {
				healthErr = fmt.Errorf("voters after healing: %v (err %v), want all %d servers", v, err, c.nodes)
				break
			}
			time.Sleep(500 * time.Millisecond)
		}
		vcancel()
	}
	if healthErr != nil {
		logf("warning: %v", healthErr)
	}
	fctx, fcancel := context.WithTimeout(ctx, 30*time.Second)
	if c.has("register") {
		workload.FinalReads(fctx, env, keys, 999)
	}
	var aclErr error
	if c.has("acl") {
		aclErr = workload.ACLFinalReads(fctx, env, 998)
	}
	final, finalRev, ferr := finalListing(fctx, env)
	fcancel()
	if ferr != nil {
		logf("final listing failed: %v", ferr)
	}
	if c.has("watch") {
		// Let every watcher reach the final revision (bookmarks every 0.5 s).
		deadline := time.Now().Add(20 * time.Second)
		for time.Now().Before(deadline) && ctx.Err() == nil && !allReached(reached, finalRev) {
			time.Sleep(200 * time.Millisecond)
		}
	}
	wcancel()
	wwg.Wait()
	var shardResults []checker.Result
	if agents != nil && healthErr == nil {
		shardResults = checkShards(ctx, c, env, agents, logf)
	}
	if agents != nil {
		agents.StopAll()
	}
	var provResults []checker.Result
	if c.has("provision") && healthErr == nil {
		provResults = checkProvision(ctx, c, cl, env, rec.Ops(), logf)
	}
	var archiveResults []checker.Result
	if c.archive && healthErr == nil {
		archiveResults = checkArchive(ctx, c, env, rec.Ops(), logf)
	}
	var backendProblems []string
	if bh != nil {
		backendProblems = bh.Problems()
	}
	cl.StopAll()
	if bh != nil {
		bh.Stop()
	}

	ops := rec.Ops()
	hf := history.File{Seed: c.seed, Nodes: c.nodes, Ops: ops, Faults: nem.Timeline(), Final: final, FinalRev: finalRev}
	for _, w := range watchers {
		hf.Watchers = append(hf.Watchers, *w)
	}
	writeJSON(filepath.Join(c.reportDir, "history.json"), hf)
	writeJSON(filepath.Join(c.reportDir, "timeline.json"), hf.Faults)

	// Check.
	var results []checker.Result
	if interrupted {
		logf("interrupted: history written, not checked")
		return exitError
	}
	if healthErr != nil {
		results = append(results, checker.Result{Name: "recovery", OK: false, Problems: []string{healthErr.Error()}})
	}
	results = append(results, shardResults...)
	results = append(results, provResults...)
	results = append(results, archiveResults...)
	results = append(results, noCrash(cl, hf.Faults, backendProblems))
	if c.has("register") {
		results = append(results,
			checker.Linearizable(ops, 60*time.Second, filepath.Join(c.reportDir, "linearizability.html")),
			checker.NoLostWrites(ops),
			checker.StaleReads(ops))
	}
	if c.has("acl") {
		r := checker.ACL(ops)
		if aclErr != nil {
			r.OK, r.Problems = false, append(r.Problems, aclErr.Error())
		}
		results = append(results, r)
	}
	if ferr != nil {
		results = append(results, checker.Result{Name: "final-listing", OK: false, Problems: []string{ferr.Error()}})
	} else {
		for _, s := range []struct{ workload, name, prefix string }{{"set", "set", "set-"}, {"shards", "placed-set", "plc-"}} {
			if !c.has(s.workload) {
				continue
			}
			present := map[string]bool{}
			for name := range final {
				if strings.HasPrefix(name, s.prefix) && !deadStatus[statusOf(name)] {
					present[name] = true
				}
			}
			results = append(results, checker.SetOf(s.name, s.prefix, ops, present))
		}
		if c.has("watch") {
			results = append(results, checker.Watch(hf.Watchers, ops, final, finalRev))
		}
	}
	writeJSON(filepath.Join(c.reportDir, "results.json"), results)

	// Summary.
	counts := map[string]int{}
	for _, op := range ops {
		counts[op.Outcome]++
	}
	faults := map[string]int{}
	for _, f := range hf.Faults {
		if f.Kind != "heal" {
			faults[f.Kind]++
		}
	}
	violation := false
	var passed, failed []string
	for _, r := range results {
		mark := "ok"
		if !r.OK {
			violation = true
			mark = "VIOLATION"
			failed = append(failed, r.Name)
		} else {
			passed = append(passed, r.Name)
		}
		if r.Unknown {
			mark = "unknown (timeout)"
		}
		logf("checker %-22s %s  %s", r.Name, mark, r.Note)
		for _, p := range r.Problems {
			logf("    %s", p)
		}
	}
	secs := c.dur.Seconds()
	fmt.Printf("jepsen: %s: %d ops (%.0f/s): %d ok, %d fail, %d unknown; faults %s; checkers passed [%s] failed [%s]; seed %d\n",
		map[bool]string{true: "VIOLATION", false: "PASS"}[violation], len(ops), float64(len(ops))/secs,
		counts[history.OK], counts[history.Fail], counts[history.Unknown], fmtCounts(faults),
		strings.Join(passed, " "), strings.Join(failed, " "), c.seed)
	if violation {
		return exitViolation
	}
	return exitOK
}

// provTombstones is prismd's --tombstone-retention with --backends: short,
// so deleted prv-* namespaces are purged during the run and the resources
// checker sees names that are gone as well as tombstones.
const provTombstones = 20 * time.Second

var finalStatus = map[string]string{}

var deadStatus = map[string]bool{"deleting": true, "deleted": true}

func statusOf(name string) string { return finalStatus[name] }

// finalListing lists every namespace (tombstones included) linearizably:
// name -> revision, and the cluster revision of the read.
func finalListing(ctx context.Context, env *workload.Env) (map[string]int64, int64, error) {
	c := env.Client(0)
	defer c.Close()
	var last error
	for ctx.Err() == nil {
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		resp, err := c.List(actx, &rpcpb.ListRequest{IncludeDeleted: true})
		cancel()
		if err == nil {
			out := map[string]int64{}
			for _, ns := range resp.Namespaces {
				out[ns.Spec.Name] = ns.Revision
				finalStatus[ns.Spec.Name] = strings.ToLower(strings.TrimPrefix(ns.Status.String(), "NAMESPACE_STATUS_"))
			}
			return out, resp.Header.GetRevision(), nil
		}
		last = err
		time.Sleep(300 * time.Millisecond)
	}
	return nil, 0, fmt.Errorf("final listing: %v", last)
}

func allReached(rs []*atomic.Int64, rev int64) bool {
	for _, r := range rs {
		if r.Load() < rev {
			return false
		}
	}
	return true
}

func leaderID(ctx context.Context, cl *hosts.Cluster) string {
	if l := cl.Leader(ctx); l != nil {
		return l.ID
	}
	return "?"
}

func writeJSON(path string, v any) {
	b, err := json.MarshalIndent(v, "", " ")
	if err == nil {
		err = os.WriteFile(path, b, 0o644)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "jepsen: write", path, err)
	}
}

func fmtCounts(m map[string]int) string {
	if len(m) == 0 {
		return "none"
	}
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var s []string
	for _, k := range keys {
		s = append(s, fmt.Sprintf("%s=%d", k, m[k]))
	}
	return strings.Join(s, ",")
}

// noCrash is the no-crash checker: no prismd exited on its own (only the
// nemesis kills nodes), no malformed request of the garbage fault got an
// answer that shows a bug (Internal, Unknown), and the backends host's
// broker and Postgres server are still up.
func noCrash(cl *hosts.Cluster, faults []history.Fault, backendProblems []string) checker.Result {
	r := checker.Result{Name: "no-crash", OK: true}
	for _, p := range backendProblems {
		r.OK = false
		r.Problems = append(r.Problems, "backends host: "+p)
	}
	for _, n := range cl.Nodes {
		for _, at := range n.Crashes() {
			r.OK = false
			r.Problems = append(r.Problems, fmt.Sprintf("%s exited on its own at %s (%s): %s",
				n.ID, at.Format(time.RFC3339Nano), filepath.Join(n.Dir, "prismd.log"), lastPanic(filepath.Join(n.Dir, "prismd.log"))))
		}
	}
	garbage := 0
	for _, f := range faults {
		if f.Kind != "garbage" {
			continue
		}
		garbage++
		if f.Err != "" {
			r.OK = false
			r.Problems = append(r.Problems, "garbage: "+f.Err)
		}
	}
	r.Note = fmt.Sprintf("%d nodes, %d garbage bursts", len(cl.Nodes), garbage)
	return r
}

// lastPanic is the first line of the last panic in a log ("" when none).
func lastPanic(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(string(b), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.HasPrefix(lines[i], "panic:") || strings.HasPrefix(lines[i], "fatal error:") {
			return lines[i]
		}
	}
	return "no panic in the log"
}
