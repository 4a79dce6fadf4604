package cluster

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/hashicorp/raft"
)

// autopilotState is the leader's memory of when each server became healthy
// and when gossip first reported it failed. It is reset with each
// leadership stint: a new leader gives every server a fresh period.
type autopilotState struct {
	healthySince map[string]time.Time
	failedSince  map[string]time.Time
	refused      map[string]bool // servers we logged refusing to add
}

func newAutopilotState() *autopilotState {
	return &autopilotState{healthySince: map[string]time.Time{}, failedSince: map[string]time.Time{}, refused: map[string]bool{}}
}

// autopilot runs one round of membership management on the leader:
// add new servers as nonvoters, remove servers dead for long enough (never
// below MinQuorum voters), and promote caught-up, stable nonvoters while
// there are fewer than Voters voters. Gossip alone never changes raft
// membership: removal also needs raft's own failing heartbeats.
func (n *Node) autopilot(ctx context.Context) {
	servers, err := n.servers()
	if err != nil {
		return
	}
	now := time.Now()
	ap := n.ap
	inRaft := map[string]raft.Server{}
	voters := 0
	for _, s := range servers {
		inRaft[string(s.ID)] = s
		if s.Suffrage == raft.Voter {
			voters++
		}
	}
	n.addNewServers(ctx, inRaft, ap.refused)

	// Track health and failure.
	for id := range inRaft {
		if n.healthy(id) {
			if _, ok := ap.healthySince[id]; !ok {
				ap.healthySince[id] = now
			}
			delete(ap.failedSince, id)
			continue
		}
		delete(ap.healthySince, id)
		if p, ok := n.peers.get(id); ok && (p.state == memberlist.StateDead || p.state == memberlist.StateLeft) {
			if _, ok := ap.failedSince[id]; !ok {
				ap.failedSince[id] = now
			}
		} else {
			delete(ap.failedSince, id) // gossip sees it again: not dead
		}
	}

	dead := func(id string) bool {
		since, ok := ap.failedSince[id]
		return ok && id != n.cfg.NodeID && now.Sub(since) >= n.cfg.DeadServerCleanup && n.health.isFailing(id)
	}
	deadVoters := 0
	for id, s := range inRaft {
		if s.Suffrage == raft.Voter && dead(id) {
			deadVoters++
		}
	}

	// Promote stable, caught-up nonvoters while live voters are missing
	// (first, so a standby replaces a dead voter before it is removed).
	last := n.raft.LastIndex()
	for _, id := range sortedKeys(ap.healthySince) {
		s, ok := inRaft[id]
		if !ok || s.Suffrage == raft.Voter || voters-deadVoters >= n.cfg.Voters {
			continue
		}
		if now.Sub(ap.healthySince[id]) < n.cfg.ServerStabilization {
			continue
		}
		applied, ok := n.peerApplied(ctx, id)
		if !ok || last > applied+n.cfg.MaxTrailingLogs {
			continue
		}
		if err := n.await(ctx, n.raft.AddVoter(s.ID, s.Address, 0, 5*time.Second)); err != nil {
			n.log.Warn("promoting a server failed", "id", id, "err", err)
			continue
		}
		voters++
		s.Suffrage = raft.Voter
		inRaft[id] = s
		n.log.Info("autopilot promoted a server to voter", "id", id, "trailing", last-applied)
	}

	// Remove servers dead for longer than the cleanup period.
	for _, id := range sortedKeys(ap.failedSince) {
		s, ok := inRaft[id]
		if !ok || !dead(id) {
			continue
		}
		if s.Suffrage == raft.Voter && voters-1 < n.cfg.MinQuorum {
			n.log.Warn("not removing a dead voter: it would leave fewer voters than the minimum quorum",
				"id", id, "voters", voters, "min_quorum", n.cfg.MinQuorum)
			continue
		}
		if err := n.await(ctx, n.raft.RemoveServer(s.ID, 0, 5*time.Second)); err != nil {
			n.log.Warn("removing a dead server failed", "id", id, "err", err)
			continue
		}
		n.log.Info("autopilot removed a dead server", "id", id, "dead_for", now.Sub(ap.failedSince[id]).Round(time.Second))
		if s.Suffrage == raft.Voter {
			voters--
		}
		delete(ap.failedSince, id)
	}
	n.rounds.autopilot.Add(1)
}

