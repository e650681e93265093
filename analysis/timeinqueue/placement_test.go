package timeinqueue

import (
	"math"
	"testing"
	"time"

	"github.com/warrenhq/warren/snapshot"
)

// fifoQueue is a queue with one consumer of fixed capacity: each message
// is taken the moment it arrives or the previous one is done, whichever
// is later, and leaves one service time after that.
type fifoQueue struct {
	arrivals, departures []time.Duration // since t0, per message
}

func newFIFOQueue(arrivals []time.Duration, capacity float64) *fifoQueue {
	service := time.Duration(float64(time.Second) / capacity)
	q := &fifoQueue{arrivals: arrivals}
	var free time.Duration
	for _, a := range arrivals {
		free = max(free, a) + service
		q.departures = append(q.departures, free)
	}
	return q
}

func countUpTo(times []time.Duration, t time.Duration) int {
	n := 0
	for _, x := range times {
		if x <= t {
			n++
		}
	}
	return n
}

// shareWithin is the true share of messages that waited at most th.
func (q *fifoQueue) shareWithin(th time.Duration) float64 {
	within := 0
	for i := range q.arrivals {
		if q.departures[i]-q.arrivals[i] <= th {
			within++
		}
	}
	return float64(within) / float64(len(q.arrivals))
}

// observe feeds the queue's history to e as the broker would sample it,
// every interval, and warren poll it, every five seconds, until every
// message has left and the samples say so.
func (q *fifoQueue) observe(e *Estimator, interval time.Duration) {
	end := q.departures[len(q.departures)-1] + 2*interval
	var samples []snapshot.Sample
	for at := -2 * interval; at <= end; at += interval {
		p, c := countUpTo(q.arrivals, at), countUpTo(q.departures, at)
		samples = append(samples, snapshot.Sample{Time: t0.Add(at), Published: uint64(p), Messages: int64(p - c), Completed: uint64(c)})
		if len(samples)*int(interval/time.Second) >= 5 || at+interval > end {
			e.Observe(&snapshot.Snapshot{Time: t0.Add(at), Queues: []snapshot.Queue{{
				Vhost: "/", Name: "q", StatsKnown: true, Samples: samples,
				Counters: snapshot.Counters{Published: uint64(p), Completed: uint64(c)}, Ready: int64(p - c),
			}}})
			samples = samples[len(samples)-1:]
		}
	}
}

// bursts is size messages at once every period, count times, the first
// at offset.
func bursts(size, count int, period, offset time.Duration) []time.Duration {
	var at []time.Duration
	for b := range count {
		for range size {
			at = append(at, offset+time.Duration(b)*period)
		}
	}
	return at
}

func TestBurstIntoAnEmptyQueueIsPlacedWhereTheConsumerGotBusy(t *testing.T) {
	// 200 messages at once every 20 s, drained at 15 a second: about
	// three quarters wait at most 10 s. Spread evenly over the 5 s
	// interval they show up in, the burst looked like it arrived up to
	// 5 s later than it did, and nearly all of it within 10 s.
	for _, offset := range []time.Duration{300 * time.Millisecond, 2500 * time.Millisecond, 4700 * time.Millisecond} {
		q := newFIFOQueue(bursts(200, 6, 20*time.Second, offset), 15)
		for _, interval := range []time.Duration{time.Second, 5 * time.Second} {
			e := New(Config{Thresholds: []time.Duration{10 * time.Second}})
			q.observe(e, interval)
			est := e.Estimates()[0]
			if est.Total[0] != 1200 {
				t.Fatalf("burst %v into the interval, stats every %v: %v departures counted, want 1200", offset, interval, est.Total[0])
			}
			truth, got := q.shareWithin(10*time.Second), est.Within[0]/est.Total[0]
			// Exact up to rounding: the counts are whole messages.
			if math.Abs(got-truth) > 0.005 {
				t.Errorf("burst %v into the interval, stats every %v: %.1f%% within 10s, true %.1f%%",
					offset, interval, 100*got, 100*truth)
			}
		}
	}
}
