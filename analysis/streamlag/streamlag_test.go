package streamlag

import (
	"testing"
	"time"

	"github.com/warrenhq/warren/snapshot"
)

var t0 = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

// poll is a snapshot at t0+at with one consumer of stream s at offset and lag.
func poll(at time.Duration, offset, lag int64) *snapshot.Snapshot {
	return &snapshot.Snapshot{Time: t0.Add(at), StreamConsumersKnown: true, StreamConsumers: []snapshot.StreamConsumer{
		{Vhost: "/", Stream: "s", Connection: "c1", SubscriptionID: 1, Offset: offset, OffsetLag: lag},
	}}
}

var key = snapshot.QueueKey{Vhost: "/", Name: "s"}

func TestAConsumerThatKeepsUpIsNeverFallingBehindEvenWhenItsLagEndsHigher(t *testing.T) {
	tr := NewTracker(time.Minute)
	var s Stream
	// 10 messages/s; the lag is 0 for a minute, then a burst leaves 30.
	for i := 0; i <= 8; i++ {
		lag := int64(0)
		if i == 8 {
			lag = 30
		}
		s = tr.Observe(poll(time.Duration(i)*10*time.Second, int64(i*100)-lag, lag))[key]
		if s.FallingBehind {
			t.Fatalf("poll %d: falling behind with lag %d", i, lag)
		}
	}
	if !s.HasLag || s.MaxLag != 30 || s.Consumers != 1 {
		t.Fatalf("stream = %+v, want one consumer with lag 30", s)
	}
	if !s.HasPublishRate || s.PublishRate != 10 {
		t.Fatalf("publish rate = %v (known %v), want 10/s", s.PublishRate, s.HasPublishRate)
	}
	if !s.HasLagSeconds || s.LagSeconds != 3 {
		t.Fatalf("lag seconds = %v (known %v), want 3", s.LagSeconds, s.HasLagSeconds)
	}
}

func TestAConsumerWhoseLagGrowsForAWholeWindowIsFallingBehind(t *testing.T) {
	tr := NewTracker(time.Minute)
	for i := 0; i <= 8; i++ {
		// Stopped at offset 100 while 10 messages/s are published.
		s := tr.Observe(poll(time.Duration(i)*10*time.Second, 100, int64(i*100)))[key]
		// From the eighth poll on the history spans a window whose start
		// already had a lag (the first poll's lag is 0).
		want := i >= 7
		if s.FallingBehind != want {
			t.Fatalf("poll %d: falling behind = %v, want %v", i, s.FallingBehind, want)
		}
		if want && s.FallingBehindLag != int64(i*100) {
			t.Fatalf("poll %d: lag %d", i, s.FallingBehindLag)
		}
	}
	// It catches up: the lag shrinks, and the verdict goes at once.
	if s := tr.Observe(poll(90*time.Second, 900, 0))[key]; s.FallingBehind {
		t.Fatal("still falling behind after catching up")
	}
}

func TestALagOnAStreamNothingIsPublishedToHasNoTimeValue(t *testing.T) {
	tr := NewTracker(time.Minute)
	tr.Observe(poll(0, 100, 50))
	s := tr.Observe(poll(10*time.Second, 100, 50))[key]
	if s.HasLagSeconds {
		t.Fatalf("lag seconds %v on an idle stream, want none", s.LagSeconds)
	}
	if !s.HasLag || s.MaxLag != 50 {
		t.Fatalf("lag %+v", s)
	}
}

func TestAReconnectedConsumerStartsItsHistoryAgain(t *testing.T) {
	tr := NewTracker(time.Minute)
	for i := 0; i <= 6; i++ {
		tr.Observe(poll(time.Duration(i)*10*time.Second, 100, int64(i*100)))
	}
	snap := poll(70*time.Second, 100, 700)
	snap.StreamConsumers[0].Connection = "c2"
	if s := tr.Observe(snap)[key]; s.FallingBehind {
		t.Fatal("a new connection inherited the old one's history")
	}
}

func TestUnreadConsumersForgetEverything(t *testing.T) {
	tr := NewTracker(time.Minute)
	tr.Observe(poll(0, 100, 0))
	if got := tr.Observe(&snapshot.Snapshot{Time: t0.Add(time.Second)}); got != nil {
		t.Fatalf("got %v for a snapshot without stream consumers", got)
	}
	if len(tr.consumers)+len(tr.ends) != 0 {
		t.Fatal("history kept")
	}
}

