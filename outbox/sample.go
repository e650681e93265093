package outbox

import "time"

// Sample is one successful poll of an outbox. It is never changed after
// it is published.
type Sample struct {
	Outbox string
	// Time is when the poll ran (warren's clock).
	Time time.Time
	// Baseline is true for the first poll after warren started, or after
	// a failure that forgot the watermark (Poller.Poll): it counts
	// pending rows but no dispatched ones, since there is no previous
	// watermark to count from.
	Baseline bool
	// HasLatency is false for an outbox without a dispatched_at column:
	// only Pending and OldestAge are measured.
	HasLatency bool
	// Thresholds are the thresholds of every Type's Within, FreshLate and
	// Crossed, ascending; Buckets the histogram's upper bounds.
	Thresholds []time.Duration
	Buckets    []float64
	// Types holds one entry per event type (a single one with EventType
	// "" without an event_type column), sorted by EventType.
	Types []TypeSample
}

// TypeSample is one event type's share of a sample.
type TypeSample struct {
	EventType string
	// Pending is the number of rows not dispatched yet; OldestAge the age
	// of the oldest of them in seconds by the database's clock (0 when
	// none is pending).
	Pending   float64
	OldestAge float64
	// Dispatched is the number of rows dispatched since the previous
	// watermark, LatencySum the sum of their dispatch latencies in
	// seconds, BucketCounts their cumulative counts per bucket.
	Dispatched   float64
	LatencySum   float64
	BucketCounts []float64
	// Per threshold: Within counts the rows dispatched within it;
	// FreshLate the rows dispatched later than it that had not crossed
	// it before the previous watermark; Crossed the rows that crossed it
	// while pending. Each row adds one event per threshold, once:
	// Within is good, Within+FreshLate+Crossed all events.
	Within    []float64
	FreshLate []float64
	Crossed   []float64
	// LateCommits are the rows of Dispatched found by counting a
	// window of an earlier poll again: their dispatch committed more
	// than commit_delay after its stamp (see lateCommits).
	LateCommits float64
}

// Total returns the events of threshold index i: good and bad.
func (t *TypeSample) Total(i int) float64 { return t.Within[i] + t.FreshLate[i] + t.Crossed[i] }

// ThresholdIndex returns the index of th in s.Thresholds, or -1.
func (s *Sample) ThresholdIndex(th time.Duration) int {
	for i, t := range s.Thresholds {
		if t == th {
			return i
		}
	}
	return -1
}
