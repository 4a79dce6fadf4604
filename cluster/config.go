package cluster

import (
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/prism/controlplane/archive"
	"github.com/prism/controlplane/controller"
	"github.com/prism/controlplane/placement"
)

// Config holds a node's settings. Addresses must be host:port; port 0 picks
// a free port (the node advertises what it got).
type Config struct {
	// NodeID is the node's unique, stable id (raft server id, gossip name).
	NodeID string
	// DataDir holds raft.db (log and stable store) and snapshots/.
	DataDir string
	// RaftAddr is the raft TCP transport's bind and advertise address.
	RaftAddr string
	// GossipAddr is memberlist's bind and advertise address (TCP and UDP).
	GossipAddr string
	// GRPCAdvertise and HTTPAdvertise are this node's API addresses as
	// gossip carries them (forwarding uses GRPCAdvertise, never a guess).
	GRPCAdvertise string
	HTTPAdvertise string
	// Join lists gossip addresses of existing members; retried until one answers.
	Join []string
	// BootstrapExpect forms a new cluster once this many servers have met by
	// gossip; 0 never bootstraps (the node waits to be added by a leader).
	BootstrapExpect int
	// ClusterName is carried by every gossip packet (memberlist Label) and in
	// node meta: nodes of clusters with other names never see each other.
	ClusterName string
	// GossipKey, when set, encrypts and authenticates gossip (AES, 16, 24
	// or 32 bytes); a node without the key cannot join.
	GossipKey []byte
	// RejoinInterval: how often a node contacts its Join seeds again, so a
	// node cut off from every peer finds its way back after the network
	// heals (memberlist #222).
	RejoinInterval time.Duration
	// Dev: a single node that bootstraps itself with fast, non-durable
	// settings (no fsync). Never for production.
	Dev bool

	// Raft timing, tuned for a LAN (loopback or one datacenter, RTT < 1 ms):
	// a follower that hears nothing for HeartbeatTimeout starts an election
	// (randomised up to 2x); a leader that cannot reach a quorum for
	// LeaderLeaseTimeout steps down. Raft's own defaults (1 s/1 s/500 ms) are
	// for WANs; these give a failover of about 0.5-1 s after a leader dies.
	HeartbeatTimeout   time.Duration
	ElectionTimeout    time.Duration
	LeaderLeaseTimeout time.Duration
	// CommitTimeout bounds how long a follower waits before applying a
	// commit index it learned without a new entry.
	CommitTimeout time.Duration
	// MaxAppendEntries is the most entries sent (and fsynced) in one batch:
	// the group-commit size under load.
	MaxAppendEntries int
	// SnapshotThreshold: snapshot after this many new log entries;
	// SnapshotInterval: how often to check; TrailingLogs: entries kept after
	// a snapshot so a slightly lagging follower catches up from the log.
	SnapshotThreshold uint64
	SnapshotInterval  time.Duration
	TrailingLogs      uint64
	// SnapshotRetain is how many snapshot files to keep.
	SnapshotRetain int

	// Autopilot (on the leader). Voters is how many voters the cluster
	// keeps (3 or 5); servers beyond it stay nonvoters, hot standbys
	// promoted when a voter goes. A server that joins enters as a nonvoter
	// and is promoted once it trails the leader by at most MaxTrailingLogs
	// entries and has been healthy for ServerStabilization. A server gossip
	// reports failed for longer than DeadServerCleanup, and whose heartbeats
	// raft itself sees failing, is removed, but only while the voters left
	// stay at or above MinQuorum.
	Voters              int
	MaxTrailingLogs     uint64
	ServerStabilization time.Duration
	DeadServerCleanup   time.Duration
	MinQuorum           int

	// DiskStallThreshold: a raft log write running longer than this makes
	// the node unready and fences its raft RPCs, so a leader whose disk
	// hangs loses leadership instead of holding it while nothing commits.
	DiskStallThreshold time.Duration

	// WatchHistoryEvents is how many recent events a node keeps so watches
	// can resume; older revisions are "compacted". WatchBuffer is how many
	// revisions one watcher may lag before it is cut (resumably).
	WatchHistoryEvents int
	WatchBuffer        int

	// ShardSuspectAfter and ShardDownAfter: a shard whose heartbeats the
	// leader has not seen for this long is marked suspect, then down (a
	// heartbeat brings it back up). A new leader counts silence from its
	// own start, so a leader change never marks a healthy shard down.
	// Agents are asked to send a heartbeat every ShardSuspectAfter/4.
	ShardSuspectAfter time.Duration
	ShardDownAfter    time.Duration

	// Placement tunes the placement engine (placement.DefaultConfig).
	// ShardDownGrace: namespaces of a down shard are degraded for this long
	// before they are moved. MoveCooling: a namespace the engine moved is
	// not moved again for this long unless forced.
	Placement      placement.Config
	ShardDownGrace time.Duration
	MoveCooling    time.Duration
	// MoveShadowTimeout: a move's shadow phase cuts over when the target
	// shard reports ready, or after this long. MoveDrainPeriod: after
	// cutover the old shard keeps the namespace this long, then the move
	// is done (ADR-009).
	MoveShadowTimeout time.Duration
	MoveDrainPeriod   time.Duration

	// Clock is the wall clock the node decides with (nil: the real one).
	// Tests and the Jepsen clock nemesis skew it; see Clock.
	Clock Clock

	// ReconcileInterval is how often the leader reconciles raft membership
	// with gossip and namespace lifecycles with provisioners.
	ReconcileInterval time.Duration
	// TombstoneRetention is how long a deleted namespace stays visible
	// (status deleted) before the leader purges it.
	TombstoneRetention time.Duration
	// JoinRetryInterval is the pause between attempts to reach Join seeds.
	JoinRetryInterval time.Duration
	// Lifecycle tunes the leader's lifecycle controller (provisioning,
	// drift checks, deletion). Its Interval and TombstoneRetention are
	// taken from ReconcileInterval and TombstoneRetention above, and
	// Disabled from Deps.Provisioners being nil.
	Lifecycle controller.LifecycleConfig
	// Archive tunes the leader's archiver (used when Deps.Archive is set).
	Archive archive.Config
	// ArchiveJournal is how many applied changes a node keeps in memory
	// for the archiver (when Deps.Archive is set): an archive that trails
	// by more resumes from a checkpoint of the state (a new epoch). 0:
	// archive.DefaultJournalChanges.
	ArchiveJournal int
}

