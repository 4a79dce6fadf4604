package main

import (
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/prism/controlplane/archive"
	"github.com/prism/controlplane/cluster"
	"github.com/prism/controlplane/internal/server"
	"github.com/prism/controlplane/internal/tlsutil"
	"github.com/prism/controlplane/rpc"
)

// options are prismd's settings. Each flag may also come from the env var
// PRISMD_<NAME> (upper case, '-' → '_') or from the key <name> of the YAML
// file given by --config; a flag beats the env, which beats the file.
type options struct {
	config          string
	nodeID          string
	dataDir         string
	grpcAddr        string
	httpAddr        string
	raftAddr        string
	gossipAddr      string
	join            string
	bootstrapExpect int
	dev             bool
	logLevel        string
	level           slog.Level // logLevel, parsed
	logFormat       string
	tombstoneTTL    time.Duration
	version         bool
	pprof           bool
	clusterName     string
	leaveOnTerm     bool
	voters          int
	minQuorum       int
	stabilization   time.Duration
	deadCleanup     time.Duration
	diskStall       time.Duration
	shardSuspect    time.Duration
	shardDown       time.Duration
	shardGrace      time.Duration
	gossipKey       string
	// TLS (all three or none).
	tlsCert, tlsKey, tlsCA string
	// Limits of the public gRPC port (rpc.Config).
	maxStreams  uint
	maxWatches  int
	maxRecvMsg  int
	maxListings int
	maxSnapshot int64
	// Backends (provisioning).
	postgresURL   string
	kafkaBrokers  string
	backendsFile  string
	provisionEach time.Duration
	provisioning  bool
	// Archive.
	archiveURL             string
	archiveJournal         int
	archiveCheckpointEvery int64
	archiveBatchWait       time.Duration
	// Rate limits (rpc.RateLimits).
	rates rpc.RateLimits
	// ACLs and audit.
	acl         bool
	auditLog    string
	metricsOpen bool
}

