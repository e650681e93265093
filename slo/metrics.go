package slo

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

var (
	objectiveDesc = prometheus.NewDesc("warren_slo_objective_ratio",
		"The SLO's objective: the share of events that must be good over its window (0.95 = 95%).",
		[]string{"slo"}, nil)
	sliDesc = prometheus.NewDesc("warren_slo_sli_ratio",
		"Share of good events over the window: 5m … 3d are the SRE Workbook windows for a 30-day SLO, scaled to the SLO's window; slo is the whole SLO window. Absent while the window holds no event.",
		[]string{"slo", "window"}, nil)
	budgetDesc = prometheus.NewDesc("warren_slo_error_budget_remaining_ratio",
		"Share of the error budget left over the SLO window: 1 untouched, 0 spent, negative overspent.",
		[]string{"slo"}, nil)
	burnDesc = prometheus.NewDesc("warren_slo_burn_rate",
		"Error ratio over the window divided by the error budget ratio (1 − objective): 1 spends the budget exactly in one SLO window; 0 without events.",
		[]string{"slo", "window"}, nil)
	alertActiveDesc = prometheus.NewDesc("warren_slo_alert_active",
		"1 while the SLO's multiwindow burn-rate alert of the severity fires.",
		[]string{"slo", "severity"}, nil)
)

// Collector renders the engine's SLOs as Prometheus metrics, evaluated at
// scrape time (a few thousand additions per SLO).
type Collector struct {
	engine *Engine
	now    func() time.Time
}

// NewCollector returns a collector over e's SLOs.
func NewCollector(e *Engine) *Collector { return &Collector{engine: e, now: time.Now} }

// Describe sends every descriptor.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{objectiveDesc, sliDesc, budgetDesc, burnDesc, alertActiveDesc} {
		ch <- d
	}
}

// Collect renders every SLO as of now.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	now := c.now()
	for _, s := range c.engine.SLOs() {
		name := s.Name()
		ev := s.Evaluate(now)
		ch <- prometheus.MustNewConstMetric(objectiveDesc, prometheus.GaugeValue, s.Objective().Target, name)
		ch <- prometheus.MustNewConstMetric(budgetDesc, prometheus.GaugeValue, ev.Budget.Remaining, name)
		for _, w := range s.Windows(now) {
			if ratio, ok := w.SLI(); ok {
				ch <- prometheus.MustNewConstMetric(sliDesc, prometheus.GaugeValue, ratio, name, w.Label)
			}
			ch <- prometheus.MustNewConstMetric(burnDesc, prometheus.GaugeValue, w.Burn, name, w.Label)
		}
		for _, tier := range []TierStatus{ev.Page, ev.Ticket} {
			active := 0.0
			if tier.Active {
				active = 1
			}
			ch <- prometheus.MustNewConstMetric(alertActiveDesc, prometheus.GaugeValue, active, name, tier.Severity.String())
		}
	}
}
