package cluster

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"go.etcd.io/bbolt"

	"github.com/prism/controlplane/archive"
	"github.com/prism/controlplane/controller"
	"github.com/prism/controlplane/fsm"
	"github.com/prism/controlplane/internal/tlsutil"
	"github.com/prism/controlplane/provision"
	"github.com/prism/controlplane/watch"
)

// Deps are a node's collaborators.
type Deps struct {
	Logger *slog.Logger
	// Provisioners create, observe and delete namespaces' backend
	// resources for the leader's lifecycle controller, on the servers in
	// Targets. Nil: provisioning is disabled, and namespaces become active
	// with no resources (saying so in their status reason).
	Provisioners provision.Registry
	Targets      provision.Targets
	// LifecycleHooks are test seams of the lifecycle controller.
	LifecycleHooks *controller.Hooks
	// Archive is where the leader archives every committed change (nil:
	// no archive; the node keeps no journal).
	Archive archive.Backend
	// TLS, when set, makes the raft port (raft and Internal) TLS for this
	// cluster's nodes only (raftTLS); its certificate must name this node.
	// It requires Config.GossipKey. Nil: plaintext.
	TLS *tlsutil.Source
}

// Node is one running control-plane server.
type Node struct {
	cfg  Config
	log  *slog.Logger
	deps Deps

	lifecycle atomic.Pointer[controller.Lifecycle] // the leader's, while it leads
	sessions  atomic.Pointer[controller.Sessions]  // the leader's, while it leads: heartbeats go to it
	placement atomic.Pointer[controller.Placement] // the leader's, while it leads
	lcMetrics *controller.Metrics

	journal   *archive.Journal  // nil without Deps.Archive
	archiver  *archive.Archiver // runs while this node leads
	arMetrics *archive.Metrics

	fsm        *fsm.FSM
	hub        *watch.Hub
	raft       *raft.Raft
	transport  *fencedTransport
	mux        *raftMux          // the raft port: raft and the Internal gRPC service
	internalLn *internalListener // the Internal service's side of mux
	store      *raftboltdb.BoltStore
	logs       *timedLogStore

	diskStalled atomic.Bool
	restoreMu   sync.RWMutex // applies hold it shared; a snapshot restore exclusively
	restoring   sync.Mutex   // held by the one restore this node runs at a time (TryLock)

	ml    *memberlist.Memberlist
	peers *peerTable

	conns  *connPool
	tls    *raftTLS // nil without TLS
	token  string   // the cluster's node token for Internal calls ("" without a gossip key)
	health *peerHealth
	ap     *autopilotState // leader only; reset per leadership stint
	rounds roundCounts     // background loop rounds run (rounds.go)

	bootstrapped atomic.Bool
	savedID      atomic.Pointer[string] // cluster id last persisted to clusterIDFile
	// ready is the leadership stint (term) whose barrier has been applied;
	// 0 when this node is not a ready leader.
	ready         atomic.Uint64
	readyCh       chan struct{} // closed and replaced when ready changes
	readyMu       sync.Mutex
	memberNudgeCh chan struct{} // wakes the leader's membership reconciler
	clock         Clock
	leaderCh      chan bool // raft leadership notifications
	shutdownCh    chan struct{}
	wg            sync.WaitGroup
	closeOnce     sync.Once
}

// New starts a node: opens its data dir, starts raft and gossip, joins its
// seeds in the background and bootstraps when configured to.
func New(cfg Config, deps Deps) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := checkTLS(cfg, deps.TLS); err != nil {
		return nil, err
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Clock == nil {
		cfg.Clock = realClock{}
	}
	n := &Node{
		cfg:           cfg,
		log:           deps.Logger.With("component", "cluster", "node", cfg.NodeID),
		deps:          deps,
		lcMetrics:     controller.NewMetrics(),
		fsm:           fsm.New(),
		peers:         newPeerTable(),
		readyCh:       make(chan struct{}),
		memberNudgeCh: make(chan struct{}, 1),
		clock:         cfg.Clock,
		leaderCh:      make(chan bool, 16),
		shutdownCh:    make(chan struct{}),
	}
	if err := n.newArchiver(); err != nil {
		return nil, err
	}
	n.token = internalToken(cfg.GossipKey, cfg.ClusterName)
	n.tls = newRaftTLS(deps.TLS)
	n.conns = newConnPool(n.token, n.tls.clientConfig())
	n.health = newPeerHealth()
	if err := n.startRaft(deps.Logger); err != nil {
		n.closeStores()
		return nil, err
	}
	if err := n.startGossip(deps.Logger); err != nil {
		_ = n.raft.Shutdown().Error()
		n.closeStores()
		return nil, err
	}
	n.wg.Add(5)
	go n.watchDisk()
	go n.observeRaft()
	go n.watchLeadership()
	go n.bootstrapLoop()
	go n.joinLoop()
	if n.archiver != nil {
		n.wg.Add(1)
		go n.trailArchive()
	}
	return n, nil
}

