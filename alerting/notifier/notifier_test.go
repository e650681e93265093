package notifier

import (
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/warrenhq/warren/alerting/catalog"
	"github.com/warrenhq/warren/internal/testenv/logbuf"
)

// These tests drive the bookkeeping directly (Update, nextBatch,
// finishBatch) with explicit evaluation times and no network: pure logic.
// Delivery to a real Alertmanager is tested in delivery_test.go.

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// newOfflineNotifier returns a Notifier for Alertmanagers that are never
// contacted (Run is not called).
func newOfflineNotifier(t *testing.T, opts Options, alertmanagers int) *Notifier {
	t.Helper()
	for i := range alertmanagers {
		u, _ := url.Parse("http://127.0.0.1:" + string(rune('1'+i)))
		opts.Alertmanagers = append(opts.Alertmanagers, AlertmanagerConfig{URL: u})
	}
	n, err := NewNotifier(opts)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func queueAlert(name string, extra ...string) catalog.Alert {
	labels := map[string]string{"alertname": name, "severity": "page"}
	for i := 0; i+1 < len(extra); i += 2 {
		labels[extra[i]] = extra[i+1]
	}
	return catalog.Alert{
		Labels:       labels,
		Annotations:  map[string]string{"summary": name + " summary", "description": "d", "runbook_url": "https://r/" + name},
		StartsAt:     t0.Add(-time.Minute),
		GeneratorURL: "http://warren:9842/status",
	}
}

// deliverAll plays a successful delivery of everything am i is owed and
// returns what was sent.
func deliverAll(n *Notifier, i int) []pending {
	var sent []pending
	for {
		batch := n.nextBatch(n.ams[i])
		if len(batch) == 0 {
			return sent
		}
		n.finishBatch(n.ams[i], batch, nil)
		sent = append(sent, batch...)
	}
}

func metricValue(t *testing.T, m prometheus.Metric) float64 {
	t.Helper()
	var pb dto.Metric
	if err := m.Write(&pb); err != nil {
		t.Fatal(err)
	}
	if pb.Gauge != nil {
		return pb.Gauge.GetValue()
	}
	return pb.Counter.GetValue()
}

func TestFiringAlertEndsFourTimesTheLongerIntervalAfterItsEvaluation(t *testing.T) {
	for _, c := range []struct {
		eval, resend, want time.Duration
	}{
		{15 * time.Second, time.Minute, 4 * time.Minute},
		{2 * time.Minute, time.Minute, 8 * time.Minute},
	} {
		n := newOfflineNotifier(t, Options{EvaluationInterval: c.eval, ResendInterval: c.resend}, 1)
		n.Update(t0, []catalog.Alert{queueAlert("A")})
		sent := deliverAll(n, 0)
		if len(sent) != 1 {
			t.Fatalf("sent %d alerts, want 1", len(sent))
		}
		if got := time.Time(sent[0].alert.EndsAt); !got.Equal(t0.Add(c.want)) {
			t.Errorf("eval %v resend %v: endsAt = %v, want %v", c.eval, c.resend, got, t0.Add(c.want))
		}
	}
}

func TestFiringAlertIsSentAtOnceThenOnlyEveryResendInterval(t *testing.T) {
	n := newOfflineNotifier(t, Options{EvaluationInterval: 15 * time.Second, ResendInterval: time.Minute}, 1)
	for _, step := range []struct {
		at       time.Duration
		wantSent bool
	}{
		{0, true},
		{15 * time.Second, false},
		{45 * time.Second, false},
		{60 * time.Second, true},
		{75 * time.Second, false},
		{120 * time.Second, true},
	} {
		now := t0.Add(step.at)
		n.Update(now, []catalog.Alert{queueAlert("A")})
		sent := deliverAll(n, 0)
		if got := len(sent) == 1; got != step.wantSent {
			t.Fatalf("at +%v: sent %v, want %v", step.at, got, step.wantSent)
		}
		if step.wantSent {
			if got, want := time.Time(sent[0].alert.EndsAt), now.Add(4*time.Minute); !got.Equal(want) {
				t.Fatalf("at +%v: endsAt %v, want %v", step.at, got, want)
			}
			if got := time.Time(sent[0].alert.StartsAt); !got.Equal(t0.Add(-time.Minute)) {
				t.Fatalf("at +%v: startsAt %v moved", step.at, got)
			}
		}
	}
}

func TestChangedAnnotationsAreSentAtOnce(t *testing.T) {
	n := newOfflineNotifier(t, Options{}, 1)
	a := queueAlert("A")
	n.Update(t0, []catalog.Alert{a})
	deliverAll(n, 0)
	a.Annotations = map[string]string{"summary": "worse now"}
	n.Update(t0.Add(15*time.Second), []catalog.Alert{a})
	sent := deliverAll(n, 0)
	if len(sent) != 1 || sent[0].alert.Annotations["summary"] != "worse now" {
		t.Fatalf("sent %+v, want the changed alert", sent)
	}
}

func TestResolvedAlertEndsAtResolveTimeAndIsResentUntilRetentionThenForgotten(t *testing.T) {
	n := newOfflineNotifier(t, Options{ResendInterval: time.Minute, ResolvedRetention: 15 * time.Minute}, 1)
	n.Update(t0, []catalog.Alert{queueAlert("A")})
	deliverAll(n, 0)
	resolvedAt := t0.Add(30 * time.Second)
	n.Update(resolvedAt, nil)
	if len(n.Active()) != 0 {
		t.Fatalf("Active() = %v after the alert left the firing set", n.Active())
	}
	sent := deliverAll(n, 0)
	if len(sent) != 1 || !time.Time(sent[0].alert.EndsAt).Equal(resolvedAt) {
		t.Fatalf("sent %+v, want the alert resolved at %v", sent, resolvedAt)
	}
	resends := 0
	for at := resolvedAt.Add(15 * time.Second); at.Before(resolvedAt.Add(15 * time.Minute)); at = at.Add(15 * time.Second) {
		n.Update(at, nil)
		for _, p := range deliverAll(n, 0) {
			resends++
			if !time.Time(p.alert.EndsAt).Equal(resolvedAt) {
				t.Fatalf("resent resolved alert with endsAt %v, want %v", time.Time(p.alert.EndsAt), resolvedAt)
			}
		}
		if len(n.alerts) != 1 {
			t.Fatalf("resolved alert forgotten at %v, within retention", at.Sub(resolvedAt))
		}
	}
	if resends != 14 {
		t.Errorf("resolved alert resent %d times in 15m, want 14 (every minute)", resends)
	}
	n.Update(resolvedAt.Add(15*time.Minute), nil)
	if len(n.alerts) != 0 || n.ams[0].queue.Len() != 0 {
		t.Fatalf("resolved alert still tracked (%d) or queued (%d) after retention", len(n.alerts), n.ams[0].queue.Len())
	}
}

func TestResolvedAlertIsKeptPastRetentionUntilEveryAlertmanagerHasIt(t *testing.T) {
	n := newOfflineNotifier(t, Options{ResolvedRetention: 15 * time.Minute}, 2)
	n.Update(t0, []catalog.Alert{queueAlert("A")})
	deliverAll(n, 0)
	deliverAll(n, 1)
	n.Update(t0.Add(time.Minute), nil)
	deliverAll(n, 0) // the second Alertmanager is down from here on
	down := n.ams[1]
	n.finishBatch(down, n.nextBatch(down), errors.New("connection refused"))

	n.Update(t0.Add(time.Hour), nil)
	if len(n.alerts) != 1 || down.queue.Len() != 1 {
		t.Fatalf("after an hour: tracked %d, queued for the down Alertmanager %d; want 1 and 1", len(n.alerts), down.queue.Len())
	}
	if sent := deliverAll(n, 1); len(sent) != 1 || !time.Time(sent[0].alert.EndsAt).Equal(t0.Add(time.Minute)) {
		t.Fatalf("delivered %+v after the outage, want the resolution", sent)
	}
	n.Update(t0.Add(time.Hour+15*time.Second), nil)
	if len(n.alerts) != 0 {
		t.Fatal("resolved alert still tracked after every Alertmanager received it past retention")
	}
}

func TestAlertFiringAgainBeforeForgottenIsFiringWithItsNewStart(t *testing.T) {
	n := newOfflineNotifier(t, Options{}, 1)
	a := queueAlert("A")
	n.Update(t0, []catalog.Alert{a})
	n.Update(t0.Add(time.Minute), nil)
	deliverAll(n, 0)
	a.StartsAt = t0.Add(2 * time.Minute)
	n.Update(t0.Add(2*time.Minute), []catalog.Alert{a})
	sent := deliverAll(n, 0)
	if len(sent) != 1 {
		t.Fatalf("sent %d alerts, want the re-firing one", len(sent))
	}
	if s, e := time.Time(sent[0].alert.StartsAt), time.Time(sent[0].alert.EndsAt); !s.Equal(a.StartsAt) || !e.After(t0.Add(2*time.Minute)) {
		t.Fatalf("re-fired alert starts %v ends %v, want start %v and an end in the future", s, e, a.StartsAt)
	}
	if len(n.Active()) != 1 {
		t.Fatal("re-fired alert not active")
	}
}

func TestMissingStartsAtIsTheFirstEvaluationAndStaysPut(t *testing.T) {
	n := newOfflineNotifier(t, Options{}, 1)
	a := queueAlert("A")
	a.StartsAt = time.Time{}
	n.Update(t0, []catalog.Alert{a})
	deliverAll(n, 0)
	n.Update(t0.Add(15*time.Second), []catalog.Alert{a})
	if sent := deliverAll(n, 0); len(sent) != 0 {
		t.Fatalf("unchanged alert without StartsAt re-sent as changed: %+v", sent)
	}
	if got := n.Active()[0].StartsAt; !got.Equal(t0) {
		t.Fatalf("StartsAt = %v, want the first evaluation %v", got, t0)
	}
}

func TestAlertChangedDuringDeliveryStaysOwed(t *testing.T) {
	n := newOfflineNotifier(t, Options{}, 1)
	a := queueAlert("A")
	n.Update(t0, []catalog.Alert{a})
	inFlight := n.nextBatch(n.ams[0])
	n.Update(t0.Add(15*time.Second), nil) // resolved while the firing state is on the wire
	n.finishBatch(n.ams[0], inFlight, nil)
	sent := deliverAll(n, 0)
	if len(sent) != 1 || !time.Time(sent[0].alert.EndsAt).Equal(t0.Add(15*time.Second)) {
		t.Fatalf("after delivering the stale state, sent %+v; want the resolution", sent)
	}
}

func TestFullQueueDropsOldestAlertsAndCountsThem(t *testing.T) {
	n := newOfflineNotifier(t, Options{QueueCapacity: 3}, 2)
	var firing []catalog.Alert
	for _, q := range []string{"q1", "q2", "q3", "q4", "q5"} {
		firing = append(firing, queueAlert("A", "queue", q))
		n.Update(t0, firing) // one more alert per evaluation, so q1 is owed longest
	}
	for _, am := range n.ams {
		if got := metricValue(t, n.metrics.dropped.WithLabelValues(am.name)); got != 2 {
			t.Errorf("%s: dropped %v, want 2", am.name, got)
		}
		if got := metricValue(t, n.metrics.queued.WithLabelValues(am.name)); got != 3 {
			t.Errorf("%s: queued %v, want 3", am.name, got)
		}
	}
	var queues []string
	for _, p := range deliverAll(n, 0) {
		queues = append(queues, p.alert.Labels["queue"])
	}
	if got := strings.Join(queues, ","); got != "q3,q4,q5" {
		t.Errorf("delivered %s, want the newest three q3,q4,q5", got)
	}
	if got := metricValue(t, n.metrics.queued.WithLabelValues(n.ams[0].name)); got != 0 {
		t.Errorf("queued %v after delivery, want 0", got)
	}
}

func TestInvalidAlertsAreLeftOutAndLoggedOncePerProblem(t *testing.T) {
	var log logbuf.Buffer
	n := newOfflineNotifier(t, Options{Logger: log.Logger()}, 1)
	bad := queueAlert("A")
	bad.Labels["bad-name"] = "x"
	good := queueAlert("B")
	for i := range 3 {
		n.Update(t0.Add(time.Duration(i)*15*time.Second), []catalog.Alert{bad, good, good})
	}
	sent := deliverAll(n, 0)
	if len(sent) != 1 || sent[0].alert.Labels["alertname"] != "B" {
		t.Fatalf("sent %+v, want only the valid alert", sent)
	}
	out := log.String()
	if c := strings.Count(out, `invalid label name \"bad-name\"`); c != 1 {
		t.Errorf("invalid label logged %d times, want once:\n%s", c, out)
	}
	if c := strings.Count(out, "firing twice"); c != 1 {
		t.Errorf("duplicate logged %d times, want once:\n%s", c, out)
	}
}

func TestEmptyLabelValuesDoNotChangeIdentity(t *testing.T) {
	n := newOfflineNotifier(t, Options{}, 1)
	a, b := queueAlert("A"), queueAlert("A", "vhost", "")
	n.Update(t0, []catalog.Alert{a})
	deliverAll(n, 0)
	n.Update(t0.Add(15*time.Second), []catalog.Alert{b})
	if sent := deliverAll(n, 0); len(sent) != 0 {
		t.Fatalf("an empty label value made a new alert: %+v", sent)
	}
	if _, ok := n.Active()[0].Labels["vhost"]; ok {
		t.Fatal("empty label kept")
	}
}

func TestActiveIsSortedCopiedAndCountedPerAlertnameAndSeverity(t *testing.T) {
	n := newOfflineNotifier(t, Options{}, 0)
	n.Update(t0, []catalog.Alert{queueAlert("B", "queue", "b"), queueAlert("A", "queue", "z"), queueAlert("A", "queue", "a")})
	active := n.Active()
	var order []string
	for _, a := range active {
		order = append(order, a.Labels["alertname"]+"/"+a.Labels["queue"])
	}
	if got := strings.Join(order, ","); got != "A/a,A/z,B/b" {
		t.Fatalf("Active() order %s, want A/a,A/z,B/b", got)
	}
	active[0].Labels["queue"] = "mutated"
	if n.Active()[0].Labels["queue"] != "a" {
		t.Fatal("Active() returned the notifier's own map")
	}
	if got := metricValue(t, n.metrics.active.WithLabelValues("A", "page")); got != 2 {
		t.Fatalf("active A/page = %v, want 2", got)
	}
	n.Update(t0.Add(15*time.Second), []catalog.Alert{queueAlert("B", "queue", "b")})
	if got := metricValue(t, n.metrics.active.WithLabelValues("A", "page")); got != 0 {
		t.Fatalf("active A/page = %v after A resolved, want 0", got)
	}
}

func TestNewNotifierRejectsCredentialsInURLWithoutRepeatingThem(t *testing.T) {
	u, _ := url.Parse("http://user:hunter2@127.0.0.1:9093")
	_, err := NewNotifier(Options{Alertmanagers: []AlertmanagerConfig{{URL: u}}})
	if err == nil {
		t.Fatal("accepted a URL with credentials")
	}
	if strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("error repeats the password: %v", err)
	}
}

