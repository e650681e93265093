package promplugin

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"unique"

	dto "github.com/prometheus/client_model/go"

	"github.com/warrenhq/warren/snapshot"
)

// nodeScrape is what one node's plugin reported in one poll: its node,
// file descriptors and per-queue gauges. Its counter series went to the
// cumulative counters as they were decoded.
type nodeScrape struct {
	endpoint string
	node     string // rabbitmq_identity_info's rabbitmq_node
	fdUsed   float64
	fdLimit  float64
	queues   map[snapshot.QueueKey]*queueValues
	seen     map[string]bool // the metrics whose family header came
}

// queueValues are one queue's gauges; has says which the plugin gave (a
// head timestamp is NaN or absent for an empty queue and for queues that
// have none).
type queueValues struct {
	values [queueGauges]float64
	has    [queueGauges]bool
}

// scrapeDecoder turns one response into a nodeScrape.
type scrapeDecoder struct {
	scrape   *nodeScrape
	watch    func(vhost, queue string) bool
	counters *cumulative
}

// decodeScrape reads one response of endpoint: the gauges of the queues
// watch accepts (vhost and queue; queue "" for a vhost's counters) into
// the result, its counters into counters.
func decodeScrape(r io.Reader, endpoint string, watch func(vhost, queue string) bool, counters *cumulative) (*nodeScrape, error) {
	d := scrapeDecoder{
		scrape:   &nodeScrape{endpoint: endpoint, queues: map[snapshot.QueueKey]*queueValues{}, seen: map[string]bool{}},
		watch:    watch,
		counters: counters,
	}
	if err := decodeFamilies(r, d.family); err != nil {
		return nil, err
	}
	return d.scrape, nil
}

func (d *scrapeDecoder) family(f *dto.MetricFamily) error {
	name := f.GetName()
	d.scrape.seen[name] = true
	switch name {
	case identityMetric:
		for _, m := range f.Metric {
			d.scrape.node = label(m, "rabbitmq_node")
		}
		return nil
	case metricOpenFDs, metricMaxFDs:
		for _, m := range f.Metric {
			if name == metricOpenFDs {
				d.scrape.fdUsed = value(m)
			} else {
				d.scrape.fdLimit = value(m)
			}
		}
		return nil
	}
	spec, ok := metrics[name]
	if !ok {
		return nil // a family warren does not read, such as the plugin's own telemetry
	}
	for _, m := range f.Metric {
		if err := d.sample(spec, m); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	return nil
}

func (d *scrapeDecoder) sample(spec metric, m *dto.Metric) error {
	vhost := label(m, spec.vhostLabel)
	queue := ""
	if spec.queueLabel != "" {
		if queue = label(m, spec.queueLabel); queue == "" {
			return fmt.Errorf("a sample without a %s label", spec.queueLabel)
		}
	}
	if !d.watch(vhost, queue) {
		return nil
	}
	v := value(m)
	if spec.isCounter {
		d.counters.add(seriesKey{
			endpoint: d.scrape.endpoint, channel: intern(label(m, "channel")),
			vhost: intern(vhost), queue: intern(queue), exchange: intern(label(m, "exchange")),
			kind: spec.counter,
		}, v)
		return nil
	}
	key := snapshot.QueueKey{Vhost: vhost, Name: queue}
	q := d.scrape.queues[key]
	if q == nil {
		q = &queueValues{}
		d.scrape.queues[key] = q
	}
	if !math.IsNaN(v) {
		q.values[spec.gauge], q.has[spec.gauge] = v, true
	}
	return nil
}

// missing returns the metrics of want whose family header the response
// lacked.
func (s *nodeScrape) missing(want []string) []string {
	var out []string
	for _, name := range want {
		if !s.seen[name] {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// checkComplete fails a response that lacks a metric warren asked for.
func (s *nodeScrape) checkComplete(want []string) error {
	if m := s.missing(want); len(m) > 0 {
		return fmt.Errorf("the response has no %s: is this the rabbitmq_prometheus plugin's /metrics/detailed?", strings.Join(m, ", "))
	}
	if s.node == "" {
		return fmt.Errorf("the response's %s names no rabbitmq_node", identityMetric)
	}
	return nil
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.Label {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

func value(m *dto.Metric) float64 {
	switch {
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Untyped != nil:
		return m.Untyped.GetValue()
	}
	return math.NaN()
}

// intern returns the canonical copy of s: the counter series keep the
// same channel, vhost, queue and exchange names poll after poll.
func intern(s string) string { return unique.Make(s).Value() }
