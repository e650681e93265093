package timeinqueue

// The ground-truth harness's processing side: the same runs, the same
// snapshots fed to a second Estimator measuring processing (manual-ack
// delivery to ack), against every delivery's true receipt and
// settlement.
//
// A consumer records the moment the client library hands it a delivery
// (whatever its handler is doing: a delivery waiting in the prefetch
// buffer is delivered and unacknowledged, and to the broker that is
// processing time), and the moment it acks or rejects it. A delivery it
// still holds when traffic stops is returned to the queue when the
// consumer closes its channel: that is its settlement, not processed.
// True processing time = settlement − receipt. Receipt is later than the
// broker's sending by the network's and the client library's latency, a
// fraction of a millisecond on one host.

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/warrenhq/warren/snapshot"
)

// processingThreshold is the processed-within threshold the processing
// estimate is judged on.
const processingThreshold = time.Second

// settledDeliveries are every delivery of tr's messages that was settled:
// acked, rejected with requeue, or returned when its consumer closed its
// channel (a delivery received but neither acked nor rejected). Call it
// once traffic is over.
func (tr *groundTruth) settledDeliveries() []trueDelivery {
	out := slices.Clone(tr.rejections)
	for _, m := range tr.msgs {
		switch {
		case m.delivered.IsZero():
		case !m.acked.IsZero():
			out = append(out, trueDelivery{delivered: m.delivered, settled: m.acked, acked: true})
		default:
			out = append(out, trueDelivery{delivered: m.delivered, settled: tr.closed})
		}
	}
	return out
}

// trueOldestUnacked is the true age at t of the oldest delivery received
// by t and not yet settled: 0 when there is none.
func trueOldestUnacked(deliveries []trueDelivery, t time.Time) time.Duration {
	var oldest time.Duration
	for _, d := range deliveries {
		if !d.delivered.After(t) && d.settled.After(t) {
			oldest = max(oldest, t.Sub(d.delivered))
		}
	}
	return oldest
}

// processingResult compares the truth and the processing estimate for
// one scenario. Durations are processing times (delivery to
// settlement); shares are in [0, 1].
type processingResult struct {
	Scenario      string
	StatsInterval time.Duration
	// Reading is how the Estimator's snapshots were read.
	Reading   accuracyReading
	Consumers int

	// Deliveries were settled, Acked of them acked; the Estimator
	// reported EstDeparted settlements, EstUnprocessed of them not acks,
	// and ApproxDeparted of them flagged Approximate (none should be:
	// the Estimator watched from before the traffic).
	Deliveries, Acked           int
	EstDeparted, EstUnprocessed float64
	ApproxDeparted              float64
	// What the broker's counters said at the last poll: manual-ack
	// deliveries, acks, and the deliveries still unacknowledged.
	BrokerDelivered, BrokerAcked uint64
	BrokerUnacked                int64

	TrueP50, EstP50 time.Duration
	TrueP95, EstP95 time.Duration
	TrueMax, EstMax time.Duration

	// Share of settled deliveries acked within processingThreshold: true
	// from the recorded deliveries, estimated from the pieces.
	TrueWithin, EstWithin float64

	// The oldest-unacked-age series: the estimate at each poll against
	// the true age of the oldest unsettled delivery at the estimate's
	// SampleTime.
	OldestMAE, OldestMaxErr, OldestBias time.Duration
	OldestPolls                         int
}

// ShareErrorPP is the error of the estimated share within the threshold,
// in percentage points.
func (r processingResult) ShareErrorPP() float64 { return 100 * (r.EstWithin - r.TrueWithin) }

// compareProcessing compares what the processing Estimator said of sc's
// queue (o) with its settled deliveries.
func compareProcessing(sc trafficScenario, statsInterval time.Duration, start time.Time, deliveries []trueDelivery, o *estimatorLog) processingResult {
	r := processingResult{Scenario: sc.name, StatsInterval: statsInterval, Consumers: sc.consumerCount()}
	times := make([]time.Duration, 0, len(deliveries))
	within := 0
	for _, d := range deliveries {
		took := d.settled.Sub(d.delivered)
		times = append(times, took)
		if d.acked {
			r.Acked++
			if took <= processingThreshold {
				within++
			}
		}
	}
	slices.Sort(times)
	r.Deliveries = len(deliveries)
	if len(times) > 0 {
		r.TrueP50, r.TrueP95, r.TrueMax = trueQuantile(times, 0.5), trueQuantile(times, 0.95), times[len(times)-1]
		r.TrueWithin = float64(within) / float64(len(times))
	}

	est := pieceDistribution(o.pieces)
	r.EstDeparted = est.total()
	for _, p := range o.pieces {
		if p.Approximate {
			r.ApproxDeparted += p.Count
		}
		r.EstUnprocessed += p.Unprocessed
	}
	if r.EstDeparted > 0 {
		r.EstP50, r.EstP95, r.EstMax = est.quantile(0.5), est.quantile(0.95), est.max()
		r.EstWithin = est.processedWithin(processingThreshold) / r.EstDeparted
	}
	r.OldestMAE, r.OldestMaxErr, r.OldestBias, r.OldestPolls = oldestErrors(o.oldest, start,
		func(t time.Time) time.Duration { return trueOldestUnacked(deliveries, t) })
	return r
}

