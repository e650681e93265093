package statusapi

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/warrenhq/warren/alerting/catalog"
	"github.com/warrenhq/warren/analysis/consumerstatus"
	"github.com/warrenhq/warren/analysis/loss"
	"github.com/warrenhq/warren/analysis/queuehistory"
	"github.com/warrenhq/warren/analysis/queuerole"
	"github.com/warrenhq/warren/analysis/streamlag"
	"github.com/warrenhq/warren/analysis/timeinqueue"
	"github.com/warrenhq/warren/collector"
	"github.com/warrenhq/warren/internal/config"
	"github.com/warrenhq/warren/pipeline"
	"github.com/warrenhq/warren/slo"
	"github.com/warrenhq/warren/snapshot"
)

var now = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

func sources(t *testing.T) Sources {
	t.Helper()
	snap := &snapshot.Snapshot{
		Cluster: "prod", Time: now.Add(-2 * time.Second), RabbitMQVersion: "3.10.8",
		Nodes: []snapshot.Node{{Name: "rabbit@a", Running: true, MemAlarm: true}},
		Queues: []snapshot.Queue{
			{Vhost: "/", Name: "idle", Type: "classic", StatsKnown: true},
			{Vhost: "/", Name: "busy", Type: "quorum", StatsKnown: true, Ready: 5},
			{Vhost: "/", Name: "stuck", Type: "classic", StatsKnown: true, Ready: 100, Unacked: 10, Consumers: 1, HeadTimestamp: now.Add(-time.Hour)},
			{Vhost: "shop", Name: "orders", Type: "quorum", StatsKnown: true, Ready: 7},
		},
	}
	estimates := []timeinqueue.QueueEstimate{
		{Vhost: "/", Name: "busy", OldestAge: 3 * time.Second},
		{Vhost: "shop", Name: "orders", OldestAge: 90 * time.Second},
	}
	state := &pipeline.TargetState{
		Cluster: "prod", Snapshot: snap, Fresh: true,
		Health: collector.Health{Attempted: true, Up: true, LastAttempt: snap.Time},
		Queues: []pipeline.QueueState{
			{Status: consumerstatus.Idle},
			{Status: consumerstatus.OK, Estimate: &estimates[0], Age: pipeline.Age{Age: 3 * time.Second, Source: pipeline.AgeEstimate}, Drain: 12, HasDrain: true},
			{Status: consumerstatus.Stalled, Age: pipeline.Age{Age: 3598 * time.Second, Source: pipeline.AgeHeadTimestamp}, DeadLetterQueues: []string{"stuck.dlq"}},
			{Status: consumerstatus.NoConsumers, Estimate: &estimates[1], Age: pipeline.Age{Age: 90 * time.Second, Source: pipeline.AgeEstimate}, Drain: queuehistory.NotDraining, HasDrain: true},
		},
		Estimates: estimates,
	}
	engine, err := slo.NewEngine(slo.Objective{Name: "orders-30s", Target: 0.95, Window: 28 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if err := engine.Add("orders-30s", now.Add(-time.Minute), 90, 100); err != nil {
		t.Fatal(err)
	}
	return Sources{
		Targets: func() []*pipeline.TargetState { return []*pipeline.TargetState{state} },
		Engine:  engine,
		SLOs: func() []config.SLO {
			return []config.SLO{{Name: "orders-30s", Target: "prod", SLI: config.SLIConfig{ProbeSuccess: &config.ProbeSuccessSLI{}}}}
		},
		Alerts: func() []catalog.Alert {
			return []catalog.Alert{{Labels: map[string]string{"alertname": "RabbitMQQueueStalled", "severity": "page", "cluster": "prod", "vhost": "/", "queue": "stuck"},
				Annotations: map[string]string{"summary": "Consumers of queue stuck are stalled"}, StartsAt: now.Add(-5 * time.Minute)}}
		},
		Now: func() time.Time { return now },
	}
}

// getStatus serves GET target (a path and its query) with src's
// handler and decodes the answer into doc.
func getStatus(t *testing.T, src Sources, target string, doc any) {
	t.Helper()
	rec := httptest.NewRecorder()
	Handler(src).ServeHTTP(rec, httptest.NewRequest("GET", target, nil))
	if err := json.Unmarshal(rec.Body.Bytes(), doc); err != nil {
		t.Fatal(err)
	}
}

func TestQueuesAreListedWorstFirstWithTheirBestAgeSource(t *testing.T) {
	doc := Build(sources(t), Filter{})
	var order []string
	for _, q := range doc.Queues {
		order = append(order, q.Name)
	}
	if got := strings.Join(order, ","); got != "stuck,orders,busy,idle" {
		t.Errorf("order %s, want stalled, no consumers, ok, idle", got)
	}
	stuck, orders := doc.Queues[0], doc.Queues[1]
	if stuck.AgeSource != "head_timestamp" || stuck.OldestAge != 3598 || stuck.DeadLetterQueue[0] != "stuck.dlq" {
		t.Errorf("stuck: %+v", stuck)
	}
	if orders.AgeSource != "estimate" || orders.OldestAge != 90 || orders.Drain != nil || !orders.NotDraining {
		t.Errorf("orders (not draining): %+v", orders)
	}
	if doc.QueuesTotal != 4 || len(doc.SLOs) != 1 || len(doc.Alerts) != 1 || len(doc.Targets) != 1 {
		t.Errorf("document: %d queues, %d SLOs, %d alerts, %d targets", doc.QueuesTotal, len(doc.SLOs), len(doc.Alerts), len(doc.Targets))
	}
	if s := doc.SLOs[0]; s.Total != 100 || s.Good != 90 || s.BudgetRemaining > -0.99 || s.BudgetRemaining < -1.01 {
		t.Errorf("SLO: %+v (10%% errors on a 5%% budget leaves -100%%)", s)
	}
}

func TestHandlerFiltersAndLimits(t *testing.T) {
	var doc Document
	getStatus(t, sources(t), "/api/v1/status?vhost=%2F&limit=2", &doc)
	if len(doc.Queues) != 2 || doc.QueuesTotal != 3 || doc.Queues[0].Name != "stuck" {
		t.Errorf("vhost / with limit 2: %d of %d queues, first %q", len(doc.Queues), doc.QueuesTotal, doc.Queues[0].Name)
	}
	rec := httptest.NewRecorder()
	Handler(sources(t)).ServeHTTP(rec, httptest.NewRequest("GET", "/api/v1/status?limit=zero", nil))
	if rec.Code != 400 {
		t.Errorf("a bad limit answered %d", rec.Code)
	}
}

func TestRenderShowsAlertsSLOsTargetsAndQueues(t *testing.T) {
	var plain, coloured bytes.Buffer
	doc := Build(sources(t), Filter{})
	if err := Render(&plain, doc, false); err != nil {
		t.Fatal(err)
	}
	out := plain.String()
	for _, want := range []string{
		"ALERTS (1 firing)", "RabbitMQQueueStalled", "prod///stuck", "5m00s",
		"orders-30s", "95%", "-100%",
		"rabbit@a memory alarm", "3.10.8",
		"QUEUES (worst 4 of 4)", "59m58s", "1m30s~", "∞", "12s",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(out, "\nSLO         TARGET") {
		t.Errorf("the SLO table's first column is not headed SLO:\n%s", out)
	}
	if strings.Contains(out, "\x1b[") {
		t.Errorf("colour without a terminal")
	}
	Render(&coloured, doc, true)
	if !strings.Contains(coloured.String(), red+"stalled"+reset) {
		t.Errorf("a stalled queue is not red:\n%q", coloured.String())
	}
}

func TestWithheldEstimateSaysWhyAndShowsNoAge(t *testing.T) {
	src := sources(t)
	snap := &snapshot.Snapshot{Cluster: "prod", Time: now, Queues: []snapshot.Queue{
		{Vhost: "/", Name: "jobs", Type: "classic", StatsKnown: true, Ready: 40, MaxPriority: 10},
	}}
	estimates := []timeinqueue.QueueEstimate{{Vhost: "/", Name: "jobs", OldestAge: time.Minute, NonFIFO: timeinqueue.NonFIFOPriority, Withheld: true}}
	state := &pipeline.TargetState{Cluster: "prod", Snapshot: snap, Fresh: true,
		Health:    collector.Health{Attempted: true, Up: true, LastAttempt: now},
		Queues:    []pipeline.QueueState{{Status: consumerstatus.NoConsumers, Estimate: &estimates[0]}},
		Estimates: estimates}
	src.Targets = func() []*pipeline.TargetState { return []*pipeline.TargetState{state} }
	doc := Build(src, Filter{})
	q := doc.Queues[0]
	if q.TimeInQueueWithheld != "priority_queue" || q.AgeSource != "" || q.OldestAge != 0 {
		t.Errorf("priority queue: %+v; want time_in_queue_withheld priority_queue and no age", q)
	}
	var out bytes.Buffer
	if err := Render(&out, doc, false); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "withheld") {
		t.Errorf("output does not say the estimate is withheld:\n%s", out.String())
	}
}

// lossSources is sources with a target whose vhost shop lost messages as
// unroutable (published by billing-publisher; a channel of vhost audit
// published some too), and whose vhost / had none.
func lossSources(t *testing.T) Sources {
	src := sources(t)
	st := *src.Targets()[0]
	snap := *st.Snapshot
	snap.Unroutable = []snapshot.VhostUnroutable{{Vhost: "/"}, {Vhost: "audit", Returned: 2}, {Vhost: "shop", Dropped: 120, Returned: 4}}
	snap.UnroutablePublishers = []snapshot.UnroutablePublisher{
		{Vhost: "audit", Connection: "auditor", Channel: "auditor (1)", User: "audit", Returned: 2},
		{Vhost: "shop", Connection: "billing-publisher", Channel: "billing-publisher (1)", User: "billing", Dropped: 100, Returned: 4},
		{Vhost: "shop", Connection: "batch", Channel: "batch (3)", User: "etl", Dropped: 20},
	}
	st.Snapshot = &snap
	st.Unroutable = []loss.Vhost{
		{VhostUnroutable: snap.Unroutable[0], HasRecent: true},
		{VhostUnroutable: snap.Unroutable[1], HasRecent: true},
		{VhostUnroutable: snap.Unroutable[2], RecentDropped: 12, HasRecent: true},
	}
	src.Targets = func() []*pipeline.TargetState { return []*pipeline.TargetState{&st} }
	return src
}

func TestUnroutableListsTheVhostsThatLostMessagesWithTheirOwnPublishers(t *testing.T) {
	doc := Build(lossSources(t), Filter{})
	got := doc.Targets[0].Unroutable
	if len(got) != 2 || got[0].Vhost != "audit" || got[1].Vhost != "shop" {
		t.Fatalf("unroutable %+v; want audit and shop, not / (nothing unroutable)", got)
	}
	shop := got[1]
	if shop.Dropped != 120 || shop.Returned != 4 || shop.RecentDropped != 12 || shop.RecentReturned != 0 {
		t.Errorf("shop: %+v", shop)
	}
	want := []UnroutablePublisher{
		{Connection: "billing-publisher", Channel: "billing-publisher (1)", User: "billing", Dropped: 100, Returned: 4},
		{Connection: "batch", Channel: "batch (3)", User: "etl", Dropped: 20},
	}
	if !slices.Equal(shop.Publishers, want) {
		t.Errorf("shop's publishers %+v, want %+v (and not audit's)", shop.Publishers, want)
	}
	if a := got[0]; a.Returned != 2 || len(a.Publishers) != 1 || a.Publishers[0].Connection != "auditor" {
		t.Errorf("audit: %+v", a)
	}
}

func TestHandlerServesTheUnroutableBlockUnderItsDocumentedNames(t *testing.T) {
	get := func(src Sources) map[string]any {
		var doc struct {
			Targets []map[string]any `json:"targets"`
		}
		getStatus(t, src, "/api/v1/status", &doc)
		return doc.Targets[0]
	}
	if _, ok := get(sources(t))["unroutable"]; ok {
		t.Errorf("a target with no unroutable publishes has an unroutable field")
	}
	var served []map[string]any
	raw, _ := json.Marshal(get(lossSources(t))["unroutable"])
	if err := json.Unmarshal(raw, &served); err != nil || len(served) != 2 {
		t.Fatalf("unroutable served as %s (%v); want two vhosts", raw, err)
	}
	shop, _ := json.Marshal(served[1])
	want := `{"dropped":120,"publishers":[` +
		`{"channel":"billing-publisher (1)","connection":"billing-publisher","dropped":100,"returned":4,"user":"billing"},` +
		`{"channel":"batch (3)","connection":"batch","dropped":20,"returned":0,"user":"etl"}],` +
		`"recent_dropped":12,"recent_returned":0,"returned":4,"vhost":"shop"}`
	if string(shop) != want {
		t.Errorf("shop served as\n %s\nwant\n %s", shop, want)
	}
}

func TestRenderNamesTheUnroutablePublishersPerVhost(t *testing.T) {
	var plain, coloured bytes.Buffer
	doc := Build(lossSources(t), Filter{})
	if err := Render(&plain, doc, false); err != nil {
		t.Fatal(err)
	}
	out := plain.String()
	for _, want := range []string{
		"UNROUTABLE (published, taken by no queue)",
		"billing-publisher (user billing): 100 dropped, 4 returned",
		"batch (user etl): 20 dropped, 0 returned",
		"auditor (user audit): 0 dropped, 2 returned",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	var shopLine string
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "billing-publisher") {
			shopLine = l
		}
	}
	if f := strings.Fields(shopLine); len(f) < 6 || f[0] != "prod" || f[1] != "shop" || f[2] != "120" || f[3] != "4" || f[4] != "12" || f[5] != "0" {
		t.Errorf("shop's line %q: want target, vhost, 120 dropped, 4 returned, 12 and 0 recently", shopLine)
	}
	section := strings.SplitN(strings.SplitN(out, "UNROUTABLE", 2)[1], "\n\n", 2)[0]
	if lines := strings.Split(section, "\n"); len(lines) != 5 || !strings.Contains(lines[1], "DROPPED 5m  RETURNED 5m  PUBLISHERS") {
		t.Errorf("want a title, a header and three lines (audit, shop's two publishers), not vhost /:\n%s", section)
	}
	Render(&coloured, doc, true)
	if !strings.Contains(coloured.String(), red+"billing-publisher") || strings.Contains(coloured.String(), red+"auditor") {
		t.Errorf("want the vhost that dropped recently red, the one that only returned not:\n%q", coloured.String())
	}

	plain.Reset()
	Render(&plain, Build(sources(t), Filter{}), false)
	if strings.Contains(plain.String(), "UNROUTABLE") {
		t.Errorf("an unroutable section with nothing unroutable:\n%s", plain.String())
	}
}

func TestWithheldEstimateIsShownBesideAHeadTimestampAge(t *testing.T) {
	src := sources(t)
	snap := &snapshot.Snapshot{Cluster: "prod", Time: now, Queues: []snapshot.Queue{
		{Vhost: "/", Name: "jobs", Type: "classic", StatsKnown: true, Ready: 40, MaxPriority: 10, HeadTimestamp: now.Add(-42 * time.Second)},
	}}
	estimates := []timeinqueue.QueueEstimate{{Vhost: "/", Name: "jobs", OldestAge: time.Minute, NonFIFO: timeinqueue.NonFIFOPriority, Withheld: true}}
	state := &pipeline.TargetState{Cluster: "prod", Snapshot: snap, Fresh: true,
		Health:    collector.Health{Attempted: true, Up: true, LastAttempt: now},
		Queues:    []pipeline.QueueState{{Status: consumerstatus.NoConsumers, Estimate: &estimates[0], Age: pipeline.Age{Age: 42 * time.Second, Source: pipeline.AgeHeadTimestamp}}},
		Estimates: estimates}
	src.Targets = func() []*pipeline.TargetState { return []*pipeline.TargetState{state} }
	var out bytes.Buffer
	if err := Render(&out, Build(src, Filter{}), false); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "42s (withheld)") || !strings.Contains(out.String(), "withheld: the queue does not deliver in arrival order") {
		t.Errorf("output does not show the head-timestamp age and the withheld estimate:\n%s", out.String())
	}
}