func parseOptions(args []string, getenv func(string) string) (*options, error) {
	host, _ := os.Hostname()
	o := &options{}
	fs := flag.NewFlagSet("prismd", flag.ContinueOnError)
	fs.StringVar(&o.config, "config", "", "YAML file of settings (keys are flag names)")
	fs.StringVar(&o.nodeID, "node-id", host, "unique, stable node id")
	fs.StringVar(&o.dataDir, "data-dir", "", "raft log, stable store and snapshots (default ./data/<node-id>)")
	fs.StringVar(&o.grpcAddr, "grpc-addr", "127.0.0.1:7400", "gRPC API address (clients, shards, forwarding)")
	fs.StringVar(&o.httpAddr, "http-addr", "127.0.0.1:7700", "HTTP address: /healthz /readyz /metrics /v1/namespaces/{name}")
	fs.StringVar(&o.raftAddr, "raft-addr", "127.0.0.1:7500", "raft transport address")
	fs.StringVar(&o.gossipAddr, "gossip-addr", "127.0.0.1:7600", "memberlist gossip address")
	fs.StringVar(&o.join, "join", "", "comma list of gossip addresses of existing members")
	fs.IntVar(&o.bootstrapExpect, "bootstrap-expect", 0, "form a new cluster once this many servers have met by gossip")
	fs.BoolVar(&o.dev, "dev", false, "one node, bootstraps itself, fast non-durable settings, loopback only")
	fs.StringVar(&o.logLevel, "log-level", "info", "debug|info|warn|error")
	fs.StringVar(&o.logFormat, "log-format", "text", "text|json")
	fs.DurationVar(&o.tombstoneTTL, "tombstone-retention", time.Hour, "how long deleted namespaces stay visible before they are purged")
	fs.BoolVar(&o.version, "version", false, "print the version and exit")
	fs.StringVar(&o.clusterName, "cluster-name", "prism", "cluster name; nodes of other clusters are never seen or added")
	fs.StringVar(&o.gossipKey, "gossip-key", "", "base64 AES key (16, 24 or 32 bytes) that encrypts gossip; all nodes need the same")
	fs.StringVar(&o.tlsCert, "tls-cert", "", "PEM certificate of this node (prismctl tls cert create --node ID): TLS on gRPC, HTTP and the raft port; with --tls-key and --tls-ca; needs --gossip-key")
	fs.StringVar(&o.tlsKey, "tls-key", "", "PEM private key of --tls-cert")
	fs.StringVar(&o.tlsCA, "tls-ca", "", "PEM CA certificate(s) that client and peer certificates must chain to (prismctl tls ca create)")
	fs.IntVar(&o.voters, "voters", 3, "voters the cluster keeps (3 or 5); other servers are hot standbys (nonvoters)")
	fs.IntVar(&o.minQuorum, "min-quorum", 3, "autopilot never removes a dead voter if fewer voters than this would remain (capped at --voters)")
	fs.DurationVar(&o.stabilization, "server-stabilization", 10*time.Second, "a new server must be healthy this long before it is promoted to voter")
	fs.DurationVar(&o.deadCleanup, "dead-server-cleanup", 30*time.Second, "a server failed this long (gossip and raft agree) is removed from raft")
	fs.DurationVar(&o.diskStall, "disk-stall-threshold", 5*time.Second, "a raft log write slower than this makes the node unready and gives up leadership")
	fs.DurationVar(&o.shardSuspect, "shard-suspect-after", 10*time.Second, "a shard silent this long (no heartbeat) is marked suspect")
	fs.DurationVar(&o.shardDown, "shard-down-after", 30*time.Second, "a shard silent this long is marked down")
	fs.DurationVar(&o.shardGrace, "shard-down-grace", 30*time.Second, "namespaces of a down shard are degraded this long, then moved")
	fs.BoolVar(&o.leaveOnTerm, "leave-on-terminate", false, "on SIGTERM also remove this node from raft (for nodes that will not come back)")
	fs.BoolVar(&o.pprof, "pprof", false, "serve Go profiles under /debug/pprof/ on the HTTP address")
	lim := rpc.DefaultConfig()
	fs.UintVar(&o.maxStreams, "max-concurrent-streams", uint(lim.MaxConcurrentStreams), "gRPC calls and streams open at once per client connection (more wait)")
	fs.IntVar(&o.maxWatches, "max-watches-per-stream", lim.MaxWatchesPerStream, "watches one Watches stream may hold; a create over it ends with RESOURCE_EXHAUSTED")
	fs.IntVar(&o.maxRecvMsg, "max-recv-msg-bytes", lim.MaxRecvMsgBytes, "largest gRPC request message, in bytes (512 KiB..64 MiB)")
	fs.IntVar(&o.maxListings, "max-concurrent-listings", lim.MaxConcurrentListings, "watches from revision 0 listed at once; others wait briefly, then get RESOURCE_EXHAUSTED")
	fs.Int64Var(&o.maxSnapshot, "max-snapshot-bytes", lim.MaxSnapshotBytes, "largest snapshot a restore accepts, in bytes (spooled to the data dir)")
	fs.StringVar(&o.postgresURL, "postgres-url", "", "default Postgres target, postgres://user@host:port/db without a password (pgx reads PGPASSFILE / PGPASSWORD)")
	fs.StringVar(&o.kafkaBrokers, "kafka-brokers", "", "default Kafka target: comma list of bootstrap brokers")
	fs.StringVar(&o.backendsFile, "backends", "", "YAML file of named targets: postgres: [{name, url}], kafka: [{name, brokers, replication_factor}]")
	fs.DurationVar(&o.provisionEach, "provision-check-interval", 30*time.Second, "how often active namespaces' resources are observed again (drift)")
	fs.BoolVar(&o.provisioning, "provisioning", true, "manage namespaces' backend resources; false: namespaces become active with none created (backends managed elsewhere)")
	rl := rpc.DefaultRateLimits()
	o.rates.MaxPrincipals = rl.MaxPrincipals
	fs.Float64Var(&o.rates.Read, "rate-read", rl.Read, "reads per second per client (certificate identity, else IP) on this node's public port; 0: no limit")
	fs.Float64Var(&o.rates.Write, "rate-write", rl.Write, "writes (and admin calls) per second per client; 0: no limit")
	fs.Float64Var(&o.rates.Watch, "rate-watch", rl.Watch, "watch streams opened per second per client; 0: no limit")
	fs.Float64Var(&o.rates.Heartbeat, "rate-heartbeat", rl.Heartbeat, "shard heartbeats per second per client; 0: no limit")
	fs.Float64Var(&o.rates.GlobalWrite, "rate-global-write", rl.GlobalWrite, "writes per second on this node's public port from all clients together; 0: no limit")
	fs.StringVar(&o.archiveURL, "archive-url", "", "Postgres to archive every committed change to, postgres://user@host:port/db without a password (pgx reads PGPASSFILE / PGPASSWORD); give every node the same")
	fs.IntVar(&o.archiveJournal, "archive-journal", archive.DefaultJournalChanges, "changes each node keeps in memory for the archiver; an archive trailing by more resumes from a checkpoint (a new epoch)")
	fs.Int64Var(&o.archiveCheckpointEvery, "archive-checkpoint-every", archive.DefaultConfig().CheckpointEvery, "write a full checkpoint of the state to the archive after this many revisions")
	fs.DurationVar(&o.archiveBatchWait, "archive-batch-wait", archive.DefaultConfig().BatchWait, "least time between two archive transactions while fewer than 2,000 changes wait (fewer, larger commits for more lag)")
	fs.BoolVar(&o.acl, "acl", false, "deny by default: every call needs a token (prismctl acl bootstrap mints the first) or a client certificate that the ACL rules allow")
	fs.StringVar(&o.auditLog, "audit-log", "", "file to append the audit log to (JSON lines: denials, reads, token changes); SIGHUP reopens it")
	fs.BoolVar(&o.metricsOpen, "metrics-open", false, "with --acl, serve /metrics without a token (otherwise it needs the operator role)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q (subcommands are not supported yet)", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var file map[string]any
	if o.config != "" {
		b, err := os.ReadFile(o.config)
		if err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
		if err := yaml.Unmarshal(b, &file); err != nil {
			return nil, fmt.Errorf("config %s: %w", o.config, err)
		}
	}
	var errs []error
	keys := make([]string, 0, len(file))
	for k := range file {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if fs.Lookup(k) == nil || k == "config" {
			errs = append(errs, fmt.Errorf("config %s: unknown key %q", o.config, k))
		}
	}
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] || f.Name == "config" {
			return
		}
		env := "PRISMD_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v := getenv(env); v != "" {
			if err := fs.Set(f.Name, v); err != nil {
				errs = append(errs, fmt.Errorf("%s=%q: %w", env, v, err))
			}
			return
		}
		if v, ok := file[f.Name]; ok {
			s, err := configValue(v, listFlags[f.Name])
			if err == nil {
				err = fs.Set(f.Name, s)
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("config %s: %s: %w", o.config, f.Name, err))
			}
		}
	})
	if err := o.level.UnmarshalText([]byte(o.logLevel)); err != nil {
		errs = append(errs, fmt.Errorf("--log-level %q: want debug, info, warn or error: %w", o.logLevel, err))
	}
	if o.logFormat != "text" && o.logFormat != "json" {
		errs = append(errs, fmt.Errorf("--log-format %q: want text or json", o.logFormat))
	}
	if o.dataDir == "" {
		o.dataDir = filepath.Join("data", o.nodeID)
	}
	return o, errors.Join(errs...)
}

