package cluster

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/hashicorp/raft"
)

// nodeMeta is what gossip carries about each node (memberlist node meta,
// at most 512 bytes).
type nodeMeta struct {
	Cluster      string `json:"cluster"`
	ClusterID    string `json:"cluster_id,omitempty"`
	ID           string `json:"id"`
	RaftAddr     string `json:"raft"`
	GRPCAddr     string `json:"grpc"`
	HTTPAddr     string `json:"http"`
	Bootstrapped bool   `json:"bootstrapped,omitempty"`
	Expect       int    `json:"expect,omitempty"`
}

// peer is one gossip member as this node last heard of it.
type peer struct {
	meta       nodeMeta
	gossipAddr string
	state      memberlist.NodeStateType
	since      time.Time // when this node last saw its state or address change
}

func (p peer) alive() bool { return p.state == memberlist.StateAlive }

// peerTable is updated by memberlist's event delegate and read by the
// forwarding, bootstrap and reconcile paths.
type peerTable struct {
	mu    sync.RWMutex
	peers map[string]peer
}

func newPeerTable() *peerTable { return &peerTable{peers: map[string]peer{}} }

func (t *peerTable) get(id string) (peer, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	p, ok := t.peers[id]
	return p, ok
}

func (t *peerTable) all() []peer {
	t.mu.RLock()
	out := make([]peer, 0, len(t.peers))
	for _, p := range t.peers {
		out = append(out, p)
	}
	t.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].meta.ID < out[j].meta.ID })
	return out
}

func (t *peerTable) set(p peer) {
	t.mu.Lock()
	if old, ok := t.peers[p.meta.ID]; ok && old.state == p.state && old.gossipAddr == p.gossipAddr {
		p.since = old.since
	}
	t.peers[p.meta.ID] = p
	t.mu.Unlock()
}

// forget drops members that have not been alive for at least after and
// that keep reports false for; it returns the ids dropped.
func (t *peerTable) forget(now time.Time, after time.Duration, keep func(id string) bool) []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []string
	for id, p := range t.peers {
		if !p.alive() && now.Sub(p.since) >= after && !keep(id) {
			delete(t.peers, id)
			out = append(out, id)
		}
	}
	sort.Strings(out)
	return out
}

// gossipDelegate implements memberlist.Delegate and EventDelegate. Its
// methods are called from memberlist goroutines: they must be thread-safe
// and must not block.
type gossipDelegate struct{ n *Node }

var (
	_ memberlist.Delegate      = gossipDelegate{}
	_ memberlist.EventDelegate = gossipDelegate{}
)

func (d gossipDelegate) NodeMeta(limit int) []byte {
	b, _ := json.Marshal(d.n.localMeta())
	if len(b) > limit {
		d.n.log.Error("gossip meta exceeds limit", "bytes", len(b), "limit", limit)
		return nil
	}
	return b
}
func (gossipDelegate) NotifyMsg([]byte)                           {}
func (gossipDelegate) GetBroadcasts(overhead, limit int) [][]byte { return nil }
func (gossipDelegate) LocalState(join bool) []byte                { return nil }
func (gossipDelegate) MergeRemoteState(buf []byte, join bool)     {}

// memberlist does not keep Node.State current in these callbacks (it
// updates its own nodeState.State), so the callback says the state.
func (d gossipDelegate) NotifyJoin(m *memberlist.Node)   { d.observe(m, memberlist.StateAlive) }
func (d gossipDelegate) NotifyUpdate(m *memberlist.Node) { d.observe(m, memberlist.StateAlive) }
func (d gossipDelegate) NotifyLeave(m *memberlist.Node)  { d.observe(m, memberlist.StateDead) }

func (d gossipDelegate) observe(m *memberlist.Node, state memberlist.NodeStateType) {
	var meta nodeMeta
	if err := json.Unmarshal(m.Meta, &meta); err != nil || meta.ID == "" {
		d.n.log.Warn("ignoring gossip member without prism metadata", "name", m.Name, "addr", m.Address())
		return
	}
	if meta.Cluster != d.n.cfg.ClusterName {
		d.n.log.Warn("ignoring gossip member of another cluster", "name", m.Name, "addr", m.Address(), "cluster", meta.Cluster)
		return
	}
	// A member's id is its memberlist name, which memberlist keeps unique
	// and conflict-checked: meta claiming another id is an impostor.
	if meta.ID != m.Name {
		d.n.log.Warn("ignoring gossip member whose id is not its name", "name", m.Name, "claimed_id", meta.ID, "addr", m.Address())
		return
	}
	if old, known := d.n.peers.get(meta.ID); !known || old.state != state || old.gossipAddr != m.Address() {
		d.n.log.Info("gossip member", "id", meta.ID, "addr", m.Address(), "alive", state == memberlist.StateAlive, "raft", meta.RaftAddr)
	}
	d.n.peers.set(peer{meta: meta, gossipAddr: m.Address(), state: state, since: time.Now()})
	select { // the leader may have a server to add
	case d.n.memberNudgeCh <- struct{}{}:
	default:
	}
}

