package amtest

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"
)

// post sends alerts to am the plain way, without the notifier under test.
func post(t *testing.T, am *Alertmanager, body string) {
	t.Helper()
	resp, err := http.Post(am.URL()+"/api/v2/alerts", "application/json", bytes.NewBufferString(body))
	if err != nil {
		t.Fatalf("POST alerts: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST alerts: %s", resp.Status)
	}
}

func TestPostedAlertReachesWebhookAndAPIAndRestartKeepsTheURL(t *testing.T) {
	am := Start(t, Options{})
	startsAt := time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)
	post(t, am, fmt.Sprintf(`[{"labels":{"alertname":"HarnessCheck","queue":"orders"},
		"annotations":{"summary":"s"},"startsAt":%q,"generatorURL":"http://warren/x"}]`, startsAt))

	n := am.WaitFor(t, 30*time.Second, func(n Notification) bool { return n.Status == "firing" })
	if len(n.Alerts) != 1 || n.Alerts[0].Labels["queue"] != "orders" || n.Alerts[0].Annotations["summary"] != "s" ||
		n.Alerts[0].GeneratorURL != "http://warren/x" || n.GroupLabels["alertname"] != "HarnessCheck" {
		t.Fatalf("unexpected notification %+v", n)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	alerts, err := am.Alerts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(alerts) != 1 || alerts[0].Labels["alertname"] != "HarnessCheck" {
		t.Fatalf("API alerts = %+v, want the one posted", alerts)
	}

	am.Stop()
	if _, err := am.Alerts(ctx); err == nil {
		t.Fatal("Alerts succeeded on a stopped Alertmanager")
	}
	url := am.URL()
	am.Start()
	if am.URL() != url {
		t.Fatalf("restart moved the Alertmanager from %s to %s", url, am.URL())
	}
	// Alertmanager holds alerts in memory only: a restart forgets them.
	alerts, err = am.Alerts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(alerts) != 0 {
		t.Fatalf("after restart API alerts = %+v, want none", alerts)
	}
}

func TestResolvedAlertProducesResolvedNotification(t *testing.T) {
	am := Start(t, Options{GroupBy: []string{"alertname"}})
	start := time.Now().Add(-time.Minute).UTC()
	body := `[{"labels":{"alertname":"HarnessResolve"},"startsAt":%q,"endsAt":%q}]`
	post(t, am, fmt.Sprintf(body, start.Format(time.RFC3339), start.Add(time.Hour).Format(time.RFC3339)))
	am.WaitFor(t, 30*time.Second, func(n Notification) bool { return n.Status == "firing" })
	post(t, am, fmt.Sprintf(body, start.Format(time.RFC3339), time.Now().UTC().Format(time.RFC3339)))
	n := am.WaitFor(t, 30*time.Second, func(n Notification) bool { return n.Status == "resolved" })
	if n.Alerts[0].Status != "resolved" || n.GroupLabels["alertname"] != "HarnessResolve" {
		t.Fatalf("unexpected notification %+v", n)
	}
}
