package outbox

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/warrenhq/warren/internal/exposition"
)

// Metrics exports every outbox's latest sample, its counters summed over
// the samples since warren started, and the poll health. One Metrics
// serves every outbox; it is safe for concurrent use.
type Metrics struct {
	mu      sync.Mutex
	outbox  map[string]*outboxSeries
	errors  *prometheus.CounterVec
	up      *prometheus.GaugeVec
	latency *prometheus.GaugeVec
}

// outboxSeries is one outbox's state of the exported series.
type outboxSeries struct {
	last   *Sample
	status Status
	// seen are the event types of every sample so far: a type without
	// pending rows exports 0 rather than vanishing.
	seen  map[string]bool
	types map[string]*typeCounters
}

// typeCounters are the cumulative values of one event type.
type typeCounters struct {
	buckets         []float64
	count, sum      float64
	late            float64
	within, total   []float64
	thresholdLabels []string
}

var (
	pendingDesc = prometheus.NewDesc("warren_outbox_pending",
		"Rows of the outbox not dispatched yet, at the latest successful poll.", []string{"outbox", "event_type"}, nil)
	oldestDesc = prometheus.NewDesc("warren_outbox_oldest_pending_age_seconds",
		"Age of the oldest pending row of the outbox by the database's clock, at the latest successful poll; 0 when none is pending.", []string{"outbox", "event_type"}, nil)
	latencyDesc = prometheus.NewDesc("warren_outbox_dispatch_latency_seconds",
		"Dispatch latency (dispatched_at − created_at) of the rows dispatched, counted in SQL at each poll.", []string{"outbox", "event_type"}, nil)
	withinDesc = prometheus.NewDesc("warren_outbox_dispatched_within_total",
		"Rows dispatched within the threshold of being written (good events).", []string{"outbox", "event_type", "threshold"}, nil)
	totalDesc = prometheus.NewDesc("warren_outbox_dispatched_total",
		"Events counted against the threshold: rows dispatched, plus rows counted bad the moment they stayed pending past the threshold (each row once).", []string{"outbox", "event_type", "threshold"}, nil)
	lateCommitsDesc = prometheus.NewDesc("warren_outbox_late_commits_total",
		"Rows of warren_outbox_dispatch_latency_seconds found only by counting an earlier poll's window again: their dispatch committed more than commit_delay after its dispatched_at stamp.", []string{"outbox", "event_type"}, nil)
	lastSuccessDesc = prometheus.NewDesc("warren_outbox_last_success_timestamp_seconds",
		"When the outbox was last polled successfully (Unix time).", []string{"outbox"}, nil)
)

// NewMetrics returns the outbox metrics; register Metrics itself.
func NewMetrics() *Metrics {
	return &Metrics{
		outbox: map[string]*outboxSeries{},
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "warren_outbox_poll_errors_total",
			Help: "Failed polls of an outbox's database, by reason: dsn, connect, auth, timeout, missing_table, missing_column, column_type, permission, query.",
		}, []string{"outbox", "reason"}),
		up: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "warren_outbox_up",
			Help: "1 if the latest poll of the outbox's database succeeded, 0 if it failed (see warren_outbox_poll_errors_total for why).",
		}, []string{"outbox"}),
		latency: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "warren_outbox_poll_duration_seconds",
			Help: "Duration of the latest poll of the outbox (connection and query).",
		}, []string{"outbox"}),
	}
}

// Register creates an outbox's series before its first poll, so that its
// error counters exist at zero.
func (m *Metrics) Register(name string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.outbox[name] == nil {
		m.outbox[name] = &outboxSeries{seen: map[string]bool{}, types: map[string]*typeCounters{}}
	}
	for _, r := range Reasons {
		m.errors.WithLabelValues(name, string(r))
	}
	m.up.WithLabelValues(name)
}

// Forget deletes an outbox's series (it is no longer configured).
func (m *Metrics) Forget(name string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.outbox, name)
	m.errors.DeletePartialMatch(prometheus.Labels{"outbox": name})
	m.up.DeleteLabelValues(name)
	m.latency.DeleteLabelValues(name)
}

// Observe records a successful poll.
func (m *Metrics) Observe(s *Sample, took time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	o := m.outbox[s.Outbox]
	if o == nil {
		o = &outboxSeries{seen: map[string]bool{}, types: map[string]*typeCounters{}}
		m.outbox[s.Outbox] = o
	}
	o.last = s
	o.status.observe(s)
	for i := range s.Types {
		o.seen[s.Types[i].EventType] = true
	}
	m.up.WithLabelValues(s.Outbox).Set(1)
	m.latency.WithLabelValues(s.Outbox).Set(took.Seconds())
	if !s.HasLatency {
		return
	}
	for i := range s.Types {
		t := &s.Types[i]
		c := o.types[t.EventType]
		if c == nil {
			c = newTypeCounters(s)
			o.types[t.EventType] = c
		}
		c.add(s, t)
	}
}

