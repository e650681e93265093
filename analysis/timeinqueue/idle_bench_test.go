package timeinqueue

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/warrenhq/warren/snapshot"
)

// idleBench is a target of many queues of which a few carry traffic, fed
// to both estimators as the management source feeds them: every 15 s a
// poll; a busy queue brings its sample history since the previous poll
// and two stats intervals more (5 s apart); an idle one, never used,
// brings no history (the broker has none for a queue without message
// stats), so at its first poll it is one point at the poll's time, and
// from then on Unchanged.
type idleBench struct {
	queues      []snapshot.Queue
	busy        int
	poll        int
	waiting     *Estimator
	processing  *Estimator
	sampleBufs  [][]snapshot.Sample
	deliverBufs [][]snapshot.Sample
}

const (
	idleBenchPoll    = 15 * time.Second
	idleBenchSpacing = 5 * time.Second
	idleBenchSamples = 6 // the poll's 15 s, two stats intervals more, both ends
)

func newIdleBench(n, busy int) *idleBench {
	ib := &idleBench{queues: make([]snapshot.Queue, n), busy: busy,
		sampleBufs: make([][]snapshot.Sample, busy), deliverBufs: make([][]snapshot.Sample, busy)}
	for i := range ib.queues {
		ib.queues[i] = snapshot.Queue{Vhost: "/", Name: fmt.Sprintf("queue-%05d", i), Type: "classic", StatsKnown: true}
	}
	for i := range busy {
		ib.sampleBufs[i] = make([]snapshot.Sample, idleBenchSamples)
		ib.deliverBufs[i] = make([]snapshot.Sample, idleBenchSamples)
	}
	return ib
}

// start makes the two estimators, as a target with the defaults has them
// (pipeline.New with timeinqueue.ConfigFor): time in queue against 10 s
// and 30 s in the standard profile's buckets with native buckets too,
// processing in its default buckets without thresholds.
func (ib *idleBench) start() {
	ib.waiting = New(Config{Thresholds: []time.Duration{10 * time.Second, 30 * time.Second}, Buckets: StandardBuckets,
		StatsInterval: idleBenchSpacing, Native: true})
	ib.processing = New(Config{Measure: Processing, Buckets: DefaultProcessingBuckets, StatsInterval: idleBenchSpacing})
}

// busyCounts are a busy queue's cumulative counts at second s: 2
// messages a second published, each delivered a second later and acked
// a second after that.
func busyCounts(s int64) (published, delivered, acked uint64) {
	return uint64(2 * s), uint64(2 * max(0, s-1)), uint64(2 * max(0, s-2))
}

// next feeds one poll to both estimators.
func (ib *idleBench) next() {
	ib.poll++
	now := t0.Add(time.Hour + time.Duration(ib.poll)*idleBenchPoll)
	for i := range ib.queues {
		q := &ib.queues[i]
		if i >= ib.busy {
			q.Unchanged = ib.poll > 1
			continue
		}
		secondsAt := func(t time.Time) int64 { return int64(t.Sub(t0) / time.Second) }
		samples, deliveries := ib.sampleBufs[i], ib.deliverBufs[i]
		for j := range idleBenchSamples {
			t := now.Add(-time.Duration(idleBenchSamples-1-j) * idleBenchSpacing)
			p, d, a := busyCounts(secondsAt(t))
			samples[j] = snapshot.Sample{Time: t, Published: p, Messages: int64(p - a), Completed: a}
			deliveries[j] = snapshot.Sample{Time: t, Published: d, Messages: int64(d - a), Completed: a}
		}
		p, d, a := busyCounts(secondsAt(now))
		q.Counters = snapshot.Counters{Published: p, Delivered: d, DeliveredManual: d, Acked: a, Completed: a}
		q.Ready, q.Unacked = int64(p-d), int64(d-a)
		q.Samples, q.DeliverySamples = samples, deliveries
	}
	snap := &snapshot.Snapshot{Time: now, Queues: ib.queues}
	ib.waiting.Observe(snap)
	ib.processing.Observe(snap)
}

func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// BenchmarkObserveIdleQueues measures what 50,000 queues, 50 of them
// busy, cost both estimators: the heap they keep (their state and the
// published estimates) per queue, and per poll (one op: one snapshot
// observed by both) the allocations.
func BenchmarkObserveIdleQueues(b *testing.B) {
	const n, busy = 50000, 50
	ib := newIdleBench(n, busy)
	before := liveHeap()
	ib.start()
	// Past the first poll, and long enough for the busy queues' history
	// to reach its steady size (a minute and more).
	for range 10 {
		ib.next()
	}
	b.ReportAllocs()
	for b.Loop() {
		ib.next()
	}
	b.StopTimer()
	kept := liveHeap()
	runtime.KeepAlive(ib)
	b.ReportMetric(float64(kept-before)/n, "live-B/queue")
}
