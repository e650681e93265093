package notifier

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/warrenhq/warren/alerting/catalog"
	"github.com/warrenhq/warren/internal/testenv/amtest"
	"github.com/warrenhq/warren/internal/testenv/logbuf"
)

// These tests deliver to a real Alertmanager (internal/testenv/amtest). Intervals
// are short so that resends, retries and Alertmanager's group_wait play out
// in seconds; every wait is bounded by a generous deadline.

const (
	testEval   = 200 * time.Millisecond
	testResend = time.Second
	deadline   = 30 * time.Second
)

func mustParseURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// startNotifier creates a Notifier for the given Alertmanagers with test
// intervals, runs it until the test ends, and checks Run returned.
func startNotifier(t *testing.T, opts Options, configs ...AlertmanagerConfig) *Notifier {
	t.Helper()
	if opts.EvaluationInterval == 0 {
		opts.EvaluationInterval = testEval
	}
	if opts.ResendInterval == 0 {
		opts.ResendInterval = testResend
	}
	opts.Alertmanagers = configs
	n, err := NewNotifier(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { n.Run(ctx); close(done) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after cancel")
		}
	})
	return n
}

// evaluate plays the caller: it calls Update every EvaluationInterval with
// whatever firing() returns, until the test ends.
func evaluate(t *testing.T, n *Notifier, firing func() []catalog.Alert) {
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(n.opts.EvaluationInterval)
		defer tick.Stop()
		for {
			n.Update(time.Now(), firing())
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	t.Cleanup(func() { close(stop); <-done })
}

// steadily returns a firing set that never changes: the same alerts, with
// the same StartsAt, at every evaluation.
func steadily(alerts ...catalog.Alert) func() []catalog.Alert {
	return func() []catalog.Alert { return alerts }
}

// firingSet is a firing set the test changes while evaluate runs.
type firingSet struct {
	mu     sync.Mutex
	alerts []catalog.Alert
}

func (f *firingSet) set(alerts ...catalog.Alert) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.alerts = alerts
}

func (f *firingSet) get() []catalog.Alert {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.alerts
}

// waitUntil polls cond until it holds or the deadline passes.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	end := time.Now().Add(deadline)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("not within %v: %s", deadline, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func liveAlert(queue string) catalog.Alert {
	return catalog.Alert{
		Labels: map[string]string{
			"alertname": "WarrenQueueNoConsumers", "severity": "page",
			"cluster": "prod-eu", "vhost": "orders", "queue": queue,
		},
		Annotations: map[string]string{
			"summary":     "Queue orders/" + queue + " has a backlog and no consumers",
			"description": "42 messages ready in orders/" + queue + " on prod-eu, and nothing consumes them.",
			"runbook_url": "https://github.com/warrenhq/warren/blob/main/alerts/RUNBOOK.md#warrenqueuenoconsumers",
		},
		StartsAt:     time.Now().Add(-time.Minute).Truncate(time.Millisecond),
		GeneratorURL: "http://warren:9842/status",
	}
}

func sameMap(a, b map[string]string) bool {
	return fmt.Sprint(a) == fmt.Sprint(b) // fmt sorts map keys
}

func TestFiringAlertReachesWebhookExactlyAndResolvesWhenItLeavesTheFiringSet(t *testing.T) {
	am := amtest.Start(t, amtest.Options{})
	n := startNotifier(t, Options{}, AlertmanagerConfig{URL: mustParseURL(t, am.URL())})
	want := liveAlert("invoices")
	var firing firingSet
	firing.set(want)
	evaluate(t, n, firing.get)

	got := am.WaitFor(t, deadline, func(n amtest.Notification) bool { return n.Status == "firing" })
	if len(got.Alerts) != 1 {
		t.Fatalf("notification carries %d alerts, want 1: %+v", len(got.Alerts), got)
	}
	a := got.Alerts[0]
	if !sameMap(a.Labels, want.Labels) || !sameMap(a.Annotations, want.Annotations) ||
		!a.StartsAt.Equal(want.StartsAt) || a.GeneratorURL != want.GeneratorURL {
		t.Fatalf("webhook got labels %v annotations %v startsAt %v generatorURL %q;\nwant %v %v %v %q",
			a.Labels, a.Annotations, a.StartsAt, a.GeneratorURL, want.Labels, want.Annotations, want.StartsAt, want.GeneratorURL)
	}

	beforeResolve := time.Now()
	firing.set()
	got = am.WaitFor(t, deadline, func(n amtest.Notification) bool { return n.Status == "resolved" })
	if a := got.Alerts[0]; !sameMap(a.Labels, want.Labels) || a.EndsAt.Before(beforeResolve.Truncate(time.Millisecond)) {
		t.Fatalf("resolved notification %+v, want the alert ending after %v", a, beforeResolve)
	}
}