// listFlags are the flags whose value is a comma list; in the YAML file they
// may also be a sequence.
var listFlags = map[string]bool{"join": true}

// configValue is the flag value of the YAML value v. A sequence is accepted
// only for a list flag (its items joined with commas); a mapping never is.
func configValue(v any, list bool) (string, error) {
	switch v := v.(type) {
	case nil:
		if list {
			return "", nil
		}
		return "", errors.New("no value")
	case []any:
		if !list {
			return "", errors.New("a list is not a value of this setting")
		}
		items := make([]string, 0, len(v))
		for i, item := range v {
			s, err := configValue(item, false)
			if err != nil {
				return "", fmt.Errorf("item %d: %w", i, err)
			}
			if strings.Contains(s, ",") {
				return "", fmt.Errorf("item %d %q: an item holds no comma", i, s)
			}
			items = append(items, s)
		}
		return strings.Join(items, ","), nil
	case map[string]any:
		return "", errors.New("a mapping is not a value of this setting")
	default:
		return fmt.Sprint(v), nil
	}
}

func (o *options) serverConfig() (server.Config, error) {
	c := cluster.DefaultConfig()
	c.NodeID = o.nodeID
	c.DataDir = o.dataDir
	c.RaftAddr = o.raftAddr
	c.GossipAddr = o.gossipAddr
	c.BootstrapExpect = o.bootstrapExpect
	c.Dev = o.dev
	c.TombstoneRetention = o.tombstoneTTL
	c.ClusterName = o.clusterName
	c.Voters = o.voters
	c.MinQuorum = min(o.minQuorum, o.voters)
	c.ServerStabilization = o.stabilization
	c.DeadServerCleanup = o.deadCleanup
	c.DiskStallThreshold = o.diskStall
	c.ShardSuspectAfter, c.ShardDownAfter, c.ShardDownGrace = o.shardSuspect, o.shardDown, o.shardGrace
	c.Lifecycle.CheckInterval = o.provisionEach
	c.ArchiveJournal = o.archiveJournal
	c.Archive.CheckpointEvery = o.archiveCheckpointEvery
	c.Archive.BatchWait = o.archiveBatchWait
	if o.dev {
		c.Voters, c.MinQuorum = 1, 1
	}
	c.Join = splitList(o.join)
	var errs []error
	if o.gossipKey != "" {
		key, err := base64.StdEncoding.DecodeString(o.gossipKey)
		if err != nil {
			errs = append(errs, fmt.Errorf("--gossip-key is not base64: %w", err))
		}
		c.GossipKey = key
	}
	if o.dev {
		if o.bootstrapExpect > 1 || len(c.Join) > 0 {
			errs = append(errs, errors.New("--dev runs one node: it takes no --join and no --bootstrap-expect above 1"))
		}
		for name, a := range map[string]string{"grpc-addr": o.grpcAddr, "http-addr": o.httpAddr, "raft-addr": o.raftAddr, "gossip-addr": o.gossipAddr} {
			if !isLoopback(a) {
				errs = append(errs, fmt.Errorf("--dev serves loopback only: --%s %s", name, a))
			}
		}
	}
	// Addresses are also what gossip advertises to other nodes: an
	// unspecified host (0.0.0.0, ::, empty) cannot be dialled back.
	for name, a := range map[string]string{"grpc-addr": o.grpcAddr, "http-addr": o.httpAddr, "raft-addr": o.raftAddr, "gossip-addr": o.gossipAddr} {
		if host, _, err := net.SplitHostPort(a); err == nil {
			if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
				errs = append(errs, fmt.Errorf("--%s %s: give the address other nodes reach this one at, not an unspecified host", name, a))
			}
		}
	}
	lim := rpc.Config{MaxWatchesPerStream: o.maxWatches, MaxRecvMsgBytes: o.maxRecvMsg, MaxConcurrentListings: o.maxListings, MaxSnapshotBytes: o.maxSnapshot, RateLimits: o.rates, ACL: o.acl}
	if o.metricsOpen && !o.acl {
		errs = append(errs, errors.New("--metrics-open needs --acl (without ACLs /metrics is open anyway)"))
	}
	if o.acl && o.gossipKey == "" && !o.dev {
		// Forwarded writes carry their caller's identity over Internal,
		// which only a gossip key's holders may call.
		errs = append(errs, errors.New("--acl needs --gossip-key (or --dev): without it anyone who reaches the raft port could forward a write as any identity"))
	}
	if o.maxStreams > math.MaxUint32 {
		errs = append(errs, fmt.Errorf("--max-concurrent-streams %d is above %d", o.maxStreams, uint32(math.MaxUint32)))
	} else {
		lim.MaxConcurrentStreams = uint32(o.maxStreams)
	}
	if err := lim.Validate(); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, o.checkTLS()...)
	cfg := server.Config{Cluster: c, GRPCAddr: o.grpcAddr, HTTPAddr: o.httpAddr, Pprof: o.pprof, RPC: lim,
		TLS: tlsutil.Files{CA: o.tlsCA, Cert: o.tlsCert, Key: o.tlsKey}, AuditLog: o.auditLog, MetricsOpen: o.metricsOpen}
	// The advertised API addresses are only known after listening; check the rest now.
	probe := c
	probe.GRPCAdvertise, probe.HTTPAdvertise = o.grpcAddr, o.httpAddr
	if err := probe.Validate(); err != nil {
		errs = append(errs, err)
	}
	return cfg, errors.Join(errs...)
}

