package dashboards

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"text/template"
	"time"

	"github.com/prometheus/common/model"
	amqp "github.com/rabbitmq/amqp091-go"
	"gopkg.in/yaml.v3"

	"github.com/warrenhq/warren/internal/testenv/amtest"
	"github.com/warrenhq/warren/internal/testenv/cmdtest"
	"github.com/warrenhq/warren/internal/testenv/logbuf"
	"github.com/warrenhq/warren/internal/testenv/pgtest"
	"github.com/warrenhq/warren/internal/testenv/promtest"
	"github.com/warrenhq/warren/internal/testenv/rabbittest"
	"github.com/warrenhq/warren/internal/testenv/streamtest"
)

// The world the live test builds: one RabbitMQ node, a vhost with
// traffic, warren watching it, Prometheus scraping warren.
const (
	testCluster = "dash-test" // warren's target name: the cluster label
	testVhost   = "shop"
	testQueue   = "orders" // classic, dead-letters into orders.dlq
	testSLO     = "orders-within-10s"
)

// warrenConfig is the configuration the live test runs warren with: SLOs,
// an outbox in a private PostgreSQL, and alerting to a private
// Alertmanager, so that every panel and rule has data.
const warrenConfig = `targets:
  - name: {{.Cluster}}
    management_url: {{.MgmtURL}}
    username: guest
    password: guest
    poll_interval: 1s
    stats_interval: 1s
    amqp_url: {{.AMQPURL}}
    probes:
      interval: 1s
      timeout: 1s
slos:
  - name: {{.SLO}}
    target: {{.Cluster}}
    objective: 95%
    window: 1h          # compressed window for tests
    sli:
      time_in_queue: {vhost: {{.Vhost}}, queue: "{{.Queue}}", threshold: 10s}
  - name: probe-success
    target: {{.Cluster}}
    objective: 99%
    window: 1h
    sli:
      probe_success: {}
outboxes:
  - {name: invoices, dsn_file: {{.OutboxDSNFile}}, table: outbox, event_type: event_type, dispatched_at: dispatched_at, poll_interval: 1s, timeout: 1s, commit_delay: 200ms}
alerting:
  evaluation_interval: 1s
  resend_interval: 1s
  alertmanagers:
    - url: {{.AlertmanagerURL}}
  health:
    # The traffic leaves a backlog without consumers: let it alert at once,
    # so that the alert panels have an alert to show.
    RabbitMQQueueNoConsumers: {for: 1s}
`

// Grafana's own variables, as it would set them for a dashboard showing
// the last few minutes at a 15s step.
var grafanaBuiltins = map[string]string{
	"__rate_interval": "1m",
	"__interval":      "15s",
	"__interval_ms":   "15000",
	"__range":         "5m",
	"__range_s":       "300",
	"__range_ms":      "300000",
}

// prometheusOwn are series Prometheus makes itself, not warren.
var prometheusOwn = map[string]bool{
	"up": true, "ALERTS": true, "ALERTS_FOR_STATE": true,
	"scrape_duration_seconds": true, "scrape_samples_scraped": true,
	"scrape_samples_post_metric_relabeling": true, "scrape_series_added": true,
}

// dataDeadline bounds the whole wait for data: every check polls until it
// passes or this much time has gone since the world was up.
const dataDeadline = 150 * time.Second

type liveWorld struct {
	prom *promtest.Prometheus
	// native scrapes the same warren with native histograms on, so in
	// protobuf.
	native     *promtest.Prometheus
	warrenURL  string
	warrenLogs *logbuf.Buffer
	ready      time.Time
}

func (w *liveWorld) deadline() time.Time { return w.ready.Add(dataDeadline) }

