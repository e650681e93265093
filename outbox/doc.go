// Package outbox is the source for transactional outbox tables: once per
// poll it runs one indexed, aggregating query per outbox on its
// PostgreSQL database and publishes the result as an immutable Sample —
// pending rows, the oldest pending row's age, and the dispatch latencies
// of the rows dispatched since the previous poll, already counted into
// histogram buckets and per-threshold good and total events in SQL, so
// that no row is ever fetched. Metrics exports the samples, and the SLIs
// (slo/sli) count their events.
//
// A database that is down, slow, or lacks a column fails a poll with a
// Reason (warren_outbox_poll_errors_total{reason}, warren_outbox_up 0)
// and one log line when the reason changes; the loop carries on.
//
// docs/outbox.md describes the query, the indexes it needs and its limits.
//
// Import rule: it imports internal/config and internal/exposition only
// (and the PostgreSQL driver); slo/sli and agent import it.
package outbox
