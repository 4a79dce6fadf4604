package archive

import (
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Status is the archiver's view, as `prismctl archive status` shows it.
type Status struct {
	ClusterID        string
	ArchivedRevision int64 // the cursor's revision, as last read or written
	ClusterRevision  int64
	LagRevisions     int64
	LagSeconds       float64 // age of the oldest change not yet archived (0 when caught up)
	Epoch            int64
	Term             uint64
	LastError        string // the last failure; "" once a write succeeds again
	LastErrorAt      time.Time
	LastSuccess      time.Time // the last write (or claim) that succeeded
	Checkpoints      int64     // checkpoints written by this node
	Running          bool      // this node's archiver is running (it leads)
}

// Metrics are the archiver's Prometheus series. A nil *Metrics records
// nothing.
type Metrics struct {
	lagRevisions prometheus.GaugeFunc
	lagSeconds   prometheus.GaugeFunc
	// lag measures the lag now (bound by the node's archiver); the gauges
	// read it at every scrape, so they move while a write waits or backs off.
	lag          atomic.Pointer[func() (int64, float64)]
	lastSuccess  prometheus.Gauge
	revisions    prometheus.Counter
	batches      *prometheus.CounterVec
	checkpoints  *prometheus.CounterVec
	batchSeconds prometheus.Histogram
	delay        prometheus.Histogram
}

// NewMetrics returns the series; Register exposes them.
func NewMetrics() *Metrics {
	m := &Metrics{}
	read := func(secs bool) func() float64 {
		return func() float64 {
			f := m.lag.Load()
			if f == nil {
				return 0
			}
			r, s := (*f)()
			if secs {
				return s
			}
			return float64(r)
		}
	}
	m.lagRevisions = prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "prism_archive_lag_revisions",
		Help: "Revisions committed but not yet archived, as the leader's archiver measures it (0 on followers)."}, read(false))
	m.lagSeconds = prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "prism_archive_lag_seconds",
		Help: "Age of the oldest committed change not yet archived (0 when caught up, and on followers)."}, read(true))
	m.lastSuccess = prometheus.NewGauge(prometheus.GaugeOpts{Name: "prism_archive_last_success_timestamp_seconds",
		Help: "Unix time of the archiver's last successful write on this node."})
	m.revisions = prometheus.NewCounter(prometheus.CounterOpts{Name: "prism_archive_revisions_total",
		Help: "Revisions this node has archived."})
	m.batches = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "prism_archive_batches_total",
		Help: "Archive transactions by outcome (ok, fenced, moved, error)."}, []string{"outcome"})
	m.checkpoints = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "prism_archive_checkpoints_total",
		Help: "Checkpoints written, by kind: periodic, or epoch (a new epoch after history the archive needed was gone)."}, []string{"kind"})
	m.batchSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "prism_archive_batch_seconds",
		Help: "Latency of one archive transaction.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16)})
	m.delay = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "prism_archive_delay_seconds",
		Help:    "For each archive transaction, how long after its oldest change was committed it was archived: the lag as the changes saw it.",
		Buckets: prometheus.ExponentialBuckets(0.005, 1.5, 22)})
	return m
}

// Register exposes the series on reg.
func (m *Metrics) Register(reg prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{m.lagRevisions, m.lagSeconds, m.lastSuccess, m.revisions, m.batches, m.checkpoints, m.batchSeconds, m.delay} {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

// bind makes f the gauges' source of the lag.
func (m *Metrics) bind(f func() (int64, float64)) {
	if m != nil {
		m.lag.Store(&f)
	}
}

// batch records one transaction; oldest is the commit time of its first
// change (UnixNano, 0: unknown).
func (m *Metrics) batch(outcome string, n int, d time.Duration, at time.Time, oldest int64) {
	if m == nil {
		return
	}
	m.batches.WithLabelValues(outcome).Inc()
	if outcome == "ok" {
		m.revisions.Add(float64(n))
		m.batchSeconds.Observe(d.Seconds())
		m.lastSuccess.Set(float64(at.UnixNano()) / 1e9)
		if oldest > 0 {
			m.delay.Observe(max(at.Sub(time.Unix(0, oldest)).Seconds(), 0))
		}
	}
}

func (m *Metrics) checkpoint(kind string) {
	if m != nil {
		m.checkpoints.WithLabelValues(kind).Inc()
	}
}