// processingSources is sources with a target of three queues: jobs holds
// a delivery 49s old of its 1m consumer timeout, mail has nothing
// unacknowledged, and events is a stream.
func processingSources(t *testing.T) Sources {
	src := sources(t)
	snap := &snapshot.Snapshot{Cluster: "prod", Time: now, Queues: []snapshot.Queue{
		{Vhost: "/", Name: "jobs", Type: "classic", StatsKnown: true, Unacked: 1, Consumers: 1},
		{Vhost: "/", Name: "mail", Type: "quorum", StatsKnown: true, Consumers: 1},
		{Vhost: "/", Name: "events", Type: "stream", StatsKnown: true, Ready: 5000, Unacked: 3, Consumers: 1},
	}}
	processing := []timeinqueue.QueueEstimate{
		{Vhost: "/", Name: "jobs", OldestAge: 49 * time.Second},
		{Vhost: "/", Name: "mail"},
		{Vhost: "/", Name: "events", OldestAge: 2 * time.Second},
	}
	state := &pipeline.TargetState{Cluster: "prod", Snapshot: snap, Fresh: true,
		Health: collector.Health{Attempted: true, Up: true, LastAttempt: now},
		Queues: []pipeline.QueueState{
			{Status: consumerstatus.OK, Processing: &processing[0], ConsumerTimeout: time.Minute},
			{Status: consumerstatus.Idle, Processing: &processing[1], ConsumerTimeout: 30 * time.Minute},
			// The pipeline gives a stream no processing estimate.
			{Role: queuerole.Assigned{Role: queuerole.Stream}, ConsumerTimeout: 30 * time.Minute},
		},
		Processing: processing}
	src.Targets = func() []*pipeline.TargetState { return []*pipeline.TargetState{state} }
	return src
}