func (n *Node) startRaft(base *slog.Logger) error {
	// The data dir holds the whole state, secrets a spec might carry
	// included: readable by its owner only, also when it already existed.
	if err := os.MkdirAll(n.cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("cluster: data dir: %w", err)
	}
	if err := os.Chmod(n.cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("cluster: data dir: %w", err)
	}
	store, err := raftboltdb.New(raftboltdb.Options{
		Path:        filepath.Join(n.cfg.DataDir, "raft.db"),
		BoltOptions: &bbolt.Options{Timeout: time.Second, NoFreelistSync: true},
		NoSync:      n.cfg.Dev,
	})
	if err != nil {
		return fmt.Errorf("cluster: open raft.db: %w", err)
	}
	n.store = store
	rlog := newHCLogger("raft", base.With("component", "raft", "node", n.cfg.NodeID))
	snaps, err := raft.NewFileSnapshotStoreWithLogger(n.cfg.DataDir, n.cfg.SnapshotRetain, rlog)
	if err != nil {
		return fmt.Errorf("cluster: snapshot store: %w", err)
	}
	mux, err := newRaftMux(n.cfg.RaftAddr, base.With("component", "raft-mux", "node", n.cfg.NodeID), n.tls.serverConfig())
	if err != nil {
		return fmt.Errorf("cluster: raft transport on %s: %w", n.cfg.RaftAddr, err)
	}
	n.mux = mux
	n.internalLn = &internalListener{m: mux, closed: make(chan struct{})}
	trans := raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream: raftLayer{m: mux, tls: n.tls.clientConfig()}, MaxPool: 4, Timeout: 10 * time.Second, Logger: rlog,
	})
	n.transport = &fencedTransport{NetworkTransport: trans}
	n.cfg.RaftAddr = string(trans.LocalAddr())

	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(n.cfg.NodeID)
	rc.Logger = rlog
	rc.HeartbeatTimeout = n.cfg.HeartbeatTimeout
	rc.ElectionTimeout = n.cfg.ElectionTimeout
	rc.LeaderLeaseTimeout = n.cfg.LeaderLeaseTimeout
	rc.CommitTimeout = n.cfg.CommitTimeout
	rc.MaxAppendEntries = n.cfg.MaxAppendEntries
	rc.BatchApplyCh = true
	rc.SnapshotThreshold = n.cfg.SnapshotThreshold
	rc.SnapshotInterval = n.cfg.SnapshotInterval
	rc.TrailingLogs = n.cfg.TrailingLogs
	rc.NotifyCh = n.leaderCh
	if err := raft.ValidateConfig(rc); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	n.logs = newTimedLogStore(store)
	logs, err := raft.NewLogCache(1024, n.logs)
	if err != nil {
		return err
	}
	has, err := raft.HasExistingState(logs, store, snaps)
	if err != nil {
		return fmt.Errorf("cluster: read raft state: %w", err)
	}
	n.bootstrapped.Store(has)
	n.hub = watch.NewHub(watch.Config{HistoryEvents: n.cfg.WatchHistoryEvents, WatcherBuffer: n.cfg.WatchBuffer}, 0)
	// An operator's restore replaces the history: watchers must list again.
	// A follower catching up from the leader's snapshot continues it, but
	// holds none of the events it skipped: its watchers are told their
	// revision is compacted here, and resume on a node that holds it (or
	// list again).
	n.fsm.OnRestore = func(replaced bool) {
		if replaced {
			n.hub.Reset(n.fsm.Revision())
		} else {
			n.hub.Compact(n.fsm.Revision())
		}
		if n.journal != nil {
			n.journal.Reset(n.fsm.Revision(), restoreReason(replaced))
		}
	}
	r, err := raft.NewRaft(rc, raftFSM{f: n.fsm, hub: n.hub, journal: n.journal, knownID: n.rememberClusterID}, logs, store, snaps, n.transport)
	if err != nil {
		return fmt.Errorf("cluster: start raft: %w", err)
	}
	n.raft = r
	if has {
		n.log.Info("restarted from existing raft state", "applied_index", r.AppliedIndex(), "last_index", r.LastIndex())
	}
	return nil
}

