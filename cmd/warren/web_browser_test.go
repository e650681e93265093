package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/warrenhq/warren/alerting/catalog"
	"github.com/warrenhq/warren/internal/testenv/browsertest"
	"github.com/warrenhq/warren/internal/testenv/rabbittest"
	"github.com/warrenhq/warren/statusapi"
)

// webConfig is alertingConfig without Alertmanagers (the pages show
// what warren evaluates) and without an external URL: its path would
// set the route prefix and the links' base, and the test sets the
// prefix itself.
func webConfig(node *rabbittest.Node, vhost string) string {
	return strings.Replace(alertingConfig(node, vhost), "  external_url: http://warren.test:9842\n", "", 1)
}

// TestWebPagesInABrowserShowAStoppedConsumersAlertItsBurningSLOAndTheQueuesReason
// runs the real binary under a route prefix against a private broker,
// stops the consumer of an SLO's queue, and reads the pages in headless
// Chromium as an on-call engineer would: the overview, then the SLO's
// page by its link, then the queue's page by its link. Screenshots of the
// three go to the test's artifact directory (go test -artifacts keeps
// them).
func TestWebPagesInABrowserShowAStoppedConsumersAlertItsBurningSLOAndTheQueuesReason(t *testing.T) {
	node := rabbittest.StartT(t, rabbittest.Options{})
	browser := browsertest.Start(t)
	const vhost, prefix = "web", "/warren"
	if err := node.AddVhost(vhost); err != nil {
		t.Fatal(err)
	}
	if err := node.SetPermissions(vhost, "guest", ".*", ".*", ".*"); err != nil {
		t.Fatal(err)
	}
	path := writeFile(t, t.TempDir(), "w.yml", webConfig(node, vhost))
	_, base, logs := startAgentUnder(t, prefix, "--config", path, "--storage.path", t.TempDir(), "--web.route-prefix", prefix)

	traffic := newTrafficClient(t, node, vhost, "orders", nil)
	ctx, stopPublishing := context.WithCancel(context.Background())
	defer stopPublishing()
	traffic.consume()
	go traffic.publish(ctx, 10)
	time.Sleep(15 * time.Second) // good events for the 30s page window
	traffic.stopConsuming()
	waitForAlerts(t, base+prefix, logs, catalog.SLOPage, catalog.QueueNoConsumers)

	shots := t.ArtifactDir()
	overview := base + prefix + "/"
	readOverview(t, browser, overview)
	browsertest.Screenshot(t, browser, shots, "overview")
	readSLOPage(t, browser, prefix)
	browsertest.Screenshot(t, browser, shots, "slo")
	readQueuePage(t, browser, overview, prefix)
	browsertest.Screenshot(t, browser, shots, "queue")

	// With JavaScript off the overview is complete: its tables come from
	// the server.
	if _, err := chromedp.Call(browser, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true}); err != nil {
		t.Fatal(err)
	}
	browse(t, browser, chromedp.Navigate(overview), chromedp.WaitVisible(chromedp.CSS("#alerts table")))
	if alerts := text(t, browser, "#alerts table"); !strings.Contains(alerts, catalog.SLOPage) {
		t.Errorf("without JavaScript the overview's alerts lack the SLO page:\n%s", alerts)
	}
}

// readOverview loads the overview and finds the alerts, the SLO paging
// and a title that says so.
func readOverview(t *testing.T, browser context.Context, overview string) {
	t.Helper()
	browse(t, browser, chromedp.Navigate(overview), chromedp.WaitVisible(chromedp.CSS("#alerts table")))
	alerts := text(t, browser, "#alerts table")
	for _, want := range []string{catalog.SLOPage, catalog.QueueNoConsumers, "page", "ago"} {
		if !strings.Contains(alerts, want) {
			t.Errorf("the overview's alerts lack %q:\n%s", want, alerts)
		}
	}
	if slos := text(t, browser, "#slos table"); !strings.Contains(slos, "orders-within-2s") || !strings.Contains(slos, "page") {
		t.Errorf("the overview's SLOs do not show orders-within-2s paging:\n%s", slos)
	}
	if title, _ := chromedp.Run(browser, chromedp.Title()); !strings.Contains(title, "firing") || !strings.Contains(title, catalog.SLOPage) {
		t.Errorf("title %q does not say what fires", title)
	}
}

// readSLOPage follows the overview's SLO link and checks the burn chart
// has points and thresholds, and the PromQL is there.
func readSLOPage(t *testing.T, browser context.Context, prefix string) {
	t.Helper()
	browse(t, browser, chromedp.Click(chromedp.CSS(`#slos a[href="`+prefix+`/slo/orders-within-2s"]`)), chromedp.WaitVisible(chromedp.CSS("#burn svg")))
	points, err := chromedp.Run(browser, chromedp.Evaluate[int](`[...document.querySelectorAll("#burn polyline")].reduce((n, p) => n + p.points.numberOfItems, 0)`))
	if err != nil || points < 2 {
		t.Errorf("the burn chart has %d points (%v)", points, err)
	}
	if thresholds := text(t, browser, "#burn svg"); !strings.Contains(thresholds, "page_fast 14.4×") {
		t.Errorf("the burn chart lacks the page_fast threshold: %q", thresholds)
	}
	if promql := text(t, browser, "#promql pre"); !strings.Contains(promql, `warren_slo_events_total{slo="orders-within-2s"`) {
		t.Errorf("the SLO page's PromQL: %q", promql)
	}
}

// readQueuePage follows the overview's queue link and reads the status
// reason and the queue's alert.
func readQueuePage(t *testing.T, browser context.Context, overview, prefix string) {
	t.Helper()
	browse(t, browser, chromedp.Navigate(overview), chromedp.WaitVisible(chromedp.CSS("#queues table")),
		chromedp.Click(chromedp.CSS(`#queues a[href="`+prefix+`/queue/local/web/orders"]`)), chromedp.WaitVisible(chromedp.CSS("#status .reason")))
	if reason := text(t, browser, "#status .reason"); !strings.HasPrefix(reason, "no_consumers:") || !strings.Contains(reason, "no consumer") {
		t.Errorf("the queue's status reason: %q", reason)
	}
	if queueAlerts := text(t, browser, "#queue-alerts"); !strings.Contains(queueAlerts, catalog.QueueNoConsumers) {
		t.Errorf("the queue page's alerts: %q", queueAlerts)
	}
}

// waitForAlerts waits until the status API lists every alert name.
func waitForAlerts(t *testing.T, base string, logs fmt.Stringer, names ...string) {
	t.Helper()
	for deadline := time.Now().Add(90 * time.Second); ; time.Sleep(time.Second) {
		doc := fetchStatus(t, base)
		if !slices.ContainsFunc(names, func(n string) bool { return !firing(doc, n) }) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("alerts %v not all firing after 90s: %+v\nlogs:\n%s", names, doc.Alerts, logs.String())
		}
	}
}

func firing(doc statusapi.Document, name string) bool {
	return slices.ContainsFunc(doc.Alerts, func(a statusapi.FiringAlert) bool { return a.Labels["alertname"] == name })
}

func browse(t *testing.T, browser context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(browser, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("browser: %v", err)
	}
}

func text(t *testing.T, browser context.Context, selector string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(browser, 10*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.TextContent(chromedp.CSS(selector)))
	if err != nil {
		t.Fatalf("text of %s: %v", selector, err)
	}
	return s
}
