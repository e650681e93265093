package deadletter

import "github.com/warrenhq/warren/analysis/queuehistory"

// Inflow estimates how many messages entered a queue over a change (queuehistory.Change):
// the increase of its publish counter or, where larger, the growth of its
// depth plus the messages consumers completed meanwhile. The second is
// needed for dead-letter queues: RabbitMQ routes dead letters into them
// without counting a publish (a DLQ's message_stats.publish stays 0), so
// only its depth and acks show them arriving. Messages that expire or are
// dead-lettered out of the queue in the same interval are not seen. A
// counter that went backwards (the queue was re-created) counts from zero
// (queuehistory's reset rule).
func Inflow(c queuehistory.Change) float64 {
	return max(c.Published, float64(c.Messages)+c.Completed, 0)
}