func TestALagThatStartsGrowingWithinTheWindowIsNotYetFallingBehind(t *testing.T) {
	tr := NewTracker(time.Minute)
	// Lag 0 for a minute, then growing for the last 40 s of the window.
	lags := []int64{0, 0, 0, 0, 0, 0, 0, 0, 0, 100, 200, 300, 400}
	for i, lag := range lags {
		if s := tr.Observe(poll(time.Duration(i)*10*time.Second, 0, lag))[key]; s.FallingBehind {
			t.Fatalf("poll %d: falling behind after %d s of growth", i, (i-8)*10)
		}
	}
}

// amqpPoll is a snapshot at t0+at of stream s with consumers AMQP
// consumers and the given AMQP publish and delivery counters, and
// streamConsumers stream-protocol consumers keeping up (lag 0), which the
// queue's consumer count includes.
func amqpPoll(at time.Duration, consumers, streamConsumers int, published, delivered uint64) *snapshot.Snapshot {
	snap := &snapshot.Snapshot{Time: t0.Add(at), StreamConsumersKnown: true, Queues: []snapshot.Queue{{
		Vhost: "/", Name: "s", Type: "stream", StatsKnown: true, Consumers: int64(consumers + streamConsumers),
		Counters: snapshot.Counters{Published: published, Delivered: delivered},
	}}}
	for i := range streamConsumers {
		snap.StreamConsumers = append(snap.StreamConsumers, snapshot.StreamConsumer{Vhost: "/", Stream: "s", Connection: "c", SubscriptionID: i, Offset: int64(published)})
	}
	return snap
}

func TestAMQPConsumersThatKeepUpHaveNoLagThoughTheCountersAreReadAtDifferentMoments(t *testing.T) {
	tr := NewTracker(time.Minute)
	for i := 0; i <= 30; i++ {
		// 10 messages/s, two AMQP consumers, one stream-protocol consumer;
		// the deliveries are read up to 5 messages apart from the
		// publishes, either way.
		published := uint64(100 * i)
		delivered := 2*published - uint64((i%3)*5)
		s := tr.Observe(amqpPoll(time.Duration(i)*10*time.Second, 2, 1, published, delivered))[key]
		if s.FallingBehind || s.AMQPLag > 10 {
			t.Fatalf("poll %d: %+v, want no lag beyond the counters' jitter", i, s)
		}
		if s.Consumers != 3 || s.AMQPConsumers != 2 {
			t.Fatalf("poll %d: %d consumers, %d AMQP; want 3 and 2 (the stream-protocol one is not an AMQP consumer)", i, s.Consumers, s.AMQPConsumers)
		}
	}
}

func TestAnAMQPConsumerThatStopsFallsBehindByWhatIsPublishedSince(t *testing.T) {
	tr := NewTracker(time.Minute)
	var s Stream
	for i := 0; i <= 20; i++ {
		published := uint64(100 * i)
		delivered := min(published, 500) // stops after 500
		s = tr.Observe(amqpPoll(time.Duration(i)*10*time.Second, 1, 0, published, delivered))[key]
	}
	if s.AMQPLag != 1500 || s.MaxLag != 1500 || !s.FallingBehind {
		t.Fatalf("stream = %+v, want an AMQP lag of 1500 falling behind", s)
	}
	if !s.HasPublishRate || s.PublishRate != 10 || !s.HasLagSeconds || s.LagSeconds != 150 {
		t.Fatalf("publish rate %v/s (known %v), lag %vs (known %v); want 10/s and 150 s from the AMQP publish counter", s.PublishRate, s.HasPublishRate, s.LagSeconds, s.HasLagSeconds)
	}
}

func TestAnAMQPConsumerCatchingUpFromTheStartOfTheStreamHasNoLag(t *testing.T) {
	tr := NewTracker(time.Minute)
	for i := 0; i <= 12; i++ {
		// 5,000 messages were in the stream; it reads 50/s of them while
		// 10/s are published.
		published := uint64(5000 + 100*i)
		s := tr.Observe(amqpPoll(time.Duration(i)*10*time.Second, 1, 0, published, uint64(500*i)))[key]
		if s.AMQPLag != 0 || s.FallingBehind {
			t.Fatalf("poll %d: %+v, want no lag while it catches up", i, s)
		}
	}
}
