package pipeline

import (
	"context"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/warrenhq/warren/collector"
	"github.com/warrenhq/warren/internal/config"
	"github.com/warrenhq/warren/internal/exposition"
	"github.com/warrenhq/warren/internal/testenv/expositiontest"
	"github.com/warrenhq/warren/snapshot"
)

// These tests cover what a real broker cannot be made to do on demand:
// answer garbage, fail with 500, hang. Everything a broker does do is
// tested against a real node in integration_test.go.

const (
	fakeOverview = `{"rabbitmq_version":"3.10.8","erlang_version":"25.2.3","management_version":"3.10.8","cluster_name":"fake"}`
	fakeNodes    = `[{"name":"rabbit@a","running":true,"mem_alarm":false,"disk_free_alarm":true,"partitions":["rabbit@b"],"fd_used":40,"fd_total":1024}]`
	fakeQueues   = `[{"name":"q1","vhost":"/","type":"classic","node":"rabbit@a","arguments":[],"effective_policy_definition":[],"consumers":0,"messages":3,"messages_ready":3,"messages_unacknowledged":0,"message_stats":{"publish":3}}]`
)

// fakeAPI serves a fixed management API; handlers can be replaced per path.
type fakeAPI struct {
	mu       sync.Mutex
	handlers map[string]http.HandlerFunc
	inFlight atomic.Int32
	maxSeen  atomic.Int32
	srv      *httptest.Server
}

func newFakeAPI(t *testing.T) *fakeAPI {
	f := &fakeAPI{handlers: map[string]http.HandlerFunc{
		"/api/overview": jsonHandler(fakeOverview),
		"/api/nodes":    jsonHandler(fakeNodes),
		"/api/queues":   jsonHandler(fakeQueues),
		"/api/vhosts":   jsonHandler(`[{"name":"/","message_stats":{"drop_unroutable":0,"return_unroutable":0}}]`),
	}}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := f.inFlight.Add(1)
		defer f.inFlight.Add(-1)
		for {
			seen := f.maxSeen.Load()
			if n <= seen || f.maxSeen.CompareAndSwap(seen, n) {
				break
			}
		}
		f.mu.Lock()
		h := f.handlers[r.URL.Path]
		f.mu.Unlock()
		if h == nil {
			http.NotFound(w, r)
			return
		}
		h(w, r)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeAPI) handle(path string, h http.HandlerFunc) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.handlers[path] = h
}

func jsonHandler(body string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, body)
	}
}

// testTarget exports every family (exposition.profile: full): the tests
// of what a family holds need it exported; profile_test.go tests the
// profiles.
func testTarget(url string) config.Target {
	return config.Target{
		Profile: config.ProfileFull,
		Name:    "t", ManagementURL: url, Username: "monitoring", Password: "hunter2",
		Timeout:        config.Duration(500 * time.Millisecond),
		PollInterval:   config.Duration(50 * time.Millisecond),
		ConsumerStatus: config.ConsumerStatusConfig{Window: config.Duration(time.Minute)},
	}
}

