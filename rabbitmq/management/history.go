package management

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"time"

	"github.com/warrenhq/warren/internal/config"
	"github.com/warrenhq/warren/rabbitmq/brokerhttp"
	"github.com/warrenhq/warren/snapshot"
)

// Where the broker spends its CPU on a listing with sample history
// (RabbitMQ 3.10 to 4.3, rabbit_mgmt_wm_queues, rabbit_mgmt_util and
// rabbit_mgmt_db): it builds every queue's basic record, then, because
// warren asks for statistics columns and no page, augments every queue
// (for each, the latest value of each statistics table and, with a
// range, its samples over the range), then sorts, then drops the columns
// not asked for, then encodes. The history's part grows with the queues,
// whatever their traffic: a quiet queue's samples cost as much as a busy
// one's. So a read lists every queue without history, then asks for the
// history of the queues that hold something new, one GET
// /api/queues/<vhost>/<name> each.
//
// The other ways were measured and are worse: the name filter
// (name=…&use_regex=true) is applied before augmenting only on a paged
// listing, and then the broker compiles the pattern once per queue of the
// listing (at 10,000 queues a pattern of 50 names cost 1.0 s, 50 single
// GETs 0.1 s), the request line is limited to 8,000 bytes (about 300
// names), and from 4.2.6 the pattern to 1,024 characters; a per-vhost
// listing helps only where the busy queues have a vhost of their own.

// historyAloneCost is how many times more a queue's sample history costs
// the broker asked for alone than within a listing of every queue's: 1.5
// to 2.2 ms per GET against about 0.3 ms per queue in the listing, on
// 3.10 with 1,000 and 10,000 queues. When more than one queue in that
// many needed its history at the previous read, one listing with every
// queue's history is cheaper than the GETs.
const historyAloneCost = 6

// maxRangeSamples is the most samples the broker serves per series
// (?MAX_RANGE: age / incr must not exceed it, or the request fails).
const maxRangeSamples = 500

// historyTracker decides which queues a read asks the sample history
// of, from what earlier reads gave. It is owned by the source's one
// reader, and changes only when a read succeeds (commit), so a failed
// read leaves it as it was.
type historyTracker struct {
	// named reports the queues an SLO measures: they always get their
	// history.
	named func(vhost, queue string) bool
	// deliveries is set when reads ask for the delivery series too.
	deliveries bool

	// newest holds, per queue, the values of the newest samples given so
	// far (see settled).
	newest map[snapshot.QueueKey]settled
	// lastStart is when the last successful read started; zero before.
	lastStart time.Time
	// wanted of listed queues needed their history at the last
	// successful read.
	wanted, listed int
	// plan is how the last successful read asked (Source.RequestsOf).
	plan historyPlan
}

// settled is what the newest samples a read gave of a queue said; a curve
// is known when some read gave a sample of it, or found its counters
// and depth all zero (nothing ever happened, so the broker keeps no
// samples of it).
type settled struct {
	waiting, delivery           snapshot.Sample
	knowsWaiting, knowsDelivery bool
}

// historyPlan is how one read asked for the sample history: in its one
// listing of every queue (listing, zero when the listing had none), or
// one GET for each queue of fetched (each).
type historyPlan struct {
	listing, each sampleHistory
	fetched       []snapshot.QueueKey
}

func newHistoryTracker(t config.Target) historyTracker {
	slos := append(append([]config.SLOThreshold(nil), t.TimeInQueue.SLOThresholds...), t.Processing.SLOThresholds...)
	return historyTracker{
		named: func(vhost, queue string) bool {
			for _, x := range slos {
				if config.MatchQueue(x.Vhost, x.Queue, vhost, queue) {
					return true
				}
			}
			return false
		},
		deliveries: t.Processing.IsEnabled(),
	}
}

// listsAll reports whether the next read should ask for every queue's
// history in its listing: at the first read (every queue is new), and
// when at the last one so many queues needed it that one listing is
// cheaper than a GET each (historyAloneCost).
func (h *historyTracker) listsAll() bool {
	return h.lastStart.IsZero() || h.wanted*historyAloneCost > h.listed
}

// span is how far back a read started at start must reach, now: to the
// start of the previous successful read (the poller's span counts from
// the previous attempt, which may have failed), plus the time this read
// has taken so far, as the broker's window ends when it answers.
func (h *historyTracker) span(span time.Duration, start time.Time) time.Duration {
	if !h.lastStart.IsZero() {
		span = max(span, start.Sub(h.lastStart))
	}
	return span + time.Since(start)
}

