// Package dlq is `warren dlq`: it lists a target's dead-letter queues, reads
// dead letters without removing them, moves them back where they came from
// and purges old ones, without ever losing a message.
//
// Every move follows one discipline, so that a failure at any moment leaves
// each message in the dead-letter queue, in its destination, or (only for
// the moves that were in flight) in both:
//
//   - the original is taken with a manual acknowledgement (basic.get) and
//     stays unacknowledged, hence in the broker, until its copy is safe;
//   - the copy is published on a separate connection in confirm mode with
//     the mandatory flag; a nack, a basic.return or a timeout leaves the
//     original where it was and is reported;
//   - only after the broker confirmed the copy is the original acked
//     (for purge: only after the archive file was written and fsynced).
//
// What was in flight when a connection failed (copies published but not
// confirmed, originals acked but not yet known to be processed) is counted
// and reported: those, and only those, may exist twice.
//
// Import rule: it is an operator's tool on one target, beside delivery and
// exposition: it may import the pipeline (for `list`, which reuses the
// pipeline's own collection and analyses), the analyses, the configuration
// and the snapshot; nothing of warren imports it but cmd/warren.
package dlq
