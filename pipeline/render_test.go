package pipeline

import (
	"bufio"
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/warrenhq/warren/analysis/consumerstatus"
	"github.com/warrenhq/warren/analysis/deadletter"
	"github.com/warrenhq/warren/analysis/queuehistory"
	"github.com/warrenhq/warren/analysis/queuerole"
	"github.com/warrenhq/warren/internal/config"
	"github.com/warrenhq/warren/internal/exposition"
	"github.com/warrenhq/warren/internal/testenv/expositiontest"
	"github.com/warrenhq/warren/snapshot"
)

// referenceQueueCollector is how the per-queue series were rendered
// before they were pre-encoded: const metrics through client_golang. It
// stays here as the specification the encoded bytes must match.
type referenceQueueCollector struct{ states []*TargetState }

func (referenceQueueCollector) Describe(chan<- *prometheus.Desc) {}

func (r referenceQueueCollector) Collect(ch chan<- prometheus.Metric) {
	desc := func(f *exposition.Family, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(f.Name, f.Help, append([]string{"cluster", "vhost", "queue"}, labels...), nil)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	var (
		info        = desc(queueInfoFamily, "type", "node", "dead_letter_exchange", "role")
		messages    = desc(queueMessagesFamily, "state")
		consumers   = desc(queueConsumersFamily)
		capacity    = desc(queueCapacityFamily)
		oldest      = desc(oldestMessageAgeFamily, "source")
		published   = desc(queuePublishedFamily)
		delivered   = desc(queueDeliveredFamily)
		acked       = desc(queueAckedFamily)
		redelivered = desc(queueRedeliveredFamily)
		status      = desc(queueStatusFamily, "status")
		drain       = desc(drainFamily)
		route       = desc(deadLetterRouteFamily, "dead_letter_queue")
		retried     = desc(queueRetriedFamily)
		ttl         = desc(messageTTLFamily)
		members     = desc(quorumMembersFamily, "state")
		leader      = desc(quorumLeaderFamily, "node")
	)
	for _, st := range r.states {
		snap := st.Snapshot
		c := snap.Cluster
		for i := range snap.Queues {
			q := &snap.Queues[i]
			dlx := ""
			if q.HasDeadLetterExchange {
				dlx = q.DeadLetterExchange
			}
			gauge(info, 1, c, q.Vhost, q.Name, q.Type, q.Node, dlx, st.Queues[i].Role.Role.String())
			if q.HasMessageTTL {
				gauge(ttl, q.MessageTTL.Seconds(), c, q.Vhost, q.Name)
			}
			if q.HasReplicas {
				gauge(members, float64(len(q.Replicas.Online)), c, q.Vhost, q.Name, "online")
				gauge(members, float64(len(q.Replicas.Members)-len(q.Replicas.Online)), c, q.Vhost, q.Name, "offline")
				if q.Replicas.Leader != "" {
					gauge(leader, 1, c, q.Vhost, q.Name, q.Replicas.Leader)
				}
			}
			if !q.StatsKnown {
				continue
			}
			gauge(messages, float64(q.Ready), c, q.Vhost, q.Name, "ready")
			gauge(messages, float64(q.Unacked), c, q.Vhost, q.Name, "unacked")
			gauge(consumers, float64(q.Consumers), c, q.Vhost, q.Name)
			if q.HasConsumerCapacity {
				gauge(capacity, q.ConsumerCapacity, c, q.Vhost, q.Name)
			}
			if !q.HeadTimestamp.IsZero() {
				gauge(oldest, max(0, snap.Time.Sub(q.HeadTimestamp).Seconds()), c, q.Vhost, q.Name, "head_timestamp")
			}
			counter(published, float64(q.Counters.Published), c, q.Vhost, q.Name)
			counter(delivered, float64(q.Counters.Delivered), c, q.Vhost, q.Name)
			counter(acked, float64(q.Counters.Acked), c, q.Vhost, q.Name)
			counter(redelivered, float64(q.Counters.Redelivered), c, q.Vhost, q.Name)
			if slices.Contains(consumerstatus.All, st.Queues[i].Status) {
				gauge(status, 1, c, q.Vhost, q.Name, st.Queues[i].Status.String())
			}
			if st.Queues[i].HasDrain {
				gauge(drain, st.Queues[i].Drain, c, q.Vhost, q.Name)
			}
			if st.Queues[i].HasRetried {
				counter(retried, st.Queues[i].Retried, c, q.Vhost, q.Name)
			}
		}
		for _, r := range st.Routes {
			gauge(route, 1, c, r.Vhost, r.Queue, r.DeadLetterQueue)
		}
	}
}

// renderStates are the states of two targets with every kind of queue the
// renderer distinguishes, and names that need escaping.
func renderStates() []*TargetState {
	now := time.Unix(1_700_000_000, 0)
	queues := func(cluster string) []snapshot.Queue {
		return []snapshot.Queue{
			{Vhost: "/", Name: "orders", Type: "classic", Node: "rabbit@a", StatsKnown: true, Ready: 12, Unacked: 3, Consumers: 2,
				ConsumerCapacity: 0.75, HasConsumerCapacity: true, HeadTimestamp: now.Add(-90 * time.Second),
				Counters:           snapshot.Counters{Published: 1_234_567_890, Delivered: 1e6, Acked: 999_999, Redelivered: 7},
				DeadLetterExchange: "dlx", HasDeadLetterExchange: true},
			{Vhost: "/", Name: `quo"ted\back` + "\nslash", Type: "quorum", Node: "rabbit@b", StatsKnown: true,
				MessageTTL: 5 * time.Second, HasMessageTTL: true, HasReplicas: true,
				Replicas: snapshot.Replicas{Members: []string{"rabbit@a", "rabbit@b", "rabbit@c"}, Online: []string{"rabbit@a", "rabbit@b"}, Leader: "rabbit@b"}},
			{Vhost: "prod", Name: "new", Type: "classic", Node: "rabbit@a", StatsKnown: false},
			{Vhost: "prod", Name: "lost", Type: "quorum", StatsKnown: false, HasReplicas: true,
				Replicas: snapshot.Replicas{Members: []string{"rabbit@a", "rabbit@b", "rabbit@c"}, Online: []string{"rabbit@a"}}},
			{Vhost: "prod", Name: "empty-dlx", Type: "stream", Node: "rabbit@c", StatsKnown: true, Ready: 1,
				HasDeadLetterExchange: true},
		}
	}
	// The stream (last) has no consumer status.
	statuses := []consumerstatus.Status{consumerstatus.Lagging, consumerstatus.Idle, consumerstatus.Unknown, consumerstatus.Unknown, consumerstatus.Unknown}
	var states []*TargetState
	for _, cluster := range []string{"eu", "us"} {
		st := &TargetState{
			Cluster:  cluster,
			Snapshot: &snapshot.Snapshot{Cluster: cluster, Time: now, Queues: queues(cluster)},
			Routes:   []deadletter.Route{{Vhost: "/", Queue: "orders", DeadLetterQueue: "orders.dlq"}},
		}
		for _, s := range statuses {
			st.Queues = append(st.Queues, QueueState{Status: s})
		}
		st.Queues[0].Drain, st.Queues[0].HasDrain = 12.5, true
		st.Queues[1].Drain, st.Queues[1].HasDrain = queuehistory.NotDraining, true
		st.Queues[0].Retried, st.Queues[0].HasRetried = 42, true
		st.Queues[1].Role = queuerole.Assigned{Role: queuerole.Delay}
		st.Queues[4].Role = queuerole.Assigned{Role: queuerole.Stream}
		states = append(states, st)
	}
	return states
}

func TestEncodedQueueSeriesEqualTheConstMetricRender(t *testing.T) {
	states := renderStates()
	reference := prometheus.NewRegistry()
	reference.MustRegister(referenceQueueCollector{states})
	want, err := reference.Gather()
	if err != nil {
		t.Fatal(err)
	}

	handler := exposition.NewHandler(prometheus.NewRegistry(), fragmentSources(states, nil), slog.New(slog.DiscardHandler))
	body := scrapeText(t, handler)
	got := expositiontest.Parse(t, body)

	if diff := expositiontest.Diff(want, got); diff != "" {
		t.Errorf("encoded series differ from the const-metric render:\n%s", diff)
	}
	assertFamiliesContiguous(t, body)
	if diff := expositiontest.Diff(want, expositiontest.ParseProto(t, scrapeProto(t, handler))); diff != "" {
		t.Errorf("encoded protobuf series differ from the const-metric render:\n%s", diff)
	}
}

// scrapeProto scrapes h as a Prometheus with native histograms on does.
func scrapeProto(t *testing.T, h http.Handler) []byte {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, scrapeRequest(expositiontest.ProtoAccept, false))
	if rec.Code != http.StatusOK {
		t.Fatalf("scrape: %d %s", rec.Code, rec.Body)
	}
	if ft := expfmt.Format(rec.Header().Get("Content-Type")).FormatType(); ft != expfmt.TypeProtoDelim {
		t.Errorf("Content-Type = %q, want delimited protobuf", rec.Header().Get("Content-Type"))
	}
	return rec.Body.Bytes()
}

