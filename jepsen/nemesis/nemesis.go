// Package nemesis injects faults on a random schedule drawn from a seed,
// one fault at a time, and records the timeline.
//
//   - partition: one of random halves, isolate the leader, majorities ring
//     (a bridge on 3 nodes), one-way (a node's outbound or inbound cut);
//
//   - kill: kill -9 a node (the leader half of the time), restart it on its
//     data dir after a while;
//
//   - pause: SIGSTOP a node (the leader half of the time), SIGCONT later;
//
//   - leader-kill: three rounds of kill -9 of the current leader and a quick
//     restart.
//
//   - membership: kill a follower, remove it from raft (remove-peer), wipe
//     its data dir and start it again as a new server: it joins by gossip as
//     a nonvoter and autopilot promotes it (the fault lasts until it is a
//     voter again, at most 30 s).
//
//   - agent-kill: kill -9 a prism-shard agent, restart it 1-6 s later (its
//     shard goes suspect after 1 s and down after 2 s of silence with the
//     harness's prismd flags; its namespaces degrade, then come back).
//
//   - clock: jump a node's clock (the leader half of the time) by -60..+60 s
//     and let it run at 0.5..2x real speed (drift) for 3-10 s, then put it
//     back in step. It needs a prismd built with -tags prism_clock (POST
//     /debug/clock); raft's timers and lease are monotonic and unaffected,
//     so what it tests is that the times the leader decides with (command
//     stamps, shard sessions, down-shard grace, move phases, tombstones)
//     cannot break a guarantee.
//
//   - garbage: send every node requests no client should send, on its
//     public port and on its raft port (where nodes serve each other
//     Internal): commands with no body or a leader-only body, a revision
//     floor at the int64 limit, oversized ids, invalid specs, more watches
//     than a stream may hold, junk snapshot restores. All must be refused
//     with a clear code; the no-crash checker fails the run if a node
//     exited on its own or an answer was Internal or Unknown.
//
//   - backend-partition (needs --backends): cut the current leader (and
//     sometimes a second node) off the backends host, both ways or only
//     the backends' answers (requests arrive and run, replies are lost: the
//     leader cannot know whether its CREATE TABLE or CreateTopics took
//     effect), or a random node both ways; for 3-10 s, then heal.
//
//   - postgres-kill (needs --backends): crash the Postgres server
//     (pg_ctl stop -m immediate: every server process quits at once) and
//     start it again 1-5 s later (WAL replay).
//
// Not done: slow disks (no fault-injecting filesystem here).
package nemesis

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prism/controlplane/jepsen/backends"
	"github.com/prism/controlplane/jepsen/history"
	"github.com/prism/controlplane/jepsen/hosts"
	"github.com/prism/controlplane/jepsen/netns"
	"github.com/prism/controlplane/jepsen/shards"
)

// Kinds are the faults --nemesis accepts.
var Kinds = []string{"partition", "kill", "pause", "leader-kill", "membership", "agent-kill", "clock", "garbage", "backend-partition", "postgres-kill"}

// NeedBackends are the kinds that need the backends host (--backends).
var NeedBackends = []string{"backend-partition", "postgres-kill"}

// Nemesis schedules faults.
type Nemesis struct {
	C      *hosts.Cluster
	Agents *shards.Agents // nil without --shards
	// Backends is the backends host (nil without --backends).
	Backends *backends.Host
	Rng      *rand.Rand
	Kinds    []string
	Now      func() int64
	Log      func(string, ...any)

	mu       sync.Mutex
	timeline []history.Fault
	clocked  bool // a clock fault ran: heal resets every clock
}

// Timeline returns the faults so far.
func (n *Nemesis) Timeline() []history.Fault {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]history.Fault(nil), n.timeline...)
}

func (n *Nemesis) record(f history.Fault) {
	n.mu.Lock()
	n.timeline = append(n.timeline, f)
	n.mu.Unlock()
	if f.Err != "" {
		n.Log("nemesis: %s %s (%.1fs) error: %s", f.Kind, f.Detail, float64(f.End-f.Start)/1e9, f.Err)
	} else {
		n.Log("nemesis: %s %s (%.1fs)", f.Kind, f.Detail, float64(f.End-f.Start)/1e9)
	}
}

func (n *Nemesis) dur(lo, hi float64) time.Duration {
	return time.Duration((lo + n.Rng.Float64()*(hi-lo)) * float64(time.Second))
}

