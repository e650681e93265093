package webui

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/warrenhq/warren/alerting/catalog"
	"github.com/warrenhq/warren/analysis/consumerstatus"
	"github.com/warrenhq/warren/analysis/deadletter"
	"github.com/warrenhq/warren/analysis/timeinqueue"
	"github.com/warrenhq/warren/collector"
	"github.com/warrenhq/warren/internal/config"
	"github.com/warrenhq/warren/pipeline"
	"github.com/warrenhq/warren/slo"
	"github.com/warrenhq/warren/snapshot"
	"github.com/warrenhq/warren/statusapi"
)

var now = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

// testSources are one target with the given number of queues beside
// "orders" (stalled, with a dead-letter queue), an SLO burning on it and
// a page firing.
func testSources(t testing.TB, queues int) Sources {
	t.Helper()
	snap := &snapshot.Snapshot{Cluster: "prod", Time: now.Add(-2 * time.Second), RabbitMQVersion: "3.10.8",
		Nodes: []snapshot.Node{{Name: "rabbit@a", Running: true, DiskAlarm: true}}}
	est := &timeinqueue.QueueEstimate{Vhost: "/", Name: "orders", Thresholds: []time.Duration{2 * time.Second, 30 * time.Second},
		Within: []float64{90, 99}, Total: []float64{100, 100}, OldestAge: 40 * time.Second, SampleTime: snap.Time}
	snap.Queues = append(snap.Queues, snapshot.Queue{Vhost: "/", Name: "orders", Type: "classic", StatsKnown: true, Ready: 120, Consumers: 1, HeadTimestamp: now.Add(-42 * time.Second)},
		snapshot.Queue{Vhost: "/", Name: "orders.dlq", Type: "classic", StatsKnown: true})
	states := []pipeline.QueueState{
		{Status: consumerstatus.Stalled, StatusReason: "stalled: a backlog (now 120 messages) and consumers (now 1) throughout the last 10s, and no message completed",
			Estimate: est, Age: pipeline.Age{Age: 42 * time.Second, Source: pipeline.AgeHeadTimestamp}, DeadLetterQueues: []string{"orders.dlq"}},
		{Status: consumerstatus.Idle, StatusReason: "idle: empty, and nothing published over the last 10s"},
	}
	for i := range queues {
		snap.Queues = append(snap.Queues, snapshot.Queue{Vhost: "/", Name: fmt.Sprintf("q%05d", i), Type: "classic", StatsKnown: true, Ready: int64(i % 7), Consumers: 1})
		states = append(states, pipeline.QueueState{Status: consumerstatus.OK, Age: pipeline.Age{Age: time.Duration(i%60) * time.Second, Source: pipeline.AgeEstimate}, Drain: 3, HasDrain: true})
	}
	state := &pipeline.TargetState{Cluster: "prod", Snapshot: snap, Fresh: true, Queues: states,
		Health: collector.Health{Attempted: true, Up: true, LastAttempt: snap.Time},
		Routes: []deadletter.Route{{Vhost: "/", Queue: "orders", DeadLetterQueue: "orders.dlq"}}}
	sloCfg := config.SLO{Name: "orders-2s", Target: "prod", Objective: 0.95, Window: config.Duration(6 * time.Hour),
		SLI: config.SLIConfig{ProbeSuccess: &config.ProbeSuccessSLI{}}}
	engine, err := slo.NewEngine(sloCfg.Spec())
	if err != nil {
		t.Fatal(err)
	}
	for s := 120; s > 0; s-- {
		good := 10.0
		if s < 30 {
			good = 0 // the consumer stopped
		}
		if err := engine.Add("orders-2s", now.Add(-time.Duration(s)*time.Second), good, 10); err != nil {
			t.Fatal(err)
		}
	}
	cfg := &config.Config{SLOs: []config.SLO{sloCfg}}
	return Sources{
		Status: statusapi.Sources{
			Targets: func() []*pipeline.TargetState { return []*pipeline.TargetState{state} },
			Engine:  engine,
			SLOs:    func() []config.SLO { return cfg.SLOs },
			Alerts: func() []catalog.Alert {
				return []catalog.Alert{{Labels: map[string]string{"alertname": "RabbitMQQueueStalled", "severity": "page", "cluster": "prod", "vhost": "/", "queue": "orders"},
					Annotations: map[string]string{"summary": "Consumers of queue orders are stalled"}, StartsAt: now.Add(-3 * time.Minute)}}
			},
			Now: func() time.Time { return now },
		},
		Config: func() *config.Config { return cfg },
		Base:   "/warren",
	}
}