func TestDroppedMetricsAreNotEncoded(t *testing.T) {
	drop := func(name string) bool {
		return name == "warren_queue_published_total" || name == "warren_queue_info"
	}
	got := expositiontest.Parse(t, scrapeText(t, exposition.NewHandler(prometheus.NewRegistry(), fragmentSources(renderStates(), drop), slog.New(slog.DiscardHandler))))
	for _, mf := range got {
		if drop(mf.GetName()) {
			t.Errorf("dropped family %s is served", mf.GetName())
		}
	}
	if !slices.ContainsFunc(got, func(mf *dto.MetricFamily) bool { return mf.GetName() == "warren_queue_acked_total" }) {
		t.Error("a family that was not dropped is missing")
	}
}

type fixedSource struct{ fragment *exposition.Fragment }

func (s fixedSource) Fragment() *exposition.Fragment { return s.fragment }

func fragmentSources(states []*TargetState, drop func(string) bool) func() []exposition.Producer {
	var sources []exposition.Producer
	for _, st := range states {
		e := newEncoder(config.Target{Profile: config.ProfileFull, Name: st.Cluster})
		e.drop = drop
		sources = append(sources, fixedSource{e.encode(st, nil)})
	}
	return exposition.Fixed(sources...)
}

func scrapeText(t *testing.T, h http.Handler) []byte {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("scrape: %d %s", rec.Code, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Errorf("Content-Type = %q, want the text format 0.0.4", ct)
	}
	return rec.Body.Bytes()
}

// assertFamiliesContiguous checks that every family has one HELP and one
// TYPE line and all its series follow them, before the next family.
func assertFamiliesContiguous(t *testing.T, body []byte) {
	t.Helper()
	seen := map[string]bool{}
	current := ""
	s := bufio.NewScanner(bytes.NewReader(body))
	s.Buffer(nil, 1<<20)
	for s.Scan() {
		line := s.Text()
		if rest, ok := strings.CutPrefix(line, "# HELP "); ok {
			name, _, _ := strings.Cut(rest, " ")
			if seen[name] {
				t.Errorf("family %s has a second HELP line", name)
			}
			seen[name], current = true, name
			continue
		}
		if strings.HasPrefix(line, "#") || line == "" {
			continue
		}
		name := line[:strings.IndexAny(line, "{ ")]
		if name != current && !strings.HasPrefix(name, current+"_") {
			t.Errorf("series %s outside its family's block (in %s)", name, current)
		}
	}
}