func TestNewNotifierRejectsBadConfigurations(t *testing.T) {
	parse := func(s string) *url.URL { u, _ := url.Parse(s); return u }
	password := func() (string, error) { return "p", nil }
	for name, opts := range map[string]Options{
		"no URL":               {Alertmanagers: []AlertmanagerConfig{{}}},
		"ftp":                  {Alertmanagers: []AlertmanagerConfig{{URL: parse("ftp://am:9093")}}},
		"no host":              {Alertmanagers: []AlertmanagerConfig{{URL: parse("http:///x")}}},
		"twice":                {Alertmanagers: []AlertmanagerConfig{{URL: parse("http://am:9093")}, {URL: parse("http://am:9093/")}}},
		"user without pass":    {Alertmanagers: []AlertmanagerConfig{{URL: parse("http://am:9093"), Username: "u"}}},
		"negative capacity":    {QueueCapacity: -1},
		"negative resend":      {ResendInterval: -time.Second},
		"negative timeout":     {Alertmanagers: []AlertmanagerConfig{{URL: parse("http://am:9093"), Password: password, Timeout: -1}}},
		"query in URL":         {Alertmanagers: []AlertmanagerConfig{{URL: parse("http://am:9093/?x=1")}}},
		"negative retention":   {ResolvedRetention: -time.Second},
		"negative evaluation":  {EvaluationInterval: -time.Second},
		"fragment in URL":      {Alertmanagers: []AlertmanagerConfig{{URL: parse("http://am:9093/#x")}}},
		"https with no host":   {Alertmanagers: []AlertmanagerConfig{{URL: parse("https://")}}},
		"relative URL, no sch": {Alertmanagers: []AlertmanagerConfig{{URL: parse("am:9093")}}},
	} {
		if _, err := NewNotifier(opts); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestAlertmanagerLabelIsTheURLWithoutTrailingSlash(t *testing.T) {
	u, _ := url.Parse("https://am.example:9093/prefix/")
	n, err := NewNotifier(Options{Alertmanagers: []AlertmanagerConfig{{URL: u}}})
	if err != nil {
		t.Fatal(err)
	}
	if got := n.ams[0].name; got != "https://am.example:9093/prefix" {
		t.Fatalf("alertmanager label %q", got)
	}
}