// addNewServers adds live gossip members missing from raft (or present
// under an old address) as nonvoters. Only a server of this cluster, or a
// fresh one (no raft state and not about to bootstrap alone), may join:
// never one that belongs, or may soon belong, to another cluster.
func (n *Node) addNewServers(ctx context.Context, inRaft map[string]raft.Server, refused map[string]bool) {
	ours := n.fsm.ClusterID()
	if ours == "" {
		return
	}
	for _, p := range n.peers.all() {
		if !p.alive() || p.meta.RaftAddr == "" {
			continue
		}
		cur, member := inRaft[p.meta.ID]
		addr := raft.ServerAddress(p.meta.RaftAddr)
		if member && cur.Address == addr {
			continue
		}
		// A member (already in the configuration) that restarted on a new
		// address may not know the cluster id yet: it is one of ours.
		fresh := p.meta.ClusterID == "" && !p.meta.Bootstrapped && p.meta.Expect != 1
		foreign := p.meta.ClusterID != "" && p.meta.ClusterID != ours
		if foreign || (!member && p.meta.ClusterID != ours && !fresh) {
			if refused[p.meta.ID] {
				continue
			}
			refused[p.meta.ID] = true
			n.log.Warn("not adding (or re-addressing) a server that is not known to be of this cluster",
				"id", p.meta.ID, "its_cluster_id", p.meta.ClusterID, "ours", ours, "bootstrapped", p.meta.Bootstrapped)
			continue
		}
		if member && cur.Suffrage == raft.Voter {
			if err := n.confirmMoved(ctx, cur, p.meta.RaftAddr); err != nil {
				if !refused[p.meta.ID] {
					refused[p.meta.ID] = true
					n.log.Warn("not re-addressing a voter on gossip's word alone", "id", p.meta.ID, "from", cur.Address, "to", addr, "err", err)
				}
				continue
			}
		}
		ok := member
		var f raft.IndexFuture
		if ok && cur.Suffrage == raft.Voter {
			// A voter that came back on a new address keeps its vote.
			f = n.raft.AddVoter(cur.ID, addr, 0, 5*time.Second)
		} else {
			f = n.raft.AddNonvoter(raft.ServerID(p.meta.ID), addr, 0, 5*time.Second)
		}
		if err := n.await(ctx, f); err != nil {
			n.log.Warn("adding server to raft failed", "id", p.meta.ID, "addr", addr, "err", err)
			continue
		}
		n.health.forget(p.meta.ID)
		n.log.Info("added server to raft", "id", p.meta.ID, "addr", addr)
	}
}

// confirmMoved checks, over Internal, that a voter really moved to a new
// raft address before raft is told so: the node at the new address answers
// as the voter, of this cluster, and its old address no longer does. Gossip
// metadata alone is a claim anyone on the gossip network can make.
func (n *Node) confirmMoved(ctx context.Context, cur raft.Server, newAddr string) error {
	nctx, cancel := context.WithTimeout(ctx, time.Second)
	st, err := n.progressAt(nctx, newAddr, string(cur.ID))
	cancel()
	if err != nil {
		return fmt.Errorf("the new address does not answer as %s: %w", cur.ID, err)
	}
	if st.ClusterId != "" && st.ClusterId != n.fsm.ClusterID() {
		return fmt.Errorf("the new address belongs to cluster %q", st.ClusterId)
	}
	// The old address must no longer answer as it (refused, silent for a
	// second of its own, or answering as another node): a host that is gone
	// is silent, so silence has to count.
	octx, cancel := context.WithTimeout(ctx, time.Second)
	_, err = n.progressAt(octx, string(cur.Address), string(cur.ID))
	cancel()
	if err == nil {
		return fmt.Errorf("%s still answers at its old address %s", cur.ID, cur.Address)
	}
	return nil
}

// peerApplied asks a server how far it has applied the log.
func (n *Node) peerApplied(ctx context.Context, id string) (uint64, bool) {
	if id == n.cfg.NodeID {
		return n.fsm.Index(), true
	}
	cctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	st, err := n.PeerStatus(cctx, id)
	if err != nil {
		return 0, false
	}
	return st.AppliedIndex, true
}

func sortedKeys(m map[string]time.Time) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
