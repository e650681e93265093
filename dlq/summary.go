package dlq

import (
	"encoding/json"
	"os"
	"path/filepath"
)

// Failure reasons of a message that was not moved; its original stays in
// the dead-letter queue.
const (
	FailNack      = "nack"      // the broker refused the copy
	FailReturned  = "returned"  // the copy was unroutable (basic.return)
	FailTimeout   = "timeout"   // no confirm within the confirm timeout
	FailNoOrigin  = "no_origin" // --to-origin, but the message has no x-death
	FailConnAbort = "connection"
)

// Summary is what a replay or purge did. It is printed, and written as
// JSON with --summary-json.
type Summary struct {
	Queue  string `json:"queue"`
	DryRun bool   `json:"dry_run"`
	// Moved messages are in their destination (purge: archived and
	// removed), their originals acked.
	Moved int `json:"moved"`
	// Failed messages were not moved; their originals are still in the
	// queue. Failures counts them by reason.
	Failed   int            `json:"failed"`
	Failures map[string]int `json:"failures"`
	// Left is the queue's depth at the end (-1 when it could not be read).
	Left int `json:"left"`
	// NotSelected messages were read and left in the queue: the replay's
	// filter did not select them.
	NotSelected int `json:"not_selected"`
	// MovedBefore messages were acked without a copy: the journal says an
	// earlier run's copy of each was confirmed, and the broker had undone
	// its ack.
	MovedBefore int `json:"moved_before"`
	// InFlightAtFailure counts the messages that were in flight when a
	// connection failed: published but not confirmed, or acked but not
	// known to be processed. Each may now exist both in the destination
	// and in the queue: these are the only possible duplicates.
	InFlightAtFailure int `json:"in_flight_at_failure"`
	// Destinations counts moved (or, in a dry run, movable) messages per
	// destination.
	Destinations map[string]int `json:"destinations"`
	// Stopped says why the run ended before the queue (or --limit) was
	// exhausted; empty when it did not.
	Stopped string  `json:"stopped,omitempty"`
	Seconds float64 `json:"seconds"`
}

func newSummary(queue string, dryRun bool) Summary {
	return Summary{Queue: queue, DryRun: dryRun, Failures: map[string]int{}, Destinations: map[string]int{}, Left: -1}
}

func (s *Summary) fail(reason string) {
	s.Failed++
	s.Failures[reason]++
}

// stop records the first reason the run ended early.
func (s *Summary) stop(reason string) {
	if s.Stopped == "" {
		s.Stopped = reason
	}
}

// OK reports whether everything asked for was done.
func (s Summary) OK() bool { return s.Failed == 0 && s.Stopped == "" }

// WriteJSON writes the summary to path atomically (temporary file, fsync,
// rename), so a crash never leaves half a summary.
func (s Summary) WriteJSON(path string) error {
	raw, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return writeFileSync(path, append(raw, '\n'))
}

func writeFileSync(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