// newTestCollector returns a collector of the targets and a Gatherer that
// scrapes it the way /metrics serves it: the registry part and the
// pre-encoded per-queue part, through exposition.Handler, parsed back.
func newTestCollector(t testing.TB, targets ...config.Target) (*Set, scrapeGatherer) {
	t.Helper()
	set := NewSet(collector.NewMetrics())
	var pipelines []*Pipeline
	for _, tg := range targets {
		p, err := New(tg, Options{Metrics: set.Metrics(), Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		pipelines = append(pipelines, p)
	}
	set.Replace(pipelines)
	reg := prometheus.NewRegistry()
	reg.MustRegister(set)
	return set, scrapeGatherer{exposition.NewHandler(reg, set.Sources, slog.New(slog.DiscardHandler))}
}

// scrapeGatherer gathers by scraping an exposition.Handler in text format.
type scrapeGatherer struct{ handler http.Handler }

func (g scrapeGatherer) Gather() ([]*dto.MetricFamily, error) {
	rec := httptest.NewRecorder()
	g.handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		return nil, fmt.Errorf("scrape: %d %s", rec.Code, rec.Body)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	byName, err := parser.TextToMetricFamilies(rec.Body)
	if err != nil {
		return nil, err
	}
	families := make([]*dto.MetricFamily, 0, len(byName))
	for _, mf := range byName {
		families = append(families, mf)
	}
	return families, nil
}

// gather returns the value of the series name{labels}, and whether it exists.
func gather(t *testing.T, reg prometheus.Gatherer, name string, labels map[string]string) (float64, bool) {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	m, ok := expositiontest.Find(families, name, labels)
	if !ok {
		return 0, false
	}
	return metricValue(m), true
}

func metricValue(m *dto.Metric) float64 {
	switch {
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Histogram != nil:
		return float64(m.Histogram.GetSampleCount())
	}
	return 0
}

func mustGather(t *testing.T, reg prometheus.Gatherer, name string, labels map[string]string) float64 {
	t.Helper()
	v, ok := gather(t, reg, name, labels)
	if !ok {
		t.Fatalf("no series %s%v", name, labels)
	}
	return v
}

func TestBrokenManagementAPIMarksTargetDownWithReason(t *testing.T) {
	cases := []struct {
		name    string
		path    string
		handler http.HandlerFunc
		reason  string
	}{
		{"invalid JSON", "/api/queues", jsonHandler(`[{"name":`), string(snapshot.ReasonInvalidResponse)},
		{"HTML instead of JSON", "/api/overview", jsonHandler(`<html>proxy error</html>`), string(snapshot.ReasonInvalidResponse)},
		{"JSON that is not the management API", "/api/overview", jsonHandler(`{"hello":"world"}`), string(snapshot.ReasonInvalidResponse)},
		{"server error", "/api/nodes", func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "boom", 500) }, string(snapshot.ReasonHTTPStatus)},
		{"wrong credentials", "/api/overview", func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "no", 401) }, string(snapshot.ReasonAuth)},
		{"slower than the timeout", "/api/queues", func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }, string(snapshot.ReasonTimeout)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			api := newFakeAPI(t)
			api.handle(c.path, c.handler)
			coll, reg := newTestCollector(t, testTarget(api.srv.URL))
			p := coll.Pipelines()[0]
			p.Poll(context.Background())

			if up := mustGather(t, reg, "warren_target_up", map[string]string{"cluster": "t"}); up != 0 {
				t.Errorf("warren_target_up = %v, want 0", up)
			}
			if n := mustGather(t, reg, "warren_poll_errors_total", map[string]string{"cluster": "t", "reason": c.reason}); n != 1 {
				t.Errorf("warren_poll_errors_total{reason=%q} = %v, want 1 (last error: %s)", c.reason, n, p.State().Health.LastError)
			}
			if !coll.Ready() {
				t.Error("a target whose poll failed has reported why: the agent should be ready")
			}
			if strings.Contains(p.State().Health.LastError, "hunter2") {
				t.Errorf("error leaks the password: %s", p.State().Health.LastError)
			}
		})
	}
}

func TestNothingListeningIsAConnectionError(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	coll, reg := newTestCollector(t, testTarget("http://"+addr))
	coll.Pipelines()[0].Poll(context.Background())
	if n := mustGather(t, reg, "warren_poll_errors_total", map[string]string{"reason": string(snapshot.ReasonConnection)}); n != 1 {
		t.Errorf("connection errors = %v, want 1", n)
	}
}

func TestFailedPollKeepsServingTheLastSnapshot(t *testing.T) {
	api := newFakeAPI(t)
	coll, reg := newTestCollector(t, testTarget(api.srv.URL))
	p := coll.Pipelines()[0]
	p.Poll(context.Background())
	if up := mustGather(t, reg, "warren_target_up", nil); up != 1 {
		t.Fatalf("first poll: up = %v (%s)", up, p.State().Health.LastError)
	}
	api.handle("/api/queues", func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "down", 503) })
	p.Poll(context.Background())

	if up := mustGather(t, reg, "warren_target_up", nil); up != 0 {
		t.Errorf("after a failed poll up = %v, want 0", up)
	}
	if v := mustGather(t, reg, "warren_queue_messages", map[string]string{"queue": "q1", "state": "ready"}); v != 3 {
		t.Errorf("last snapshot's depth = %v, want 3", v)
	}
	if age := mustGather(t, reg, "warren_snapshot_age_seconds", nil); age <= 0 {
		t.Errorf("snapshot age = %v, want > 0", age)
	}
}

