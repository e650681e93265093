package pipeline

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"

	"github.com/warrenhq/warren/analysis/timeinqueue"
	"github.com/warrenhq/warren/collector"
	"github.com/warrenhq/warren/internal/config"
	"github.com/warrenhq/warren/internal/exposition"
	"github.com/warrenhq/warren/internal/testenv/expositiontest"
	"github.com/warrenhq/warren/snapshot"
)

// referenceCollector is how the estimates were rendered before they were
// pre-encoded: const metrics through client_golang. It stays here as the
// specification the encoded bytes must match.
type referenceCollector struct {
	cluster     string
	estimates   []timeinqueue.QueueEstimate
	estimateAll bool
}

func (referenceCollector) Describe(chan<- *prometheus.Desc) {}

func (r referenceCollector) Collect(ch chan<- prometheus.Metric) {
	desc := func(f *exposition.Family, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(f.Name, f.Help, append([]string{"cluster", "vhost", "queue"}, labels...), nil)
	}
	oldest, hist := desc(oldestMessageAgeFamily, "source"), desc(timeInQueueFamily)
	within, total := desc(processedWithinFamily, "threshold"), desc(processedFamily, "threshold")
	for _, q := range r.estimates {
		labels := []string{r.cluster, q.Vhost, q.Name}
		if !q.HasHeadTimestamp || r.estimateAll {
			ch <- prometheus.MustNewConstMetric(oldest, prometheus.GaugeValue, q.OldestAge.Seconds(), append(labels, "estimate")...)
		}
		buckets := map[float64]uint64{}
		running := 0.0
		for i, b := range q.Buckets {
			running += q.BucketCounts[i]
			buckets[b] = uint64(running + 0.5)
		}
		ch <- prometheus.MustNewConstHistogram(hist, uint64(q.Count+0.5), q.Sum, buckets, labels...)
		for i, th := range q.Thresholds {
			l := append(labels[:3:3], exposition.FormatThreshold(th))
			ch <- prometheus.MustNewConstMetric(within, prometheus.CounterValue, q.Within[i], l...)
			ch <- prometheus.MustNewConstMetric(total, prometheus.CounterValue, q.Total[i], l...)
		}
	}
}

