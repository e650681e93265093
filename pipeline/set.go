package pipeline

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/warrenhq/warren/collector"
	"github.com/warrenhq/warren/internal/config"
	"github.com/warrenhq/warren/internal/exposition"
)

// Set holds the pipelines of the targets in force, in configuration
// order; a reload replaces them. As a prometheus.Collector it renders
// every target's health, snapshot, node and audit metrics, and the polls' own
// instruments, from the published states; the per-queue series each
// pipeline encodes once per poll (Sources). A scrape reads states only: it
// never waits for, or causes, a call to the broker.
type Set struct {
	metrics *collector.Metrics

	mu        sync.RWMutex
	pipelines []*Pipeline
	sources   []exposition.Producer
}

// NewSet returns an empty set whose pipelines share metrics.
func NewSet(metrics *collector.Metrics) *Set { return &Set{metrics: metrics} }

// Metrics are the polls' instruments the pipelines share.
func (s *Set) Metrics() *collector.Metrics { return s.metrics }

// Replace makes pipelines the ones in force.
func (s *Set) Replace(pipelines []*Pipeline) {
	sources := make([]exposition.Producer, len(pipelines))
	for i, p := range pipelines {
		sources[i] = p
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pipelines, s.sources = pipelines, sources
}

// Pipelines returns the pipelines in force, in configuration order.
func (s *Set) Pipelines() []*Pipeline {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.pipelines
}

// States returns every target's latest state, in configuration order.
func (s *Set) States() []*TargetState {
	ps := s.Pipelines()
	out := make([]*TargetState, len(ps))
	for i, p := range ps {
		out[i] = p.State()
	}
	return out
}

// Sources returns the pipelines as producers of pre-encoded per-queue
// series, for exposition.NewHandler.
func (s *Set) Sources() []exposition.Producer {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.sources
}

// ReconfigureAudit puts a new audit configuration in force in every
// pipeline.
func (s *Set) ReconfigureAudit(cfg config.Audit) {
	for _, p := range s.Pipelines() {
		p.ReconfigureAudit(cfg)
	}
}

// Ready reports whether every target has finished a poll, with a snapshot
// or with the reason it has none.
func (s *Set) Ready() bool {
	for _, st := range s.States() {
		if !st.Health.Attempted {
			return false
		}
	}
	return true
}

// Describe sends no descriptors: the series depend on what the brokers
// hold, which makes this an unchecked collector.
func (s *Set) Describe(chan<- *prometheus.Desc) {}

// Collect renders the latest health, poll and node metrics of every
// target.
func (s *Set) Collect(ch chan<- prometheus.Metric) {
	for _, c := range s.metrics.Collectors() {
		c.Collect(ch)
	}
	for _, p := range s.Pipelines() {
		st := p.State()
		collectTarget(ch, st.Cluster, st.Health, st.Snapshot)
		collectSource(ch, p.target, st.Snapshot)
		if st.Snapshot != nil {
			collectNodes(ch, st)
		}
		collectAudit(ch, st.Cluster, st.Audit)
	}
}