func TestResendsKeepMovingEndsAtForward(t *testing.T) {
	am := amtest.Start(t, amtest.Options{})
	n := startNotifier(t, Options{}, AlertmanagerConfig{URL: mustParseURL(t, am.URL())})
	evaluate(t, n, steadily(liveAlert("invoices")))
	validFor := 4 * max(testEval, testResend)

	var seen []time.Time
	waitUntil(t, "endsAt advanced by three resends", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		before := time.Now()
		alerts, err := am.Alerts(ctx)
		after := time.Now()
		if err != nil || len(alerts) == 0 {
			return false
		}
		endsAt := time.Time(*alerts[0].EndsAt)
		// The last resend was at most a resend interval (plus the time
		// for a delivery) before this query.
		if endsAt.Before(before.Add(validFor-testResend-2*time.Second)) || endsAt.After(after.Add(validFor)) {
			t.Fatalf("endsAt %v is not now + %v (queried between %v and %v)", endsAt, validFor, before, after)
		}
		if len(seen) == 0 || endsAt.After(seen[len(seen)-1]) {
			seen = append(seen, endsAt)
		}
		return len(seen) >= 4
	})
}

func TestAlertmanagerDownQueuesAlertsAndDeliversThemLater(t *testing.T) {
	am := amtest.Start(t, amtest.Options{})
	var log logbuf.Buffer
	// A resend interval far longer than the test: what reaches Alertmanager
	// after the outage comes from the queue, not from a resend.
	n := startNotifier(t, Options{ResendInterval: time.Hour, Logger: log.Logger()},
		AlertmanagerConfig{URL: mustParseURL(t, am.URL())})
	name := n.ams[0].name
	up := func() float64 { return metricValue(t, n.metrics.up.WithLabelValues(name)) }
	queued := func() float64 { return metricValue(t, n.metrics.queued.WithLabelValues(name)) }
	waitUntil(t, "warren_alertmanager_up = 1 before any alert", func() bool { return up() == 1 })

	am.Stop()
	var firing firingSet
	firing.set(liveAlert("invoices"))
	evaluate(t, n, firing.get)
	waitUntil(t, "warren_alertmanager_up = 0 with alerts queued while Alertmanager is down", func() bool {
		return up() == 0 && queued() > 0
	})

	am.Start()
	got := am.WaitFor(t, deadline, func(n amtest.Notification) bool { return n.Status == "firing" })
	if got.Alerts[0].Labels["queue"] != "invoices" {
		t.Fatalf("delivered %+v", got)
	}
	waitUntil(t, "warren_alertmanager_up = 1 and nothing queued after the outage", func() bool {
		return up() == 1 && queued() == 0
	})
	if d := metricValue(t, n.metrics.dropped.WithLabelValues(name)); d != 0 {
		t.Errorf("dropped %v alerts below capacity", d)
	}
	if c := strings.Count(log.String(), "cannot reach Alertmanager"); c != 1 {
		t.Errorf("delivery failure logged %d times, want once per outage:\n%s", c, log.String())
	}
	if c := strings.Count(log.String(), "reachable again"); c != 1 {
		t.Errorf("recovery logged %d times, want once:\n%s", c, log.String())
	}
}

// hungAlertmanager accepts connections and never answers, until the test
// ends. It counts the requests it got.
func hungAlertmanager(t *testing.T) (*httptest.Server, *atomic.Int64) {
	var requests atomic.Int64
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(release); srv.Close() })
	return srv, &requests
}