func TestScrapeDuringSlowPollReturnsPreviousSnapshotAndPollsNeverOverlap(t *testing.T) {
	api := newFakeAPI(t)
	tg := testTarget(api.srv.URL)
	tg.Timeout = config.Duration(time.Minute)
	coll, reg := newTestCollector(t, tg)
	p := coll.Pipelines()[0]
	p.Poll(context.Background())

	release := make(chan struct{})
	blocked := make(chan struct{}, 100)
	api.handle("/api/queues", func(w http.ResponseWriter, r *http.Request) {
		blocked <- struct{}{}
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
		jsonHandler(strings.Replace(fakeQueues, `"messages_ready":3`, `"messages_ready":4`, 1))(w, r)
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.Run(ctx); close(done) }()
	<-blocked // a poll is now stuck inside the queue listing

	// The scrape must not wait for the stuck poll; if it did, this test
	// would hang rather than fail on a clock.
	if v := mustGather(t, reg, "warren_queue_messages", map[string]string{"queue": "q1", "state": "ready"}); v != 3 {
		t.Errorf("scrape during a slow poll = %v, want the previous snapshot's 3", v)
	}
	if n := api.inFlight.Load(); n != 1 {
		t.Errorf("%d requests in flight while a poll is stuck, want exactly 1", n)
	}
	close(release)
	// Let a few more polls run at the 50ms interval, then stop.
	for range 3 {
		<-blocked
	}
	cancel()
	<-done
	if m := api.maxSeen.Load(); m != 1 {
		t.Errorf("at most %d requests were in flight at once, want 1: polls overlapped", m)
	}
	if v := mustGather(t, reg, "warren_queue_messages", map[string]string{"queue": "q1", "state": "ready"}); v != 4 {
		t.Errorf("after the slow poll finished depth = %v, want 4", v)
	}
}

func TestNotReadyUntilEveryTargetHasPolled(t *testing.T) {
	api := newFakeAPI(t)
	a, b := testTarget(api.srv.URL), testTarget(api.srv.URL)
	b.Name = "t2"
	coll, _ := newTestCollector(t, a, b)
	if coll.Ready() {
		t.Fatal("ready before any poll")
	}
	coll.Pipelines()[0].Poll(context.Background())
	if coll.Ready() {
		t.Fatal("ready with one of two targets polled")
	}
	coll.Pipelines()[1].Poll(context.Background())
	if !coll.Ready() {
		t.Fatal("not ready after every target polled")
	}
}

func TestNodeMetricsComeFromTheNodesListing(t *testing.T) {
	api := newFakeAPI(t)
	coll, reg := newTestCollector(t, testTarget(api.srv.URL))
	coll.Pipelines()[0].Poll(context.Background())
	node := map[string]string{"node": "rabbit@a"}
	checks := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"warren_node_running", node, 1},
		{"warren_node_alarm", map[string]string{"node": "rabbit@a", "alarm": "disk"}, 1},
		{"warren_node_alarm", map[string]string{"node": "rabbit@a", "alarm": "memory"}, 0},
		{"warren_node_partitions", node, 1},
		{"warren_node_file_descriptors", map[string]string{"node": "rabbit@a", "state": "used"}, 40},
		{"warren_node_file_descriptors", map[string]string{"node": "rabbit@a", "state": "limit"}, 1024},
	}
	for _, c := range checks {
		if v := mustGather(t, reg, c.name, c.labels); v != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, v, c.want)
		}
	}
}

