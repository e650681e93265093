package catalog

import (
	"fmt"
	"time"

	"github.com/warrenhq/warren/slo"
)

// Names of the outbox alerts (docs/outbox.md).
const (
	// OutboxStuck: rows pending, the oldest older than the threshold, and
	// none dispatched within as long: a dead dispatcher.
	OutboxStuck = "WarrenOutboxStuck"
	// OutboxDatabaseDown: warren cannot query an outbox's database.
	OutboxDatabaseDown = "WarrenOutboxDatabaseDown"
)

// Stuck is WarrenOutboxStuck's labels and annotations: the outbox has
// pending rows, the oldest age seconds old, and dispatched none for window.
func Stuck(outbox string, pending, age float64, window time.Duration) (labels, annotations map[string]string) {
	return map[string]string{"outbox": outbox}, describe(OutboxStuck,
		fmt.Sprintf("Outbox %s has pending rows and dispatches none", outbox),
		fmt.Sprintf("Outbox %s holds %.0f pending row(s), the oldest %s old, and no row was dispatched in the last %s: its dispatcher is dead or stuck, and these events reach no queue.",
			outbox, pending, slo.FormatDuration(time.Duration(age)*time.Second), slo.FormatDuration(window)))
}

// DatabaseDown is WarrenOutboxDatabaseDown's labels and annotations, with
// the reason of the failed poll.
func DatabaseDown(outbox, reason string) (labels, annotations map[string]string) {
	return map[string]string{"outbox": outbox}, describe(OutboxDatabaseDown,
		fmt.Sprintf("warren cannot query the database of outbox %s", outbox),
		fmt.Sprintf("Polls of outbox %s fail (%s): its pending rows and dispatch latency are unknown, and its SLOs count no events.", outbox, reason))
}
