package controller

import (
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/prism/controlplane/fsm/fsmpb"
	"github.com/prism/controlplane/provision"
)

// Metrics are the lifecycle controller's Prometheus series. A nil
// *Metrics records nothing.
type Metrics struct {
	ops       *prometheus.CounterVec
	latency   *prometheus.HistogramVec
	byStatus  *prometheus.GaugeVec
	resources *prometheus.GaugeVec
}

// NewMetrics returns the controller's series; Register exposes them.
func NewMetrics() *Metrics {
	m := &Metrics{
		ops: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "prism_provision_operations_total",
			Help: "Backend calls of the lifecycle controller, by backend, step (observe, ensure, delete, release) and outcome (ok or the kind of failure).",
		}, []string{"backend", "step", "outcome"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "prism_provision_operation_seconds",
			Help:    "Latency of the lifecycle controller's backend calls.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
		}, []string{"backend", "step"}),
		byStatus: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "prism_namespaces",
			Help: "Namespaces by status, as the leader's lifecycle controller last counted them (0 on followers).",
		}, []string{"status"}),
		resources: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "prism_resources",
			Help: "Backend resources by state (missing = drift), as the leader last counted them.",
		}, []string{"state"}),
	}
	return m
}

// Register exposes the series on reg.
func (m *Metrics) Register(reg prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{m.ops, m.latency, m.byStatus, m.resources} {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

func (m *Metrics) operation(backend, step string, err error, d time.Duration) {
	if m == nil {
		return
	}
	outcome := "ok"
	if err != nil {
		outcome = provision.Kind(err)
	}
	m.ops.WithLabelValues(backend, step, outcome).Inc()
	m.latency.WithLabelValues(backend, step).Observe(d.Seconds())
}

func (m *Metrics) namespaces(counts []int) {
	if m == nil {
		return
	}
	for st, n := range counts {
		if st == 0 {
			continue
		}
		m.byStatus.WithLabelValues(strings.ToLower(strings.TrimPrefix(fsmpb.NamespaceStatus(st).String(), "NAMESPACE_STATUS_"))).Set(float64(n))
	}
}

func (m *Metrics) resourceStates(counts map[fsmpb.ResourceState]int) {
	if m == nil {
		return
	}
	for st := range fsmpb.ResourceState_name {
		if st == 0 {
			continue
		}
		s := fsmpb.ResourceState(st)
		m.resources.WithLabelValues(strings.ToLower(strings.TrimPrefix(s.String(), "RESOURCE_STATE_"))).Set(float64(counts[s]))
	}
}
