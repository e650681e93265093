package notifier

import "github.com/prometheus/client_golang/prometheus"

// metrics are the Notifier's Prometheus metrics.
type metrics struct {
	sent    *prometheus.CounterVec
	queued  *prometheus.GaugeVec
	dropped *prometheus.CounterVec
	active  *prometheus.GaugeVec
	up      *prometheus.GaugeVec
}

func newMetrics() *metrics {
	return &metrics{
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "warren_alerts_sent_total",
			Help: "Alerts sent to an Alertmanager, by result; an alert in a failed request counts once per attempt.",
		}, []string{"alertmanager", "result"}),
		queued: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "warren_alerts_queued",
			Help: "Alerts awaiting delivery to an Alertmanager.",
		}, []string{"alertmanager"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "warren_alerts_dropped_total",
			Help: "Alerts an Alertmanager will never receive: dropped, oldest first, from its full delivery queue, or rejected by it as invalid.",
		}, []string{"alertmanager"}),
		active: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "warren_alerts_active",
			Help: "Alerts firing now, by alertname and severity.",
		}, []string{"alertname", "severity"}),
		up: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "warren_alertmanager_up",
			Help: "1 if the last request to the Alertmanager succeeded (a delivery, or the empty one sent after a resend interval with nothing to deliver), else 0.",
		}, []string{"alertmanager"}),
	}
}

// initAlertmanager creates am's series at zero, so they exist before the
// first delivery (warren_alertmanager_up appears with the first request).
func (m *metrics) initAlertmanager(am string) {
	m.sent.WithLabelValues(am, "success")
	m.sent.WithLabelValues(am, "error")
	m.queued.WithLabelValues(am)
	m.dropped.WithLabelValues(am)
}

// Collectors returns its Prometheus metrics (the lead registers them).
func (n *Notifier) Collectors() []prometheus.Collector {
	m := n.metrics
	return []prometheus.Collector{m.sent, m.queued, m.dropped, m.active, m.up}
}