func (n *Node) closeStores() {
	if n.transport != nil {
		_ = n.transport.Close()
		n.transport.CloseStreams() // its pooled connections to peers
	}
	if n.mux != nil {
		n.mux.close()
		n.mux.wait()
	}
	if n.store != nil {
		_ = n.store.Close()
	}
}

// Shutdown stops the node. When graceful, a leader first hands leadership
// to a caught-up follower so writes pause for a round trip, not an election.
func (n *Node) Shutdown(graceful bool) error {
	var err error
	n.closeOnce.Do(func() {
		if graceful {
			n.HandOverLeadership()
		}
		close(n.shutdownCh)
		if graceful {
			_ = n.ml.Leave(time.Second)
		}
		_ = n.ml.Shutdown()
		err = n.raft.Shutdown().Error()
		n.wg.Wait()
		n.conns.close()
		n.closeStores()
	})
	return err
}

// HandOverLeadership hands leadership to a caught-up voter when this node
// leads and other voters exist, so writes pause for a round trip, not an
// election. A graceful stop calls it while the node still serves, so the
// calls in flight on it are forwarded to the new leader.
func (n *Node) HandOverLeadership() {
	if n.raft.State() != raft.Leader || !n.hasOtherVoters() {
		return
	}
	if err := n.raft.LeadershipTransfer().Error(); err != nil {
		n.log.Warn("leadership transfer before shutdown failed", "err", err)
		return
	}
	n.log.Info("handed over leadership before shutdown")
}

func (n *Node) hasOtherVoters() bool {
	f := n.raft.GetConfiguration()
	if f.Error() != nil {
		return false
	}
	for _, s := range f.Configuration().Servers {
		if s.Suffrage == raft.Voter && string(s.ID) != n.cfg.NodeID {
			return true
		}
	}
	return false
}

// Hub is this node's watch hub, fed by its own apply loop.
func (n *Node) Hub() *watch.Hub { return n.hub }

// FSM exposes the state machine for local (stale) reads.
func (n *Node) FSM() *fsm.FSM { return n.fsm }

// ID is this node's id.
func (n *Node) ID() string { return n.cfg.NodeID }

// InternalListener is where the node-to-node Internal gRPC service is to
// be served: connections to the raft port that speak gRPC. Only nodes of
// the cluster are meant to reach the raft port; the public API port never
// serves Internal.
func (n *Node) InternalListener() net.Listener { return n.internalLn }

// RaftAddr and GossipAddr are the addresses actually bound.
func (n *Node) RaftAddr() string   { return n.cfg.RaftAddr }
func (n *Node) GossipAddr() string { return n.cfg.GossipAddr }

// IsLeader reports whether this node is the raft leader.
func (n *Node) IsLeader() bool { return n.raft.State() == raft.Leader }

// LeaderID is the current leader's id, or "" when none is known.
func (n *Node) LeaderID() string {
	_, id := n.raft.LeaderWithID()
	return string(id)
}

// Ready reports whether a leader is known, this node's disk is not stalled
// and it has applied everything it knows to be committed.
func (n *Node) Ready() bool {
	return n.LeaderID() != "" && !n.diskStalled.Load() && n.raft.AppliedIndex() >= n.raft.CommitIndex()
}

// nudge wakes the leader's placement and lifecycle controllers (a
// namespace or shard changed).
func (n *Node) nudge() {
	if pc := n.placement.Load(); pc != nil {
		pc.Nudge()
	}
	if lc := n.lifecycle.Load(); lc != nil {
		lc.Nudge()
	}
}

func splitHostPort(addr string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := net.LookupPort("tcp", p)
	return host, port, err
}
