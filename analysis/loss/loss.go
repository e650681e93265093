// Package loss finds messages RabbitMQ loses without a word: publishes
// no queue took (unroutable, per vhost), messages a length limit drops
// from a queue's head, and messages rejected, nacked or expired from a
// queue with no dead-letter exchange (discarded). The broker counts the
// first; warren estimates the other two from the queue history.
//
// The estimate: between two polls, the departures other than completions
// are Δpublished − Δcompleted − Δdepth. On a queue with no dead-letter
// exchange they go nowhere: if the queue drops from its head and was at
// its limit, they were dropped by the limit; otherwise they were
// discarded (rejected or nacked without requeue, expired, or over a
// quorum queue's delivery limit). Queues with a dead-letter exchange are
// not counted here (their departures reach the dead-letter queue, which
// the dead-letter analysis watches), nor are streams (their depth falls
// when retention truncates the log, which loses nothing unread).
//
// The broker samples a queue's counters and its depth at different
// moments, so one poll's difference can be a few messages high and the
// next one as many low. The differences are summed into a running
// balance, and a loss is counted only once it has held for two polls in
// a row (the lower of the last two balances): a sampling skew that
// cancels at the next poll never counts.
//
// The totals are warren's own: they start at zero when warren starts
// watching a queue and restart when the queue is forgotten (deleted, or
// its statistics unknown).
//
// Import rule: it imports snapshot and analysis/queuehistory only.
package loss

import (
	"time"

	"github.com/warrenhq/warren/analysis/queuehistory"
	"github.com/warrenhq/warren/snapshot"
)

// Queue is what the analysis says of one queue.
type Queue struct {
	// Ratio is the depth over the length limit: messages over x-max-length,
	// or bytes over x-max-length-bytes, the higher where both are set.
	// HasRatio is false for a queue without a limit or without known
	// statistics.
	Ratio    float64
	HasRatio bool
	// AtLimit is set while a drop-head queue is full.
	AtLimit bool
	// CountsDrops is set for a drop-head queue with no dead-letter
	// exchange: Dropped counts the messages its limit dropped.
	CountsDrops bool
	// CountsDiscards is set for a non-stream queue with no dead-letter
	// exchange: Discarded counts the messages that left it neither
	// completed nor dropped by the limit.
	CountsDiscards bool
	// Dropped and Discarded are totals since warren started watching the
	// queue; RecentDropped and RecentDiscarded their increase over the
	// tracker's window.
	Dropped, Discarded             float64
	RecentDropped, RecentDiscarded float64
}

// Ratio is a queue's depth over its length limit; ok is false without a
// limit or known statistics.
func Ratio(q *snapshot.Queue) (ratio float64, ok bool) {
	l := q.Limit
	if !q.StatsKnown || !l.Limited() {
		return 0, false
	}
	if l.HasMaxLength {
		ratio = limitRatio(float64(q.Messages()), l.MaxLength)
	}
	if l.HasMaxLengthBytes {
		ratio = max(ratio, limitRatio(float64(q.MessageBytes), l.MaxLengthBytes))
	}
	return ratio, true
}

// limitRatio is used over limit; a limit of 0 admits nothing, so any use
// is full.
func limitRatio(used float64, limit int64) float64 {
	if limit <= 0 {
		return 1
	}
	return used / float64(limit)
}

// atLimit reports whether a drop-head queue is full: its depth at
// x-max-length, or its bytes within one average message of
// x-max-length-bytes (the next arrival drops the head).
func atLimit(q *snapshot.Queue) bool {
	l := q.Limit
	if l.HasMaxLength && q.Messages() >= l.MaxLength {
		return true
	}
	if l.HasMaxLengthBytes && q.Messages() > 0 {
		avg := float64(q.MessageBytes) / float64(q.Messages())
		return float64(q.MessageBytes)+avg >= float64(l.MaxLengthBytes)
	}
	return false
}

// Other is the change's departures other than completions:
// Δpublished − Δcompleted − Δdepth. It is negative when the broker's
// samples are skewed.
func Other(c queuehistory.Change) float64 {
	return c.Published - c.Completed - float64(c.Messages)
}

