package agent

import (
	"fmt"
	"reflect"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// reloadMetrics say how the latest configuration reload went, as
// Prometheus's do.
type reloadMetrics struct {
	successful prometheus.Gauge
	lastOK     prometheus.Gauge
}

func newReloadMetrics() *reloadMetrics {
	return &reloadMetrics{
		successful: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "warren_config_last_reload_successful",
			Help: "1 if the latest configuration reload (or the load at start) succeeded, 0 if it was rejected and the previous configuration is still in force.",
		}),
		lastOK: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "warren_config_last_reload_success_timestamp_seconds",
			Help: "Unix time of the latest successful configuration load or reload.",
		}),
	}
}

func (m *reloadMetrics) succeeded(at time.Time) {
	m.successful.Set(1)
	m.lastOK.Set(float64(at.UnixNano()) / 1e9)
}

func (m *reloadMetrics) Describe(ch chan<- *prometheus.Desc) {
	m.successful.Describe(ch)
	m.lastOK.Describe(ch)
}

func (m *reloadMetrics) Collect(ch chan<- prometheus.Metric) {
	m.successful.Collect(ch)
	m.lastOK.Collect(ch)
}

// Reload reads the configuration again and puts it in force. A
// configuration that does not load, or whose targets or alerting cannot
// be set up, is rejected: the error is logged and returned, and the
// configuration in force keeps running. Reloads are serialised.
func (a *Agent) Reload() error {
	err := a.reload()
	if err != nil {
		a.reloads.successful.Set(0)
		a.logger.Error("configuration reload rejected: the previous configuration stays in force", "err", err)
		return err
	}
	a.reloads.succeeded(time.Now())
	return nil
}

func (a *Agent) reload() error {
	if a.opts.Load == nil {
		return fmt.Errorf("this agent has no configuration file to reload")
	}
	cfg, err := a.opts.Load()
	if err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.stopping {
		return fmt.Errorf("shutting down")
	}
	old := a.cfg
	var d *delivery
	alertingChanged := !reflect.DeepEqual(old.Alerting.Alertmanagers, cfg.Alerting.Alertmanagers) ||
		old.Alerting.EvaluationInterval != cfg.Alerting.EvaluationInterval || old.Alerting.ResendInterval != cfg.Alerting.ResendInterval
	if alertingChanged {
		if d, err = newDelivery(cfg.Alerting, a.logger); err != nil {
			return err
		}
	}
	// From here on nothing fails but the targets' and the engine's set-up,
	// which leave everything as it was.
	plan, err := a.planTargets(cfg)
	if err != nil {
		return err
	}
	// The engine rejects objectives it cannot evaluate, changing nothing;
	// it keeps the budgets of SLOs that stay.
	rep, err := a.engine.Reconfigure(cfg.Objectives()...)
	if err != nil {
		plan.discard()
		return err
	}
	a.commitTargets(plan)
	a.set.ReconfigureAudit(cfg.Audit)
	a.feeder.Reconfigure(cfg)
	if a.ctx != nil {
		a.reconcileOutboxes(cfg)
	}
	a.eval.Reconfigure(cfg)
	a.state.enable(len(cfg.SLOs) > 0)
	if alertingChanged {
		a.stopDelivery(a.delivery)
		a.delivery = d
		if a.ctx != nil {
			a.startDelivery(d)
			if old.Alerting.EvaluationInterval != cfg.Alerting.EvaluationInterval {
				a.startEvaluation(cfg.Alerting.EvaluationInterval.Std())
			}
		}
	}
	a.cfg = cfg
	a.logger.Info("configuration reloaded", "targets", len(cfg.Targets), "outboxes", len(cfg.Outboxes), "slos", len(cfg.SLOs),
		"slos_kept", rep.Restored, "slos_rebucketed", rep.Rebucketed, "slos_new", rep.Fresh, "slos_dropped", rep.Dropped)
	return nil
}