func get(t *testing.T, h http.Handler, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	body, _ := io.ReadAll(rec.Result().Body)
	return rec.Code, string(body)
}

// getPage gets a page that must answer 200.
func getPage(t *testing.T, h http.Handler, path string) string {
	t.Helper()
	code, body := get(t, h, path)
	if code != http.StatusOK {
		t.Fatalf("%s: status %d: %s", path, code, body)
	}
	return body
}

func mustContain(t *testing.T, page, body string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(body, w) {
			t.Errorf("%s lacks %q", page, w)
		}
	}
}

func TestTheOverviewShowsAlertsTargetsSLOsAndQueuesServerRenderedWithLinksUnderTheBase(t *testing.T) {
	body := getPage(t, Handler(testSources(t, 3), nil), "/")
	mustContain(t, "overview", body,
		"<title>warren: 1 alert firing: RabbitMQQueueStalled</title>",
		`<meta name="viewport"`,
		`href="/warren/static/warren.css"`,
		`<a href="/warren/queue/prod/%2F/orders">prod///orders</a>`,
		`<a href="/warren/slo/orders-2s">orders-2s</a>`,
		`<span class="pill bad">page</span>`,
		`<time datetime="2026-12-01T11:57:00Z" title="2026-12-01T11:57:00Z">3m00s ago</time>`,
		`<span class="pill bad">disk alarm</span>`,
		`<span class="pill bad">stalled</span>`,
		"Worst queues (5 of 5)",
		"as of 2026-12-01T12:00:00Z",
	)
	if strings.Contains(body, "http://") || strings.Contains(body, "https://") {
		t.Errorf("the overview refers to another site")
	}
}

func TestTheSLOPageDrawsTheBurnChartWithTheRulesThresholdsAndShowsItsPromQL(t *testing.T) {
	body := getPage(t, Handler(testSources(t, 0), nil), "/slo/orders-2s")
	mustContain(t, "SLO page", body,
		"<h1>SLO orders-2s</h1>",
		`<polyline class="series s0"`,
		"page_fast 14.4×", "page_slow 6×",
		"warren_slo:error_ratio",
	)
	if strings.Count(body, "RabbitMQQueueStalled") != 0 {
		t.Errorf("the SLO page lists a queue's alert")
	}
	if code, _ := get(t, Handler(testSources(t, 0), nil), "/slo/nope"); code != http.StatusNotFound {
		t.Errorf("unknown SLO: status %d, want 404", code)
	}
}

func TestTheQueuePageGivesTheStatusReasonBothAgesTheSharesAndTheRoutes(t *testing.T) {
	h := Handler(testSources(t, 0), nil)
	body := getPage(t, h, "/queue/prod/%2F/orders")
	mustContain(t, "queue page", body,
		"<title>warren: orders stalled, firing RabbitMQQueueStalled</title>",
		"stalled: a backlog (now 120 messages) and consumers (now 1) throughout the last 10s, and no message completed",
		`title="2026-12-01T11:59:18Z">42s ago</time>`,
		"40s at 2026-12-01T11:59:58Z",
		"<td>2s</td><td>90%</td>", "<td>30s</td><td>99%</td>",
		`<a href="/warren/queue/prod/%2F/orders.dlq">orders.dlq</a>`,
	)
	_, dlq := get(t, h, "/queue/prod/%2F/orders.dlq")
	mustContain(t, "dead-letter queue page", dlq, `<a href="/warren/queue/prod/%2F/orders">orders</a>`, "idle: empty")
	if code, _ := get(t, h, "/queue/prod/%2F/gone"); code != http.StatusNotFound {
		t.Errorf("unknown queue: status %d, want 404", code)
	}
}

func TestPathsThatAreNotPagesGoToTheNextHandlerAndPagesAnswerOnlyGET(t *testing.T) {
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) })
	h := Handler(testSources(t, 0), next)
	for path, want := range map[string]int{"/metrics": http.StatusTeapot, "/api/v1/status": http.StatusTeapot,
		"/static/warren.css": http.StatusOK, "/static/refresh.js": http.StatusOK, "/slo/": http.StatusNotFound, "/queue/prod/orders": http.StatusNotFound} {
		if code, _ := get(t, h, path); code != want {
			t.Errorf("%s: %d, want %d", path, code, want)
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST /: %d, want 405", rec.Code)
	}
}