func TestHandlerServesTheOldestUnackedAgeAndTheConsumerTimeoutButNotForStreams(t *testing.T) {
	var doc struct {
		Queues []map[string]any `json:"queues"`
	}
	getStatus(t, processingSources(t), "/api/v1/status", &doc)
	served := map[string]map[string]any{}
	for _, q := range doc.Queues {
		served[q["name"].(string)] = q
	}
	for name, want := range map[string][2]float64{"jobs": {49, 60}, "mail": {0, 1800}} {
		q := served[name]
		if q["oldest_unacked_age_seconds"] != want[0] || q["consumer_timeout_seconds"] != want[1] {
			t.Errorf("%s: oldest_unacked_age_seconds %v, consumer_timeout_seconds %v; want %v and %v", name, q["oldest_unacked_age_seconds"], q["consumer_timeout_seconds"], want[0], want[1])
		}
	}
	for _, field := range []string{"oldest_unacked_age_seconds", "consumer_timeout_seconds"} {
		if v, ok := served["events"][field]; ok {
			t.Errorf("the stream has %s %v: its deliveries are reads of a retained log", field, v)
		}
	}
}

func TestRenderShowsTheOldestUnackedAgeOverTheConsumerTimeout(t *testing.T) {
	var out bytes.Buffer
	if err := Render(&out, Build(processingSources(t), Filter{}), false); err != nil {
		t.Fatal(err)
	}
	cells := map[string][]string{}
	for _, l := range strings.Split(out.String(), "\n") {
		if f := strings.Fields(l); len(f) > 8 && f[0] == "prod" {
			cells[f[2]] = f
		}
	}
	if !strings.Contains(out.String(), "UNACKED/TIMEOUT") {
		t.Errorf("no UNACKED/TIMEOUT column:\n%s", out.String())
	}
	for name, want := range map[string]string{"jobs": "49s~/1m00s", "mail": "0ms~/30m00s", "events": "-"} {
		if got := cells[name]; len(got) < 9 || got[8] != want {
			t.Errorf("%s's line %q: want %q after OLDEST", name, got, want)
		}
	}
}

func TestHandlerServesAStreamsConsumersAndLagUnderItsDocumentedNames(t *testing.T) {
	src := processingSources(t)
	state := src.Targets()[0]
	state.Queues[2].Stream = streamlag.Stream{Consumers: 2, AMQPConsumers: 1, MaxLag: 676, HasLag: true,
		LagSeconds: 34.6, HasLagSeconds: true, FallingBehind: true}
	state.Queues[2].HasStream = true
	var doc struct {
		Queues []struct {
			Name   string          `json:"name"`
			Stream json.RawMessage `json:"stream"`
		} `json:"queues"`
	}
	getStatus(t, src, "/api/v1/status", &doc)
	for _, q := range doc.Queues {
		want := ""
		if q.Name == "events" {
			want = `{"consumers":2,"amqp_consumers":1,"lag_messages":676,"lag_seconds":34.6,"falling_behind":true}`
		}
		var compact bytes.Buffer
		if len(q.Stream) > 0 {
			if err := json.Compact(&compact, q.Stream); err != nil {
				t.Fatal(err)
			}
		}
		if compact.String() != want {
			t.Errorf("%s: stream %s, want %q", q.Name, compact.String(), want)
		}
	}
}
