package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/prism/controlplane/jepsen/checker"
	"github.com/prism/controlplane/jepsen/shards"
	"github.com/prism/controlplane/jepsen/workload"
	"github.com/prism/controlplane/rpc/rpcpb"
)

const lin = rpcpb.Consistency_CONSISTENCY_LINEARIZABLE

func lower(prefix, s string) string { return strings.ToLower(strings.TrimPrefix(s, prefix)) }

// waitShardsUp waits until every agent's shard is registered and up.
func waitShardsUp(ctx context.Context, env *workload.Env, agents *shards.Agents) error {
	c := env.Client(0)
	defer c.Close()
	var last string
	for ctx.Err() == nil {
		actx, cancel := context.WithTimeout(ctx, 3*time.Second)
		resp, err := c.ListShards(actx, lin)
		cancel()
		if err != nil {
			last = err.Error()
		} else {
			up := map[string]bool{}
			for _, sh := range resp.Shards {
				up[sh.Shard.GetSpec().GetId()] = sh.Shard.GetState().String() == "SHARD_STATE_UP"
			}
			last = ""
			for _, a := range agents.List {
				if !up[a.ID] {
					last += " " + a.ID
				}
			}
			if last == "" {
				return nil
			}
			last = "not up:" + last
		}
		time.Sleep(300 * time.Millisecond)
	}
	return fmt.Errorf("shards not registered and up in time: %s", last)
}

// shardSnapshot reads the shards, the namespaces and each agent's shard
// listing linearizably, then every running agent's view.
func shardSnapshot(ctx context.Context, env *workload.Env, agents *shards.Agents) (checker.Snapshot, error) {
	s := checker.Snapshot{At: env.Rec.Now(), ByShard: map[string]map[string]int64{}}
	c := env.Client(0)
	defer c.Close()
	actx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	shs, err := c.ListShards(actx, lin)
	if err != nil {
		return s, fmt.Errorf("list shards: %w", err)
	}
	for _, sh := range shs.Shards {
		u := sh.GetUtilization()
		s.Shards = append(s.Shards, checker.ShardSnap{
			ID: sh.Shard.GetSpec().GetId(), State: lower("SHARD_STATE_", sh.Shard.GetState().String()),
			Namespaces: sh.Namespaces, Util: [3]float64{u.GetRead(), u.GetWrite(), u.GetData()},
		})
	}
	nss, err := c.List(actx, &rpcpb.ListRequest{Consistency: lin})
	if err != nil {
		return s, fmt.Errorf("list namespaces: %w", err)
	}
	s.Rev = nss.Header.GetRevision()
	for _, ns := range nss.Namespaces {
		s.Namespaces = append(s.Namespaces, checker.NsSnap{
			Name: ns.Spec.GetName(), Status: lower("NAMESPACE_STATUS_", ns.Status.String()), Reason: ns.StatusReason,
			ShardID: ns.ShardId, Revision: ns.Revision, Dedicated: ns.Spec.GetPlacement().GetIsolation() == "dedicated",
		})
		if m := ns.GetMove(); m != nil {
			x := &s.Namespaces[len(s.Namespaces)-1]
			x.MoveFrom, x.MoveTo, x.MovePhase = m.From, m.To, lower("MOVE_PHASE_", m.Phase.String())
		}
	}
	for _, a := range agents.List {
		l, err := c.List(actx, &rpcpb.ListRequest{Consistency: lin, ShardId: a.ID})
		if err != nil {
			return s, fmt.Errorf("namespace list --shard %s: %w", a.ID, err)
		}
		m := map[string]int64{}
		for _, ns := range l.Namespaces {
			m[ns.Spec.GetName()] = ns.Revision
		}
		s.ByShard[a.ID] = m
	}
	for _, a := range agents.List {
		as := checker.AgentSnap{ID: a.ID, Running: a.Running(), KilledForGood: a.KilledForGood()}
		if as.Running {
			v, err := agents.Assignments(actx, a)
			if err != nil {
				as.Err = err.Error()
			} else {
				as.ViewShard, as.ViewRev, as.View = v.ShardID, v.Revision, map[string]int64{}
				for _, ns := range v.Namespaces {
					as.View[ns.Name] = ns.Revision
				}
			}
		}
		s.Agents = append(s.Agents, as)
	}
	return s, nil
}

// settle takes snapshots until every check passes or the deadline, and
// returns the last verdicts (and snapshot).
func settle(ctx context.Context, env *workload.Env, agents *shards.Agents, within time.Duration, logf func(string, ...any),
	checks func(checker.Snapshot) []checker.Result) ([]checker.Result, checker.Snapshot, time.Duration) {
	start := time.Now()
	deadline := start.Add(within)
	var rs []checker.Result
	var snap checker.Snapshot
	first := true
	for {
		s, err := shardSnapshot(ctx, env, agents)
		if err == nil {
			snap = s
			rs = checks(s)
			ok := true
			for _, r := range rs {
				ok = ok && r.OK
			}
			if ok {
				return rs, snap, time.Since(start)
			}
			if first {
				first = false
				for _, r := range rs {
					for i, p := range r.Problems {
						if i < 3 {
							logf("    not settled yet: %s: %s", r.Name, p)
						}
					}
				}
			}
		} else if rs == nil {
			rs = []checker.Result{{Name: "shard-snapshot", Problems: []string{err.Error()}}}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return rs, snap, time.Since(start)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// checkShards runs the shard checkers after healing: placement
// invariants, agent convergence and shard liveness once the cluster has
// settled (up to 40 s: a move in flight may wait out its 30 s shadow timeout); then it kills the last agent for good and checks
// that its shard goes suspect or down, its namespaces stop being active
// there, and the other agents stay up and converged (up to 15 s).
func checkShards(ctx context.Context, c *config, env *workload.Env, agents *shards.Agents, logf func(string, ...any)) []checker.Result {
	all := func(s checker.Snapshot) []checker.Result {
		return []checker.Result{checker.Placement(s, "plc-"), checker.AgentConvergence(s), checker.ShardLiveness(s, "shard-liveness")}
	}
	rs, snap, took := settle(ctx, env, agents, 40*time.Second, logf, all)
	logf("shard checks after healing: %.1fs to settle", took.Seconds())
	writeJSON(filepath.Join(c.reportDir, "shards-healed.json"), snap)
	for i := range rs {
		rs[i].Note = fmt.Sprintf("%s (settled in %.1fs)", rs[i].Note, took.Seconds())
	}

	victim := agents.List[len(agents.List)-1]
	if err := agents.KillForGood(victim); err != nil {
		return append(rs, checker.Result{Name: "shard-kill", Problems: []string{err.Error()}})
	}
	logf("killed agent %s for good: its shard must go suspect or down", victim.ID)
	krs, ksnap, ktook := settle(ctx, env, agents, 15*time.Second, logf, all)
	writeJSON(filepath.Join(c.reportDir, "shards-killed.json"), ksnap)
	k := checker.Result{Name: "shard-kill", OK: true, Note: fmt.Sprintf("agent %s killed, settled in %.1fs", victim.ID, ktook.Seconds())}
	for _, r := range krs {
		if !r.OK {
			k.OK = false
			for _, p := range r.Problems {
				k.Problems = append(k.Problems, r.Name+": "+p)
			}
		}
		if r.Name == "shard-liveness" {
			k.Note += ": " + r.Note
		}
	}
	return append(rs, k)
}