// lifecycleConfig is Lifecycle with the fields this Config decides.
func (c Config) lifecycleConfig(disabled bool) controller.LifecycleConfig {
	lc := c.Lifecycle
	lc.Interval, lc.TombstoneRetention, lc.Disabled = c.ReconcileInterval, c.TombstoneRetention, disabled
	lc.MinRoundGap = min(lc.MinRoundGap, lc.Interval)
	return lc
}

// DefaultConfig returns the defaults documented on each Config field.
func DefaultConfig() Config {
	return Config{
		RaftAddr:            "127.0.0.1:7500",
		GossipAddr:          "127.0.0.1:7600",
		HeartbeatTimeout:    500 * time.Millisecond,
		ElectionTimeout:     500 * time.Millisecond,
		LeaderLeaseTimeout:  250 * time.Millisecond,
		CommitTimeout:       10 * time.Millisecond,
		MaxAppendEntries:    256,
		SnapshotThreshold:   8192,
		SnapshotInterval:    30 * time.Second,
		TrailingLogs:        10240,
		SnapshotRetain:      2,
		ReconcileInterval:   time.Second,
		TombstoneRetention:  time.Hour,
		JoinRetryInterval:   time.Second,
		Lifecycle:           controller.DefaultLifecycleConfig(),
		Archive:             archive.DefaultConfig(),
		ArchiveJournal:      archive.DefaultJournalChanges,
		ClusterName:         "prism",
		Voters:              3,
		MaxTrailingLogs:     250,
		ServerStabilization: 10 * time.Second,
		DeadServerCleanup:   30 * time.Second,
		MinQuorum:           3,
		DiskStallThreshold:  5 * time.Second,
		WatchHistoryEvents:  10000,
		WatchBuffer:         1024,
		RejoinInterval:      30 * time.Second,
		ShardSuspectAfter:   10 * time.Second,
		ShardDownAfter:      30 * time.Second,
		Placement:           placement.DefaultConfig(),
		ShardDownGrace:      30 * time.Second,
		MoveCooling:         5 * time.Minute,
		MoveShadowTimeout:   30 * time.Second,
		MoveDrainPeriod:     5 * time.Second,
	}
}