func TestDashboardsAndAlertRulesAgainstARealWarren(t *testing.T) {
	w := startWorld(t)
	dashboards := loadDashboards(t)

	t.Run("every panel query parses and returns data", func(t *testing.T) {
		type query struct {
			where, expr string
			instant     bool
			// fullOnly queries read families the default profile, which
			// the world runs, does not export: they must parse and
			// evaluate, with no data.
			fullOnly bool
		}
		var queries []query
		for _, d := range dashboards {
			for _, variant := range variableVariants(d) {
				for _, p := range d.allPanels() {
					for _, tg := range p.Targets {
						queries = append(queries, query{
							where:    fmt.Sprintf("%s (%s), panel %q, target %s", d.File, variant.name, p.Title, tg.RefID),
							expr:     interpolate(tg.Expr, variant.values),
							instant:  tg.Instant,
							fullOnly: len(fullOnlyMetrics(tg.Expr)) > 0,
						})
					}
				}
			}
		}
		pollUntil(t, w.deadline(), func() ([]string, bool) {
			var failures, invalid []string
			for _, q := range queries {
				problem, bad := w.evaluate(q.expr, q.instant)
				if q.fullOnly && (problem == "no data" || problem == "only NaN") {
					continue
				}
				if problem != "" {
					failures = append(failures, fmt.Sprintf("%s: %s\n    %s", q.where, problem, indent(q.expr)))
				}
				if bad {
					invalid = append(invalid, failures[len(failures)-1])
				}
			}
			if len(invalid) > 0 {
				// A query Prometheus rejects will not get better by waiting.
				return invalid, true
			}
			return failures, false
		}, func(failures []string) {
			t.Errorf("%d of %d panel queries failed (dashboard (variables), panel, target: problem, expression):\n%s\nwarren log tail:\n%s",
				len(failures), len(queries), strings.Join(failures, "\n"), tail(w.warrenLogs.String(), 15))
		})
	})

	t.Run("the time-in-queue percentiles read the native histogram from a Prometheus that scrapes protobuf", func(t *testing.T) {
		var queries []string
		for _, d := range dashboards {
			for _, p := range d.allPanels() {
				for _, tg := range p.Targets {
					if strings.Contains(tg.Expr, "warren_queue_time_in_queue_seconds{") {
						queries = append(queries, interpolate(tg.Expr, escapedValues(selectedValues())))
					}
				}
			}
		}
		if len(queries) == 0 {
			t.Fatal("no panel reads the native time-in-queue histogram")
		}
		pollUntil(t, w.deadline(), func() ([]string, bool) {
			var failures []string
			for _, q := range queries {
				if problem, bad := evaluateOn(w.native, q, false); problem != "" {
					failures = append(failures, problem+": "+q)
					if bad {
						return failures, true
					}
				}
			}
			// classic_buckets is off: that server has no classic buckets.
			if problem, _ := evaluateOn(w.native, "warren_queue_time_in_queue_seconds_bucket", true); problem != "no data" {
				failures = append(failures, "the native server has classic time-in-queue buckets ("+problem+")")
			}
			return failures, false
		}, func(failures []string) {
			t.Errorf("on the native-histogram Prometheus:\n%s", strings.Join(failures, "\n"))
		})
	})

	t.Run("every template variable lists the test's cluster, vhost, queue and SLO", func(t *testing.T) {
		selected := selectedValues()
		pollUntil(t, w.deadline(), func() ([]string, bool) {
			var failures []string
			for _, d := range dashboards {
				for _, v := range d.Templating.List {
					if v.Type != "query" {
						continue
					}
					sel, label, _ := parseLabelValues(v.queryText())
					expr := interpolate(sel, escapedValues(selected))
					values, err := w.labelValues(expr, label)
					if err != nil {
						failures = append(failures, fmt.Sprintf("%s variable %s: %s: %v", d.File, v.Name, expr, err))
					} else if !values[selected[v.Name]] {
						failures = append(failures, fmt.Sprintf("%s variable %s: %s lists %v, not %q", d.File, v.Name, expr, sortedKeys(values), selected[v.Name]))
					}
				}
			}
			return failures, false
		}, func(failures []string) {
			t.Errorf("template variables:\n%s", strings.Join(failures, "\n"))
		})
	})

	t.Run("every metric name in dashboards and alert rules is exported by warren", func(t *testing.T) {
		used := usedMetricNames(t, dashboards)
		pollUntil(t, w.deadline(), func() ([]string, bool) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			exported, err := promtest.MetricNames(ctx, w.warrenURL+"/metrics")
			if err != nil {
				return []string{err.Error()}, false
			}
			var missing []string
			for _, name := range sortedKeys(used) {
				if len(fullOnlyMetrics(name)) > 0 {
					continue // the world runs the default profile
				}
				if !exported[name] && !exported[name+"_bucket"] && !exported[name+"_count"] {
					missing = append(missing, fmt.Sprintf("%s (used in %s)", name, strings.Join(used[name], "; ")))
				}
			}
			return missing, false
		}, func(missing []string) {
			t.Errorf("metric names used but not in warren's /metrics:\n%s", strings.Join(missing, "\n"))
		})
	})
}

