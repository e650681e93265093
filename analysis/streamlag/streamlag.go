// Package streamlag judges the consumers of stream queues by the offset
// lag the broker reports for them: how far each stream-protocol
// subscription is behind the stream's committed end, the largest of these
// per stream, that lag in seconds at the stream's publish rate, and
// whether some consumer is falling behind (its lag grew over the whole
// window and never shrank).
//
// RabbitMQ reports offsets only for stream-protocol consumers
// (/api/stream/consumers). AMQP 0-9-1 consumers of a stream
// (basic.consume with x-stream-offset) report none, so their lag is
// inferred from the stream's counters: every such consumer reading at the
// end is delivered every message published, so the AMQP consumers
// together fall behind by consumers × publishes − deliveries, counted
// from the poll where that was lowest (see amqpLag). The queue's consumer
// count holds both kinds; the stream-protocol ones are those listed.
//
// Import rule: it imports snapshot only.
package streamlag

import (
	"time"

	"github.com/warrenhq/warren/snapshot"
)

// Stream is what the stream's consumers' offsets say.
type Stream struct {
	// Consumers counts the stream-protocol consumers reporting an offset.
	Consumers int
	// MaxLag is the largest offset lag among them, in messages; HasLag is
	// false where none reports one.
	MaxLag int64
	HasLag bool
	// PublishRate is the growth of the stream's end offset (a consumer's
	// offset plus its lag, the largest of them) per second over the
	// window; it counts publishes of every protocol, which the stream's
	// message_stats.publish does not (it counts AMQP 0-9-1 publishes
	// only). HasPublishRate is false until two polls with consumers span
	// some time.
	PublishRate    float64
	HasPublishRate bool
	// LagSeconds is MaxLag at PublishRate: 0 for no lag; unknown
	// (HasLagSeconds false) for a lag on a stream that nothing is
	// published to, whose lag does not convert to time.
	LagSeconds    float64
	HasLagSeconds bool
	// FallingBehind is set when some consumer's lag grew over the whole
	// window: above zero at its start, higher at each quarter of it, and
	// never shrinking between two polls. FallingBehindLag is that
	// consumer's lag now.
	FallingBehind    bool
	FallingBehindLag int64
	// AMQPConsumers counts the stream's AMQP 0-9-1 consumers; AMQPLag is
	// how many messages they are behind together since they last kept
	// up (amqpLag), which with one consumer is its lag. Both are part of
	// Consumers, MaxLag and FallingBehind.
	AMQPConsumers int
	AMQPLag       int64
}

type point struct {
	t time.Time
	v int64
}

type consumerKey struct {
	vhost, stream, connection string
	id                        int
}

// Tracker keeps the consumers' lags and the streams' end offsets over the
// window. It is owned by one pipeline's poll loop.
type Tracker struct {
	window    time.Duration
	consumers map[consumerKey][]point
	ends      map[snapshot.QueueKey][]point
	amqp      map[snapshot.QueueKey]*amqpLag
}

// amqpLag infers the lag of a stream's AMQP consumers from its counters.
// While n consumers keep up, n × published − delivered stays at a
// constant (what they had read before warren looked, or a consumer
// starting from the stream's first offset), give or take the publishes
// of one stats interval, as the broker reads the two counters at
// different moments. Its lowest value since the consumers last changed
// is taken as "keeping up"; the excess over it is their lag. A consumer
// that starts from an earlier offset than the end catches up by being
// delivered more than is published, which lowers the base: its initial
// backlog is not seen, only whether it grows. Publishes over the stream
// protocol are not in the queue's publish counter, so they make the lag
// read low, never high.
type amqpLag struct {
	consumers int
	base      float64
	history   []point
	// published is the AMQP publish counter over the window.
	published []point
}

// NewTracker returns a tracker judging over window.
func NewTracker(window time.Duration) *Tracker {
	return &Tracker{window: window, consumers: map[consumerKey][]point{}, ends: map[snapshot.QueueKey][]point{}, amqp: map[snapshot.QueueKey]*amqpLag{}}
}

