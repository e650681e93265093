// Package consumerstatus gives every queue a verdict on its consumers, in
// the spirit of Burrow's consumer evaluation: small named rules over the
// queue's recent history (analysis/queuehistory). docs/consumer-status.md
// states the rules.
//
// Import rule: it imports snapshot and analysis/queuehistory only.
package consumerstatus

import (
	"time"

	"github.com/warrenhq/warren/analysis/queuehistory"
)

// Status is the verdict on a queue's consumers. Statuses are ordered by
// how much they need a look, least first (see Compare); the zero value is
// Unknown.
type Status uint8

// The statuses, least in need of a look first.
const (
	Idle        Status = iota + 1 // empty, nothing flowing
	Unknown                       // no statistics yet
	OK                            // anything not below
	Lagging                       // acks advance, but the backlog and its age grow
	NoConsumers                   // a backlog and no consumer
	Stalled                       // consumers and a backlog, and nothing completed for a window
)

// All lists the statuses a queue with known statistics can have, in the
// order their series are exported.
var All = []Status{OK, Idle, NoConsumers, Stalled, Lagging}

var names = [...]string{Idle: "idle", Unknown: "unknown", OK: "ok", Lagging: "lagging", NoConsumers: "no_consumers", Stalled: "stalled"}

// String is the status as exported: the status label's value.
func (s Status) String() string {
	if s == 0 || int(s) >= len(names) {
		return "unknown"
	}
	return names[s]
}

// Parse returns the status a String names, and Unknown for anything else.
func Parse(name string) Status {
	for s := Idle; s <= Stalled; s++ {
		if names[s] == name {
			return s
		}
	}
	return Unknown
}

// rank orders the zero value with Unknown.
func (s Status) rank() int {
	if s == 0 {
		return int(Unknown)
	}
	return int(s)
}

// Compare orders statuses by how much they need a look: negative when a
// needs it less than b.
func Compare(a, b Status) int { return a.rank() - b.rank() }

// Evaluate applies the rules to a queue's history. window is how much
// history the verdicts that look back (stalled, lagging, idle) need.
func Evaluate(s *queuehistory.Polls, window time.Duration) Status {
	if s == nil {
		return Unknown
	}
	h := s.Points
	last := h[len(h)-1]
	since := last.Time.Add(-window)
	// The history may hold one point more than the window needs.
	for len(h) > 1 && !h[1].Time.After(since) {
		h = h[1:]
	}
	first := h[0]
	fullWindow := !first.Time.After(since)
	switch {
	case last.Messages == 0:
		// Empty. Idle unless messages flowed through within the window;
		// an empty queue is never stalled.
		if last.Counters.Published > first.Counters.Published {
			return OK
		}
		return Idle
	case last.Consumers == 0:
		return NoConsumers
	case !fullWindow:
		// A backlog with consumers, but not yet a window of evidence
		// about their progress.
		return OK
	}
	// From here: a backlog and consumers now, and a full window of history.
	if last.Counters.Completed == first.Counters.Completed {
		if consumedThroughout(h) {
			return Stalled
		}
		return OK
	}
	if backlogGrowing(h) {
		return Lagging
	}
	return OK
}

// consumedThroughout reports whether the queue had a backlog and consumers
// in every point, so a lack of progress is the consumers' doing and not a
// consumer that attached a moment ago.
func consumedThroughout(h []queuehistory.Point) bool {
	for _, p := range h {
		if p.Messages == 0 || p.Consumers == 0 {
			return false
		}
	}
	return true
}

// backlogGrowing reports whether the backlog never shrank across the
// window and ended larger than it began, and — where the broker gives the
// head message's age — the oldest message also got older.
func backlogGrowing(h []queuehistory.Point) bool {
	if len(h) < 3 {
		return false
	}
	for i := 1; i < len(h); i++ {
		if h[i].Messages < h[i-1].Messages {
			return false
		}
	}
	first, last := h[0], h[len(h)-1]
	if last.Messages <= first.Messages {
		return false
	}
	if first.HeadAge > 0 && last.HeadAge > 0 && last.HeadAge <= first.HeadAge {
		return false
	}
	return true
}
