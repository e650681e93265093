package conditions

import (
	"time"

	"github.com/warrenhq/warren/alerting/catalog"
	"github.com/warrenhq/warren/internal/webpath"
	"github.com/warrenhq/warren/outbox"
)

// SetOutboxes makes the health alerts read the outboxes' statuses from
// statuses (the agent's outbox metrics).
func (h *HealthAlerts) SetOutboxes(statuses func() []outbox.Status) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.outboxes = statuses
}

// outboxCandidates adds WarrenOutboxDatabaseDown for an outbox whose
// latest poll failed, and WarrenOutboxStuck for one with rows pending,
// the oldest past the threshold, and no dispatch within the threshold
// either, counted from warren's latest baseline poll at the earliest
// (a status-only outbox, which knows no dispatches, on the oldest row's
// age alone).
func outboxCandidates(statuses []outbox.Status, now time.Time, c *collect) {
	threshold := c.rules[catalog.OutboxStuck].Threshold
	window := time.Duration(threshold * float64(time.Second))
	for _, st := range statuses {
		path := webpath.Overview("", "") // no page of its own: the overview lists its alerts
		if !st.Up {
			l, a := catalog.DatabaseDown(st.Name, string(st.Reason))
			c.add(catalog.OutboxDatabaseDown, l, a, path)
			continue
		}
		if st.Pending == 0 || st.OldestAge <= threshold {
			continue
		}
		// Time without a dispatch is counted from the first poll after
		// warren started or the database came back at the earliest:
		// a baseline counts no dispatch, and a dispatcher needs the
		// database too, so an outage must not look like a dead one.
		lastMove := st.LastDispatch
		if st.Watching.After(lastMove) {
			lastMove = st.Watching
		}
		if st.HasLatency && now.Sub(lastMove) < window {
			continue
		}
		l, a := catalog.Stuck(st.Name, st.Pending, st.OldestAge, window)
		c.add(catalog.OutboxStuck, l, a, path)
	}
}