// processingHarnessProblems are reasons not to trust a processing
// result, whatever the Estimator did: a truth that disagrees with the
// broker's own final counters.
func processingHarnessProblems(r processingResult) []string {
	var problems []string
	if r.BrokerDelivered != uint64(r.Deliveries) || r.BrokerAcked != uint64(r.Acked) || r.BrokerUnacked != 0 {
		problems = append(problems, fmt.Sprintf("the truth (%d deliveries settled, %d acked) disagrees with the broker's final counters (%d manual-ack deliveries, %d acks, %d unacknowledged)",
			r.Deliveries, r.Acked, r.BrokerDelivered, r.BrokerAcked, r.BrokerUnacked))
	}
	if r.Acked == 0 {
		problems = append(problems, "no delivery was acked")
	}
	return problems
}

// processingTable prints processing results as a table, one row per
// scenario.
func processingTable(results []processingResult) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-21s %6s %15s %9s %11s %15s %15s %15s %22s %20s\n",
		"scenario", "stats", "read", "consumers", "settled t/e", "p50 t/e (s)", "p95 t/e (s)", "max t/e (s)",
		fmt.Sprintf("≤%v t/e (err pp)", processingThreshold), "oldest mae/max/bias")
	for _, r := range results {
		b.WriteString(r.row())
		b.WriteByte('\n')
	}
	return b.String()
}

func (r processingResult) row() string {
	pair := func(a, b time.Duration) string { return fmt.Sprintf("%.2f/%.2f", a.Seconds(), b.Seconds()) }
	row := fmt.Sprintf("%-21s %6v %15v %9d %11s %15s %15s %15s %22s %20s",
		r.Scenario, r.StatsInterval, r.Reading, r.Consumers,
		fmt.Sprintf("%d/%.0f", r.Deliveries, r.EstDeparted),
		pair(r.TrueP50, r.EstP50), pair(r.TrueP95, r.EstP95), pair(r.TrueMax, r.EstMax),
		fmt.Sprintf("%.1f%%/%.1f%% (%+.2f)", 100*r.TrueWithin, 100*r.EstWithin, r.ShareErrorPP()),
		fmt.Sprintf("%.2f/%.2f/%+.2f", r.OldestMAE.Seconds(), r.OldestMaxErr.Seconds(), r.OldestBias.Seconds()))
	if unacked := r.Deliveries - r.Acked; unacked > 0 || r.EstUnprocessed > 0 {
		row += fmt.Sprintf("  not acked t/e %d/%.0f", unacked, r.EstUnprocessed)
	}
	return row
}

// processingDump is what dumpRun writes of the processing side of one
// queue, by file suffix: -delivery-curves.csv has every delivery sample
// the processing Estimator saw (manual-ack deliveries, unacknowledged,
// acks) with the true counts at the sample's timestamp;
// -processing-pieces.csv its pieces; -deliveries.csv every settled
// delivery's receipt and settlement. Times are seconds since start.
func processingDump(w *estimatorWatcher, key snapshot.QueueKey, tr *groundTruth, start time.Time) map[string]string {
	since := func(t time.Time) float64 { return t.Sub(start).Seconds() }
	deliveries := tr.settledDeliveries()
	var pieces, truth strings.Builder
	curves := dumpCurves(w, key, since, "delivered,unacked,acked,true_delivered,true_unacked,true_acked",
		func(q *snapshot.Queue) []snapshot.Sample { return q.DeliverySamples },
		func(t time.Time) (delivered, unacked, acked int) {
			settled := 0
			for _, d := range deliveries {
				if !d.delivered.After(t) {
					delivered++
				}
				if !d.settled.After(t) {
					settled++
					if d.acked {
						acked++
					}
				}
			}
			return delivered, delivered - settled, acked
		})
	pieces.WriteString("departed,count,wait_from,wait_to,unprocessed\n")
	for _, p := range w.processed.byKey[key].pieces {
		fmt.Fprintf(&pieces, "%.3f,%.3f,%.3f,%.3f,%.3f\n", since(p.DepartedAt), p.Count, p.WaitFrom.Seconds(), p.WaitTo.Seconds(), p.Unprocessed)
	}
	truth.WriteString("delivered,settled,acked\n")
	slices.SortFunc(deliveries, func(a, b trueDelivery) int { return a.delivered.Compare(b.delivered) })
	for _, d := range deliveries {
		fmt.Fprintf(&truth, "%.3f,%.3f,%v\n", since(d.delivered), since(d.settled), d.acked)
	}
	return map[string]string{"delivery-curves": curves, "processing-pieces": pieces.String(), "deliveries": truth.String()}
}
