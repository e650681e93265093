package statusapi

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/warrenhq/warren/outbox"
)

// OutboxStatus is one outbox table (docs/outbox.md): whether warren can
// read it, and what its latest successful poll found.
type OutboxStatus struct {
	Name string `json:"name"`
	Up   bool   `json:"up"`
	// Error is the reason the latest poll failed (warren_outbox_poll_errors_total's
	// reason label); absent while the outbox is up.
	Error string `json:"error,omitempty"`
	// Pending and OldestPendingAge are over every event type, from the
	// latest successful poll.
	Pending          float64 `json:"pending"`
	OldestPendingAge float64 `json:"oldest_pending_age_seconds"`
	// LastDispatch is when a poll last counted a dispatched row, absent
	// before any and for an outbox without dispatched_at, which knows
	// none (HasDispatchTime).
	LastDispatch    string `json:"last_dispatch,omitempty"`
	HasDispatchTime bool   `json:"has_dispatch_time"`
}

// outboxes returns the outboxes polled at least once, by name.
func outboxes(statuses []outbox.Status) []OutboxStatus {
	out := []OutboxStatus{}
	for _, st := range statuses {
		o := OutboxStatus{Name: st.Name, Up: st.Up, Error: string(st.Reason), Pending: st.Pending,
			OldestPendingAge: st.OldestAge, HasDispatchTime: st.HasLatency}
		if !st.LastDispatch.IsZero() {
			o.LastDispatch = st.LastDispatch.UTC().Format(time.RFC3339)
		}
		out = append(out, o)
	}
	slices.SortFunc(out, func(a, b OutboxStatus) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// outboxes writes the outboxes, if any; one that cannot be read is red.
func (t *table) outboxes(outboxes []OutboxStatus, now time.Time) {
	if len(outboxes) == 0 {
		return
	}
	fmt.Fprintln(t.tw, "OUTBOXES")
	t.line("OUTBOX", "UP", "PENDING", "OLDEST PENDING", "LAST DISPATCH", "PROBLEM")
	for _, o := range outboxes {
		up, problem := "yes", ""
		if !o.Up {
			up, problem = "NO", "cannot be read: "+o.Error
		}
		last := "-"
		if at, err := time.Parse(time.RFC3339, o.LastDispatch); err == nil {
			last = Ago(now.Sub(at)) + " ago"
		} else if o.HasDispatchTime {
			last = "none seen"
		}
		t.line(o.Name, up, fmt.Sprint(o.Pending), Ago(time.Duration(o.OldestPendingAge*float64(time.Second))), last, t.paint(red, problem))
	}
	fmt.Fprintln(t.tw)
}
