package cluster

import (
	"sync"
	"time"

	armonmetrics "github.com/armon/go-metrics"
	armonprom "github.com/armon/go-metrics/prometheus"
	gometrics "github.com/hashicorp/go-metrics"
	gometricsprom "github.com/hashicorp/go-metrics/prometheus"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/prism/controlplane/fsm"
	"github.com/prism/controlplane/fsm/fsmpb"
)

var applySeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
	Name:    "prism_raft_apply_seconds",
	Help:    "Time from raft.Apply on the leader to the command's result, by command.",
	Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
}, []string{"op"})

func observeApply(op string, d time.Duration) { applySeconds.WithLabelValues(op).Observe(d.Seconds()) }

func bodyLabel(c *fsmpb.Command) string { return fsm.BodyName(c) }

// libraryMetrics is the process's go-metrics sink, where raft and memberlist
// record their own metrics (raft_commitTime, raft_fsm_apply,
// raft_replication_*, memberlist_probeNode, ...; timings in milliseconds).
// go-metrics has one global sink per process, so the nodes of one process
// (tests) share it and each node's registry shows the process's totals. A
// series not updated for a minute is dropped, so peers that left do not
// linger.
//
// raft-boltdb records its own (raft_boltdb_storeLogs, ...) through the
// go-metrics compat package, which without the hashicorpmetrics build tag
// forwards to armon/go-metrics: a second global, with a second sink.
var libraryMetrics = sync.OnceValues(func() ([]prometheus.Collector, error) {
	// Each sink registers itself with its Registerer; RegisterMetrics
	// registers it with each node's registry instead.
	sink, err := gometricsprom.NewPrometheusSinkFrom(gometricsprom.PrometheusOpts{
		Name: "prism_library_metrics_sink", Expiration: time.Minute, Registerer: prometheus.NewRegistry(),
	})
	if err != nil {
		return nil, err
	}
	conf := gometrics.DefaultConfig("")
	conf.EnableHostname = false       // no hostname prefix on gauge names
	conf.EnableRuntimeMetrics = false // the Go collector already reports these
	if _, err := gometrics.NewGlobal(conf, sink); err != nil {
		return nil, err
	}
	boltSink, err := armonprom.NewPrometheusSinkFrom(armonprom.PrometheusOpts{
		Name: "prism_boltdb_metrics_sink", Expiration: time.Minute, Registerer: prometheus.NewRegistry(),
	})
	if err != nil {
		return nil, err
	}
	boltConf := armonmetrics.DefaultConfig("")
	boltConf.EnableHostname, boltConf.EnableRuntimeMetrics = false, false
	if _, err := armonmetrics.NewGlobal(boltConf, boltSink); err != nil {
		return nil, err
	}
	return []prometheus.Collector{sink, boltSink}, nil
})

// RegisterMetrics exposes this node's raft gauges on reg, and the metrics
// raft, raft-boltdb and memberlist record themselves (from the first call
// in a process).
func (n *Node) RegisterMetrics(reg prometheus.Registerer) error {
	// applySeconds and the library sink are shared by the nodes of one
	// process; a collector may be registered with several registries.
	if err := reg.Register(applySeconds); err != nil {
		return err
	}
	if err := n.lcMetrics.Register(reg); err != nil {
		return err
	}
	if err := n.arMetrics.Register(reg); err != nil {
		return err
	}
	sinks, err := libraryMetrics()
	if err != nil {
		return err
	}
	for _, sink := range sinks {
		if err := reg.Register(sink); err != nil {
			return err
		}
	}
	gauges := map[string]func() float64{
		"prism_raft_term":          func() float64 { return float64(n.Term()) },
		"prism_raft_commit_index":  func() float64 { return float64(n.raft.CommitIndex()) },
		"prism_raft_applied_index": func() float64 { return float64(n.fsm.Index()) },
		"prism_raft_last_index":    func() float64 { return float64(n.raft.LastIndex()) },
		"prism_revision":           func() float64 { return float64(n.fsm.Revision()) },
		"prism_raft_is_leader": func() float64 {
			if n.IsLeader() {
				return 1
			}
			return 0
		},
	}
	for name, f := range gauges {
		if err := reg.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: name + " of this node."}, f)); err != nil {
			return err
		}
	}
	if err := reg.Register(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "prism_autopilot_rounds_total", Help: "Membership (autopilot) rounds this node completed as leader.",
	}, func() float64 { return float64(n.AutopilotRounds()) })); err != nil {
		return err
	}
	return reg.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "prism_raft_state", Help: "Raft state of this node: 0 follower, 1 candidate, 2 leader, 3 shutdown.",
	}, func() float64 { return float64(n.raft.State()) }))
}