func (n *Node) localMeta() nodeMeta {
	expect := n.cfg.BootstrapExpect
	if n.cfg.Dev {
		expect = 1
	}
	return nodeMeta{
		Cluster:      n.cfg.ClusterName,
		ClusterID:    n.clusterID(),
		ID:           n.cfg.NodeID,
		RaftAddr:     n.cfg.RaftAddr,
		GRPCAddr:     n.cfg.GRPCAdvertise,
		HTTPAddr:     n.cfg.HTTPAdvertise,
		Bootstrapped: n.bootstrapped.Load(),
		Expect:       expect,
	}
}

func (n *Node) startGossip(base *slog.Logger) error {
	host, port, err := splitHostPort(n.cfg.GossipAddr)
	if err != nil {
		return fmt.Errorf("%w: gossip addr %q: %v", ErrInvalidConfig, n.cfg.GossipAddr, err)
	}
	mc := memberlist.DefaultLANConfig()
	mc.Name = n.cfg.NodeID
	mc.BindAddr = host
	mc.BindPort = port
	mc.AdvertiseAddr = host
	mc.AdvertisePort = port
	mc.Delegate = gossipDelegate{n}
	mc.Events = gossipDelegate{n}
	mc.Logger = newStdLogger(base.With("component", "memberlist", "node", n.cfg.NodeID))
	mc.Label = "prism/" + n.cfg.ClusterName
	// A full state exchange with a random member every 5 s (memberlist's LAN
	// default is 30 s): a control plane has a handful of members, so this
	// costs little, and a member whose alive broadcast this node missed
	// (UDP, under load) is still seen within seconds, not half a minute.
	mc.PushPullInterval = 5 * time.Second
	if len(n.cfg.GossipKey) > 0 {
		mc.SecretKey = n.cfg.GossipKey
		mc.GossipVerifyIncoming, mc.GossipVerifyOutgoing = true, true
	}
	if n.cfg.Dev {
		mc = tuneDev(mc)
	}
	ml, err := memberlist.Create(mc)
	if err != nil {
		return fmt.Errorf("cluster: gossip on %s: %w", n.cfg.GossipAddr, err)
	}
	n.ml = ml
	// With port 0, memberlist picked one: advertise what it got.
	n.cfg.GossipAddr = ml.LocalNode().Address()
	return nil
}

func tuneDev(mc *memberlist.Config) *memberlist.Config {
	mc.GossipInterval = 50 * time.Millisecond
	mc.ProbeInterval = 500 * time.Millisecond
	return mc
}

// updateMeta re-gossips this node's metadata after it changed.
func (n *Node) updateMeta() {
	if err := n.ml.UpdateNode(time.Second); err != nil {
		n.log.Warn("gossip meta update failed", "err", err)
	}
}

// joinLoop contacts the join seeds until one answers, then keeps gossip
// healthy: it re-gossips this node's meta when the cluster id becomes known
// and rejoins the seeds every RejoinInterval, so a node cut off from all its
// peers finds them again once the network heals (memberlist #222).
func (n *Node) joinLoop() {
	defer n.wg.Done()
	n.join(n.cfg.JoinRetryInterval)
	advertised := n.clusterID()
	rejoin := time.NewTicker(n.cfg.RejoinInterval)
	defer rejoin.Stop()
	check := time.NewTicker(time.Second)
	defer check.Stop()
	for {
		select {
		case <-n.shutdownCh:
			return
		case <-check.C:
			if id := n.fsm.ClusterID(); id != "" && id != advertised {
				advertised = id
				n.rememberClusterID(id)
				n.updateMeta()
			}
			n.forgetDeparted()
		case <-rejoin.C:
			if len(n.cfg.Join) > 0 {
				if _, err := n.ml.Join(n.cfg.Join); err != nil {
					n.log.Debug("rejoining seeds", "err", err)
				}
			}
		}
	}
}

// join retries the seeds until one answers or the node shuts down.
func (n *Node) join(every time.Duration) {
	if len(n.cfg.Join) == 0 {
		return
	}
	for {
		joined, err := n.ml.Join(n.cfg.Join)
		if joined > 0 {
			n.log.Info("joined gossip", "seeds", n.cfg.Join, "contacted", joined)
			return
		}
		n.log.Warn("cannot reach join seeds yet", "seeds", n.cfg.Join, "err", err)
		select {
		case <-n.shutdownCh:
			return
		case <-time.After(every):
		}
	}
}

// bootstrapSettle is how long the set of servers seen must stay the same
// before a node bootstraps with it, so that every node of a new cluster
// bootstraps with the same configuration.
const bootstrapSettle = time.Second

