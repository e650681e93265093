package timeinqueue

import (
	"math"
	"testing"
	"time"

	"github.com/warrenhq/warren/snapshot"
)

// feedDepartures is feed with departures that are not all completions:
// completed(s) of the departed(s) messages were acked, the rest left
// some other way (expired, dead-lettered), which only the depth shows.
func feedDepartures(e *Estimator, seconds int, arrived, departed, completed func(s int) int) []Piece {
	var pieces []Piece
	e.SetRecorder(func(_ snapshot.QueueKey, p Piece) { pieces = append(pieces, p) })
	for s := 0; s <= seconds; s += 5 {
		e.Observe(&snapshot.Snapshot{Time: t0.Add(time.Duration(s) * time.Second), Queues: []snapshot.Queue{{
			Vhost: "/", Name: "q", StatsKnown: true, Samples: secondSamples(s, arrived, departed, completed),
			Counters: snapshot.Counters{Published: uint64(arrived(s)), Completed: uint64(completed(s))}, Ready: int64(arrived(s) - departed(s)),
		}}})
	}
	return pieces
}

// secondSamples are the five per-second samples a poll at second s brings
// of curves where arrived(i) messages arrived, departed(i) left and
// completed(i) of them completed by second i; before second 0 the queue
// stood as it was at second 0.
func secondSamples(s int, arrived, departed, completed func(i int) int) []snapshot.Sample {
	return secondSamplesFrom(s-4, s, arrived, departed, completed)
}

// secondSamplesFrom are the same samples from second from to s.
func secondSamplesFrom(from, s int, arrived, departed, completed func(i int) int) []snapshot.Sample {
	var samples []snapshot.Sample
	for i := from; i <= s; i++ {
		at := max(i, 0)
		samples = append(samples, snapshot.Sample{Time: t0.Add(time.Duration(i) * time.Second), Published: uint64(arrived(at)),
			Messages: int64(arrived(at) - departed(at)), Completed: uint64(completed(at))})
	}
	return samples
}

func TestExpiredMessagesAreNeverProcessedWithinTheThreshold(t *testing.T) {
	// 10 messages a second, every one leaving after 8 s: 8 a second
	// acked, 2 a second expired (a TTL of 8 s on a queue consumed at 8/s).
	e := New(Config{Thresholds: []time.Duration{5 * time.Second, 10 * time.Second}})
	pieces := feedDepartures(e, 300,
		func(s int) int { return 10 * s },
		func(s int) int { return 10 * max(0, s-8) },
		func(s int) int { return 8 * max(0, s-8) })
	var count, unprocessed float64
	for _, p := range pieces {
		count += p.Count
		unprocessed += p.Unprocessed
	}
	if share := unprocessed / count; math.Abs(share-0.2) > 0.01 {
		t.Errorf("%.0f of %.0f departures flagged unprocessed (%.1f%%), want 20%%", unprocessed, count, 100*share)
	}
	est := e.Estimates()[0]
	// Every message waited 8 s, so within 10 s are exactly the acked
	// ones; the expired ones are bad though they left within 10 s.
	if share := est.Within[1] / est.Total[1]; math.Abs(share-0.8) > 0.01 {
		t.Errorf("processed within 10s: %.0f of %.0f (%.1f%%), want 80%%: expired messages are not processed", est.Within[1], est.Total[1], 100*share)
	}
	// Past 5 s every message is bad when it crosses, and counted once:
	// the 5 s total is the 10 s one plus the 3 s of arrivals still
	// waiting past 5 s at the end (give or take the interpolation).
	if est.Within[0] != 0 || math.Abs(est.Total[0]-est.Total[1]-30) > 10 {
		t.Errorf("5s: within %v of %v, want none of about %v (each message once)", est.Within[0], est.Total[0], est.Total[1]+30)
	}
}

func TestADepthReadLateIsPaidBackWithoutFlaggingCompletionsTwice(t *testing.T) {
	// Only acks, but the depth the broker reports is sometimes stale: it
	// lags one second every tenth second. No departure left unprocessed
	// for longer than the lag, so almost none may be flagged for good.
	e := New(Config{Thresholds: []time.Duration{10 * time.Second}})
	arrived := func(s int) int { return 10 * s }
	completed := func(s int) int { return 10 * max(0, s-2) }
	departed := func(s int) int {
		if s%10 == 0 {
			return completed(s) + 5 // depth read too small: looks like 5 left some other way
		}
		return completed(s)
	}
	pieces := feedDepartures(e, 300, arrived, departed, completed)
	var unprocessed float64
	for _, p := range pieces {
		unprocessed += p.Unprocessed
	}
	if unprocessed > 5+1e-9 {
		t.Errorf("%.1f departures flagged unprocessed; a depth read late may flag at most its 5 once", unprocessed)
	}
}

// A poll point of the Prometheus plugin has live counters and the depth
// the queue last reported, up to a stats interval old: a burst published
// and acked between two reports must not count as departures that were
// not completions.
func TestPollPointsWithADepthAStatsIntervalOldFlagNothingUnprocessed(t *testing.T) {
	for _, c := range []struct {
		statsInterval time.Duration
		wantFlagged   bool
	}{{5 * time.Second, false}, {0, true}} {
		e := New(Config{Thresholds: []time.Duration{10 * time.Second}, StatsInterval: c.statsInterval})
		var unprocessed float64
		e.SetRecorder(func(_ snapshot.QueueKey, p Piece) { unprocessed += p.Unprocessed })
		// Every second 10 messages arrive and, from second 2, 10 are acked;
		// the depth the poll sees is the one reported at the last multiple
		// of 5 s.
		arrived := func(s int) int { return 10 * s }
		completed := func(s int) int { return 10 * max(0, s-2) }
		for s := 0; s <= 60; s++ {
			reported := s - s%5
			e.Observe(&snapshot.Snapshot{Time: t0.Add(time.Duration(s) * time.Second), Queues: []snapshot.Queue{{
				Vhost: "/", Name: "q", StatsKnown: true, Ready: int64(arrived(reported) - completed(reported)),
				Counters: snapshot.Counters{Published: uint64(arrived(s)), Completed: uint64(completed(s))},
			}}})
		}
		if flagged := unprocessed > 0; flagged != c.wantFlagged {
			t.Errorf("stats interval %v: %.0f departures flagged unprocessed, want flagged %v", c.statsInterval, unprocessed, c.wantFlagged)
		}
		if est := e.Estimates()[0]; c.statsInterval > 0 && est.Within[0] != est.Total[0] {
			t.Errorf("stats interval %v: %v of %v processed within 10s, want all (every message waited 2s)", c.statsInterval, est.Within[0], est.Total[0])
		}
	}
}