// checkTLS: --tls-cert, --tls-key and --tls-ca come together, with
// --gossip-key, and the cluster name must fit in an identity.
func (o *options) checkTLS() []error {
	given := map[string]bool{"--tls-cert": o.tlsCert != "", "--tls-key": o.tlsKey != "", "--tls-ca": o.tlsCA != ""}
	var missing []string
	for _, f := range []string{"--tls-cert", "--tls-key", "--tls-ca"} {
		if !given[f] {
			missing = append(missing, f)
		}
	}
	switch len(missing) {
	case 3:
		return nil
	case 0:
	default:
		return []error{fmt.Errorf("--tls-cert, --tls-key and --tls-ca go together: %s missing", strings.Join(missing, ", "))}
	}
	var errs []error
	if o.gossipKey == "" {
		errs = append(errs, errors.New("TLS needs --gossip-key: gossip is encrypted whenever TLS is on (make one: head -c 32 /dev/urandom | base64)"))
	}
	if err := tlsutil.ValidateClusterName(o.clusterName); err != nil {
		errs = append(errs, fmt.Errorf("--cluster-name with TLS: %w", err))
	}
	return errs
}

func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// splitList reads a comma list flag: items trimmed, empty ones dropped.
func splitList(s string) []string {
	var out []string
	for _, x := range strings.Split(s, ",") {
		if x = strings.TrimSpace(x); x != "" {
			out = append(out, x)
		}
	}
	return out
}
