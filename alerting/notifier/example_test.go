package notifier_test

import (
	"context"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/warrenhq/warren/alerting/catalog"
	"github.com/warrenhq/warren/alerting/notifier"
)

// The wiring an agent needs: build the Notifier, register its metrics, run
// delivery, and hand it the firing set at every evaluation.
func ExampleNotifier() {
	amURL, _ := url.Parse("http://alertmanager:9093")
	n, err := notifier.NewNotifier(notifier.Options{
		Alertmanagers: []notifier.AlertmanagerConfig{{
			URL:      amURL,
			Username: "warren",
			Password: func() (string, error) { // read at each send: rotations need no restart
				b, err := os.ReadFile("/etc/warren/am-password")
				return strings.TrimSuffix(string(b), "\n"), err
			},
		}},
		EvaluationInterval: 15 * time.Second,
		Logger:             slog.Default(),
	})
	if err != nil {
		panic(err)
	}
	prometheus.MustRegister(n.Collectors()...)

	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	go n.Run(ctx)

	startedAt := time.Now() // kept by the evaluator while the condition holds
	firing := []catalog.Alert{{
		Labels: map[string]string{"alertname": "RabbitMQQueueStalled", "severity": "page",
			"cluster": "prod-eu", "vhost": "orders", "queue": "invoices"},
		Annotations: map[string]string{
			"summary":     "Consumers of orders/invoices stopped acknowledging",
			"description": "120 messages wait in orders/invoices on prod-eu; acks have not advanced for 5m.",
			"runbook_url": "https://github.com/warrenhq/warren/blob/main/alerts/RUNBOOK.md#rabbitmqqueuestalled",
		},
		StartsAt:     startedAt,
		GeneratorURL: "https://warren.example/api/v1/status?cluster=prod-eu&vhost=orders&queue=invoices",
	}}
	n.Update(time.Now(), firing)
	tick := time.NewTicker(15 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			n.Update(now, firing) // the complete set: an alert left out is resolved
		}
	}
}