// sleep waits d or until ctx ends (the fault is then healed at once).
func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// Run injects faults until ctx ends, then heals everything.
func (n *Nemesis) Run(ctx context.Context) {
	defer n.HealAll()
	if len(n.Kinds) == 0 {
		<-ctx.Done()
		return
	}
	sleep(ctx, n.dur(2, 4))
	for ctx.Err() == nil {
		kind := n.Kinds[n.Rng.Intn(len(n.Kinds))]
		f := history.Fault{Kind: kind, Start: n.Now()}
		var err error
		switch kind {
		case "partition":
			f.Detail, err = n.partition(ctx)
		case "kill":
			f.Detail, err = n.kill(ctx)
		case "pause":
			f.Detail, err = n.pause(ctx)
		case "leader-kill":
			f.Detail, err = n.leaderKill(ctx)
		case "membership":
			f.Detail, err = n.membership(ctx)
		case "agent-kill":
			f.Detail, err = n.agentKill(ctx)
		case "clock":
			f.Detail, err = n.clock(ctx)
		case "garbage":
			f.Detail, err = n.garbage(ctx)
		case "backend-partition":
			f.Detail, err = n.backendPartition(ctx)
		case "postgres-kill":
			f.Detail, err = n.postgresKill(ctx)
		}
		f.End = n.Now()
		if err != nil {
			f.Err = err.Error()
		}
		n.record(f)
		sleep(ctx, n.dur(1, 4))
	}
}

