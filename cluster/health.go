package cluster

import (
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// peerHealth is the leader's own view of which followers answer its
// heartbeats, from raft's observations (not gossip's judgement alone).
type peerHealth struct {
	mu      sync.Mutex
	failing map[string]time.Time // last failed heartbeat
}

// failingWindow: a failed heartbeat counts this long. raft retries a dead
// peer at least every HeartbeatTimeout/2 plus a dial (the transport's 10 s
// timeout when packets vanish), and a peer that was removed and re-added
// gets a new replication goroutine that never reports "resumed".
const failingWindow = 15 * time.Second

func newPeerHealth() *peerHealth { return &peerHealth{failing: map[string]time.Time{}} }

func (h *peerHealth) reset() {
	h.mu.Lock()
	h.failing = map[string]time.Time{}
	h.mu.Unlock()
}

func (h *peerHealth) forget(id string) {
	h.mu.Lock()
	delete(h.failing, id)
	h.mu.Unlock()
}

func (h *peerHealth) isFailing(id string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	at, ok := h.failing[id]
	return ok && time.Since(at) < failingWindow
}

// observe consumes raft observations until the node shuts down.
func (n *Node) observeRaft() {
	defer n.wg.Done()
	ch := make(chan raft.Observation, 64)
	obs := raft.NewObserver(ch, false, func(o *raft.Observation) bool {
		switch o.Data.(type) {
		case raft.FailedHeartbeatObservation, raft.ResumedHeartbeatObservation:
			return true
		}
		return false
	})
	n.raft.RegisterObserver(obs)
	defer n.raft.DeregisterObserver(obs)
	for {
		select {
		case <-n.shutdownCh:
			return
		case o := <-ch:
			n.health.mu.Lock()
			switch d := o.Data.(type) {
			case raft.FailedHeartbeatObservation:
				n.health.failing[string(d.PeerID)] = time.Now()
			case raft.ResumedHeartbeatObservation:
				delete(n.health.failing, string(d.PeerID))
			}
			n.health.mu.Unlock()
		}
	}
}

// healthy: this node, or a server gossip sees alive whose heartbeats (when
// this node leads) are not failing.
func (n *Node) healthy(id string) bool {
	if id == n.cfg.NodeID {
		return true
	}
	p, ok := n.peers.get(id)
	return ok && p.alive() && !n.health.isFailing(id)
}