// Validate lists every problem with the config.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, a ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalidConfig}, a...)...))
	}
	if c.NodeID == "" {
		bad("node id is empty")
	}
	if c.DataDir == "" {
		bad("data dir is empty")
	}
	for name, a := range map[string]string{"raft addr": c.RaftAddr, "gossip addr": c.GossipAddr, "grpc advertise": c.GRPCAdvertise, "http advertise": c.HTTPAdvertise} {
		if _, _, err := net.SplitHostPort(a); err != nil {
			bad("%s %q: %v", name, a, err)
		}
	}
	if c.ClusterName == "" || len(c.ClusterName) > 64 {
		bad("cluster name must be 1..64 characters")
	}
	if n := len(c.GossipKey); n != 0 && n != 16 && n != 24 && n != 32 {
		bad("gossip key is %d bytes; want 16, 24 or 32", n)
	}
	if c.RejoinInterval <= 0 {
		bad("rejoin interval must be positive")
	}
	if c.BootstrapExpect < 0 {
		bad("bootstrap expect %d < 0", c.BootstrapExpect)
	}
	if c.HeartbeatTimeout <= 0 || c.ElectionTimeout <= 0 || c.LeaderLeaseTimeout <= 0 || c.CommitTimeout <= 0 {
		bad("raft timeouts must be positive")
	}
	if c.LeaderLeaseTimeout > c.HeartbeatTimeout {
		bad("leader lease timeout %v exceeds heartbeat timeout %v", c.LeaderLeaseTimeout, c.HeartbeatTimeout)
	}
	if c.Voters != 1 && c.Voters != 3 && c.Voters != 5 {
		bad("voters %d: want 1, 3 or 5", c.Voters)
	}
	if c.MinQuorum < 1 || c.MinQuorum > c.Voters {
		bad("min quorum %d not in 1..voters (%d)", c.MinQuorum, c.Voters)
	}
	if c.ServerStabilization < 0 || c.DeadServerCleanup <= 0 {
		bad("server stabilization must not be negative and dead server cleanup must be positive")
	}
	if c.MaxAppendEntries <= 0 || c.MaxAppendEntries > 1024 {
		bad("max append entries %d not in 1..1024", c.MaxAppendEntries)
	}
	if c.WatchHistoryEvents < 1 || c.WatchBuffer < 1 {
		bad("watch history and buffer must be positive")
	}
	if c.DiskStallThreshold < 100*time.Millisecond {
		bad("disk stall threshold %v is below 100ms", c.DiskStallThreshold)
	}
	if c.ReconcileInterval <= 0 || c.JoinRetryInterval <= 0 {
		bad("reconcile and join retry intervals must be positive")
	}
	if c.ShardSuspectAfter < 100*time.Millisecond || c.ShardDownAfter <= c.ShardSuspectAfter {
		bad("shard suspect-after %v must be at least 100ms and below down-after %v", c.ShardSuspectAfter, c.ShardDownAfter)
	}
	if err := c.Placement.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("%w: %w", ErrInvalidConfig, err))
	}
	if c.ShardDownGrace < 0 || c.MoveCooling < 0 || c.MoveShadowTimeout < 0 || c.MoveDrainPeriod < 0 {
		bad("shard down grace and move cooling must not be negative")
	}
	if c.TombstoneRetention < 0 {
		bad("tombstone retention must not be negative")
	}
	if err := c.Archive.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("%w: %w", ErrInvalidConfig, err))
	}
	if c.ArchiveJournal < 0 {
		bad("archive journal must not be negative, got %d", c.ArchiveJournal)
	}
	if c.ReconcileInterval > 0 && c.TombstoneRetention >= 0 {
		if err := c.lifecycleConfig(false).Validate(); err != nil {
			errs = append(errs, fmt.Errorf("%w: %w", ErrInvalidConfig, err))
		}
	}
	if len(errs) == 0 { // the controllers' configs derive from fields checked above
		for _, err := range []error{c.sessionsConfig().Validate(), c.placementConfig().Validate()} {
			if err != nil {
				errs = append(errs, fmt.Errorf("%w: %w", ErrInvalidConfig, err))
			}
		}
	}
	return errors.Join(errs...)
}
