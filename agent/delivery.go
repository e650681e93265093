package agent

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/warrenhq/warren/alerting/notifier"
	"github.com/warrenhq/warren/internal/config"
)

// delivery is the notifier in force and what stops it.
type delivery struct {
	notifier *notifier.Notifier
	stop     context.CancelFunc
	done     chan struct{}
}

// newDelivery builds the Alertmanager notifier of a configuration, or
// nil when it names no Alertmanager.
func newDelivery(a config.Alerting, logger *slog.Logger) (*delivery, error) {
	if len(a.Alertmanagers) == 0 {
		return nil, nil
	}
	opts := notifier.Options{
		EvaluationInterval: a.EvaluationInterval.Std(),
		ResendInterval:     a.ResendInterval.Std(),
		Logger:             logger.With("component", "notifier"),
	}
	for _, am := range a.Alertmanagers {
		u, err := url.Parse(am.URL)
		if err != nil {
			return nil, fmt.Errorf("alertmanager URL: %w", err)
		}
		tlsConfig, err := am.TLS.Build()
		if err != nil {
			return nil, err
		}
		c := notifier.AlertmanagerConfig{URL: u, Username: am.Username, TLSConfig: tlsConfig, Timeout: am.Timeout.Std()}
		if am.Username != "" {
			c.Password = am.AlertmanagerPassword
		}
		opts.Alertmanagers = append(opts.Alertmanagers, c)
	}
	n, err := notifier.NewNotifier(opts)
	if err != nil {
		return nil, err
	}
	return &delivery{notifier: n}, nil
}

// startDelivery runs d under the agent's context. a.mu is held.
func (a *Agent) startDelivery(d *delivery) {
	if d == nil {
		return
	}
	ctx, cancel := context.WithCancel(a.ctx)
	d.stop, d.done = cancel, make(chan struct{})
	a.workers.Go(func() { defer close(d.done); d.notifier.Run(ctx) })
}

// stopDelivery stops d. Alerts still queued for its Alertmanagers are
// dropped; the next evaluation hands every firing alert to its successor.
// a.mu is held.
func (a *Agent) stopDelivery(d *delivery) {
	if d == nil || d.stop == nil {
		return
	}
	d.stop()
	<-d.done
}

// deliveryCollector collects the metrics of the notifier in force.
type deliveryCollector struct{ a *Agent }

// Describe sends no descriptors: the notifier changes with reloads.
func (deliveryCollector) Describe(chan<- *prometheus.Desc) {}

func (c deliveryCollector) Collect(ch chan<- prometheus.Metric) {
	c.a.mu.Lock()
	d := c.a.delivery
	c.a.mu.Unlock()
	if d == nil {
		return
	}
	for _, m := range d.notifier.Collectors() {
		m.Collect(ch)
	}
}