func TestOneAlertmanagerDownDoesNotDelayTheOther(t *testing.T) {
	healthy := amtest.Start(t, amtest.Options{})
	hung, requests := hungAlertmanager(t)
	n := startNotifier(t, Options{},
		AlertmanagerConfig{URL: mustParseURL(t, hung.URL), Timeout: 5 * time.Minute},
		AlertmanagerConfig{URL: mustParseURL(t, healthy.URL())},
	)
	waitUntil(t, "a request hanging at the broken Alertmanager", func() bool { return requests.Load() > 0 })
	evaluate(t, n, steadily(liveAlert("invoices")))
	healthy.WaitFor(t, deadline, func(n amtest.Notification) bool { return n.Status == "firing" })
}

func TestTwoReplicasSendingTheSameAlertProduceOneNotification(t *testing.T) {
	am := amtest.Start(t, amtest.Options{})
	alert := liveAlert("invoices") // same labels and StartsAt in both replicas
	var replicas []*Notifier
	for range 2 {
		n := startNotifier(t, Options{}, AlertmanagerConfig{URL: mustParseURL(t, am.URL())})
		evaluate(t, n, steadily(alert))
		replicas = append(replicas, n)
	}
	am.WaitFor(t, deadline, func(n amtest.Notification) bool { return n.Status == "firing" })
	// Let both replicas deliver and re-send several times, across several
	// group intervals, before counting.
	waitUntil(t, "each replica delivered the alert three times", func() bool {
		for _, n := range replicas {
			if metricValue(t, n.metrics.sent.WithLabelValues(n.ams[0].name, "success")) < 3 {
				return false
			}
		}
		return true
	})
	if got := am.Notifications(); len(got) != 1 {
		t.Fatalf("webhook got %d notifications, want 1:\n%+v", len(got), got)
	}
}

func TestFullQueueWhileAlertmanagerDownCountsDroppedAlerts(t *testing.T) {
	am := amtest.Start(t, amtest.Options{})
	am.Stop()
	var log logbuf.Buffer
	n := startNotifier(t, Options{QueueCapacity: 5, Logger: log.Logger()},
		AlertmanagerConfig{URL: mustParseURL(t, am.URL())})
	name := n.ams[0].name
	var firing []catalog.Alert
	for i := range 8 {
		firing = append(firing, liveAlert(fmt.Sprintf("q%d", i)))
	}
	n.Update(time.Now(), firing)
	if d := metricValue(t, n.metrics.dropped.WithLabelValues(name)); d != 3 {
		t.Fatalf("dropped %v, want the 3 alerts beyond capacity", d)
	}
	if q := metricValue(t, n.metrics.queued.WithLabelValues(name)); q != 5 {
		t.Fatalf("queued %v, want capacity 5", q)
	}
	waitUntil(t, "a failed delivery", func() bool {
		return metricValue(t, n.metrics.sent.WithLabelValues(name, "error")) > 0
	})
	if c := strings.Count(log.String(), "queue for Alertmanager full"); c != 1 {
		t.Errorf("dropping logged %d times, want once:\n%s", c, log.String())
	}
}

func TestRunReturnsWithinASecondOfCancelWhileARequestHangs(t *testing.T) {
	hung, requests := hungAlertmanager(t)
	n, err := NewNotifier(Options{Alertmanagers: []AlertmanagerConfig{
		{URL: mustParseURL(t, hung.URL), Timeout: time.Hour},
	}})
	if err != nil {
		t.Fatal(err)
	}
	n.Update(time.Now(), []catalog.Alert{liveAlert("invoices")})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { n.Run(ctx); close(done) }()
	waitUntil(t, "the request to hang", func() bool { return requests.Load() > 0 })
	cancel()
	select {
	case <-done:
	case <-time.After(time.Second):
		t.Fatal("Run still running a second after cancel")
	}
}