// bootstrapLoop forms a new cluster once exactly BootstrapExpect servers
// with the same expectation have met, none of them already part of a
// cluster, and that set has not changed for bootstrapSettle. Every such node
// bootstraps with the same (sorted) configuration. More servers than
// expected is an operator error: the node logs it and waits (an existing
// leader may still add it). The loop also marks the node bootstrapped once
// it has raft state, whatever the path (bootstrap, join, restart).
func (n *Node) bootstrapLoop() {
	defer n.wg.Done()
	if n.bootstrapped.Load() {
		return
	}
	if n.cfg.Dev || n.cfg.BootstrapExpect == 1 {
		n.bootstrap([]raft.Server{{ID: raft.ServerID(n.cfg.NodeID), Address: raft.ServerAddress(n.cfg.RaftAddr), Suffrage: raft.Voter}})
		return
	}
	var seen string
	var since time.Time
	warned := false
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-n.shutdownCh:
			return
		case <-tick.C:
		}
		n.rounds.bootstrap.Add(1)
		if n.raft.LastIndex() > 0 {
			n.markBootstrapped() // added by a leader, or bootstrapped
			return
		}
		if n.cfg.BootstrapExpect == 0 {
			continue
		}
		var servers []raft.Server
		var ids []string
		existing := false
		for _, p := range n.peers.all() {
			if !p.alive() {
				continue
			}
			if p.meta.ID != n.cfg.NodeID && (p.meta.Bootstrapped || p.meta.ClusterID != "") {
				existing = true
			}
			if p.meta.Expect != n.cfg.BootstrapExpect {
				continue
			}
			servers = append(servers, raft.Server{ID: raft.ServerID(p.meta.ID), Address: raft.ServerAddress(p.meta.RaftAddr), Suffrage: raft.Voter})
			ids = append(ids, p.meta.ID)
		}
		if existing {
			continue // an existing cluster's leader adds this node
		}
		if len(servers) > n.cfg.BootstrapExpect {
			if !warned {
				n.log.Error("more servers than --bootstrap-expect are waiting to bootstrap; not bootstrapping", "expect", n.cfg.BootstrapExpect, "seen", ids)
				warned = true
			}
			continue
		}
		key := strings.Join(ids, ",")
		if len(servers) < n.cfg.BootstrapExpect || key != seen {
			seen, since = key, time.Now()
			continue
		}
		if time.Since(since) < bootstrapSettle {
			continue
		}
		n.bootstrap(servers)
		return
	}
}

func (n *Node) bootstrap(servers []raft.Server) {
	err := n.raft.BootstrapCluster(raft.Configuration{Servers: servers}).Error()
	if err != nil && err != raft.ErrCantBootstrap {
		n.log.Error("bootstrap failed", "err", err)
		return
	}
	n.log.Info("bootstrapped cluster", "servers", len(servers))
	n.markBootstrapped()
}

func (n *Node) markBootstrapped() {
	if !n.bootstrapped.Swap(true) {
		n.updateMeta()
	}
}

// clusterIDFile keeps the cluster id beside the raft data: a restarted node
// advertises it before its state machine has caught up (raft restores only
// the last snapshot at startup), so a leader recognises it as one of its own.
const clusterIDFile = "cluster-id"

// clusterID is the id from the state machine, else the one remembered.
func (n *Node) clusterID() string {
	if id := n.fsm.ClusterID(); id != "" {
		return id
	}
	b, err := os.ReadFile(filepath.Join(n.cfg.DataDir, clusterIDFile))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// rememberClusterID persists id (once per change; called after every
// applied batch, so the common case is one atomic load).
func (n *Node) rememberClusterID(id string) {
	if p := n.savedID.Load(); p != nil && *p == id {
		return
	}
	path := filepath.Join(n.cfg.DataDir, clusterIDFile)
	if b, err := os.ReadFile(path); err != nil || strings.TrimSpace(string(b)) != id {
		if err := writeFileSync(path, []byte(id+"\n")); err != nil {
			n.log.Warn("cannot remember the cluster id", "err", err)
			return
		}
	}
	n.savedID.Store(&id)
}

// writeFileSync writes path atomically and durably (temp file, fsync,
// rename).
func writeFileSync(path string, b []byte) error {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// forgetDepartedAfter is how long a member that failed or left stays in the
// peer table (and in Members) once it is no longer a raft server.
const forgetDepartedAfter = 5 * time.Minute

// forgetDeparted drops members that left (or failed) long ago and are not
// raft servers, and closes node-to-node connections to addresses no
// remaining member uses. Raft servers stay: autopilot times their failure.
func (n *Node) forgetDeparted() {
	inRaft := map[string]bool{}
	if f := n.raft.GetConfiguration(); f.Error() == nil {
		for _, s := range f.Configuration().Servers {
			inRaft[string(s.ID)] = true
		}
	}
	for _, id := range n.peers.forget(time.Now(), forgetDepartedAfter, func(id string) bool { return inRaft[id] || id == n.cfg.NodeID }) {
		n.log.Info("forgot departed gossip member", "id", id)
	}
	used := map[string]bool{}
	for _, p := range n.peers.all() {
		used[p.meta.RaftAddr] = true
	}
	n.conns.retain(used)
}
