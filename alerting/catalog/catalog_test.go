package catalog

import (
	"strings"
	"testing"
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