func TestBasicAuthReachesAlertmanagerAndCredentialsNeverAppearInLogsErrorsOrMetrics(t *testing.T) {
	const user, firstPassword, rotatedPassword = "warren", "first-s3cret", "rotated-s3cret"
	var (
		mu       sync.Mutex
		current  = firstPassword
		readErr  error
		accepted = map[string]int{} // password -> requests accepted with it
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		mu.Lock()
		defer mu.Unlock()
		if !ok || u != user || p != rotatedPassword && p != firstPassword {
			// An Alertmanager behind a proxy echoing what it refused.
			http.Error(w, "refused "+u+":"+p, http.StatusUnauthorized)
			return
		}
		accepted[p]++
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(srv.Close)
	password := func() (string, error) {
		mu.Lock()
		defer mu.Unlock()
		return current, readErr
	}
	var log logbuf.Buffer
	n := startNotifier(t, Options{Logger: log.Logger()},
		AlertmanagerConfig{URL: mustParseURL(t, srv.URL), Username: user, Password: password})
	evaluate(t, n, steadily(liveAlert("invoices")))
	acceptedWith := func(p string) bool { mu.Lock(); defer mu.Unlock(); return accepted[p] > 0 }
	waitUntil(t, "a request with the first password", func() bool { return acceptedWith(firstPassword) })

	mu.Lock()
	current = rotatedPassword // the password file was rotated
	mu.Unlock()
	waitUntil(t, "a request with the rotated password", func() bool { return acceptedWith(rotatedPassword) })

	mu.Lock()
	current = "wrong-s3cret"
	mu.Unlock()
	name := n.ams[0].name
	up := func() float64 { return metricValue(t, n.metrics.up.WithLabelValues(name)) }
	waitUntil(t, "a refused request", func() bool { return up() == 0 })
	// Failures are logged once per state change: recover before the next.
	mu.Lock()
	current = rotatedPassword
	mu.Unlock()
	waitUntil(t, "delivery to succeed again", func() bool { return up() == 1 })
	mu.Lock()
	readErr = errors.New("open /etc/warren/am-password: permission denied")
	mu.Unlock()
	waitUntil(t, "the password read error logged", func() bool { return strings.Contains(log.String(), "permission denied") })

	reg := prometheus.NewRegistry()
	reg.MustRegister(n.Collectors()...)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var metricsText bytes.Buffer
	for _, mf := range families {
		if mf.GetHelp() == "" {
			t.Errorf("%s has no HELP", mf.GetName())
		}
		expfmt.MetricFamilyToText(&metricsText, mf)
	}
	for where, text := range map[string]string{"log": log.String(), "metrics": metricsText.String()} {
		for _, secret := range []string{firstPassword, rotatedPassword, "wrong-s3cret"} {
			if strings.Contains(text, secret) {
				t.Errorf("%s contains a password:\n%s", where, text)
			}
		}
	}
	if !strings.Contains(log.String(), "401") {
		t.Errorf("log does not say the Alertmanager refused the credentials:\n%s", log.String())
	}
}

func TestErrorOfRefusedRequestDoesNotEchoTheResponse(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, p, _ := r.BasicAuth()
		http.Error(w, "refused password "+p, http.StatusUnauthorized)
	}))
	t.Cleanup(srv.Close)
	am, err := newAlertmanager(0, AlertmanagerConfig{
		URL: mustParseURL(t, srv.URL), Username: "u", Password: func() (string, error) { return "s3cret", nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	err = am.send(context.Background(), nil)
	if err == nil || strings.Contains(err.Error(), "s3cret") || !strings.Contains(err.Error(), "401") {
		t.Fatalf("send error = %v; want a 401 that does not echo the password", err)
	}
}

func TestPathPrefixOfTheAlertmanagerURLIsKept(t *testing.T) {
	paths := make(chan string, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case paths <- r.URL.Path:
		default:
		}
	}))
	t.Cleanup(srv.Close)
	startNotifier(t, Options{}, AlertmanagerConfig{URL: mustParseURL(t, srv.URL+"/alertmanager/")})
	select {
	case p := <-paths:
		if p != "/alertmanager/api/v2/alerts" {
			t.Fatalf("request went to %s, want /alertmanager/api/v2/alerts", p)
		}
	case <-time.After(deadline):
		t.Fatal("no request reached the Alertmanager")
	}
}