func newTypeCounters(s *Sample) *typeCounters {
	c := &typeCounters{buckets: make([]float64, len(s.Buckets)), within: make([]float64, len(s.Thresholds)), total: make([]float64, len(s.Thresholds))}
	for _, th := range s.Thresholds {
		c.thresholdLabels = append(c.thresholdLabels, exposition.FormatThreshold(th))
	}
	return c
}

func (c *typeCounters) add(s *Sample, t *TypeSample) {
	if len(c.buckets) != len(t.BucketCounts) || len(c.within) != len(t.Within) {
		*c = *newTypeCounters(s) // the configuration changed: start again
	}
	c.count += t.Dispatched
	c.sum += t.LatencySum
	c.late += t.LateCommits
	for i, v := range t.BucketCounts {
		c.buckets[i] += v
	}
	for i := range t.Within {
		c.within[i] += t.Within[i]
		c.total[i] += t.Total(i)
	}
}

// Failed records a failed poll.
func (m *Metrics) Failed(name string, reason Reason, took time.Duration) {
	m.mu.Lock()
	o := m.outbox[name]
	if o == nil {
		o = &outboxSeries{seen: map[string]bool{}, types: map[string]*typeCounters{}}
		m.outbox[name] = o
	}
	o.status.Name, o.status.Attempted, o.status.Up, o.status.Reason = name, true, false, reason
	m.mu.Unlock()
	m.errors.WithLabelValues(name, string(reason)).Inc()
	m.up.WithLabelValues(name).Set(0)
	m.latency.WithLabelValues(name).Set(took.Seconds())
}

// Describe sends nothing: the series change with the samples (an
// unchecked collector).
func (m *Metrics) Describe(chan<- *prometheus.Desc) {}

// Collect sends the latest sample's gauges, the cumulative counters and
// the poll health.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	m.errors.Collect(ch)
	m.up.Collect(ch)
	m.latency.Collect(ch)
	m.mu.Lock()
	defer m.mu.Unlock()
	for name, o := range m.outbox {
		if o.last == nil {
			continue
		}
		ch <- prometheus.MustNewConstMetric(lastSuccessDesc, prometheus.GaugeValue, float64(o.last.Time.UnixNano())/1e9, name)
		current := map[string]*TypeSample{}
		for i := range o.last.Types {
			current[o.last.Types[i].EventType] = &o.last.Types[i]
		}
		for eventType := range o.seen {
			var pending, oldest float64
			if t := current[eventType]; t != nil {
				pending, oldest = t.Pending, t.OldestAge
			}
			ch <- prometheus.MustNewConstMetric(pendingDesc, prometheus.GaugeValue, pending, name, eventType)
			ch <- prometheus.MustNewConstMetric(oldestDesc, prometheus.GaugeValue, oldest, name, eventType)
		}
		for eventType, c := range o.types {
			c.collect(ch, o.last.Buckets, name, eventType)
		}
	}
}

func (c *typeCounters) collect(ch chan<- prometheus.Metric, bounds []float64, name, eventType string) {
	buckets := make(map[float64]uint64, len(bounds))
	for i, ub := range bounds {
		if i < len(c.buckets) {
			buckets[ub] = uint64(c.buckets[i])
		}
	}
	ch <- prometheus.MustNewConstHistogram(latencyDesc, uint64(c.count), c.sum, buckets, name, eventType)
	ch <- prometheus.MustNewConstMetric(lateCommitsDesc, prometheus.CounterValue, c.late, name, eventType)
	for i, th := range c.thresholdLabels {
		ch <- prometheus.MustNewConstMetric(withinDesc, prometheus.CounterValue, c.within[i], name, eventType, th)
		ch <- prometheus.MustNewConstMetric(totalDesc, prometheus.CounterValue, c.total[i], name, eventType, th)
	}
}

// Status is what the health alerts read of an outbox: whether its latest
// poll succeeded, and its latest pending rows.
type Status struct {
	Name      string
	Attempted bool // a poll ran
	Up        bool // the latest poll succeeded
	Reason    Reason
	// Pending and OldestAge are of the latest successful poll, over all
	// event types.
	Pending, OldestAge float64
	// HasLatency is false for a status-only outbox, which knows nothing
	// of dispatches.
	HasLatency bool
	// Watching is the time of the latest poll that followed no
	// successful one: the first after warren started or after a failed
	// poll, from which a dispatcher is given time to show a dispatch;
	// LastDispatch that of the latest poll that counted a dispatched row
	// (zero before any).
	Watching, LastDispatch time.Time
}

func (st *Status) observe(s *Sample) {
	if s.Baseline || !st.Up {
		st.Watching = s.Time
	}
	st.Name, st.Attempted, st.Up, st.Reason, st.HasLatency = s.Outbox, true, true, "", s.HasLatency
	st.Pending, st.OldestAge = 0, 0
	for _, t := range s.Types {
		st.Pending += t.Pending
		st.OldestAge = max(st.OldestAge, t.OldestAge)
		if t.Dispatched > 0 {
			st.LastDispatch = s.Time
		}
	}
}

// Statuses returns the status of every outbox polled at least once.
func (m *Metrics) Statuses() []Status {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Status
	for _, o := range m.outbox {
		if o.status.Attempted {
			out = append(out, o.status)
		}
	}
	return out
}
