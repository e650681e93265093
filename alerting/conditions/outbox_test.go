package conditions

import (
	"testing"
	"time"

	"github.com/warrenhq/warren/alerting/catalog"
	"github.com/warrenhq/warren/internal/config"
	"github.com/warrenhq/warren/outbox"
)

func outboxAlerts(t *testing.T, now time.Time, statuses ...outbox.Status) map[string]string {
	t.Helper()
	h := NewHealth(config.HealthAlertsConfig{}, nil)
	c := &collect{rules: h.rules}
	outboxCandidates(statuses, now, c)
	out := map[string]string{}
	for _, cand := range c.out {
		out[cand.labels["outbox"]] = cand.labels["alertname"]
	}
	return out
}

func TestOutboxStuckNeedsOldPendingRowsAndNoDispatchWithinTheWindow(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	got := outboxAlerts(t, now,
		// Dead: old rows, last dispatch 6 minutes ago.
		outbox.Status{Name: "dead", Attempted: true, Up: true, HasLatency: true, Pending: 40, OldestAge: 400, Watching: now.Add(-time.Hour), LastDispatch: now.Add(-6 * time.Minute)},
		// Slow but moving: old rows, a dispatch a minute ago.
		outbox.Status{Name: "slow", Attempted: true, Up: true, HasLatency: true, Pending: 40, OldestAge: 900, Watching: now.Add(-time.Hour), LastDispatch: now.Add(-time.Minute)},
		// Just started watching: no dispatch seen yet, but only 2 minutes in.
		outbox.Status{Name: "new", Attempted: true, Up: true, HasLatency: true, Pending: 40, OldestAge: 900, Watching: now.Add(-2 * time.Minute)},
		// Back from a database outage: the last dispatch is old, but
		// the reconnection's baseline was a minute ago.
		outbox.Status{Name: "reconnected", Attempted: true, Up: true, HasLatency: true, Pending: 40, OldestAge: 900, Watching: now.Add(-time.Minute), LastDispatch: now.Add(-time.Hour)},
		// Idle: nothing pending, nothing dispatched for an hour.
		outbox.Status{Name: "idle", Attempted: true, Up: true, HasLatency: true, Watching: now.Add(-time.Hour)},
		// Status-only: the age decides.
		outbox.Status{Name: "legacy", Attempted: true, Up: true, Pending: 1, OldestAge: 301, Watching: now.Add(-time.Minute)},
		outbox.Status{Name: "db", Attempted: true, Up: false, Reason: outbox.ReasonConnect},
	)
	want := map[string]string{"dead": catalog.OutboxStuck, "legacy": catalog.OutboxStuck, "db": catalog.OutboxDatabaseDown}
	if len(got) != len(want) {
		t.Errorf("alerts %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("outbox %s: %q, want %q (all: %v)", k, got[k], v, got)
		}
	}
}