// pollUntil runs check until it reports no failures, or failures that
// waiting cannot cure (final), or the deadline passes; then it hands the
// last failures to report.
func pollUntil(t *testing.T, deadline time.Time, check func() (failures []string, final bool), report func([]string)) {
	t.Helper()
	began := time.Now()
	for {
		failures, final := check()
		if len(failures) == 0 {
			t.Logf("all checks passed after %v of polling", time.Since(began).Round(time.Second))
			return
		}
		if final || time.Now().After(deadline) {
			report(failures)
			return
		}
		time.Sleep(2 * time.Second)
	}
}

// evaluate runs an expression the way the panel does — an instant query
// at now, or a range query over the last two minutes — and returns what
// is wrong with it: a parse or evaluation error, no data, or nothing but
// NaN; "" when fine.
// invalid is true when Prometheus rejected the query itself.
func (w *liveWorld) evaluate(expr string, instant bool) (problem string, invalid bool) {
	return evaluateOn(w.prom, expr, instant)
}

// evaluateOn is evaluate on the given Prometheus.
func evaluateOn(prom *promtest.Prometheus, expr string, instant bool) (problem string, invalid bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	now := time.Now()
	var v model.Value
	var err error
	if instant {
		v, _, err = prom.Query(ctx, expr, now)
	} else {
		v, _, err = prom.QueryRange(ctx, expr, now.Add(-2*time.Minute), now, 5*time.Second)
	}
	if err != nil {
		return "error: " + err.Error(), promtest.IsBadData(err)
	}
	if promtest.IsEmpty(v) {
		return "no data", false
	}
	if !hasNumber(v) {
		// What Grafana draws as nothing: e.g. a quantile or a ratio of
		// rates over a window in which nothing happened.
		return "only NaN", false
	}
	return "", false
}

// hasNumber reports whether a result holds at least one sample that is
// not NaN.
func hasNumber(v model.Value) bool {
	switch v := v.(type) {
	case model.Vector:
		for _, s := range v {
			if !math.IsNaN(float64(s.Value)) {
				return true
			}
		}
	case model.Matrix:
		for _, series := range v {
			for _, p := range series.Values {
				if !math.IsNaN(float64(p.Value)) {
					return true
				}
			}
		}
	case *model.Scalar:
		return !math.IsNaN(float64(v.Value))
	}
	return false
}

// labelValues evaluates a selector and collects the values of label, as
// Grafana's label_values does.
func (w *liveWorld) labelValues(expr, label string) (map[string]bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	v, _, err := w.prom.Query(ctx, expr, time.Now())
	if err != nil {
		return nil, err
	}
	vec, ok := v.(model.Vector)
	if !ok {
		return nil, fmt.Errorf("result is a %s, not a vector", v.Type())
	}
	out := map[string]bool{}
	for _, s := range vec {
		out[string(s.Metric[model.LabelName(label)])] = true
	}
	return out, nil
}

// selectedValues are the values a user of the test world would pick.
func selectedValues() map[string]string {
	return map[string]string{"cluster": testCluster, "vhost": testVhost, "queue": testQueue, "slo": testSLO}
}

// escapedValues are selected values as Grafana interpolates them into a
// query, Grafana's own variables included.
func escapedValues(values map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range grafanaBuiltins {
		out[k] = v
	}
	for k, v := range values {
		out[k] = regexValue(v)
	}
	return out
}

type variant struct {
	name   string
	values map[string]string
}

// variableVariants are the variable settings every query runs with: the
// test's values, and — where the dashboard offers All — All, which
// Grafana sends as the .* allValue.
func variableVariants(d *dashboard) []variant {
	selected := variant{name: "selected values", values: escapedValues(selectedValues())}
	all := variant{name: "All", values: escapedValues(selectedValues())}
	hasAll := false
	for _, v := range d.Templating.List {
		if v.IncludeAll {
			all.values[v.Name] = v.AllValue
			hasAll = true
		}
	}
	if !hasAll {
		return []variant{selected}
	}
	return []variant{selected, all}
}

