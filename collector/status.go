package collector

import (
	"time"
)

// ConsumerStatus is the verdict on a queue's consumers, in the spirit of
// Burrow's consumer evaluation.
type ConsumerStatus string

// The consumer statuses. The README states the rules.
const (
	StatusOK          ConsumerStatus = "ok"
	StatusIdle        ConsumerStatus = "idle"
	StatusNoConsumers ConsumerStatus = "no_consumers"
	StatusStalled     ConsumerStatus = "stalled"
	StatusLagging     ConsumerStatus = "lagging"
)

// AllStatuses lists every status, for exporting a 0/1 series per status.
var AllStatuses = []ConsumerStatus{StatusOK, StatusIdle, StatusNoConsumers, StatusStalled, StatusLagging}

// statusSample is what the evaluation keeps of one poll of one queue.
type statusSample struct {
	t         time.Time
	published uint64
	completed uint64
	messages  int64
	consumers int64
	headAge   time.Duration // 0 where the broker gives no head timestamp
}

// StatusTracker keeps a short history of every queue and evaluates its
// consumer status. It is owned by one poller and not safe for concurrent
// use.
type StatusTracker struct {
	window  time.Duration
	history map[QueueKey][]statusSample
}

// NewStatusTracker returns a tracker whose verdicts that need history
// (stalled, lagging, idle) look back over window.
func NewStatusTracker(window time.Duration) *StatusTracker {
	return &StatusTracker{window: window, history: map[QueueKey][]statusSample{}}
}

// Observe records the queues of a poll taken at now and sets each queue's
// Status. Queues absent from this poll are forgotten.
func (s *StatusTracker) Observe(now time.Time, queues []Queue) {
	present := make(map[QueueKey]bool, len(queues))
	for i := range queues {
		q := &queues[i]
		k := q.Key()
		present[k] = true
		if !q.StatsKnown {
			// Unknown, not zero. The history is dropped too: samples from
			// before the gap must not pass for a window of evidence.
			delete(s.history, k)
			q.Status = ""
			continue
		}
		sample := statusSample{t: now, published: q.Counters.Published, completed: q.Counters.Completed, messages: q.Messages(), consumers: q.Consumers}
		if !q.HeadTimestamp.IsZero() {
			sample.headAge = now.Sub(q.HeadTimestamp)
		}
		h := s.history[k]
		if n := len(h); n > 0 && (sample.published < h[n-1].published || sample.completed < h[n-1].completed) {
			// The counters went back: the queue was re-created or its
			// node restarted. What came before says nothing about now.
			h = h[:0]
		}
		h = append(h, sample)
		h = trimHistory(h, now.Add(-s.window))
		s.history[k] = h
		q.Status = evaluateStatus(h, now.Add(-s.window))
	}
	for k := range s.history {
		if !present[k] {
			delete(s.history, k)
		}
	}
}

// trimHistory drops samples older than needed: it keeps the newest sample
// at or before since, so the history still spans the whole window.
func trimHistory(h []statusSample, since time.Time) []statusSample {
	keepFrom := 0
	for i := range h {
		if !h[i].t.After(since) {
			keepFrom = i
		}
	}
	if keepFrom == 0 {
		return h
	}
	return append(h[:0], h[keepFrom:]...)
}

// evaluateStatus applies the rules to a queue's history (oldest first,
// newest last). since is the start of the window.
func evaluateStatus(h []statusSample, since time.Time) ConsumerStatus {
	first, last := h[0], h[len(h)-1]
	fullWindow := !first.t.After(since)
	switch {
	case last.messages == 0:
		// Empty. Idle unless messages flowed through within the window;
		// an empty queue is never stalled.
		if last.published > first.published {
			return StatusOK
		}
		return StatusIdle
	case last.consumers == 0:
		return StatusNoConsumers
	case !fullWindow:
		// A backlog with consumers, but not yet a window of evidence
		// about their progress.
		return StatusOK
	}
	// From here: a backlog and consumers now, and a full window of history.
	if last.completed == first.completed {
		if consumedThroughout(h) {
			return StatusStalled
		}
		return StatusOK
	}
	if backlogGrowing(h) {
		return StatusLagging
	}
	return StatusOK
}

// consumedThroughout reports whether the queue had a backlog and consumers
// in every sample, so a lack of progress is the consumers' doing and not a
// consumer that attached a moment ago.
func consumedThroughout(h []statusSample) bool {
	for _, s := range h {
		if s.messages == 0 || s.consumers == 0 {
			return false
		}
	}
	return true
}

// backlogGrowing reports whether the backlog never shrank across the
// window and ended larger than it began, and — where the broker gives the
// head message's age — the oldest message also got older.
func backlogGrowing(h []statusSample) bool {
	if len(h) < 3 {
		return false
	}
	for i := 1; i < len(h); i++ {
		if h[i].messages < h[i-1].messages {
			return false
		}
	}
	first, last := h[0], h[len(h)-1]
	if last.messages <= first.messages {
		return false
	}
	if first.headAge > 0 && last.headAge > 0 && last.headAge <= first.headAge {
		return false
	}
	return true
}