// observedEstimator has seen three polls of queues that drain, back up,
// sit empty, carry a head timestamp, and have names that need escaping.
func observedEstimator(t *testing.T) *timeinqueue.Estimator {
	t.Helper()
	e := timeinqueue.New(timeinqueue.Config{Thresholds: []time.Duration{10 * time.Second, 90 * time.Second}, Buckets: []float64{1, 10, 60}})
	start := time.Unix(1_700_000_000, 0)
	type state struct {
		published uint64
		messages  int64
	}
	polls := []map[string]state{
		{"orders": {100, 40}, `quo"te\` + "\nq": {0, 0}, "stuck": {10, 10}, "stamped": {5, 5}},
		{"orders": {160, 30}, `quo"te\` + "\nq": {0, 0}, "stuck": {10, 10}, "stamped": {9, 2}},
		{"orders": {250, 70}, `quo"te\` + "\nq": {3, 0}, "stuck": {10, 10}, "stamped": {9, 0}},
	}
	for i, poll := range polls {
		now := start.Add(time.Duration(i) * 30 * time.Second)
		snap := &snapshot.Snapshot{Cluster: "eu", Time: now}
		for _, name := range []string{"orders", `quo"te\` + "\nq", "stuck", "stamped"} {
			s := poll[name]
			q := snapshot.Queue{Vhost: "/", Name: name, StatsKnown: true, Ready: s.messages,
				Counters: snapshot.Counters{Published: s.published}}
			if name == "stamped" {
				q.HeadTimestamp = now.Add(-20 * time.Second)
			}
			snap.Queues = append(snap.Queues, q)
		}
		e.Observe(snap)
	}
	return e
}

func TestEncodedEstimatesEqualTheConstMetricRender(t *testing.T) {
	e := observedEstimator(t)
	for _, estimateAll := range []bool{false, true} {
		t.Run(fmt.Sprintf("estimate_all=%v", estimateAll), func(t *testing.T) {
			reference := prometheus.NewRegistry()
			reference.MustRegister(referenceCollector{cluster: "eu", estimates: e.Estimates(), estimateAll: estimateAll})
			// Through client_golang's own handler, as /metrics served it.
			want := scrape(t, promhttp.HandlerFor(reference, promhttp.HandlerOpts{}))
			enc := newEncoder(config.Target{Profile: config.ProfileFull, Name: "eu", TimeInQueue: config.TimeInQueueConfig{EstimateAll: estimateAll}})
			s := fixedSource{enc.encode(estimatesOnly("eu", e.Estimates()), nil)}
			got := scrape(t, exposition.NewHandler(prometheus.NewRegistry(), exposition.Fixed(s), slog.New(slog.DiscardHandler)))
			if diff := expositiontest.Diff(want, got); diff != "" {
				t.Errorf("encoded estimates differ from the const-metric render:\n%s", diff)
			}
			gathered, err := reference.Gather()
			if err != nil {
				t.Fatal(err)
			}
			h := exposition.NewHandler(prometheus.NewRegistry(), exposition.Fixed(s), slog.New(slog.DiscardHandler))
			if diff := expositiontest.Diff(gathered, expositiontest.ParseProto(t, scrapeProto(t, h))); diff != "" {
				t.Errorf("encoded protobuf estimates differ from the const-metric render:\n%s", diff)
			}
		})
	}
}

func TestDroppedHistogramIsNotEncoded(t *testing.T) {
	e := observedEstimator(t)
	enc := newEncoder(config.Target{Profile: config.ProfileFull, Name: "eu"})
	enc.drop = func(name string) bool { return name == "warren_queue_time_in_queue_seconds" }
	s := fixedSource{enc.encode(estimatesOnly("eu", e.Estimates()), nil)}
	names := map[string]bool{}
	for _, mf := range scrape(t, exposition.NewHandler(prometheus.NewRegistry(), exposition.Fixed(s), slog.New(slog.DiscardHandler))) {
		names[mf.GetName()] = true
	}
	if names["warren_queue_time_in_queue_seconds"] || !names["warren_queue_processed_total"] {
		t.Errorf("families served: %v; want the histogram dropped and the counters kept", names)
	}
}

func scrape(t *testing.T, h http.Handler) []*dto.MetricFamily {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	return expositiontest.Parse(t, rec.Body.Bytes())
}

func TestDropMetricsNamesExactlyThePreEncodedFamilies(t *testing.T) {
	var encoded []string
	for _, f := range slices.Concat(QueueFamilies, TimeInQueueFamilies, QueueLossFamilies) {
		encoded = append(encoded, f.Name)
	}
	sort.Strings(encoded)
	known := append([]string(nil), config.PerQueueMetrics...)
	sort.Strings(known)
	if strings.Join(encoded, " ") != strings.Join(known, " ") {
		t.Errorf("config.PerQueueMetrics = %v\nbut the pre-encoded families are %v", known, encoded)
	}
}

// estimatesOnly is a state holding only time-in-queue estimates.
func estimatesOnly(cluster string, estimates []timeinqueue.QueueEstimate) *TargetState {
	return &TargetState{Cluster: cluster, Snapshot: &snapshot.Snapshot{Cluster: cluster}, Estimates: estimates}
}

func TestWithheldEstimatesHaveNoSeriesAndNoAge(t *testing.T) {
	for _, optIn := range []bool{false, true} {
		t.Run(fmt.Sprintf("estimate_non_fifo=%v", optIn), func(t *testing.T) {
			e := timeinqueue.New(timeinqueue.Config{Thresholds: []time.Duration{10 * time.Second}, EstimateNonFIFO: optIn})
			snap := &snapshot.Snapshot{Cluster: "eu", Time: time.Unix(1_700_000_000, 0), Queues: []snapshot.Queue{
				{Vhost: "/", Name: "fifo", StatsKnown: true, Ready: 5, Counters: snapshot.Counters{Published: 5}},
				{Vhost: "/", Name: "prio", StatsKnown: true, Ready: 5, Counters: snapshot.Counters{Published: 5}, MaxPriority: 10},
			}}
			e.Observe(snap)
			enc := newEncoder(config.Target{Profile: config.ProfileFull, Name: "eu"})
			s := fixedSource{enc.encode(estimatesOnly("eu", e.Estimates()), nil)}
			queues := map[string]int{}
			for _, mf := range scrape(t, exposition.NewHandler(prometheus.NewRegistry(), exposition.Fixed(s), slog.New(slog.DiscardHandler))) {
				for _, m := range mf.GetMetric() {
					for _, l := range m.GetLabel() {
						if l.GetName() == "queue" {
							queues[l.GetValue()]++
						}
					}
				}
			}
			if queues["fifo"] == 0 || (queues["prio"] == 0) == optIn {
				t.Errorf("series per queue %v: want the priority queue's %s", queues, map[bool]string{false: "absent", true: "present"}[optIn])
			}
			prio := &e.Estimates()[1]
			age := oldestAge(snap.Time, &snap.Queues[1], prio)
			if (age.Source == AgeEstimate) != optIn {
				t.Errorf("priority queue's oldest age source %q; want the estimate only when opted in", age.Source)
			}
		})
	}
}

func TestProcessingSeriesAreExportedForWorkQueuesWithTheirOwnConsumerTimeoutAndNotForStreams(t *testing.T) {
	target := testTarget("http://127.0.0.1:1")
	target.ConsumerTimeout = config.Duration(10 * time.Minute)
	p := NewWithSource(target, nil, Options{Metrics: collector.NewMetrics(), Logger: slog.New(slog.DiscardHandler)})
	for s := 0; s <= 30; s += 5 {
		// Ten acks a second, twenty deliveries always unacknowledged.
		delivered, acked := uint64(20+10*s), uint64(10*s)
		counters := snapshot.Counters{Published: delivered, Delivered: delivered, DeliveredManual: delivered, Acked: acked, Completed: acked}
		p.publish(&snapshot.Snapshot{Cluster: "t", Time: time.Unix(1_700_000_000+int64(s), 0), Queues: []snapshot.Queue{
			{Vhost: "/", Name: "jobs", Type: "classic", StatsKnown: true, Consumers: 1, Unacked: 20, Counters: counters},
			{Vhost: "/", Name: "reports", Type: "classic", StatsKnown: true, Consumers: 1, Unacked: 20, Counters: counters,
				ConsumerTimeout: time.Hour, HasConsumerTimeout: true},
			{Vhost: "/", Name: "events", Type: "stream", StatsKnown: true, Consumers: 1, Ready: 5000, Counters: counters},
		}}, collector.Health{Attempted: true, Up: true})
	}
	if qs := p.State().Queues[2]; qs.Processing != nil {
		t.Errorf("the stream has a processing estimate: a stream's deliveries are reads of its log")
	}
	s := fixedSource{p.Fragment()}
	families := scrape(t, exposition.NewHandler(prometheus.NewRegistry(), exposition.Fixed(s), slog.New(slog.DiscardHandler)))
	value := func(name, queue string) (float64, bool) {
		m, ok := expositiontest.Find(families, name, map[string]string{"queue": queue})
		if !ok {
			return 0, false
		}
		if h := m.GetHistogram(); h != nil {
			return h.GetSampleSum() / float64(h.GetSampleCount()), true
		}
		return m.GetGauge().GetValue(), true
	}
	if age, ok := value("warren_queue_oldest_unacked_age_seconds", "jobs"); !ok || age < 1.9 || age > 2.1 {
		t.Errorf("jobs: oldest unacked age %v (present %v), want about 2s (20 unacknowledged at 10 acks/s)", age, ok)
	}
	if mean, ok := value("warren_queue_processing_seconds", "jobs"); !ok || mean < 1.9 || mean > 2.1 {
		t.Errorf("jobs: mean processing time %v (present %v), want about 2s", mean, ok)
	}
	for queue, want := range map[string]float64{"jobs": 600, "reports": 3600} {
		if got, ok := value("warren_queue_consumer_timeout_seconds", queue); !ok || got != want {
			t.Errorf("%s: consumer timeout %v (present %v), want %v", queue, got, ok, want)
		}
	}
	for _, name := range []string{"warren_queue_oldest_unacked_age_seconds", "warren_queue_processing_seconds", "warren_queue_consumer_timeout_seconds"} {
		if _, ok := value(name, "events"); ok {
			t.Errorf("the stream has %s: a stream's deliveries are reads of its log", name)
		}
	}
}

func TestProcessingDisabledExportsNoProcessingSeries(t *testing.T) {
	target := testTarget("http://127.0.0.1:1")
	off := false
	target.Processing.Enabled = &off
	p := NewWithSource(target, nil, Options{Metrics: collector.NewMetrics(), Logger: slog.New(slog.DiscardHandler)})
	p.publish(&snapshot.Snapshot{Cluster: "t", Time: time.Unix(1_700_000_000, 0), Queues: []snapshot.Queue{
		{Vhost: "/", Name: "jobs", Type: "classic", StatsKnown: true, Consumers: 1, Unacked: 20,
			Counters: snapshot.Counters{Published: 20, Delivered: 20, DeliveredManual: 20}},
	}}, collector.Health{Attempted: true, Up: true})
	if st := p.State(); st.Processing != nil || st.Queues[0].Processing != nil {
		t.Fatalf("processing disabled, yet the state has a processing estimate")
	}
	families := scrape(t, exposition.NewHandler(prometheus.NewRegistry(), exposition.Fixed(fixedSource{p.Fragment()}), slog.New(slog.DiscardHandler)))
	for _, name := range []string{"warren_queue_oldest_unacked_age_seconds", "warren_queue_processing_seconds", "warren_queue_consumer_timeout_seconds"} {
		if _, ok := expositiontest.Find(families, name, map[string]string{"queue": "jobs"}); ok {
			t.Errorf("processing disabled, yet %s is exported", name)
		}
	}
}