// usedMetricNames maps each metric name the dashboards and the alert
// rules in ../alerts select (Prometheus's own and recording rules' aside)
// to where it is used.
func usedMetricNames(t *testing.T, dashboards []*dashboard) map[string][]string {
	t.Helper()
	used := map[string][]string{}
	add := func(expr, where string) {
		for _, name := range metricNames(expr) {
			if prometheusOwn[name] || strings.Contains(name, ":") {
				continue
			}
			used[name] = append(used[name], where)
		}
	}
	for _, d := range dashboards {
		for _, p := range d.allPanels() {
			for _, tg := range p.Targets {
				add(tg.Expr, fmt.Sprintf("%s panel %q", d.File, p.Title))
			}
		}
		for _, v := range d.Templating.List {
			if sel, _, ok := parseLabelValues(v.queryText()); ok {
				add(sel, fmt.Sprintf("%s variable %s", d.File, v.Name))
			}
		}
	}
	files, _ := filepath.Glob("../alerts/*.yml")
	yamlFiles, _ := filepath.Glob("../alerts/*.yaml")
	for _, f := range append(files, yamlFiles...) {
		if strings.HasSuffix(f, "_test.yml") || strings.HasSuffix(f, "_test.yaml") {
			continue // promtool unit tests: their series are made up
		}
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var rules struct {
			Groups []struct {
				Name  string `yaml:"name"`
				Rules []struct {
					Alert  string `yaml:"alert"`
					Record string `yaml:"record"`
					Expr   string `yaml:"expr"`
				} `yaml:"rules"`
			} `yaml:"groups"`
		}
		if err := yaml.Unmarshal(data, &rules); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, g := range rules.Groups {
			for _, r := range g.Rules {
				add(r.Expr, fmt.Sprintf("%s rule %s", filepath.Base(f), r.Alert+r.Record))
			}
		}
	}
	return used
}

// startWorld builds warren, starts a RabbitMQ node with traffic, warren
// and Prometheus, and waits until Prometheus scrapes warren. Everything
// is stopped when t ends.
func startWorld(t *testing.T) *liveWorld {
	t.Helper()
	binary := cmdtest.Build(t, "github.com/warrenhq/warren/cmd/warren")
	node := rabbittest.StartT(t, rabbittest.Options{StatsIntervalMS: 1000, Streams: true})
	if err := node.AddVhost(testVhost); err != nil {
		t.Fatal(err)
	}
	if err := node.SetPermissions(testVhost, "guest", ".*", ".*", ".*"); err != nil {
		t.Fatal(err)
	}
	startTraffic(t, node.AMQPURL+testVhost)
	startStreamConsumer(t, node)

	pg := pgtest.StartT(t)
	outboxDSN := pg.OutboxDB(t, "invoices")
	pg.NewDispatcher(t, "invoices", pgtest.Flow{EventType: "invoice.created", Every: 100 * time.Millisecond, Delay: 200 * time.Millisecond}).Start()

	am := amtest.Start(t, amtest.Options{})
	dir := t.TempDir()
	var config bytes.Buffer
	err := template.Must(template.New("config").Parse(warrenConfig)).Execute(&config, map[string]string{
		"Cluster": testCluster, "MgmtURL": node.MgmtURL, "AMQPURL": node.AMQPURL,
		"Vhost": testVhost, "Queue": testQueue, "SLO": testSLO, "AlertmanagerURL": am.URL(), "OutboxDSNFile": outboxDSN,
	})
	if err != nil {
		t.Fatal(err)
	}
	configPath := filepath.Join(dir, "warren.yml")
	if err := os.WriteFile(configPath, config.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	w := &liveWorld{warrenLogs: &logbuf.Buffer{}}
	listen := cmdtest.FreeAddr(t)
	cmd := exec.Command(binary, "--config", configPath, "--web.listen-address="+listen)
	// warren keeps state (SLO event history) relative to its working
	// directory by default: keep it in the test's.
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = w.warrenLogs, w.warrenLogs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() { cmd.Process.Kill(); <-exited })
	w.warrenURL = "http://" + listen
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		select {
		case <-exited:
			t.Fatalf("warren exited (%v) with this configuration:\n%s\nlog:\n%s", cmd.ProcessState, config.String(), w.warrenLogs)
		default:
		}
		if resp, err := http.Get(w.warrenURL + "/-/ready"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("warren not ready within 60s; log:\n%s", w.warrenLogs)
		}
	}

	w.prom = promtest.Start(t, promtest.Options{Targets: []promtest.Scrape{{Address: listen}}})
	w.native = promtest.Start(t, promtest.Options{Targets: []promtest.Scrape{{Address: listen}}, ExtraArgs: []string{"--enable-feature=native-histograms"}})
	w.prom.WaitForTargetsUp(t, 30*time.Second)
	w.native.WaitForTargetsUp(t, 30*time.Second)
	w.ready = time.Now()
	return w
}