func TestManagementAPIOverTLSTrustsTheConfiguredCA(t *testing.T) {
	api := newFakeAPI(t)
	tlsServer := httptest.NewTLSServer(api.srv.Config.Handler)
	t.Cleanup(tlsServer.Close)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: tlsServer.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}

	untrusted := testTarget(tlsServer.URL)
	coll, reg := newTestCollector(t, untrusted)
	coll.Pipelines()[0].Poll(context.Background())
	if n := mustGather(t, reg, "warren_poll_errors_total", map[string]string{"reason": string(snapshot.ReasonTLS)}); n != 1 {
		t.Errorf("without the CA: tls errors = %v, want 1 (%s)", n, coll.Pipelines()[0].State().Health.LastError)
	}

	trusted := testTarget(tlsServer.URL)
	trusted.TLS = config.TLSConfig{CAFile: caFile, ServerName: "example.com"}
	coll, reg = newTestCollector(t, trusted)
	coll.Pipelines()[0].Poll(context.Background())
	if up := mustGather(t, reg, "warren_target_up", nil); up != 1 {
		t.Errorf("with the CA: up = %v (%s)", up, coll.Pipelines()[0].State().Health.LastError)
	}
}

func TestPerVhostCapKeepsEachVhostsFirstQueuesThenTheTotalCap(t *testing.T) {
	api := newFakeAPI(t)
	var items []string
	for _, q := range []struct{ vhost, name string }{{"a", "a1"}, {"a", "a2"}, {"a", "a3"}, {"b", "b1"}, {"b", "b2"}, {"c", "c1"}} {
		items = append(items, fmt.Sprintf(`{"name":%q,"vhost":%q,"type":"classic","node":"rabbit@a","consumers":0,"messages":0,"messages_ready":0,"messages_unacknowledged":0}`, q.name, q.vhost))
	}
	api.handle("/api/queues", jsonHandler("["+strings.Join(items, ",")+"]"))
	tg := testTarget(api.srv.URL)
	tg.MaxQueuesPerVhost = 2
	tg.MaxQueues = 4
	coll, reg := newTestCollector(t, tg)
	coll.Pipelines()[0].Poll(context.Background())
	for _, q := range []string{"a1", "a2", "a3", "b1", "b2", "c1"} {
		_, ok := gather(t, reg, "warren_queue_info", map[string]string{"queue": q})
		// a3 is over the per-vhost cap; c1 is fifth of the rest, over max_queues.
		if want := q != "a3" && q != "c1"; ok != want {
			t.Errorf("%s exported = %v, want %v", q, ok, want)
		}
	}
	if v := mustGather(t, reg, "warren_queues_dropped", nil); v != 2 {
		t.Errorf("warren_queues_dropped = %v, want 2", v)
	}
}

func TestVhostFilterListsOnlyTheWatchedVhosts(t *testing.T) {
	api := newFakeAPI(t)
	api.handle("/api/vhosts", jsonHandler(`[{"name":"/"},{"name":"prod"},{"name":"scratch"}]`))
	var asked sync.Map
	perVhost := func(vhost string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			asked.Store(vhost, true)
			jsonHandler(fmt.Sprintf(`[{"name":"q","vhost":%q,"type":"classic","node":"rabbit@a","messages":1,"messages_ready":1,"messages_unacknowledged":0}]`, vhost))(w, r)
		}
	}
	api.handle("/api/queues//", perVhost("/"))
	api.handle("/api/queues/prod", perVhost("prod"))
	api.handle("/api/queues/scratch", perVhost("scratch"))
	api.handle("/api/queues", func(w http.ResponseWriter, r *http.Request) {
		t.Error("the whole listing was requested though a vhost filter is set")
		http.Error(w, "no", http.StatusInternalServerError)
	})
	tg := testTarget(api.srv.URL)
	tg.Vhosts.Exclude = mustRegexp("scratch")
	coll, reg := newTestCollector(t, tg)
	coll.Pipelines()[0].Poll(context.Background())
	if h := coll.Pipelines()[0].State().Health; !h.Up {
		t.Fatalf("poll failed: %s", h.LastError)
	}
	for vhost, want := range map[string]bool{"/": true, "prod": true, "scratch": false} {
		if _, ok := asked.Load(vhost); ok != want {
			t.Errorf("vhost %q listed = %v, want %v", vhost, ok, want)
		}
		if _, ok := gather(t, reg, "warren_queue_messages", map[string]string{"vhost": vhost, "state": "ready"}); ok != want {
			t.Errorf("vhost %q exported = %v, want %v", vhost, ok, want)
		}
	}
}
