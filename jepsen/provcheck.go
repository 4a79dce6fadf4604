package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/prism/controlplane/jepsen/backends"
	"github.com/prism/controlplane/jepsen/checker"
	"github.com/prism/controlplane/jepsen/history"
	"github.com/prism/controlplane/jepsen/hosts"
	"github.com/prism/controlplane/jepsen/netns"
	"github.com/prism/controlplane/jepsen/workload"
	"github.com/prism/controlplane/rpc/rpcpb"
)

// provSettle bounds the wait, after healing, for every prv-* namespace to
// leave provisioning, deleting and degraded (the controller backs off up to
// 30 s per namespace after a failure).
const provSettle = 60 * time.Second

// provListing lists the prv-* namespaces, tombstones included, linearizably.
func provListing(ctx context.Context, env *workload.Env) ([]checker.ResNamespace, error) {
	c := env.Client(0)
	defer c.Close()
	actx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	resp, err := c.List(actx, &rpcpb.ListRequest{IncludeDeleted: true, Consistency: lin})
	if err != nil {
		return nil, err
	}
	var out []checker.ResNamespace
	for _, ns := range resp.Namespaces {
		if !strings.HasPrefix(ns.Spec.GetName(), workload.ProvisionPrefix) {
			continue
		}
		x := checker.ResNamespace{
			Name: ns.Spec.GetName(), Status: lower("NAMESPACE_STATUS_", ns.Status.String()), Reason: ns.StatusReason,
			Backend: ns.Spec.GetBackend(), OnDelete: ns.Spec.GetPolicies().GetOnDelete(), CreateRevision: ns.CreateRevision,
		}
		for _, r := range ns.Resources {
			x.Resources = append(x.Resources, checker.ResResource{
				Backend: r.Backend, Kind: r.Kind, Name: r.Name, State: lower("RESOURCE_STATE_", r.State.String()), Detail: r.Detail,
			})
		}
		out = append(out, x)
	}
	return out, nil
}

// unsettled lists the namespaces the controller is not done with.
func unsettled(nss []checker.ResNamespace) []checker.ResNamespace {
	var out []checker.ResNamespace
	for _, ns := range nss {
		if ns.Status != "active" && ns.Status != "deleted" {
			out = append(out, ns)
		}
	}
	return out
}

func clusterID(ctx context.Context, env *workload.Env) string {
	c := env.Client(0)
	defer c.Close()
	for _, ep := range env.Endpoints {
		sctx, cancel := context.WithTimeout(ctx, time.Second)
		st, err := c.StatusOf(sctx, ep)
		cancel()
		if err == nil && st.ClusterId != "" {
			return st.ClusterId
		}
	}
	return ""
}

// checkProvision runs the resources and provision-set checkers after
// healing: it waits (up to provSettle) until no prv-* namespace is
// provisioning, deleting or degraded, then reads the backends directly
// and compares. What it judged is kept in resources.json.
func checkProvision(ctx context.Context, c *config, cl *hosts.Cluster, env *workload.Env, ops []history.Op, logf func(string, ...any)) []checker.Result {
	start := time.Now()
	var nss []checker.ResNamespace
	var err error
	logged := false
	for {
		nss, err = provListing(ctx, env)
		if err == nil {
			left := unsettled(nss)
			if len(left) == 0 {
				break
			}
			if !logged {
				logged = true
				for i, ns := range left {
					if i < 3 {
						logf("    not settled yet: %s %s: %s", ns.Name, ns.Status, strings.Join(strings.Fields(ns.Reason), " "))
					}
				}
			}
		}
		if time.Since(start) > provSettle || ctx.Err() != nil {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	took := time.Since(start)
	logf("provision checks: %d prv-* namespaces, %.1fs to settle", len(nss), took.Seconds())
	if err != nil {
		return []checker.Result{{Name: "resources", Problems: []string{"final listing: " + err.Error()}}}
	}
	topics := map[string]bool{}
	for _, op := range ops {
		if op.Type == history.Create && op.Backend == "kafka" && strings.HasPrefix(op.Key, workload.ProvisionPrefix) {
			topics[checker.TopicOf(op.Key)] = true
		}
	}
	for _, ns := range nss {
		if ns.Backend == "kafka" {
			topics[checker.TopicOf(ns.Name)] = true
		}
	}
	check := make([]string, 0, len(topics))
	for t := range topics {
		check = append(check, t)
	}
	sort.Strings(check)
	b, ierr := backends.Inventory(ctx, check)
	snap := checker.ResourcesSnapshot{ClusterID: clusterID(ctx, env), Namespaces: nss, Backends: b, SettledSec: took.Seconds()}
	writeJSON(filepath.Join(c.reportDir, "resources.json"), snap)
	if ierr != nil {
		return []checker.Result{{Name: "resources", Problems: []string{"reading the backends: " + ierr.Error()}}}
	}
	rs := []checker.Result{
		checker.Resources(workload.ProvisionPrefix, ops, snap),
		checker.ProvisionSet(workload.ProvisionPrefix, ops, nss),
	}
	if !rs[0].OK || !rs[1].OK {
		dumpNodes(c, cl, logf)
	}
	for i := range rs {
		rs[i].Note = fmt.Sprintf("%s (settled in %.1fs)", rs[i].Note, took.Seconds())
	}
	return rs
}

// dumpNodes saves, for the diagnosis of a failed provision check, every
// running node's /metrics and goroutine stacks (prismd runs with --pprof
// under --backends) next to its log: nI/metrics.txt, nI/goroutines.txt.
func dumpNodes(c *config, cl *hosts.Cluster, logf func(string, ...any)) {
	for _, n := range cl.Nodes {
		host := netns.NodeIP(n.I) + ":7700"
		dir := n.Dir
		for file, path := range map[string]string{"metrics.txt": "/metrics", "goroutines.txt": "/debug/pprof/goroutine?debug=2"} {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			resp, err := cl.HTTP(ctx, http.MethodGet, n, path)
			if err == nil {
				var b []byte
				b, err = io.ReadAll(resp.Body)
				resp.Body.Close()
				if err == nil {
					err = os.WriteFile(filepath.Join(dir, file), b, 0o644)
				}
			}
			cancel()
			if err != nil {
				logf("dump %s%s: %v", host, path, err)
			}
		}
	}
}