// startTraffic declares the test vhost's queues and keeps messages
// flowing until t ends:
//
//   - orders (classic, timestamped messages): a consumer acks four in
//     five and rejects the fifth without requeue, so orders.dlq (bound to
//     the dead-letter exchange orders.dlx) receives dead letters, and so
//     does its delay queue orders.retry (bound there too; TTL 1s), which
//     dead-letters them back into orders: retries;
//   - payments (quorum): a consumer acks nine in ten and requeues the
//     tenth, so there are redeliveries;
//   - reports (classic): published to, never consumed — a growing backlog
//     with no consumers;
//   - audit (a fanout exchange with no binding): every publish is
//     unroutable, dropped without mandatory and returned with it;
//   - audit.capped (classic, x-max-length 20, drop-head, no dead-letter
//     exchange, no consumer): full, so its limit drops messages;
//   - emails (classic, no dead-letter exchange): a consumer nacks one in
//     three without requeue, so messages are discarded.
//
// startStreamConsumer declares the stream "events" in the test vhost and
// keeps a stream-protocol consumer on it, so that warren reports stream
// consumer lag (the broker reports it for those consumers only).
func startStreamConsumer(t *testing.T, node *rabbittest.Node) {
	t.Helper()
	conn, err := amqp.Dial(node.AMQPURL + testVhost)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ch.QueueDeclare("events", true, false, false, false, amqp.Table{"x-queue-type": "stream"}); err != nil {
		t.Fatalf("declare stream: %v", err)
	}
	sc, err := streamtest.Dial(node.StreamPort, "guest", "guest", testVhost)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sc.Close() })
	if _, err := sc.Subscribe(1, "events", 4); err != nil {
		t.Fatal(err)
	}
}

func startTraffic(t *testing.T, url string) {
	t.Helper()
	conn, err := amqp.Dial(url)
	if err != nil {
		t.Fatalf("AMQP connection to the test vhost: %v", err)
	}
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	declare := func(name string, args amqp.Table) {
		if _, err := ch.QueueDeclare(name, true, false, false, false, args); err != nil {
			t.Fatalf("declare queue %s: %v", name, err)
		}
	}
	if err := ch.ExchangeDeclare("orders.dlx", "direct", true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	declare("orders.dlq", nil)
	if err := ch.QueueBind("orders.dlq", "orders", "orders.dlx", false, nil); err != nil {
		t.Fatal(err)
	}
	declare("orders.retry", amqp.Table{"x-message-ttl": int32(1000), "x-dead-letter-exchange": "", "x-dead-letter-routing-key": "orders"})
	if err := ch.QueueBind("orders.retry", "orders", "orders.dlx", false, nil); err != nil {
		t.Fatal(err)
	}
	declare("orders", amqp.Table{"x-dead-letter-exchange": "orders.dlx", "x-dead-letter-routing-key": "orders"})
	declare("payments", amqp.Table{"x-queue-type": "quorum"})
	declare("reports", nil)
	if err := ch.ExchangeDeclare("audit", "fanout", true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	declare("audit.capped", amqp.Table{"x-max-length": int32(20)})
	declare("emails", nil)

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() {
		cancel()
		conn.Close()
		wg.Wait()
	})
	consume := func(queue string, handle func(n int, d amqp.Delivery)) {
		c, err := conn.Channel()
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Qos(20, 0, false); err != nil {
			t.Fatal(err)
		}
		deliveries, err := c.Consume(queue, "", false, false, false, false, nil)
		if err != nil {
			t.Fatalf("consume %s: %v", queue, err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := 0
			for d := range deliveries { // ends when the connection closes
				n++
				handle(n, d)
			}
		}()
	}
	consume("orders", func(n int, d amqp.Delivery) {
		if n%5 == 0 {
			d.Reject(false)
		} else {
			d.Ack(false)
		}
	})
	consume("payments", func(n int, d amqp.Delivery) {
		if n%10 == 0 && !d.Redelivered {
			d.Nack(false, true)
		} else {
			d.Ack(false)
		}
	})
	consume("emails", func(n int, d amqp.Delivery) {
		if n%3 == 0 {
			d.Nack(false, false)
		} else {
			d.Ack(false)
		}
	})

	pub, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for n := 0; ; n++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			msg := amqp.Publishing{Body: []byte("m"), Timestamp: time.Now(), DeliveryMode: amqp.Persistent}
			var err error
			for _, q := range []string{"orders", "payments", "audit.capped", "emails"} {
				if err == nil {
					err = pub.PublishWithContext(ctx, "", q, false, false, msg)
				}
			}
			if err == nil {
				// Unroutable: dropped, and every other one returned.
				err = pub.PublishWithContext(ctx, "audit", "", n%2 == 0, false, msg)
			}
			if err == nil && n%10 == 0 {
				err = pub.PublishWithContext(ctx, "", "reports", false, false, msg)
			}
			if err != nil {
				return // the connection is closing: the test is over
			}
		}
	}()
}

func indent(s string) string { return strings.ReplaceAll(s, "\n", "\n    ") }

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