// countsDrops and countsDiscards say which totals a queue has.
func countsDrops(q *snapshot.Queue) bool {
	return !q.HasDeadLetterExchange && q.Limit.Limited() && q.Limit.Overflow == snapshot.DropHead && q.Type != "stream"
}

func countsDiscards(q *snapshot.Queue) bool {
	return !q.HasDeadLetterExchange && q.Type != "stream"
}

// mark is a queue's totals at one poll.
type mark struct {
	time               time.Time
	dropped, discarded float64
}

// queueTrack is what the tracker keeps of one queue.
type queueTrack struct {
	// balance sums Other since the queue was first seen; counted is the
	// part of it already counted as dropped or discarded (the highest
	// lower-of-two-balances so far), lastBalance the previous poll's.
	balance, lastBalance, counted float64
	atLimit                       bool
	dropped, discarded            float64
	marks                         []mark
}

// Tracker accumulates the loss totals of one target's queues and
// vhosts. It is not safe for concurrent use: the target's pipeline owns
// it.
type Tracker struct {
	window time.Duration
	queues map[snapshot.QueueKey]*queueTrack
	vhosts map[string]*vhostTrack
}

// NewTracker returns a tracker whose Recent values cover window.
func NewTracker(window time.Duration) *Tracker {
	return &Tracker{window: window, queues: map[snapshot.QueueKey]*queueTrack{}, vhosts: map[string]*vhostTrack{}}
}

// Observe returns the loss of every queue of snap, parallel to
// snap.Queues. history must already hold snap.
func (t *Tracker) Observe(snap *snapshot.Snapshot, history *queuehistory.History) []Queue {
	out := make([]Queue, len(snap.Queues))
	seen := make(map[snapshot.QueueKey]bool, len(snap.Queues))
	for i := range snap.Queues {
		q := &snap.Queues[i]
		o := &out[i]
		o.Ratio, o.HasRatio = Ratio(q)
		polls := history.Of(q.Key())
		if polls == nil {
			continue // unknown statistics: forgotten below, as by the history
		}
		k := q.Key()
		seen[k] = true
		tr := t.queues[k]
		if tr == nil {
			tr = &queueTrack{}
			t.queues[k] = tr
		}
		tr.observe(q, polls, snap.Time, t.window)
		o.AtLimit = tr.atLimit
		o.CountsDrops, o.CountsDiscards = countsDrops(q), countsDiscards(q)
		o.Dropped, o.Discarded = tr.dropped, tr.discarded
		o.RecentDropped, o.RecentDiscarded = tr.recent()
	}
	for k := range t.queues {
		if !seen[k] {
			delete(t.queues, k)
		}
	}
	return out
}

func (tr *queueTrack) observe(q *snapshot.Queue, polls *queuehistory.Polls, now time.Time, window time.Duration) {
	full := q.Limit.Limited() && q.Limit.Overflow == snapshot.DropHead && atLimit(q)
	wasFull := tr.atLimit
	tr.atLimit = full
	if c, ok := polls.SincePrevious(); ok {
		tr.lastBalance = tr.balance
		tr.balance += Other(c)
		if held := min(tr.balance, tr.lastBalance); held > tr.counted {
			lost := held - tr.counted
			tr.counted = held
			switch {
			case (full || wasFull) && countsDrops(q):
				tr.dropped += lost
			case countsDiscards(q):
				tr.discarded += lost
			}
		}
	}
	tr.marks = append(tr.marks, mark{time: now, dropped: tr.dropped, discarded: tr.discarded})
	keepFrom := 0
	for i := range tr.marks {
		if !tr.marks[i].time.After(now.Add(-window)) {
			keepFrom = i
		}
	}
	tr.marks = append(tr.marks[:0], tr.marks[keepFrom:]...)
}

// recent is the increase of the totals from the newest mark at or before
// the window's start (or the oldest) to the newest.
func (tr *queueTrack) recent() (dropped, discarded float64) {
	base, last := tr.marks[0], tr.marks[len(tr.marks)-1]
	return last.dropped - base.dropped, last.discarded - base.discarded
}
