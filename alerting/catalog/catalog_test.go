package catalog

import (
	"strings"
	"testing"
	"time"
)

func TestQueueAlertsSpeakOfTheQueueByName(t *testing.T) {
	q := QueueRef{Cluster: "prod", Vhost: "shop", Name: "orders"}
	for name, build := range map[string]func(QueueRef) (map[string]string, map[string]string){
		QueueNoConsumers: NoConsumers, QueueStalled: Stalled, DeadLetterInflow: DeadLetters,
	} {
		labels, annotations := build(q)
		if labels["cluster"] != "prod" || labels["vhost"] != "shop" || labels["queue"] != "orders" {
			t.Errorf("%s: labels %v", name, labels)
		}
		for _, text := range []string{annotations["summary"], annotations["description"]} {
			if !strings.Contains(text, "orders") || strings.Contains(text, "QueueRef") {
				t.Errorf("%s: %q should name the queue in words an on-call engineer reads", name, text)
			}
		}
		if annotations["runbook_url"] != RunbookURL(name) {
			t.Errorf("%s: runbook %q", name, annotations["runbook_url"])
		}
	}
	if _, a := NoConsumers(q); a["summary"] != "Queue orders has messages and no consumer" {
		t.Errorf("summary %q", a["summary"])
	}
}

func TestTheConsumerTimeoutAlertGivesTheAgeInWholeSecondsAndTheTimeout(t *testing.T) {
	labels, a := NearConsumerTimeout(QueueRef{Cluster: "prod", Vhost: "shop", Name: "orders"}, 48*time.Second+700*time.Millisecond, time.Minute)
	if labels["cluster"] != "prod" || labels["vhost"] != "shop" || labels["queue"] != "orders" {
		t.Errorf("labels %v", labels)
	}
	if a["summary"] != "A delivery of queue orders nears its consumer timeout of 1m" {
		t.Errorf("summary %q", a["summary"])
	}
	for _, text := range []string{"queue orders (vhost shop, cluster prod)", "about 49s", "consumer timeout is 1m", "closes the consumer's channel and requeues the delivery"} {
		if !strings.Contains(a["description"], text) {
			t.Errorf("description lacks %q: %s", text, a["description"])
		}
	}
}
