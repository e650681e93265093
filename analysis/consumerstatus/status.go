// Package consumerstatus gives every queue a verdict on its consumers, in
// the spirit of Burrow's consumer evaluation: small named rules over the
// queue's recent history (analysis/queuehistory). docs/consumer-status.md
// states the rules.
//
// Import rule: it imports snapshot and analysis/queuehistory only.
package consumerstatus

import (
	"fmt"
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
	return Explain(s, window).Status
}

// Verdict is a status with the rule that decided it and the numbers the
// rule read, for a person (the web UI's queue page, the status API).
type Verdict struct {
	Status Status
	// Reason names the rule and its numbers, e.g. "stalled: 120 messages
	// and 1 consumer throughout the 1m window, and no message completed".
	Reason string
}

// Explain applies the rules to a queue's history, as Evaluate does, and
// says which rule decided and with what numbers.
func Explain(s *queuehistory.Polls, window time.Duration) Verdict {
	if s == nil {
		return Verdict{Unknown, "unknown: no statistics for the queue yet"}
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
	span := last.Time.Sub(first.Time).Round(time.Second)
	switch {
	case last.Messages == 0:
		// Empty. Idle unless messages flowed through within the window;
		// an empty queue is never stalled.
		if n := last.Counters.Published - first.Counters.Published; last.Counters.Published > first.Counters.Published {
			return Verdict{OK, fmt.Sprintf("ok: empty, and %s published over the last %s", count(n, "message"), span)}
		}
		return Verdict{Idle, fmt.Sprintf("idle: empty, and nothing published over the last %s", span)}
	case last.Consumers == 0:
		return Verdict{NoConsumers, fmt.Sprintf("no_consumers: %s waiting and no consumer", count(last.Messages, "message"))}
	case !fullWindow:
		// A backlog with consumers, but not yet a window of evidence
		// about their progress.
		return Verdict{OK, fmt.Sprintf("ok: %s waiting with %s; %s of history, short of the %s window that stalled and lagging need",
			count(last.Messages, "message"), count(last.Consumers, "consumer"), span, window)}
	}
	// From here: a backlog and consumers now, and a full window of history.
	done := last.Counters.Completed - first.Counters.Completed
	if done == 0 {
		if consumedThroughout(h) {
			return Verdict{Stalled, fmt.Sprintf("stalled: a backlog (now %s) and consumers (now %d) throughout the last %s, and no message completed",
				count(last.Messages, "message"), last.Consumers, span)}
		}
		return Verdict{OK, fmt.Sprintf("ok: no message completed over the last %s, but the queue was empty or without consumers at some poll", span)}
	}
	if backlogGrowing(h) {
		return Verdict{Lagging, fmt.Sprintf("lagging: %s completed over the last %s, but the backlog grew from %d to %d without shrinking",
			count(done, "message"), span, first.Messages, last.Messages)}
	}
	return Verdict{OK, fmt.Sprintf("ok: %s completed over the last %s; backlog %d, was %d", count(done, "message"), span, last.Messages, first.Messages)}
}

// count spells n things: "1 message", "12 messages".
func count[N int64 | uint64](n N, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return fmt.Sprintf("%d %ss", n, thing)
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