// Observe takes a snapshot's stream consumers and returns, for every
// stream with a stream-protocol consumer, what their offsets say. Streams
// and consumers that are gone are forgotten; nil where the snapshot did
// not read the consumers.
func (t *Tracker) Observe(snap *snapshot.Snapshot) map[snapshot.QueueKey]Stream {
	if !snap.StreamConsumersKnown {
		clear(t.consumers)
		clear(t.ends)
		clear(t.amqp)
		return nil
	}
	now := snap.Time
	out := map[snapshot.QueueKey]Stream{}
	ends := map[snapshot.QueueKey]int64{}
	seen := map[consumerKey]bool{}
	for _, c := range snap.StreamConsumers {
		sk := snapshot.QueueKey{Vhost: c.Vhost, Name: c.Stream}
		s := out[sk]
		s.Consumers++
		s.HasLag = true
		s.MaxLag = max(s.MaxLag, c.OffsetLag)
		ends[sk] = max(ends[sk], c.Offset+c.OffsetLag)
		k := consumerKey{c.Vhost, c.Stream, c.Connection, c.SubscriptionID}
		seen[k] = true
		h := t.trim(append(t.consumers[k], point{now, c.OffsetLag}), now)
		t.consumers[k] = h
		if fallingBehind(h, now, t.window) && c.OffsetLag >= s.FallingBehindLag {
			s.FallingBehind, s.FallingBehindLag = true, c.OffsetLag
		}
		out[sk] = s
	}
	for k := range t.consumers {
		if !seen[k] {
			delete(t.consumers, k)
		}
	}
	for sk := range t.ends {
		if _, ok := ends[sk]; !ok {
			delete(t.ends, sk)
		}
	}
	for sk, end := range ends {
		h := t.ends[sk]
		if n := len(h); n > 0 && end < h[n-1].v {
			h = nil // the stream was re-created: its offsets start again
		}
		h = t.trim(append(h, point{now, end}), now)
		t.ends[sk] = h
		s := out[sk]
		s.PublishRate, s.HasPublishRate = rate(h)
		out[sk] = s
	}
	t.observeAMQP(snap, out)
	for sk, s := range out {
		switch {
		case s.MaxLag == 0:
			s.LagSeconds, s.HasLagSeconds = 0, true
		case s.HasPublishRate && s.PublishRate > 0:
			s.LagSeconds, s.HasLagSeconds = float64(s.MaxLag)/s.PublishRate, true
		}
		out[sk] = s
	}
	return out
}

// observeAMQP adds the AMQP consumers of the snapshot's streams to out:
// their count, their lag (amqpLag) in MaxLag, and whether it grew over
// the whole window in FallingBehind. A stream the AMQP publish counter
// says nothing of (no stream-protocol consumer either) takes its publish
// rate from that counter.
func (t *Tracker) observeAMQP(snap *snapshot.Snapshot, out map[snapshot.QueueKey]Stream) {
	seen := map[snapshot.QueueKey]bool{}
	for i := range snap.Queues {
		q := &snap.Queues[i]
		if q.Type != "stream" || !q.StatsKnown {
			continue
		}
		sk := q.Key()
		s := out[sk]
		n := int(q.Consumers) - s.Consumers // the queue counts both kinds
		if n <= 0 {
			continue
		}
		seen[sk] = true
		behind := float64(n)*float64(q.Counters.Published) - float64(q.Counters.Delivered)
		a := t.amqp[sk]
		if a == nil {
			a = &amqpLag{}
			t.amqp[sk] = a
		}
		if k := len(a.published); k > 0 && int64(q.Counters.Published) < a.published[k-1].v {
			// The counters went back: the stream was re-created or its
			// node restarted.
			a.published, a.history = nil, nil
		}
		if a.consumers != n || len(a.history) == 0 {
			// A consumer came or went: what is "keeping up" changed.
			a.consumers, a.base, a.history = n, behind, nil
		}
		a.base = min(a.base, behind)
		lag := int64(behind - a.base)
		a.history = t.trim(append(a.history, point{snap.Time, lag}), snap.Time)
		s.Consumers += n
		s.AMQPConsumers, s.AMQPLag = n, lag
		s.HasLag = true
		s.MaxLag = max(s.MaxLag, lag)
		if fallingBehind(a.history, snap.Time, t.window) && lag >= s.FallingBehindLag {
			s.FallingBehind, s.FallingBehindLag = true, lag
		}
		a.published = t.trim(append(a.published, point{snap.Time, int64(q.Counters.Published)}), snap.Time)
		if !s.HasPublishRate {
			s.PublishRate, s.HasPublishRate = rate(a.published)
		}
		out[sk] = s
	}
	for sk := range t.amqp {
		if !seen[sk] {
			delete(t.amqp, sk)
		}
	}
}

// rate is the growth per second of a counter's history.
func rate(h []point) (float64, bool) {
	span := h[len(h)-1].t.Sub(h[0].t)
	if span <= 0 {
		return 0, false
	}
	return float64(h[len(h)-1].v-h[0].v) / span.Seconds(), true
}

// trim keeps the points of the window, and the newest one before it, so
// that the history spans the whole window once it is that old.
func (t *Tracker) trim(h []point, now time.Time) []point {
	from := now.Add(-t.window)
	i := 0
	for i+1 < len(h) && !h[i+1].t.After(from) {
		i++
	}
	return h[i:]
}

// fallingBehind reports whether a consumer's lag grew over the whole
// window: its history covers the window, the lag was already above zero at
// the window's start, it is higher at each quarter of the window than at
// the one before, and it never shrank between two polls. A consumer that
// keeps up returns to a small lag now and then; one whose lag only grows
// for a whole window does not keep up.
func fallingBehind(h []point, now time.Time, window time.Duration) bool {
	if len(h) < 5 || now.Sub(h[0].t) < window || h[0].v <= 0 {
		return false
	}
	for i := 1; i < len(h); i++ {
		if h[i].v < h[i-1].v {
			return false
		}
	}
	span := now.Sub(h[0].t)
	var at [5]int64 // the lag at the window's start, at each quarter, and now
	for b := range 4 {
		boundary := h[0].t.Add(span * time.Duration(b) / 4)
		for _, p := range h {
			if !p.t.After(boundary) {
				at[b] = p.v
			}
		}
	}
	at[4] = h[len(h)-1].v
	for i := 1; i < len(at); i++ {
		if at[i] <= at[i-1] {
			return false
		}
	}
	return true
}
