package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"sync"
	"time"

	"github.com/hashicorp/raft"

	"github.com/prism/controlplane/fsm"
	"github.com/prism/controlplane/fsm/fsmpb"
)

// watchLeadership starts the leader's loops when this node gains
// leadership and stops them when it loses it.
func (n *Node) watchLeadership() {
	defer n.wg.Done()
	var stint *leaderStint
	stop := func() {
		if stint != nil {
			stint.cancel()
			<-stint.done
			stint = nil
		}
		n.ready.Store(0)
	}
	defer stop()
	for {
		select {
		case <-n.shutdownCh:
			return
		case leader := <-n.leaderCh:
			stop()
			n.health.reset()
			if !leader {
				n.log.Info("lost leadership")
				continue
			}
			ctx, cancel := context.WithCancel(context.Background())
			stint = &leaderStint{cancel: cancel, done: make(chan struct{})}
			go func(done chan struct{}) {
				defer close(done)
				n.runLeader(ctx)
			}(stint.done)
		}
	}
}

// leaderStint is one run of the leader's loops.
type leaderStint struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// Term is the current raft term.
func (n *Node) Term() uint64 { return n.raft.CurrentTerm() }

// runLeader is the body of one leadership stint.
func (n *Node) runLeader(ctx context.Context) {
	term := n.Term()
	n.log.Info("became leader", "term", term)
	// Heartbeats are recorded from now on (through the barrier): every
	// shard gets a full period from now.
	sessions := n.newSessions()
	n.sessions.Store(sessions)
	defer n.sessions.CompareAndSwap(sessions, nil)
	// Barrier: a no-op command of this term. Once it is applied, the commit
	// index is current and every earlier entry is in the state machine.
	for {
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := n.applyLocal(actx, &fsmpb.Command{Body: &fsmpb.Command_Noop{Noop: &fsmpb.Noop{}}}, fsm.FromLeader)
		cancel()
		if err == nil {
			break
		}
		if ctx.Err() != nil || n.raft.State() != raft.Leader {
			return
		}
		n.log.Warn("leader barrier failed; retrying", "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(retryPause):
		}
	}
	n.ap = newAutopilotState()
	n.setReady(term)
	n.log.Info("leader ready for linearizable reads", "term", term, "applied_index", n.fsm.Index())

	// Membership, and the controllers (package controller: shard
	// sessions, placement, namespace lifecycles), run in loops of their
	// own, so a long lifecycle pass (say 100,000 new namespaces, or a slow
	// backend) never starves another. Each controller is new to this
	// stint: its memory (heartbeats, graces, move phases) starts afresh.
	var wg sync.WaitGroup
	if n.archiver != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n.archiver.Run(ctx, term)
		}()
	}
	wg.Add(4)
	go func() {
		defer wg.Done()
		n.loop(ctx, n.memberNudgeCh, n.cfg.ReconcileInterval, func() {
			n.ensureClusterID(ctx)
			n.autopilot(ctx)
		})
	}()
	go func() {
		defer wg.Done()
		sessions.Run(ctx)
	}()
	go func() {
		defer wg.Done()
		n.runLifecycle(ctx)
	}()
	go func() {
		defer wg.Done()
		n.runPlacement(ctx, sessions)
	}()
	wg.Wait()
}

// loop runs step now, then every interval or when nudged, until ctx ends.
func (n *Node) loop(ctx context.Context, nudge <-chan struct{}, every time.Duration, step func()) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		step()
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-nudge:
		}
	}
}

// ensureClusterID has the cluster's first leader choose its id.
func (n *Node) ensureClusterID(ctx context.Context) {
	if n.fsm.ClusterID() != "" {
		return
	}
	var b [16]byte
	_, _ = rand.Read(b[:])
	id := hex.EncodeToString(b[:])
	actx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	cmd := &fsmpb.Command{Body: &fsmpb.Command_SetClusterId{SetClusterId: &fsmpb.SetClusterID{ClusterId: id}}}
	if _, err := n.applyLocal(actx, cmd, fsm.FromLeader); err != nil {
		n.log.Warn("recording the cluster id failed; the next leader retries", "err", err)
		return
	}
	n.log.Info("cluster id recorded", "cluster_id", n.fsm.ClusterID())
}