func TestAlertsAlertmanagerRejectsAreDroppedAndCountedNotRetried(t *testing.T) {
	var (
		mu    sync.Mutex
		posts []string // bodies of non-empty deliveries
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body bytes.Buffer
		body.ReadFrom(r.Body)
		if strings.TrimSpace(body.String()) == "[]" { // the client ends its JSON with a newline
			return // the empty delivery that checks the Alertmanager is up
		}
		mu.Lock()
		posts = append(posts, body.String())
		mu.Unlock()
		http.Error(w, `"start time must be before end time"`, http.StatusBadRequest)
	}))
	t.Cleanup(srv.Close)
	posted := func() []string { mu.Lock(); defer mu.Unlock(); return slices.Clone(posts) }
	var log logbuf.Buffer
	// A resend interval longer than the test: any second post of the same
	// alert would be a retry of the rejected batch.
	n := startNotifier(t, Options{ResendInterval: time.Hour, Logger: log.Logger()},
		AlertmanagerConfig{URL: mustParseURL(t, srv.URL)})
	name := n.ams[0].name
	invoices := liveAlert("invoices")
	n.Update(time.Now(), []catalog.Alert{invoices})
	waitUntil(t, "the rejected alert counted as dropped", func() bool {
		return metricValue(t, n.metrics.dropped.WithLabelValues(name)) == 1
	})
	if q := metricValue(t, n.metrics.queued.WithLabelValues(name)); q != 0 {
		t.Errorf("queued %v after the rejection, want 0", q)
	}
	// The next alert goes through the same queue: it must be posted alone,
	// with the rejected one neither retried before it nor batched with it.
	n.Update(time.Now(), []catalog.Alert{invoices, liveAlert("payments")})
	waitUntil(t, "a second post", func() bool { return len(posted()) >= 2 })
	if p := posted(); strings.Contains(p[1], "invoices") || !strings.Contains(p[1], "payments") {
		t.Fatalf("second post %s, want only the new alert", p[1])
	}
	if !strings.Contains(log.String(), "start time must be before end time") {
		t.Errorf("rejection reason not logged:\n%s", log.String())
	}
}

func TestResponseOverTheBoundIsAFailedDeliveryThatKeepsTheAlertQueued(t *testing.T) {
	var garbage atomic.Bool
	garbage.Store(true)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body bytes.Buffer
		body.ReadFrom(r.Body)
		if !garbage.Load() || strings.TrimSpace(body.String()) == "[]" {
			return
		}
		// A 400 would drop the batch as rejected; this one is not
		// Alertmanager's, and must not.
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusBadRequest)
		w.Write(bytes.Repeat([]byte("x"), 2*maxResponseBytes))
	}))
	t.Cleanup(srv.Close)
	var log logbuf.Buffer
	n := startNotifier(t, Options{ResendInterval: time.Hour, Logger: log.Logger()}, AlertmanagerConfig{URL: mustParseURL(t, srv.URL)})
	name := n.ams[0].name
	n.Update(time.Now(), []catalog.Alert{liveAlert("invoices")})
	waitUntil(t, "a failed delivery", func() bool { return metricValue(t, n.metrics.sent.WithLabelValues(name, "error")) >= 1 })
	if q := metricValue(t, n.metrics.queued.WithLabelValues(name)); q != 1 {
		t.Errorf("queued %v after the oversized answer, want the alert kept", q)
	}
	if d := metricValue(t, n.metrics.dropped.WithLabelValues(name)); d != 0 {
		t.Errorf("dropped %v alerts, want none", d)
	}
	if !strings.Contains(log.String(), "response body over 1048576 bytes") || strings.Contains(log.String(), "xxxxxxxxxx") {
		t.Errorf("log does not say the answer was over the bound, or repeats it:\n%.2000s", log.String())
	}
	garbage.Store(false)
	waitUntil(t, "the alert delivered once the answers are Alertmanager's", func() bool {
		return metricValue(t, n.metrics.queued.WithLabelValues(name)) == 0
	})
}

func TestErrorPayloadsAreCutShortInMessages(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, strings.Repeat("boom ", 10000), http.StatusInternalServerError)
	}))
	t.Cleanup(srv.Close)
	am, err := newAlertmanager(0, AlertmanagerConfig{URL: mustParseURL(t, srv.URL)})
	if err != nil {
		t.Fatal(err)
	}
	err = am.send(context.Background(), nil)
	if err == nil || !strings.Contains(err.Error(), "500") || len(err.Error()) > 600 {
		t.Fatalf("send error of %d bytes: %.700v; want a 500 with at most an excerpt of the payload", len(fmt.Sprint(err)), err)
	}
}
