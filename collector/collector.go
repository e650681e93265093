package collector

import (
	"context"
	"log/slog"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/warrenhq/warren/internal/config"
	"github.com/warrenhq/warren/internal/exposition"
)

// Collector runs one Poller per target. As a prometheus.Collector it
// renders the targets' health, poll and node metrics; the per-queue series,
// which are most of /metrics on a big cluster, each Poller encodes once per
// poll (Sources). A scrape reads snapshots only: it never waits for, or
// causes, a call to the broker.
type Collector struct {
	pollers []*Poller
	metrics *pollMetrics
}

// New builds the pollers for every target of cfg.
func New(cfg *config.Config, logger *slog.Logger) (*Collector, error) {
	c := &Collector{metrics: newPollMetrics()}
	for _, t := range cfg.Targets {
		p, err := NewPoller(t, logger, c.metrics)
		if err != nil {
			return nil, err
		}
		c.metrics.initialise(t.Name, t.PollInterval.Std().Seconds())
		c.pollers = append(c.pollers, p)
	}
	return c, nil
}

// Pollers returns the pollers, one per target, in configuration order.
func (c *Collector) Pollers() []*Poller { return c.pollers }

// Run polls every target until ctx is done, and returns once every poller
// has stopped.
func (c *Collector) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, p := range c.pollers {
		wg.Go(func() { p.Run(ctx) })
	}
	wg.Wait()
}

// Ready reports whether every target has finished a poll, with a snapshot
// or with the reason it has none.
func (c *Collector) Ready() bool {
	for _, p := range c.pollers {
		if !p.Health().Attempted {
			return false
		}
	}
	return true
}

// Describe sends no descriptors: the series depend on what the brokers
// hold, which makes this an unchecked collector.
func (c *Collector) Describe(chan<- *prometheus.Desc) {}

// Collect renders the latest health, poll and node metrics of every
// target.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	c.metrics.duration.Collect(ch)
	c.metrics.errors.Collect(ch)
	c.metrics.interval.Collect(ch)
	c.metrics.responseBytes.Collect(ch)
	for _, p := range c.pollers {
		h, snap := p.Health(), p.Snapshot()
		collectTarget(ch, p.Name(), h, snap)
		if snap == nil {
			continue
		}
		collectNodes(ch, snap)
	}
}

// Sources returns the pollers as producers of pre-encoded per-queue
// series, for exposition.NewHandler.
func (c *Collector) Sources() []exposition.Source {
	sources := make([]exposition.Source, len(c.pollers))
	for i, p := range c.pollers {
		sources[i] = p
	}
	return sources
}