// HealAll removes partitions, resumes paused nodes, restarts dead ones.
func (n *Nemesis) HealAll() {
	f := history.Fault{Kind: "heal", Detail: "all", Start: n.Now()}
	var errs []string
	if err := n.C.Net.Heal(); err != nil {
		errs = append(errs, err.Error())
	}
	if err := n.C.ReviveAll(); err != nil {
		errs = append(errs, err.Error())
	}
	if n.Agents != nil {
		if err := n.Agents.ReviveAll(); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if n.Backends != nil && !n.Backends.PostgresUp() {
		if err := n.Backends.StartPostgres(); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if n.clocked {
		for _, x := range n.C.Nodes {
			if err := n.setClock(x, 0, 1); err != nil {
				errs = append(errs, err.Error())
			}
		}
	}
	f.End = n.Now()
	if errs != nil {
		f.Err = strings.Join(errs, "; ")
	}
	n.record(f)
}

func ids(ns []int) string {
	s := make([]string, len(ns))
	for i, x := range ns {
		s[i] = fmt.Sprintf("n%d", x)
	}
	return "{" + strings.Join(s, ",") + "}"
}

func (n *Nemesis) partition(ctx context.Context) (string, error) {
	total := len(n.C.Nodes)
	all := make([]int, total)
	for i := range all {
		all[i] = i + 1
	}
	var drops []netns.Drop
	var detail string
	switch n.Rng.Intn(4) {
	case 0: // random halves
		perm := n.Rng.Perm(total)
		var a, b []int
		for i, p := range perm {
			if i < total/2 {
				a = append(a, p+1)
			} else {
				b = append(b, p+1)
			}
		}
		sort.Ints(a)
		sort.Ints(b)
		drops = []netns.Drop{{From: a, To: b}, {From: b, To: a}}
		detail = "halves " + ids(a) + " | " + ids(b)
	case 1: // isolate the leader
		l := n.C.Leader(ctx)
		if l == nil {
			return "isolate-leader: no leader found", nil
		}
		rest := without(all, l.I)
		drops = []netns.Drop{{From: []int{l.I}, To: rest}, {From: rest, To: []int{l.I}}}
		detail = "isolate leader n" + fmt.Sprint(l.I)
	case 2: // majorities ring: each node reaches only its ring neighbours
		perm := n.Rng.Perm(total)
		pos := map[int]int{}
		for i, p := range perm {
			pos[p+1] = i
		}
		var pairs []string
		for a := 1; a <= total; a++ {
			for b := 1; b <= total; b++ {
				d := (pos[a] - pos[b] + total) % total
				if a == b || d == 1 || d == total-1 {
					continue
				}
				if total == 3 && !(pos[a] == 0 && pos[b] == 2 || pos[a] == 2 && pos[b] == 0) {
					continue
				}
				drops = append(drops, netns.Drop{From: []int{a}, To: []int{b}})
				if a < b {
					pairs = append(pairs, fmt.Sprintf("n%d-n%d", a, b))
				}
			}
		}
		if total == 3 { // a ring of 3 is a full mesh: cut one link (a bridge)
			drops = nil
			var a, b int
			for x, p := range pos {
				switch p {
				case 0:
					a = x
				case 2:
					b = x
				}
			}
			drops = []netns.Drop{{From: []int{a}, To: []int{b}}, {From: []int{b}, To: []int{a}}}
			pairs = []string{fmt.Sprintf("n%d-n%d", a, b)}
		}
		detail = "ring: cut " + strings.Join(pairs, " ")
	default: // one-way
		x := n.Rng.Intn(total) + 1
		rest := without(all, x)
		if n.Rng.Intn(2) == 0 {
			drops = []netns.Drop{{From: []int{x}, To: rest}}
			detail = fmt.Sprintf("one-way: n%d -> others dropped", x)
		} else {
			drops = []netns.Drop{{From: rest, To: []int{x}}}
			detail = fmt.Sprintf("one-way: others -> n%d dropped", x)
		}
	}
	if err := n.C.Net.Apply(drops); err != nil {
		return detail, err
	}
	sleep(ctx, n.dur(3, 8))
	return detail, n.C.Net.Heal()
}

func without(all []int, x int) []int {
	var out []int
	for _, v := range all {
		if v != x {
			out = append(out, v)
		}
	}
	return out
}

// target is the leader half of the time, else a random node.
func (n *Nemesis) target(ctx context.Context) (*hosts.Node, string) {
	if n.Rng.Intn(2) == 0 {
		if l := n.C.Leader(ctx); l != nil {
			return l, "leader " + l.ID
		}
	}
	x := n.C.Nodes[n.Rng.Intn(len(n.C.Nodes))]
	return x, x.ID
}

func (n *Nemesis) kill(ctx context.Context) (string, error) {
	x, what := n.target(ctx)
	if err := n.C.Kill(x); err != nil {
		return what, err
	}
	sleep(ctx, n.dur(1, 6))
	return "kill -9 " + what + ", restart", n.C.Start(x)
}

func (n *Nemesis) pause(ctx context.Context) (string, error) {
	x, what := n.target(ctx)
	if err := n.C.Pause(x); err != nil {
		return what, err
	}
	sleep(ctx, n.dur(2, 7))
	return "SIGSTOP " + what + ", SIGCONT", n.C.Resume(x)
}

func (n *Nemesis) leaderKill(ctx context.Context) (string, error) {
	var killed []string
	for round := 0; round < 3 && ctx.Err() == nil; round++ {
		l := n.C.Leader(ctx)
		if l == nil {
			sleep(ctx, time.Second)
			continue
		}
		if err := n.C.Kill(l); err != nil {
			return strings.Join(killed, ","), err
		}
		killed = append(killed, l.ID)
		sleep(ctx, n.dur(0.5, 1.5))
		if err := n.C.Start(l); err != nil {
			return strings.Join(killed, ","), err
		}
		sleep(ctx, n.dur(1.5, 3))
	}
	return "leaders killed: " + strings.Join(killed, ","), nil
}

func (n *Nemesis) membership(ctx context.Context) (string, error) {
	for _, x := range n.C.Nodes {
		if running, paused := x.Running(); !running || paused {
			return "skipped: a node is down", nil
		}
	}
	l := n.C.Leader(ctx)
	if l == nil {
		return "skipped: no leader", nil
	}
	var followers []*hosts.Node
	for _, x := range n.C.Nodes {
		if x != l {
			followers = append(followers, x)
		}
	}
	if len(followers) == 0 {
		return "skipped: one node", nil
	}
	x := followers[n.Rng.Intn(len(followers))]
	detail := "remove " + x.ID + ", wipe, re-add"
	if err := n.C.Kill(x); err != nil {
		return detail, err
	}
	// Not cancelled by ctx: a half-done membership change must finish.
	rctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	err := n.C.RemovePeer(rctx, x.ID)
	cancel()
	if err != nil {
		return detail + " (remove-peer refused; restarted as is)", errors.Join(fmt.Errorf("remove-peer: %w", err), n.C.Start(x))
	}
	sleep(ctx, n.dur(1, 3))
	if err := n.C.Wipe(x); err != nil {
		return detail, errors.Join(err, n.C.Start(x))
	}
	if err := n.C.Start(x); err != nil {
		return detail, err
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		v, _ := n.C.Voters(context.Background())
		for _, id := range v {
			if id == x.ID {
				return detail + ": voter again", nil
			}
		}
		time.Sleep(500 * time.Millisecond)
	}
	return detail, fmt.Errorf("%s not a voter again after 30 s", x.ID)
}

func (n *Nemesis) agentKill(ctx context.Context) (string, error) {
	if n.Agents == nil || len(n.Agents.List) == 0 {
		return "skipped: no shard agents (--shards 0)", nil
	}
	x := n.Agents.List[n.Rng.Intn(len(n.Agents.List))]
	if err := n.Agents.Kill(x); err != nil {
		return "agent " + x.ID, err
	}
	sleep(ctx, n.dur(1, 6))
	return "kill -9 agent " + x.ID + ", restart", n.Agents.Start(x)
}

func (n *Nemesis) clock(ctx context.Context) (string, error) {
	x, what := n.target(ctx)
	offset := time.Duration(n.Rng.Intn(121)-60) * time.Second
	rate := 0.5 + 1.5*n.Rng.Float64()
	n.mu.Lock()
	n.clocked = true
	n.mu.Unlock()
	detail := fmt.Sprintf("clock of %s %+v at %.2fx", what, offset, rate)
	if err := n.setClock(x, offset, rate); err != nil {
		return detail, err
	}
	sleep(ctx, n.dur(3, 10))
	return detail + ", back in step", n.setClock(x, 0, 1)
}

// setClock sets a node's test clock (prismd built with -tags prism_clock).
// A paused or dead node cannot answer: that is not an error of the fault.
// With --secure it goes over HTTPS with the admin token (the route needs
// the operator role).
func (n *Nemesis) setClock(x *hosts.Node, offset time.Duration, rate float64) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	resp, err := n.C.HTTP(ctx, http.MethodPost, x, fmt.Sprintf("/debug/clock?offset=%s&rate=%g", offset, rate))
	if err != nil {
		return nil // down or paused: its clock is set again at heal or restart
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusMethodNotAllowed {
		return errors.New("prismd has no test clock: build it with -tags prism_clock for the clock nemesis")
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("set clock of %s: %s", x.ID, resp.Status)
	}
	return nil
}

// backendPartition cuts nodes off the backends host (the current leader
// most of the time: only the leader provisions), then heals.
func (n *Nemesis) backendPartition(ctx context.Context) (string, error) {
	if n.Backends == nil {
		return "skipped: no backends host (--backends)", nil
	}
	b := netns.BackendsHost
	total := len(n.C.Nodes)
	victim := n.Rng.Intn(total) + 1
	what := fmt.Sprintf("n%d", victim)
	mode := n.Rng.Intn(4)
	if mode != 3 {
		if l := n.C.Leader(ctx); l != nil {
			victim, what = l.I, "leader "+l.ID
		}
	}
	cut := []int{victim}
	if mode == 1 && total > 1 {
		other := n.Rng.Intn(total-1) + 1
		if other >= victim {
			other++
		}
		cut = append(cut, other)
		what += fmt.Sprintf(" and n%d", other)
	}
	var drops []netns.Drop
	var detail string
	switch mode {
	case 2: // requests get through, answers are lost
		drops = []netns.Drop{{From: []int{b}, To: cut}}
		detail = "backends -> " + what + " dropped (replies lost)"
	default:
		drops = []netns.Drop{{From: cut, To: []int{b}}, {From: []int{b}, To: cut}}
		detail = what + " cut off the backends"
	}
	if err := n.C.Net.Apply(drops); err != nil {
		return detail, err
	}
	sleep(ctx, n.dur(3, 10))
	return detail, n.C.Net.Heal()
}

// postgresKill crashes the Postgres server and starts it again.
func (n *Nemesis) postgresKill(ctx context.Context) (string, error) {
	if n.Backends == nil {
		return "skipped: no backends host (--backends)", nil
	}
	if err := n.Backends.StopPostgres("immediate"); err != nil {
		return "postgres stop -m immediate", err
	}
	d := n.dur(1, 5)
	sleep(ctx, d)
	return fmt.Sprintf("postgres crashed (stop -m immediate), restarted after %.1fs", d.Seconds()), n.Backends.StartPostgres()
}