// needs reports whether q's history can hold something the earlier reads
// did not give: it holds messages (their ages grow with time, and cross
// thresholds, though no counter moves), an SLO measures it, or its
// counters or depth differ from the newest samples given. A queue whose
// statistics are not known yet has nothing to give.
func (h *historyTracker) needs(q *snapshot.Queue) bool {
	if !q.StatsKnown {
		return false
	}
	if q.Messages() > 0 || h.named(q.Vhost, q.Name) {
		return true
	}
	st, ok := h.newest[q.Key()]
	if !ok || !st.knowsWaiting || !st.waiting.SameValues(q.Latest()) {
		return true
	}
	return h.deliveries && (!st.knowsDelivery || !st.delivery.SameValues(q.LatestDelivery()))
}

// choose returns the indexes of the queues of a listing without history
// that need it, and marks the others with known statistics Unchanged.
func (h *historyTracker) choose(queues []snapshot.Queue) []int {
	var wanted []int
	for i := range queues {
		q := &queues[i]
		switch {
		case h.needs(q):
			wanted = append(wanted, i)
		case q.StatsKnown:
			q.Unchanged = true
		}
	}
	return wanted
}

// commit takes in what a successful read started at start gave: the
// newest samples of every queue, how many needed their history, and how
// it asked. Queues absent from the read are forgotten.
func (h *historyTracker) commit(queues []snapshot.Queue, start time.Time, plan historyPlan) {
	next := make(map[snapshot.QueueKey]settled, len(queues))
	wanted := 0
	for i := range queues {
		q := &queues[i]
		if h.needs(q) {
			wanted++
		}
		prev := h.newest[q.Key()]
		var st settled
		st.waiting, st.knowsWaiting = newestOf(q.Samples, q.Latest(), q.Unchanged, prev.waiting, prev.knowsWaiting)
		st.delivery, st.knowsDelivery = newestOf(q.DeliverySamples, q.LatestDelivery(), q.Unchanged, prev.delivery, prev.knowsDelivery)
		if st.knowsWaiting || st.knowsDelivery {
			next[q.Key()] = st
		}
	}
	h.newest, h.lastStart, h.wanted, h.listed, h.plan = next, start, wanted, len(queues), plan
}

// newestOf is the newest sample of one curve after a read: as before
// where the read did not ask (unchanged), else the newest the broker
// gave, else the latest values where they are all zero.
func newestOf(samples []snapshot.Sample, latest snapshot.Sample, unchanged bool, prev snapshot.Sample, known bool) (snapshot.Sample, bool) {
	switch {
	case unchanged:
		return prev, known
	case len(samples) > 0:
		return samples[len(samples)-1], true
	case latest.SameValues(snapshot.Sample{}):
		return snapshot.Sample{}, true
	}
	return snapshot.Sample{}, false
}

// readHistories asks for the sample history of the wanted queues of l,
// one GET each, at most maxConcurrentListings at a time.
func (s *Source) readHistories(ctx context.Context, l *queueListing, wanted []int, history sampleHistory) error {
	return forEach(ctx, len(wanted), func(ctx context.Context, i int) error {
		q := &l.queues[wanted[i]]
		a, err := s.client.queueHistory(ctx, q.Key(), history)
		if isNotFound(err) {
			return nil // deleted since it was listed: no samples
		}
		if err != nil {
			return err
		}
		q.Samples, q.DeliverySamples = samplesOf(a)
		return nil
	})
}

// historyColumns are the columns of a GET of one queue's history, besides
// the samples the history asks for.
const historyColumns = "name,vhost"

// queueHistoryPath is the path of one queue's GET.
func queueHistoryPath(key snapshot.QueueKey) string {
	return "queues/" + url.PathEscape(key.Vhost) + "/" + url.PathEscape(key.Name)
}

// queueHistoryQuery is the query of one queue's GET.
func queueHistoryQuery(history sampleHistory) url.Values {
	q := url.Values{"columns": {historyColumns}}
	history.params(q)
	return q
}

// queueHistory reads the sample history of one queue, at most as long as
// a listing's element with that history (queueValueBytes).
func (c *client) queueHistory(ctx context.Context, key snapshot.QueueKey, history sampleHistory) (*apiQueue, error) {
	var a apiQueue
	path := queueHistoryPath(key)
	_, err := c.stream(ctx, path, queueHistoryQuery(history), func(body io.Reader) error {
		if err := decodeValue(json.NewDecoder(brokerhttp.NewValueLimiter(body, queueValueBytes(history))), &a); err != nil {
			return err
		}
		return checkQueue(&a)
	})
	if err != nil {
		return nil, err
	}
	if a.Name != key.Name || a.Vhost != key.Vhost {
		return nil, &snapshot.ReadError{Reason: snapshot.ReasonInvalidResponse, Op: "GET " + path,
			Err: fmt.Errorf("asked for queue %q in vhost %q, got %q in %q", key.Name, key.Vhost, a.Name, a.Vhost)}
	}
	return &a, nil
}
